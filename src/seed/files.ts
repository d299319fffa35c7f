import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, visit, type Alias, type Document, type Node } from 'yaml';
import { parseTableName } from '../db/identifier.js';
import { describeLocation, SeedError, type SeedLocation } from '../errors.js';
export { describeLocation };

/**
 * Seed files: YAML (`.yaml`, `.yml`) or JSON (`.json`) files in one folder, applied in
 * file-name order (`01_workspaces.yaml` before `02_agents.yaml`). Each seeds one table:
 *
 * ```yaml
 * table: agents                 # may be schema-qualified: ops.agents
 * key: [workspace_id, name]     # the natural key: one column (key: slug) or several
 * insertOnly: [last_seen_at]    # optional: written when the row is inserted, never compared or updated
 * rows:
 *   - workspace_id: { $ref: workspaces, slug: acme }
 *     name: triage-bot
 *     kind: ai
 * ```
 *
 * A value `{ $ref: table, column: value, … }` refers to the row of `table` with those
 * column values and is replaced by that row's (single-column) primary key at load time;
 * key values may themselves be references. In json and jsonb columns every value,
 * mappings included, is stored as JSON. Other files in the folder are ignored.
 */
export interface SeedFile {
  readonly path: string;
  /** Where the `table` field is, for errors about the table. */
  readonly at: SeedLocation;
  /** The table as written: `agents` or `schema.agents`. */
  readonly table: string;
  /** The natural key's columns. */
  readonly key: readonly string[];
  /** Where the `key` field is, for errors about the key. */
  readonly keyAt: SeedLocation;
  /**
   * Columns the application owns once the row exists (a counter, a status): written when the
   * row is inserted, never compared with the database and never updated, with `update` either.
   */
  readonly insertOnly: readonly string[];
  /** Where the `insertOnly` field is (the `table` field's place when there is none). */
  readonly insertOnlyAt: SeedLocation;
  readonly rows: readonly SeedRow[];
}

export interface SeedRow {
  readonly at: SeedLocation;
  /** Column → value, as parsed from the file. */
  readonly values: Readonly<Record<string, unknown>>;
  /** The key columns' values, as written. */
  readonly key: Readonly<Record<string, unknown>>;
  /** {@link canonical} of `key`: equal for two rows that name the same row. */
  readonly keyText: string;
}

/**
 * A row whose {@link SeedRow.keyText} is made when asked for (by the duplicate check), so
 * that 10^5 key texts are not kept for the whole run.
 */
class ParsedRow implements SeedRow {
  constructor(
    readonly at: SeedLocation,
    readonly values: Readonly<Record<string, unknown>>,
    readonly key: Readonly<Record<string, unknown>>,
  ) {}

  get keyText(): string {
    return canonical(this.key);
  }
}

const SEED_FILE = /\.(ya?ml|json)$/i;
const FIELDS = ['table', 'key', 'insertOnly', 'rows'];

/**
 * Reads every seed file in `dir`, sorted by name, and refuses duplicate rows (two rows of
 * one table with one key), naming both places, before anything touches a database.
 *
 * @example
 * const files = await readSeedDir('./seeds');
 * files.map((f) => `${f.table}: ${f.rows.length} rows`);
 */
export async function readSeedDir(dir: string): Promise<SeedFile[]> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true }))
      .filter((entry) => (entry.isFile() || entry.isSymbolicLink()) && SEED_FILE.test(entry.name))
      .map((entry) => entry.name)
      .sort();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SeedError(`seeds folder ${dir} does not exist: create it or pass another folder`);
    if (code === 'ENOTDIR') throw new SeedError(`seeds folder ${dir} is not a folder`);
    throw error;
  }
  const files = await Promise.all(
    names.map(async (name) => parseSeedFile(await readFile(path.join(dir, name), 'utf8'), path.join(dir, name))),
  );
  checkDuplicates(files);
  return files;
}

/**
 * Parses one seed file's text (YAML, or JSON, which YAML reads too) and checks its shape:
 * a table name, a key, and rows that each give every key column a value.
 *
 * @example parseSeedFile('table: workspaces\nkey: slug\nrows:\n  - slug: acme\n', 'seeds/01.yaml').rows[0].key // { slug: 'acme' }
 */
export function parseSeedFile(text: string, file: string): SeedFile {
  const { data, fieldLine, rowLine } = readJson(text) ?? readYaml(text, file);
  const fieldAt = (field: string): SeedLocation => ({ file, line: fieldLine(field) });
  const unknown = Object.keys(data).find((field) => !FIELDS.includes(field));
  if (unknown !== undefined)
    fail(`unknown field ${JSON.stringify(unknown)}: a seed file has table, key, rows and optionally insertOnly`, fieldAt(unknown));

  const { table, key, insertOnly, rows } = data;
  if (typeof table !== 'string') fail('table must be a table name, e.g. table: agents', fieldAt('table'));
  try {
    parseTableName(table);
  } catch (error) {
    fail((error as Error).message, fieldAt('table'));
  }
  const keyColumns = typeof key === 'string' ? [key] : key;
  if (!Array.isArray(keyColumns) || keyColumns.length === 0 || !keyColumns.every((c) => typeof c === 'string' && c.length > 0)) {
    fail('key must name the columns that identify a row, e.g. key: slug or key: [workspace_id, name]', fieldAt('key'));
  }
  const keyList = keyColumns as string[];
  if (new Set(keyList).size !== keyList.length) fail('key names a column twice', fieldAt('key'));
  const insertOnlyAt = fieldAt(insertOnly === undefined ? 'table' : 'insertOnly');
  const insertOnlyList = insertOnly === undefined ? [] : typeof insertOnly === 'string' ? [insertOnly] : insertOnly;
  if (!Array.isArray(insertOnlyList) || !insertOnlyList.every((c) => typeof c === 'string' && c.length > 0)) {
    fail('insertOnly must name columns, e.g. insertOnly: [last_issue_number]', insertOnlyAt);
  }
  if (new Set(insertOnlyList).size !== insertOnlyList.length) fail('insertOnly names a column twice', insertOnlyAt);
  const keyInsertOnly = (insertOnlyList as string[]).find((column) => keyList.includes(column));
  if (keyInsertOnly !== undefined)
    fail(
      `insertOnly names the key column ${keyInsertOnly}; a key column identifies the row and is always compared: remove it from insertOnly`,
      insertOnlyAt,
    );
  if (!Array.isArray(rows)) fail('rows must be a list of rows (rows: [] for none)', fieldAt('rows'));

  // A plain loop with no per-row arrays: a seed file has 10^5 rows, and what each row allocates is GC time.
  const seedRows = new Array<SeedRow>(rows.length);
  for (let index = 0; index < rows.length; index++) {
    const values: unknown = rows[index];
    const at = { file, line: rowLine(index), row: index + 1 };
    if (!isPlainObject(values)) fail('a row must be a mapping of column: value', at);
    const rowKey: Record<string, unknown> = {};
    for (const column of keyList) {
      const value = values[column];
      if (value === undefined || value === null) {
        const missing = keyList.filter((c) => values[c] === undefined || values[c] === null);
        fail(`key column ${missing.join(', ')} missing or null; every row needs its whole key (${keyList.join(', ')})`, at);
      }
      // `__proto__` is a possible column name: define it, do not set the prototype.
      if (column === '__proto__') Object.defineProperty(rowKey, column, { value, enumerable: true, writable: true, configurable: true });
      else rowKey[column] = value;
    }
    seedRows[index] = new ParsedRow(at, values, rowKey);
  }
  return {
    path: file,
    at: fieldAt('table'),
    table,
    key: keyList,
    keyAt: fieldAt('key'),
    insertOnly: insertOnlyList as string[],
    insertOnlyAt,
    rows: seedRows,
  };
}

/** A seed file's mapping, with the line of a top-level field's value (of the mapping when absent) and of each row. */
interface ParsedText {
  readonly data: Record<string, unknown>;
  fieldLine(field: string): number;
  rowLine(index: number): number;
}

/** Any text through the YAML parser (JSON is YAML): refuses bad syntax and a document that is not a mapping. */
function readYaml(text: string, file: string): ParsedText {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const lineOf = (node: unknown) => {
    const range = (node as Node | null)?.range;
    return range ? lines.linePos(range[0]).line : 1;
  };
  const syntax = doc.errors[0];
  if (syntax !== undefined) fail(`${syntax.message}; fix the YAML or JSON syntax`, { file, line: lines.linePos(syntax.pos[0]).line });
  if (!isMap(doc.contents)) fail('expected a mapping with table, key and rows', { file, line: lineOf(doc.contents) });
  const rowNodes = doc.get('rows', true);
  return {
    data: toJS(doc, file, lineOf),
    fieldLine: (field) => lineOf(doc.get(field, true) ?? doc.contents),
    rowLine: (index) => lineOf(isSeq(rowNodes) ? rowNodes.items[index] : rowNodes),
  };
}

/**
 * The document's data. Refuses, naming the line, an alias inside the value it names (`&p {
 * $ref: t, parent_id: *p }`, which would be an endless value) and whatever the YAML library
 * refuses while resolving aliases: one used before its anchor, or aliases that expand into
 * too many values (its `maxAliasCount`, against a billion-laughs file).
 */
function toJS(doc: Document, file: string, lineOf: (node: unknown) => number): Record<string, unknown> {
  const aliases: Alias[] = [];
  const anchored = new Map<string, Node>(); // anchor name → the last node with it so far, in document order
  visit(doc, {
    Node(_key, node) {
      if (node.anchor !== undefined) anchored.set(node.anchor, node);
    },
    Alias(_key, alias) {
      aliases.push(alias);
      const target = anchored.get(alias.source);
      // A node's text holds the text of every node inside it: an alias within its target's text is inside the target.
      if (target?.range && alias.range && target.range[0] <= alias.range[0] && alias.range[1] <= target.range[2]) {
        fail(
          `the alias *${alias.source} is inside the value &${alias.source} it names, which makes an endless value; write the inner value out`,
          { file, line: lineOf(alias) },
        );
      }
    },
  });
  // The library throws while converting an alias and does not say which: each alias notes itself as the culprit on its way out.
  let culprit: Alias | undefined;
  for (const alias of aliases) {
    const toJSON = alias.toJSON;
    alias.toJSON = function (this: Alias, ...args: Parameters<Alias['toJSON']>) {
      try {
        return toJSON.apply(this, args);
      } catch (error) {
        culprit ??= alias;
        throw error;
      }
    };
  }
  try {
    return doc.toJS() as Record<string, unknown>;
  } catch (error) {
    const message = (error as Error).message;
    const what = /excessive alias count/i.test(message)
      ? `the aliases expand into too many values (${message}); write the values out, or refer to a row with $ref instead of repeating an alias`
      : `${message}; fix the aliases`;
    return fail(what, { file, line: culprit === undefined ? 1 : lineOf(culprit) });
  }
}

/**
 * Strict JSON, read by `JSON.parse` (the YAML parser takes some 40 times as long on a large
 * file), with the same data and lines as {@link readYaml}. Null for anything else — YAML,
 * bad JSON, a document that is not a mapping, a mapping with a key twice, a bare CR line
 * break — so that the YAML reader reads it or says what is wrong, as for any file.
 */
function readJson(text: string): ParsedText | null {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isPlainObject(data)) return null;
  const lines = jsonLines(text);
  // JSON.parse keeps the last of two equal keys in a mapping, YAML refuses them: fewer keys than the text has means one was there twice.
  if (lines === null || keyCount(data) !== lines.keys) return null;
  return {
    data,
    fieldLine: (field) => lines.fields.get(field) ?? lines.start,
    rowLine: (index) => lines.rows[index] ?? lines.start,
  };
}

/**
 * Walks a text that `JSON.parse` accepted and notes the line where its top-level mapping
 * starts, where each top-level field's value starts, and where each element of the top-level
 * `rows` list starts, and counts the keys of all mappings. Null when a CR is not followed by
 * LF (not a line break in YAML). Every LF in valid JSON is whitespace between tokens, so
 * counting the ones between tokens counts lines.
 */
function jsonLines(text: string): { start: number; fields: Map<string, number>; rows: number[]; keys: number } | null {
  const fields = new Map<string, number>();
  const rows: number[] = [];
  const open: boolean[] = []; // open containers, innermost last: true for a mapping, false for a list
  let rowsDepth = 0; // depth of the open top-level rows list; 0 when none is open
  let expectKey = false;
  let lastKey = '';
  let keys = 0;
  let start = 1;
  let line = 1;
  for (let i = 0; i < text.length; ) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) line++;
    else if (c === 0x0d && text.charCodeAt(i + 1) !== 0x0a) return null;
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x3a /* : */) {
      i++;
      continue;
    }
    if (c === 0x2c /* , */) {
      expectKey = open[open.length - 1]!;
      i++;
      continue;
    }
    if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      if (open.length === rowsDepth) rowsDepth = 0;
      open.pop();
      expectKey = false;
      i++;
      continue;
    }
    if (expectKey) {
      // c is the opening quote of a key; only the top-level mapping's keys are read.
      const end = stringEnd(text, i);
      if (open.length === 1) lastKey = JSON.parse(text.slice(i, end)) as string;
      keys++;
      expectKey = false;
      i = end;
      continue;
    }
    // A value starts here.
    if (open.length === 0) start = line;
    else if (open.length === 1) fields.set(lastKey, line);
    else if (open.length === rowsDepth) rows.push(line);
    if (c === 0x7b /* { */) {
      open.push(true);
      expectKey = true;
      i++;
    } else if (c === 0x5b /* [ */) {
      open.push(false);
      if (open.length === 2 && lastKey === 'rows') rowsDepth = 2;
      i++;
    } else if (c === 0x22 /* " */) {
      i = stringEnd(text, i);
    } else {
      // A number, true, false or null: up to the next whitespace, comma or closing bracket.
      for (
        let d = c;
        i < text.length && d !== 0x20 && d !== 0x0a && d !== 0x0d && d !== 0x09 && d !== 0x2c && d !== 0x5d && d !== 0x7d;
        d = text.charCodeAt(++i)
      );
    }
  }
  return { start, fields, rows, keys };
}

/** How many keys the mappings in `value` have, nested ones included. */
function keyCount(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  let count = 0;
  if (Array.isArray(value)) {
    for (const item of value) count += keyCount(item);
    return count;
  }
  for (const key in value) count += 1 + keyCount((value as Record<string, unknown>)[key]);
  return count;
}

/** The index just past the string that opens at `from` (a double quote) in valid JSON. */
function stringEnd(text: string, from: number): number {
  let quote = text.indexOf('"', from + 1);
  for (;;) {
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    quote = text.indexOf('"', quote + 1);
  }
}

function fail(message: string, at: SeedLocation): never {
  throw new SeedError(`${describeLocation(at)}: ${message}`, at);
}

/**
 * Refuses two rows of one table with one key, in one file or in two, naming both places;
 * and one table declared with two different keys.
 */
export function checkDuplicates(files: readonly SeedFile[]): void {
  const keys = new Map<string, SeedFile>();
  // table → a hash of the key → the row, or rows, with it: a number per row, not a key text (texts are made on a hash match only, to tell a collision from a duplicate)
  const seen = new Map<string, Map<number, SeedRow | SeedRow[]>>();
  for (const file of files) {
    const declared = keys.get(file.table);
    if (declared !== undefined && [...declared.key].sort().join() !== [...file.key].sort().join()) {
      throw new SeedError(
        `${describeLocation(file.at)}: key (${file.key.join(', ')}) for ${file.table}, but ${declared.path} uses (${declared.key.join(', ')}); use one key per table`,
        file.at,
      );
    }
    keys.set(file.table, file);
    const rows = seen.get(file.table) ?? seen.set(file.table, new Map()).get(file.table)!;
    for (const row of file.rows) {
      const hash = keyHash(row.key);
      const bucket = rows.get(hash);
      if (bucket === undefined) {
        rows.set(hash, row);
        continue;
      }
      const keyText = row.keyText; // made on each read
      const first = (Array.isArray(bucket) ? bucket : [bucket]).find((other) => other.keyText === keyText);
      if (first !== undefined) {
        throw new SeedError(
          `duplicate ${file.table} row with key ${JSON.stringify(row.key)} at ${describeLocation(first.at)} and ${describeLocation(row.at)}; keep one`,
          row.at,
        );
      }
      if (Array.isArray(bucket)) bucket.push(row);
      else rows.set(hash, [bucket, row]);
    }
  }
}

/**
 * A 32-bit hash of a value, equal for values with equal {@link canonical} texts (mapping order
 * ignored, a scalar hashed as its text); unequal values may share one.
 */
function keyHash(value: unknown): number {
  if (value === null || value === undefined) return 0x2f3c1d5b;
  if (typeof value !== 'object') return textHash(String(value));
  if (Array.isArray(value)) {
    let hash = 0x1b873593;
    for (let i = 0; i < value.length; i++) hash = Math.imul(hash ^ keyHash(value[i]), 0x01000193);
    return hash ^ value.length;
  }
  // A sum over the entries: the same whatever their order.
  let hash = 0x27d4eb2d;
  for (const key in value) {
    if (Object.hasOwn(value, key)) hash = (hash + mixHash(textHash(key), keyHash((value as Record<string, unknown>)[key]))) | 0;
  }
  return hash;
}

/** FNV-1a over the UTF-16 code units. */
function textHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash;
}

/** Two hashes into one, order-sensitive, bits spread (MurmurHash3's finaliser). */
function mixHash(a: number, b: number): number {
  let hash = (Math.imul(a, 0x9e3779b1) + b) | 0;
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return hash ^ (hash >>> 16);
}

/**
 * A text form of a value in which mapping order does not matter and a scalar is its text,
 * so `12` and `"12"` name the same key, as they do once cast to the column's type.
 * Length-prefixed (`5:hello`), so unambiguous without escaping.
 *
 * @example canonical({ b: 1, a: 'x' }) === canonical({ a: 'x', b: '1' }) // true
 */
export function canonical(value: unknown): string {
  // Parts joined once: a string built by `+=` is a tree of pieces, slow to hash and large to keep.
  const parts: string[] = [];
  canonicalParts(value, parts);
  return parts.join('');
}

function canonicalParts(value: unknown, parts: string[]): void {
  if (value === null || value === undefined) {
    parts.push('~');
  } else if (typeof value !== 'object') {
    const text = String(value);
    parts.push(String(text.length), ':', text);
  } else if (Array.isArray(value)) {
    parts.push('[');
    for (let i = 0; i < value.length; i++) canonicalParts(value[i], parts);
    parts.push(']');
  } else {
    const keys = Object.keys(value);
    if (keys.length > 1) keys.sort();
    parts.push('{');
    for (const key of keys) {
      parts.push(String(key.length), ':', key);
      canonicalParts((value as Record<string, unknown>)[key], parts);
    }
    parts.push('}');
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
