import type pg from 'pg';
import { quoteIdentifier, quoteTableName } from '../db/identifier.js';
import { SeedError, type SeedLocation } from '../errors.js';
import type { CatalogColumn, CatalogTable } from './catalog.js';
import { describeLocation, isPlainObject, type SeedFile } from './files.js';
import { equal, unnest } from './sql.js';

/**
 * References, `{ $ref: table, column: value, … }`, from the file to the row's primary key:
 * which tables they name ({@link tablesToLookUp}), how one is checked and given an id
 * ({@link ReferenceReader}), and how they are looked up when their rows are written
 * ({@link resolveReferences}).
 */

/** A row named by column values, resolved to its primary key when its batch is written. */
export interface Reference {
  readonly table: CatalogTable;
  /** Column → value; a value may itself be a reference. */
  readonly key: ReadonlyMap<string, Value>;
  /** The reference as written, for messages. */
  readonly written: Readonly<Record<string, unknown>>;
  /** Where it was first read; one reference is shared by every place that writes it alike. */
  readonly at: SeedLocation;
  /**
   * Equal for two references that look a row up by the same table, columns and values: seed
   * data refers to one row from many places, and it is looked up once. A short interned
   * token, whatever the nesting: an inner reference counts by its own id, so each reference
   * is keyed once and never serialised again into its parents.
   */
  readonly id: string;
}

/** A value in PostgreSQL input syntax, NULL, or a reference still to resolve. */
export type Value = string | null | Reference;

/** @example isReference('acme') // false */
export function isReference(value: Value | undefined): value is Reference {
  return typeof value === 'object' && value !== null;
}

/**
 * Every table the files seed or refer to, with its quoted name, for the one catalog query.
 * A `$ref` that cannot be a table name is left out: it is reported as unknown where it is used.
 *
 * @example tablesToLookUp(await readSeedDir('./seeds')) // [{ name: 'workspaces', sqlName: '"workspaces"' }, …]
 */
export function tablesToLookUp(files: readonly SeedFile[]): Array<{ name: string; sqlName: string }> {
  const names = new Set<string>();
  // No set of visited objects (a YAML alias shares one object among places): the YAML library
  // bounds what aliases expand into, and a weak set of every reference costs more than the walk.
  const visit = (value: unknown) => {
    if (!isPlainObject(value) || typeof value.$ref !== 'string') return;
    names.add(value.$ref);
    for (const name in value) if (name !== '$ref') visit(value[name]);
  };
  for (const file of files) {
    names.add(file.table);
    for (const row of file.rows) for (const name in row.values) visit(row.values[name]);
  }
  return [...names].flatMap((name) => {
    try {
      return [{ name, sqlName: quoteTableName(name) }];
    } catch {
      return [];
    }
  });
}

/** What reading a reference needs from the plan: tables, columns, and the encoding of a value. */
export interface ReferenceContext {
  tableNamed(name: string, at: SeedLocation): CatalogTable;
  columnOf(table: CatalogTable, name: string, at: SeedLocation): CatalogColumn;
  encode(value: unknown, table: CatalogTable, column: CatalogColumn, at: SeedLocation): Value;
}

/**
 * Checks references as written and gives each its {@link Reference.id}. Linear in the size
 * of the files: a reference costs its own columns and values, an inner one counting by its id.
 *
 * @example
 * const refs = new ReferenceReader(context);
 * const a = refs.read({ $ref: 'workspaces', slug: 'acme' }, at);
 * const b = refs.read({ slug: 'acme', $ref: 'workspaces' }, at);
 * a.id === b.id; // true
 */
export class ReferenceReader {
  readonly #context: ReferenceContext;
  readonly #ids = new Map<string, string>();
  /**
   * A reference that holds a list, by identity: a YAML alias puts one object in many places,
   * and it is read once. Others are found in {@link #written}, which costs less than a weak
   * map of every object read (its entries are GC work in every collection).
   */
  readonly #withList = new Map<object, Reference>();
  /** Each reference read, found again by what is written: equal writings are equal references, checked and encoded alike. */
  readonly #written = new WrittenTrie();

  constructor(context: ReferenceContext) {
    this.#context = context;
  }

  /**
   * The checked and encoded reference written as `written` at `at`; refuses, naming the place, an unknown table or column, a table without a single-column primary key, a null value.
   * Seed data writes one reference in many places (every comment of an issue names it): each
   * distinct reference as written is checked and encoded once and its {@link Reference} shared,
   * found again by what is written (table, columns, values and their JSON types).
   */
  read(written: Readonly<Record<string, unknown>>, at: SeedLocation): Reference {
    const place = this.#written.place(written);
    const known = place === null ? this.#withList.get(written) : place.ref;
    if (known !== undefined) return known;
    const { tableNamed, columnOf, encode } = this.#context;
    const table = tableNamed(written.$ref as string, at);
    if (table.primaryKey === null) fail(at, `cannot refer to ${table.name}: it has no single-column primary key`);
    const key = new Map<string, Value>();
    for (const name in written) {
      if (name === '$ref') continue;
      const value = written[name];
      if (value === null) fail(at, `reference to ${table.name} has ${name}: null, which matches no row`);
      key.set(name, encode(value, table, columnOf(table, name, at), at));
    }
    if (key.size === 0) fail(at, `reference to ${table.name} names no column; add the columns that identify the row`);
    const ref: Reference = { table, key, written, at, id: this.idOf(table, key) };
    if (place === null) this.#withList.set(written, ref);
    else place.ref = ref;
    return ref;
  }

  /**
   * The id of a reference to `table` by these columns and values; a row's key columns give the
   * id every reference to that row by its key has.
   */
  idOf(table: CatalogTable, values: ReadonlyMap<string, Value>): string {
    const columns = [...values.keys()];
    if (columns.length > 1) columns.sort();
    return this.idOfSorted(table, columns, (column) => values.get(column)!);
  }

  /** {@link idOf} for columns already sorted, each value given by `valueFor`: no map to build per row. */
  idOfSorted(table: CatalogTable, sortedColumns: readonly string[], valueFor: (column: string) => Value): string {
    // Length-prefixed parts, joined once (a flat string hashes fast): unambiguous. An inner reference is its id, so the text is as long as this reference's own values.
    const parts: string[] = [String(table.name.length), ':', table.name];
    for (const column of sortedColumns) {
      const value = valueFor(column);
      parts.push('|', String(column.length), ':', column, '=');
      if (value === null) parts.push('~');
      else if (isReference(value)) parts.push('#', value.id);
      else parts.push(String(value.length), ':', value);
    }
    const text = parts.join('');
    let id = this.#ids.get(text);
    if (id === undefined) this.#ids.set(text, (id = String(this.#ids.size)));
    return id;
  }
}

/** A reference and the place that names it in messages: the first row written that gives it. */
export interface ReferenceUse {
  readonly ref: Reference;
  readonly at: SeedLocation;
}

/**
 * Resolves references to primary keys (as text), by {@link Reference.id}: each distinct
 * reference once, the references inside their keys first, then one query per target table
 * and column set, whatever the number of rows. An error names the place of the first use (in
 * `uses` order) of the reference that has the missing or ambiguous key. References already in
 * `ids` are not looked up again.
 *
 * @example
 * const ids = await resolveReferences(client, [{ ref: row.values.get('workspace_id'), at: row.at }]);
 * textOf(row.values.get('workspace_id')!, ids); // '1'
 */
export async function resolveReferences(
  client: pg.ClientBase,
  uses: readonly ReferenceUse[],
  ids = new Map<string, string>(),
): Promise<Map<string, string>> {
  const distinct = new Map<string, ReferenceUse>(); // each id's first use
  for (const use of uses) if (!ids.has(use.ref.id) && !distinct.has(use.ref.id)) distinct.set(use.ref.id, use);
  if (distinct.size === 0) return ids;
  // A reference inside another is named where that one is written.
  const inner: ReferenceUse[] = [];
  for (const { ref, at } of distinct.values()) for (const value of ref.key.values()) if (isReference(value)) inner.push({ ref: value, at });
  if (inner.length > 0) await resolveReferences(client, inner, ids);
  type Group = { table: CatalogTable; columns: string[]; uses: ReferenceUse[] };
  const groups = new Map<string, Group>();
  let last: { table: CatalogTable; key: ReadonlyMap<string, Value>; group: Group } | undefined; // uses mostly come in runs of one table and columns
  for (const use of distinct.values()) {
    if (last !== undefined && last.table === use.ref.table && sameKeys(last.key, use.ref.key)) {
      last.group.uses.push(use);
      continue;
    }
    const columns = [...use.ref.key.keys()].sort();
    const groupId = `${use.ref.table.name}\0${columns.join('\0')}`;
    const group = groups.get(groupId) ?? groups.set(groupId, { table: use.ref.table, columns, uses: [] }).get(groupId)!;
    group.uses.push(use);
    last = { table: use.ref.table, key: use.ref.key, group };
  }
  for (const { table, columns, uses: group } of groups.values()) {
    const source = unnest(
      table,
      columns,
      columns.map((column) => group.map(({ ref }) => textOf(ref.key.get(column)!, ids))),
    );
    const matches = columns.map((column, i) => equal(table, column, `t.${quoteIdentifier(column)}`, `v.c${i + 1}`, '=')).join(' AND ');
    const primaryKey = `t.${quoteIdentifier(table.primaryKey!)}`;
    // One row: every reference's key in one array (one value to parse, not a row per reference), and the first reference
    // (in use order) that matched no row or several, with its number of rows, from the same snapshot.
    const { rows } = await client.query<{ ids: Array<string | null>; problem: string | null; problem_matches: string | null }>(
      `SELECT array_agg(g.id ORDER BY g.ord) AS ids, min(g.ord) FILTER (WHERE g.matches <> 1) AS problem,
              (array_agg(g.matches ORDER BY g.ord) FILTER (WHERE g.matches <> 1))[1] AS problem_matches
         FROM (SELECT v.ord, count(${primaryKey}) AS matches, min(${primaryKey}::text) AS id
                 FROM ${source.sql} LEFT JOIN ${table.sqlName} AS t ON ${matches} GROUP BY v.ord) AS g`,
      source.params,
    );
    const { ids: found, problem, problem_matches: count } = rows[0]!;
    if (problem !== null) {
      const { ref, at } = group[Number(problem) - 1]!;
      if (count === '0')
        fail(at, `no ${table.name} row matches ${JSON.stringify(ref.written)}; seed it in an earlier file or fix the reference`);
      fail(at, `${count} ${table.name} rows match ${JSON.stringify(ref.written)}; refer by columns that name one row`);
    }
    for (let index = 0; index < group.length; index++) ids.set(group[index]!.ref.id, found[index]!);
  }
  return ids;
}

/** Whether two keys have the same columns in the same order. */
function sameKeys(a: ReadonlyMap<string, Value>, b: ReadonlyMap<string, Value>): boolean {
  if (a.size !== b.size) return false;
  const other = b.keys();
  for (const column of a.keys()) if (other.next().value !== column) return false;
  return true;
}

/** A value as text for its column: a reference becomes its row's primary key, from `ids`. */
export function textOf(value: Value, ids: ReadonlyMap<string, string>): string | null {
  return isReference(value) ? ids.get(value.id)! : value;
}

/** A place in {@link WrittenTrie}: the reference written as the path to it, once read. */
interface WrittenNode {
  next?: Map<unknown, WrittenNode>;
  ref?: Reference;
}

const OPEN = Symbol('{');
const CLOSE = Symbol('}');

/**
 * References as written, as paths of tokens: `{`, then each column name and its value (a
 * mapping inside as its own `{` … `}`), then `}`. Two writings share a place when they give the
 * same table, columns (in the same order) and values of the same JSON types (a Map tells 1 from
 * '1'). A walk of map lookups, with no text made for each of the 10^5 references in seed data.
 */
class WrittenTrie {
  readonly #root: WrittenNode = {};

  /** The place of `written`, made if new; null for one holding a list (rare), which has none. */
  place(written: Readonly<Record<string, unknown>>): WrittenNode | null {
    return this.#walk(this.#root, written);
  }

  #walk(from: WrittenNode, written: Readonly<Record<string, unknown>>): WrittenNode | null {
    let node = step(from, OPEN);
    for (const name in written) {
      const value = written[name];
      node = step(node, name);
      if (isPlainObject(value)) {
        const inner = this.#walk(node, value);
        if (inner === null) return null;
        node = inner;
      } else if (typeof value === 'object' && value !== null) {
        return null;
      } else {
        node = step(node, value);
      }
    }
    return step(node, CLOSE);
  }
}

function step(node: WrittenNode, token: unknown): WrittenNode {
  const next = (node.next ??= new Map());
  let child = next.get(token);
  if (child === undefined) next.set(token, (child = {}));
  return child;
}

function fail(at: SeedLocation, message: string): never {
  throw new SeedError(`${describeLocation(at)}: ${message}`, at);
}
