/**
 * A migration file as the lint rules see it: every top-level statement with its parser node,
 * where it starts (line and column of its first token, not of the comments above it), the
 * `-- slipway:ignore` comments written above it, and whether it runs inside a transaction.
 */
import { SourceError, UsageError } from '../errors.js';
import {
  cutIntoPieces,
  hasNoTransactionMarker,
  hasPostDeployMarker,
  loadParser,
  noTransactionReason,
  parseStatements,
  type ParseMemo,
  type RawStatement,
} from '../sql/parse.js';

/** A parser node: the libpg-query JSON of one statement or expression. */
export type Node = Record<string, unknown>;

/** A file to lint: where it came from (for messages) and its text. */
export interface LintSource {
  readonly source: string;
  readonly sql: string;
}

/** One `-- slipway:ignore rule-id reason` comment. */
export interface IgnoreComment {
  readonly rule: string;
  readonly reason: string;
  readonly line: number;
  /** Written for squawk (`-- squawk-ignore`): read where its rule ids map to slipway's, never refused. */
  readonly squawk?: boolean;
}

export interface LintStatement {
  /** The parser's node type, e.g. `IndexStmt`. */
  readonly kind: string;
  readonly node: Node;
  /** 1-based line and column of the statement's first token. */
  readonly line: number;
  readonly column: number;
  /** Ignore comments between the previous statement and this one. */
  readonly ignores: readonly IgnoreComment[];
  /** Inside a `BEGIN … COMMIT` block the file itself opened (a whole-file wrapper included). */
  readonly inOwnBlock: boolean;
  /** Runs in a transaction together with the rest of its file (slipway's or the author's block). */
  readonly inTransaction: boolean;
  /** For `BEGIN`/`COMMIT`/`ROLLBACK`: what it does to the file's own transaction. */
  readonly control: 'begin' | 'end' | null;
  /** Run by a `DO` block (its body's SQL, or an `EXECUTE` of a constant string): findings point at {@link line}. */
  readonly nested: boolean;
  /** The statement's text, for the fingerprint that suppressions outside the file name it by. */
  readonly text: string;
}

export interface ParsedFile {
  readonly source: string;
  readonly text: string;
  readonly statements: readonly LintStatement[];
  /** `-- squawk-ignore-file` comments: rules (`*`: every rule) silenced for the whole file. */
  readonly fileIgnores: readonly IgnoreComment[];
  /** True when slipway runs the whole file in one transaction (see `parseSql`). */
  readonly transactional: boolean;
  /** Marked `-- slipway:post-deploy`: it runs once every replica runs the new release, so the old code is gone. */
  readonly postDeploy: boolean;
  /** 1-based line and column of a parser location (a byte offset into the file). */
  position(byteOffset: number): { line: number; column: number };
  /** The text of a 1-based line, for the caret display. */
  lineText(line: number): string;
}

/** Files longer than this are parsed in pieces cut between statements, as `parseSql` does. */
const PIECE_CHARS = 1_000_000;

/**
 * Parses a file for linting with the real Postgres parser. `knownRules` validates the rule ids
 * of ignore comments: an unknown one, or one without a reason, is a {@link UsageError} naming
 * the file and line; SQL that does not parse is a {@link SourceError} naming them.
 *
 * @example
 * const file = await parseForLint({ source: '005.up.sql', sql: 'CREATE INDEX i ON t (a);' }, new Set(['require-concurrent-index-creation']));
 * file.statements[0].kind; // 'IndexStmt'
 */
export async function parseForLint(input: LintSource, knownRules: ReadonlySet<string>, memo?: ParseMemo): Promise<ParsedFile> {
  const text = input.sql;
  const lineStarts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  const toChar = byteToChar(text);
  const position = (byteOffset: number) => charPosition(lineStarts, toChar(byteOffset));

  const raw: Array<{ kind: string; node: Node; start: number; end: number }> = [];
  const pieces = text.length > PIECE_CHARS * 2 ? cutIntoPieces(text, PIECE_CHARS) : [{ start: 0, end: text.length }];
  for (const piece of pieces) {
    const pieceText = pieces.length === 1 ? text : text.slice(piece.start, piece.end);
    let result: { stmts?: RawStatement[] };
    try {
      // Through the parse front end: from this run's memo or the parse cache when known (the parser is not even loaded).
      result = { stmts: await parseStatements(pieceText, pieces.length === 1 ? memo : undefined) };
    } catch (error) {
      const cursor = (error as { sqlDetails?: { cursorPosition?: number } }).sqlDetails?.cursorPosition;
      const where = cursor === undefined ? '' : `:${charPosition(lineStarts, piece.start + codePointsToIndex(pieceText, cursor)).line}`;
      throw new SourceError(`${input.source}${where}: ${(error as Error).message}; fix the SQL`);
    }
    const base = pieces.length === 1 ? 0 : Buffer.byteLength(text.slice(0, piece.start), 'utf8');
    const pieceBytes = pieces.length === 1 ? null : Buffer.byteLength(pieceText, 'utf8');
    for (const entry of result.stmts ?? []) {
      const [kind, node] = Object.entries(entry.stmt)[0]!;
      const start = base + (entry.stmt_location ?? 0);
      const end =
        entry.stmt_len === undefined || entry.stmt_len === 0
          ? base + (pieceBytes ?? Buffer.byteLength(text, 'utf8'))
          : start + entry.stmt_len;
      raw.push({ kind, node, start, end });
      // Locations inside the node are relative to the piece: shift them to the file.
      if (base !== 0) shiftLocations(node, base);
    }
  }

  // Leading comments: between the previous statement's end and this one's first token.
  const fileIgnores: IgnoreComment[] = [];
  const gaps: Array<{ first: number; ignores: IgnoreComment[] }> = raw.map((r, i) =>
    scanGap(text, i === 0 ? 0 : toChar(raw[i - 1]!.end), toChar(r.end), lineStarts, input.source, knownRules, fileIgnores),
  );
  const lastEnd = raw.length === 0 ? 0 : toChar(raw.at(-1)!.end);
  const trailing = scanGap(text, lastEnd, text.length, lineStarts, input.source, knownRules, fileIgnores);
  const dangling = trailing.ignores.filter((i) => i.squawk !== true);
  if (dangling.length > 0) {
    const at = dangling[0]!;
    throw new UsageError(
      `${input.source}:${at.line}: slipway:ignore ${at.rule} is followed by no statement: put it on the line above the statement it is about`,
    );
  }

  // Transactions: a file either runs in slipway's transaction, or manages its own (see parseSql).
  const controls = raw.map((r) => transactionControl(r.kind, r.node));
  const last = raw.length - 1;
  const wrapped =
    raw.length >= 2 && controls[0] === 'begin' && controls[last] === 'end' && controls.slice(1, last).every((c) => c === null);
  const ownTransactions = !wrapped && controls.some((c) => c !== null);
  const refusesTransaction = raw.some((r) => noTransactionReason(r.kind, r.node) !== null);
  const transactional = !ownTransactions && !refusesTransaction && !hasNoTransactionMarker(text);

  let open = false;
  const statements: LintStatement[] = raw.map((r, i) => {
    const control = controls[i]!;
    const inOwnBlock = open && control === null;
    if (control === 'begin') open = true;
    else if (control === 'end') open = false;
    const { line, column } = charPosition(lineStarts, gaps[i]!.first);
    const statementText = text.slice(gaps[i]!.first, toChar(r.end));
    const inTransaction = transactional || inOwnBlock;
    return {
      kind: r.kind,
      node: r.node,
      line,
      column,
      ignores: gaps[i]!.ignores,
      inOwnBlock,
      inTransaction,
      control,
      nested: false,
      text: statementText,
    };
  });
  // What a DO block runs follows it, as statements of their own: what it creates exists afterwards, and what it locks is linted.
  const expanded: LintStatement[] = [];
  for (const statement of statements) {
    expanded.push(statement);
    if (statement.kind === 'DoStmt')
      expanded.push(...(await doBlockStatements(statement, position, (line) => lineText(text, lineStarts, line))));
  }
  return {
    source: input.source,
    text,
    statements: expanded,
    fileIgnores,
    transactional,
    postDeploy: hasPostDeployMarker(text),
    position,
    lineText: (line) => lineText(text, lineStarts, line),
  };
}

function lineText(text: string, lineStarts: readonly number[], line: number): string {
  return text.slice(lineStarts[line - 1] ?? text.length, (lineStarts[line] ?? text.length + 1) - 1).replace(/\r$/, '');
}

/**
 * The statements a plpgsql `DO` block runs: its SQL statements, and `EXECUTE` of a constant
 * string, wherever they sit (under IF, in loops). Each is placed on its line in the file. A body
 * the parser cannot read, another language, or an `EXECUTE` of a computed string yields nothing.
 */
async function doBlockStatements(
  statement: LintStatement,
  position: (byteOffset: number) => { line: number },
  lineOf: (line: number) => string,
): Promise<LintStatement[]> {
  const args = ((statement.node.args as Array<{ DefElem?: Node }> | undefined) ?? [])
    .map((a) => a.DefElem)
    .filter((d): d is Node => d !== undefined);
  const language = args.find((d) => d.defname === 'language');
  if (language !== undefined && (language.arg as { String?: { sval?: string } } | undefined)?.String?.sval?.toLowerCase() !== 'plpgsql')
    return [];
  const body = args.find((d) => d.defname === 'as');
  if (body === undefined) return [];
  const { parse, parsePlPgSQL } = await loadParser();
  let tree: unknown;
  try {
    tree = await parsePlPgSQL(statement.text);
  } catch {
    return [];
  }
  const firstLine = typeof body.location === 'number' ? position(body.location).line : statement.line;
  const found: Array<{ query: string; lineno: number; dynamic: boolean }> = [];
  const visit = (value: unknown, lineno: number): void => {
    if (Array.isArray(value)) {
      for (const v of value) visit(v, lineno);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const n = value as Node;
    const here = typeof n.lineno === 'number' ? n.lineno : lineno;
    const exec = (n.PLpgSQL_stmt_execsql as Node | undefined)?.sqlstmt as { PLpgSQL_expr?: { query?: string } } | undefined;
    const dyn = n.PLpgSQL_stmt_dynexecute as { lineno?: number; query?: { PLpgSQL_expr?: { query?: string } } } | undefined;
    if (typeof exec?.PLpgSQL_expr?.query === 'string') {
      found.push({ query: exec.PLpgSQL_expr.query, lineno: Number((n.PLpgSQL_stmt_execsql as Node).lineno ?? here), dynamic: false });
    }
    if (typeof dyn?.query?.PLpgSQL_expr?.query === 'string')
      found.push({ query: dyn.query.PLpgSQL_expr.query, lineno: dyn.lineno ?? here, dynamic: true });
    for (const key of Object.keys(n)) visit(n[key], here);
  };
  visit(tree, 1);
  const out: LintStatement[] = [];
  for (const { query, lineno, dynamic } of found) {
    let sql = query;
    let stmts: RawStatement[];
    try {
      if (dynamic) {
        const constant = ((await parse(`SELECT ${query}`)) as unknown as { stmts?: RawStatement[] }).stmts?.[0]?.stmt.SelectStmt as
          | Node
          | undefined;
        const targets =
          (constant?.targetList as Array<{ ResTarget?: { val?: { A_Const?: { sval?: { sval?: string } } } } }> | undefined) ?? [];
        const value = targets[0]?.ResTarget?.val?.A_Const?.sval?.sval;
        if (typeof value !== 'string' || targets.length !== 1) continue;
        sql = value;
      }
      stmts = ((await parse(sql)) as unknown as { stmts?: RawStatement[] }).stmts ?? [];
    } catch {
      continue;
    }
    const line = firstLine + lineno - 1;
    const column = Math.max(1, lineOf(line).indexOf(sql.trimStart().slice(0, 12)) + 1);
    for (const entry of stmts) {
      const [kind, node] = Object.entries(entry.stmt)[0]!;
      out.push({ ...statement, kind, node, line, column, control: null, nested: true, text: sql });
    }
  }
  return out;
}

function transactionControl(kind: string, node: Node): 'begin' | 'end' | null {
  if (kind !== 'TransactionStmt') return null;
  switch (node.kind) {
    case 'TRANS_STMT_BEGIN':
    case 'TRANS_STMT_START':
      return 'begin';
    case 'TRANS_STMT_COMMIT':
    case 'TRANS_STMT_ROLLBACK':
      return node.chain === true ? null : 'end';
    default:
      return null;
  }
}

const IGNORE = /^--\s*slipway:ignore\b[ \t]*(\S*)[ \t]*(.*)$/;
/** squawk's own: `-- squawk-ignore rule-a, rule-b -- why` above a statement, `-- squawk-ignore-file [rules]` anywhere. */
const SQUAWK_IGNORE = /^--\s*squawk-ignore(-file)?(?:[ \t]+(.*))?$/;

/** squawk's rule ids where they differ from slipway's; the others are the same, or squawk's alone (then not read). */
const SQUAWK_RULES: Readonly<Record<string, string>> = {
  'prefer-big-int': 'prefer-bigint-over-int',
  'prefer-bigint-over-smallint': 'prefer-bigint-over-int',
  'require-timeout-settings': 'require-lock-timeout',
};

/** The slipway rules a squawk-ignore comment names (`*` for a bare one: every rule). */
function squawkRules(list: string | undefined, knownRules: ReadonlySet<string>): string[] {
  const names = (list ?? '')
    .split('--')[0]!
    .split(/[\s,]+/)
    .filter(Boolean);
  if (names.length === 0) return ['*'];
  return names.map((n) => SQUAWK_RULES[n] ?? n).filter((n) => knownRules.has(n));
}

/**
 * Skips whitespace and comments from `from`; returns where the statement's first token is, and
 * the ignore comments on the way (validated).
 */
function scanGap(
  text: string,
  from: number,
  to: number,
  lineStarts: readonly number[],
  source: string,
  knownRules: ReadonlySet<string>,
  fileIgnores: IgnoreComment[],
): { first: number; ignores: IgnoreComment[] } {
  const ignores: IgnoreComment[] = [];
  let i = from;
  while (i < to) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 0x3b /* ; */) i++;
    else if (c === 45 && text.charCodeAt(i + 1) === 45) {
      let end = text.indexOf('\n', i);
      if (end === -1) end = text.length;
      const comment = text.slice(i, end).trimEnd();
      const match = IGNORE.exec(comment);
      const squawk = match === null ? SQUAWK_IGNORE.exec(comment) : null;
      if (squawk !== null) {
        const line = charPosition(lineStarts, i).line;
        const wholeFile = squawk[1] !== undefined;
        const reason = `${wholeFile ? 'squawk-ignore-file' : 'squawk-ignore'} (line ${line})`;
        for (const rule of squawkRules(squawk[2], knownRules))
          (wholeFile ? fileIgnores : ignores).push({ rule, reason, line, squawk: true });
      }
      if (match !== null) {
        const line = charPosition(lineStarts, i).line;
        const rule = match[1]!;
        if (rule === '')
          throw new UsageError(
            `${source}:${line}: slipway:ignore needs a rule id and a reason, e.g. -- slipway:ignore require-concurrent-index-creation the table is empty`,
          );
        if (!knownRules.has(rule))
          throw new UsageError(
            `${source}:${line}: unknown rule ${JSON.stringify(rule)} in slipway:ignore; slipway lint --list-rules names them`,
          );
        if (match[2]!.trim() === '')
          throw new UsageError(
            `${source}:${line}: slipway:ignore ${rule} needs a reason after the rule id, e.g. -- slipway:ignore ${rule} the table is empty`,
          );
        ignores.push({ rule, reason: match[2]!.trim(), line });
      }
      i = end;
    } else if (c === 47 && text.charCodeAt(i + 1) === 42) {
      let depth = 1;
      i += 2;
      while (i < to && depth > 0) {
        if (text.charCodeAt(i) === 47 && text.charCodeAt(i + 1) === 42) depth++, (i += 2);
        else if (text.charCodeAt(i) === 42 && text.charCodeAt(i + 1) === 47) depth--, (i += 2);
        else i++;
      }
    } else break;
  }
  return { first: Math.min(i, text.length), ignores };
}

/** Maps byte offsets (the parser's) to string indexes; the identity for ASCII text. */
function byteToChar(text: string): (byteOffset: number) => number {
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 127) {
      ascii = false;
      break;
    }
  }
  if (ascii) return (b) => Math.min(b, text.length);
  const bytes = Buffer.byteLength(text, 'utf8');
  const map = new Uint32Array(bytes + 1);
  let b = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.codePointAt(i)!;
    const size = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    for (let k = 0; k < size; k++) map[b + k] = i;
    b += size;
    if (code > 0xffff) i++;
  }
  map[bytes] = text.length;
  return (offset) => map[Math.max(0, Math.min(offset, bytes))]!;
}

function charPosition(lineStarts: readonly number[], index: number): { line: number; column: number } {
  let lo = 0;
  let hi = lineStarts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (lineStarts[mid]! <= index) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, column: index - lineStarts[lo]! + 1 };
}

function codePointsToIndex(text: string, codePoints: number): number {
  let index = 0;
  for (let n = 0; n < codePoints && index < text.length; n++) index += text.codePointAt(index)! > 0xffff ? 2 : 1;
  return index;
}

function shiftLocations(value: unknown, by: number): void {
  if (Array.isArray(value)) for (const item of value) shiftLocations(item, by);
  else if (value !== null && typeof value === 'object') {
    const node = value as Record<string, unknown>;
    for (const key of Object.keys(node)) {
      if (key === 'location' && typeof node[key] === 'number' && (node[key] as number) >= 0) node[key] = (node[key] as number) + by;
      else shiftLocations(node[key], by);
    }
  }
}
