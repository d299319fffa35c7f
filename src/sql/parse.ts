import { AbortedError, SourceError } from '../errors.js';
import { readParsed, writeParsed } from './parse-cache.js';

/** One top-level statement of a migration file, as the Postgres parser sees it. */
export interface Statement {
  /** The statement's text, exactly as written (without the trailing semicolon). */
  readonly sql: string;
  /** The parser's node type, e.g. `CreateStmt`, `IndexStmt`. */
  readonly kind: string;
  /** 1-based line of the statement in its file, for messages. */
  readonly line: number;
  /** Why Postgres refuses this statement inside a transaction block, or null when it does not. */
  readonly noTransactionReason: string | null;
  /**
   * For `CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`, `REINDEX … CONCURRENTLY` and
   * `ALTER TABLE … DETACH PARTITION … CONCURRENTLY`: the relations it works on, so an interrupted
   * run can be finished from what the catalog shows.
   */
  readonly concurrent?: ConcurrentTarget;
  /**
   * For `CREATE TABLE` and `CREATE TABLE … AS` without `IF NOT EXISTS`, neither temporary nor
   * partitioned: the table, which is new wherever the statement succeeds.
   */
  readonly createsTable?: RelationName;
  /** For `CREATE EXTENSION`: the extension's name. */
  readonly createsExtension?: string;
}

/** A qualified or unqualified relation name, as written. */
export interface RelationName {
  readonly schema: string | null;
  readonly name: string;
}

/** What a concurrent statement creates, drops, rebuilds or detaches. */
export type ConcurrentTarget =
  | { readonly action: 'create-index'; readonly index: RelationName | null; readonly table: RelationName }
  | { readonly action: 'drop-index'; readonly indexes: readonly RelationName[] }
  | { readonly action: 'reindex'; readonly kind: 'index' | 'table' | 'other'; readonly relation: RelationName | null }
  | { readonly action: 'detach-partition'; readonly table: RelationName; readonly partition: RelationName };

/** A migration's SQL, split and classified. */
export interface ParsedSql {
  /** Every statement, in order; empty for a file of comments only (a deliberate no-op). */
  readonly statements: readonly Statement[];
  /** True when the whole file can run in one transaction together with its bookkeeping row. */
  readonly transactional: boolean;
  /**
   * The text to send as one query when transactional: the file itself, with a whole-file
   * `BEGIN` and `COMMIT` that the author wrote turned into blanks (slipway wraps the file anyway).
   */
  readonly body: string;
  /** {@link body} in the pieces it is sent in: one, but for very large files. */
  readonly parts: readonly SqlPart[];
  /**
   * The statement that opens slipway's transaction for this file: `BEGIN`, or the author's own
   * (`BEGIN ISOLATION LEVEL SERIALIZABLE`) when the file wraps itself in one.
   */
  readonly begin: string;
}

export interface ClassifyOptions {
  /** `server_version_num` of the target server; `ALTER TYPE ... ADD VALUE` is refused in a transaction before 120000. */
  readonly serverVersionNum?: number;
  /** Stops a long parse (checked between the pieces of a large file). */
  readonly signal?: AbortSignal | undefined;
  /**
   * Files longer than this many characters are parsed, and sent, in pieces of about this size,
   * cut between statements: the parser's memory is bounded, and the server's. Default 1,000,000.
   */
  readonly pieceChars?: number;
  /** The run's parses, shared with the lint gate so that each file is parsed once per run. */
  readonly memo?: ParseMemo | undefined;
}

/** A stretch of a transactional file sent as one query: whole statements, and the file line it starts on. */
export interface SqlPart {
  readonly text: string;
  readonly line: number;
}

type Node = Record<string, unknown>;
/** One statement as libpg-query returns it. */
export interface RawStatement {
  stmt: Record<string, Node>;
  stmt_location?: number;
  stmt_len?: number;
}

let parser: Promise<typeof import('libpg-query')> | null = null;
/** The parser (a WebAssembly module) is loaded on first use only: a run with nothing pending never loads it. */
export function loadParser(): Promise<typeof import('libpg-query')> {
  parser ??= import('libpg-query');
  return parser;
}

/**
 * Says why Postgres refuses a statement in a transaction block (it calls
 * `PreventInTransactionBlock` for it), or returns null.
 */
export function noTransactionReason(kind: string, node: Node, options: ClassifyOptions = {}): string | null {
  switch (kind) {
    case 'IndexStmt':
      return node.concurrent === true ? 'CREATE INDEX CONCURRENTLY' : null;
    case 'DropStmt':
      return node.concurrent === true ? 'DROP INDEX CONCURRENTLY' : null;
    case 'ReindexStmt': {
      // Equivalent: a placeholder element in place of the missing options is no DefElem, so .some() finds no CONCURRENTLY in it, as in [].
      // Stryker disable next-line ArrayDeclaration: equivalent, see the line above
      const params = (node.params as Array<{ DefElem?: { defname?: string; arg?: unknown } }> | undefined) ?? [];
      // Stryker disable next-line OptionalChaining: equivalent, the parser gives every REINDEX option as a DefElem node
      const concurrently = params.some((p) => p.DefElem?.defname === 'concurrently' && !isFalse(p.DefElem.arg));
      if (concurrently) return 'REINDEX CONCURRENTLY';
      return node.kind === 'REINDEX_OBJECT_DATABASE' || node.kind === 'REINDEX_OBJECT_SYSTEM' ? 'REINDEX DATABASE/SYSTEM' : null;
    }
    case 'VacuumStmt':
      return node.is_vacuumcmd === true ? 'VACUUM' : null;
    case 'ClusterStmt':
      return node.relation === undefined ? 'CLUSTER without a table' : null;
    case 'AlterSystemStmt':
      return 'ALTER SYSTEM';
    case 'CreatedbStmt':
      return 'CREATE DATABASE';
    case 'DropdbStmt':
      return 'DROP DATABASE';
    case 'CreateTableSpaceStmt':
      return 'CREATE TABLESPACE';
    case 'DropTableSpaceStmt':
      return 'DROP TABLESPACE';
    case 'CreateSubscriptionStmt':
    case 'AlterSubscriptionStmt':
    case 'DropSubscriptionStmt':
      return 'a subscription command';
    case 'AlterTableStmt': {
      // Equivalent: a placeholder element in place of missing subcommands is no AlterTableCmd, so .some() finds no DETACH in it, as in [].
      // Stryker disable next-line ArrayDeclaration: equivalent, see the line above
      const cmds = (node.cmds as Array<{ AlterTableCmd?: Node }> | undefined) ?? [];
      const detachConcurrently = cmds.some((c) => {
        const def = c.AlterTableCmd?.def as { PartitionCmd?: Node } | undefined;
        // Equivalent: every ALTER TABLE subcommand is an AlterTableCmd, and def is read only for DETACH PARTITION,
        // whose def is a PartitionCmd.
        // Stryker disable next-line OptionalChaining: equivalent, see the lines above
        return c.AlterTableCmd?.subtype === 'AT_DetachPartition' && def?.PartitionCmd?.concurrent === true;
      });
      return detachConcurrently ? 'ALTER TABLE ... DETACH PARTITION CONCURRENTLY' : null;
    }
    case 'AlterEnumStmt':
      // Only ADD VALUE (newVal without oldVal; RENAME VALUE sets both) is refused before PG 12.
      return node.newVal !== undefined &&
        node.oldVal === undefined &&
        // Stryker disable next-line ConditionalExpression: equivalent, undefined < 120000 is false too
        options.serverVersionNum !== undefined &&
        options.serverVersionNum < 120000
        ? 'ALTER TYPE ... ADD VALUE before PostgreSQL 12'
        : null;
    default:
      return null;
  }
}

/** The relations of a concurrent statement (only called for those Postgres refuses in a transaction). */
function concurrentTarget(kind: string, node: Node): ConcurrentTarget | null {
  const relation = (value: unknown): RelationName | null => {
    const r = value as { schemaname?: string; relname?: string } | undefined;
    return r?.relname === undefined ? null : { schema: r.schemaname ?? null, name: r.relname };
  };
  if (kind === 'IndexStmt') {
    const table = relation(node.relation);
    // Stryker disable next-line ConditionalExpression: equivalent, the parser gives every CREATE INDEX its table
    if (table === null) return null;
    return { action: 'create-index', index: typeof node.idxname === 'string' ? { schema: table.schema, name: node.idxname } : null, table };
  }
  // Stryker disable next-line ConditionalExpression,LogicalOperator: equivalent, only DROP has a removeType; only DROP INDEX is concurrent
  if (kind === 'DropStmt' && node.removeType === 'OBJECT_INDEX') {
    // Stryker disable next-line ArrayDeclaration: equivalent, the parser gives DROP INDEX at least one object
    const objects = (node.objects as Array<{ List?: { items?: Array<{ String?: { sval?: string } }> } }> | undefined) ?? [];
    // Stryker disable ArrayDeclaration,OptionalChaining,StringLiteral: equivalent, the parser gives each index as a List of Strings
    const indexes = objects
      .map((o) => (o.List?.items ?? []).map((i) => i.String?.sval ?? ''))
      .map((parts) => (parts.length === 2 ? { schema: parts[0]!, name: parts[1]! } : { schema: null, name: parts.at(-1)! }));
    // Stryker restore ArrayDeclaration,OptionalChaining,StringLiteral
    return { action: 'drop-index', indexes };
  }
  if (kind === 'ReindexStmt') {
    const what = node.kind === 'REINDEX_OBJECT_INDEX' ? 'index' : node.kind === 'REINDEX_OBJECT_TABLE' ? 'table' : 'other';
    return { action: 'reindex', kind: what, relation: relation(node.relation) };
  }
  // Only a DETACH … CONCURRENTLY is left here, and the grammar allows it only alone.
  // Stryker disable next-line ConditionalExpression: equivalent, any other kind has no partition, so null below
  if (kind === 'AlterTableStmt') {
    // Stryker disable next-line ArrayDeclaration: equivalent, unreachable (see above)
    const cmds = (node.cmds as Array<{ AlterTableCmd?: { subtype?: string; def?: { PartitionCmd?: Node } } }> | undefined) ?? [];
    const detach = cmds.find(
      // Equivalent: its one command is the DETACH (see above).
      // Stryker disable next-line ConditionalExpression,LogicalOperator,OptionalChaining: equivalent, see the line above
      (c) => c.AlterTableCmd?.subtype === 'AT_DetachPartition' && c.AlterTableCmd.def?.PartitionCmd?.concurrent === true,
    );
    const table = relation(node.relation);
    // Stryker disable next-line OptionalChaining: equivalent, the DETACH is found (see above)
    const partition = relation(detach?.AlterTableCmd?.def?.PartitionCmd?.name);
    // Stryker disable next-line ConditionalExpression,LogicalOperator: equivalent, the parser gives DETACH PARTITION both names
    return table === null || partition === null ? null : { action: 'detach-partition', table, partition };
  }
  return null;
}

/** The table a `CREATE TABLE` (or `… AS`) makes, when it surely makes one: no IF NOT EXISTS, not temporary, not partitioned. */
function newTable(kind: string, node: Node): RelationName | null {
  const into = (node.into as { rel?: unknown } | undefined)?.rel;
  const rel = (kind === 'CreateStmt' ? node.relation : kind === 'CreateTableAsStmt' ? into : undefined) as
    | { schemaname?: string; relname?: string; relpersistence?: string }
    | undefined;
  if (rel?.relname === undefined || node.if_not_exists === true || rel.relpersistence === 't' || node.partspec !== undefined) return null;
  return { schema: rel.schemaname ?? null, name: rel.relname };
}

/** Does an option's argument say false, as Postgres's defGetBoolean reads it (false, off, 0, in any case)? */
function isFalse(arg: unknown): boolean {
  const value = arg as { Boolean?: { boolval?: boolean }; String?: { sval?: string }; Integer?: { ival?: number } } | undefined;
  if (value?.Boolean !== undefined) return value.Boolean.boolval !== true;
  if (value?.Integer !== undefined) return (value.Integer.ival ?? 0) === 0;
  const text = value?.String?.sval?.toLowerCase();
  return text === 'false' || text === 'off';
}

/** Does this SQL contain an `ALTER TYPE ... ADD VALUE`, whose classification depends on the server version? */
export function needsServerVersion(parsed: ParsedSql): boolean {
  return parsed.statements.some((s) => s.kind === 'AlterEnumStmt');
}

/** Why a file that manages its own transactions runs outside slipway's. */
export const OWN_TRANSACTIONS = 'it manages its own transactions (BEGIN/COMMIT inside the file)';

/**
 * A comment line above a file's first statement that asks for it to run outside a transaction,
 * statement by statement, each committed on its own (as psql runs a file): for statements that
 * must see an earlier one committed, such as a value added by `ALTER TYPE ... ADD VALUE`.
 * Readers of other layouts put it on the first line of a section their format runs that way.
 */
export const NO_TRANSACTION_MARKER = '-- slipway:no-transaction';
/** Why a marked file runs outside a transaction, for messages. */
export const MARKED_NO_TRANSACTION = `marked ${NO_TRANSACTION_MARKER}`;

/**
 * A comment line above a migration's first statement that puts it in the post-deploy phase: it runs
 * only once every replica runs the release that brought it (`slipway up --post-deploy`), so it may
 * drop or rename what the previous release used. Readers of other layouts keep it where it is
 * written in the up section (right under the format's up marker).
 */
export const POST_DEPLOY_MARKER = '-- slipway:post-deploy';

/** Does a comment line before the first statement say {@link NO_TRANSACTION_MARKER}? Reads only the leading comments. */
export function hasNoTransactionMarker(sql: string): boolean {
  return hasLeadingMarker(sql, /^--\s*slipway:no-transaction$/i);
}

/** Does a comment line before the first statement say {@link POST_DEPLOY_MARKER}? Reads only the leading comments. */
export function hasPostDeployMarker(sql: string): boolean {
  return hasLeadingMarker(sql, /^--\s*slipway:post-deploy$/i);
}

function hasLeadingMarker(sql: string, marker: RegExp): boolean {
  // Stryker disable next-line EqualityOperator: equivalent, at the end the line is empty and the loop ends after it
  for (let start = 0; start < sql.length; ) {
    const newline = sql.indexOf('\n', start);
    const end = newline === -1 ? sql.length : newline;
    const line = sql.slice(start, end).trim();
    if (line !== '' && !line.startsWith('--')) return false;
    if (marker.test(line)) return true;
    start = end + 1;
  }
  return false;
}

/**
 * The schema objects a migration's SQL names, as far as the parser shows them: `table.column` for a
 * column an `ALTER TABLE`, `RENAME COLUMN` or `CREATE INDEX` works on, the bare table name for
 * anything else that names a table (DML, `DROP TABLE`, a constraint). Names are unqualified (a
 * table of the same name in another schema counts as the same: a wider net, never a narrower one).
 * What only a function body or dynamic SQL names is not seen.
 */
export async function namedObjects(sql: string, memo?: ParseMemo): Promise<Set<string>> {
  const names = new Set<string>();
  const tableOf = (relation: unknown) => {
    const name = (relation as { relname?: unknown } | undefined)?.relname;
    return typeof name === 'string' ? name : null;
  };
  const walk = (node: unknown): void => {
    // Stryker disable next-line ConditionalExpression,BlockStatement: equivalent, an array walked as an object walks its values alike
    if (Array.isArray(node)) {
      for (const item of node) walk(item);
      return;
    }
    // Stryker disable next-line ConditionalExpression: equivalent, the parser's JSON holds no null
    if (node === null || typeof node !== 'object') return;
    const record = node as Node;
    const alter = record.AlterTableStmt as
      | { relation?: unknown; cmds?: Array<{ AlterTableCmd?: { name?: string; def?: { ColumnDef?: { colname?: string } } } }> }
      | undefined;
    const rename = record.RenameStmt as { relation?: unknown; renameType?: string; subname?: string; newname?: string } | undefined;
    const index = record.IndexStmt as
      | { relation?: unknown; idxname?: string; whereClause?: unknown; indexParams?: Array<{ IndexElem?: { name?: string } }> }
      | undefined;
    const table = tableOf(alter?.relation ?? rename?.relation ?? index?.relation);
    // Stryker disable next-line ConditionalExpression: equivalent, the parser gives every ALTER TABLE its table
    if (table !== null && alter !== undefined) {
      // Stryker disable next-line ArrayDeclaration: equivalent, the parser gives every ALTER TABLE its subcommands
      for (const { AlterTableCmd: cmd } of alter.cmds ?? []) {
        const column = cmd?.name ?? cmd?.def?.ColumnDef?.colname;
        names.add(column === undefined ? table : `${table}.${column}`);
        // Stryker disable next-line OptionalChaining: equivalent, every subcommand is an AlterTableCmd
        if (column === undefined) walk(cmd?.def);
      }
      return;
    }
    // Stryker disable next-line ConditionalExpression: equivalent, the parser gives a column rename its table
    if (table !== null && rename?.renameType === 'OBJECT_COLUMN') {
      names.add(`${table}.${rename.subname}`).add(`${table}.${rename.newname}`);
      return;
    }
    if (table !== null && rename !== undefined) {
      names.add(table).add(String(rename.newname));
      return;
    }
    // Stryker disable next-line ConditionalExpression,LogicalOperator: equivalent, an index has its table, and a table here is an index's
    if (table !== null && index !== undefined) {
      // Stryker disable next-line ArrayDeclaration: equivalent, the parser gives every index its columns
      for (const param of index.indexParams ?? [])
        param.IndexElem?.name === undefined ? names.add(table) : names.add(`${table}.${param.IndexElem.name}`);
      if (index.idxname !== undefined) names.add(index.idxname);
      walk(index.whereClause);
      return;
    }
    // A relation: wrapped as a RangeVar node (FROM) or bare (INSERT INTO, UPDATE, DELETE).
    if (typeof record.relname === 'string') names.add(record.relname);
    // DROP TABLE/INDEX/VIEW … name their objects as lists of strings.
    const drop = record.DropStmt as { objects?: Array<{ List?: { items?: Array<{ String?: { sval?: string } }> } }> } | undefined;
    // Stryker disable next-line ArrayDeclaration: equivalent, a placeholder is no List: nothing is named
    for (const object of drop?.objects ?? []) {
      const last = object.List?.items?.at(-1)?.String?.sval;
      if (last !== undefined) names.add(last);
    }
    for (const value of Object.values(record)) walk(value);
  };
  walk(await parseStatements(sql, memo));
  return names;
}

/** Do two sets of {@link namedObjects} overlap? A table overlaps each of its columns. Returns what they share, for messages. */
export function sharedObjects(a: ReadonlySet<string>, b: ReadonlySet<string>): string[] {
  const tableOf = (name: string) => name.split('.')[0]!;
  const shared = new Set<string>();
  for (const x of a) {
    for (const y of b) {
      if (x === y || (!x.includes('.') && tableOf(y) === x)) shared.add(y);
      else if (!y.includes('.') && tableOf(x) === y) shared.add(x);
    }
  }
  return [...shared].sort();
}

/**
 * Splits a migration's SQL into statements with the real Postgres parser and classifies
 * whether it can run in a transaction. `source` names the file in errors. Linear in the
 * file's size. A file of comments only has no statements: a deliberate no-op.
 *
 * - A whole-file `BEGIN … COMMIT` wrapper is folded into slipway's transaction (its options,
 *   such as an isolation level, kept in {@link ParsedSql.begin}); `SAVEPOINT`, `RELEASE` and
 *   `ROLLBACK TO` stay inside it.
 * - Any other `BEGIN`/`COMMIT`/`ROLLBACK` means the file manages its own transactions: it runs
 *   as written, statement by statement, like psql would. One left open at the end is refused.
 *
 * @example
 * const parsed = await parseSql('CREATE INDEX CONCURRENTLY i ON t (a);', '003_index.up.sql');
 * parsed.transactional; // false
 */
export async function parseSql(sql: string, source: string, options: ClassifyOptions = {}): Promise<ParsedSql> {
  // Equivalent: blanks parse to no statement, the same result.
  // Stryker disable next-line MethodExpression,ConditionalExpression,StringLiteral: equivalent, see the line above
  if (sql.trim() === '') return { statements: [], transactional: true, body: '', parts: [], begin: 'BEGIN' };
  const pieceChars = options.pieceChars ?? 1_000_000;
  const pieces = sql.length > pieceChars * 2 ? cutIntoPieces(sql, pieceChars) : [{ start: 0, end: sql.length }];

  const statements: Statement[] = [];
  const ranges: Array<readonly [number, number]> = [];
  const control: Array<TransactionKind | null> = [];
  const setsTransaction: boolean[] = [];
  const used: Array<{ start: number; end: number; line: number }> = [];
  let line = 1;
  let lineCountedTo = 0;
  for (let i = 0; i < pieces.length; i++) {
    if (options.signal?.aborted) throw new AbortedError(`stopped while parsing ${source}; nothing was changed`);
    // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, one more wait before the only piece
    if (pieces.length > 1) await new Promise((resolve) => setImmediate(resolve)); // lets a signal in
    let piece = pieces[i]!;
    let raw: RawStatement[];
    try {
      raw = await (pieces.length === 1 ? parseStatements(sql, options.memo) : parseText(sql.slice(piece.start, piece.end)));
    } catch (error) {
      // A cut the quick scan got wrong (inside BEGIN ATOMIC … END, say) parses once joined with the next piece.
      const next = pieces[i + 1];
      const joined = next === undefined ? null : await parseText(sql.slice(piece.start, next.end)).catch(() => null);
      if (joined === null) throw syntaxError(error, sql, piece.start, source);
      raw = joined;
      piece = { start: piece.start, end: next!.end };
      i++;
    }
    line += countNewlines(sql, lineCountedTo, piece.start);
    lineCountedTo = piece.start;
    used.push({ ...piece, line });
    for (const statement of cutStatements(sql, piece.start, piece.end, line, raw, options, ranges)) statements.push(statement);
    for (const entry of raw) {
      control.push(transactionKind(entry));
      setsTransaction.push((entry.stmt.VariableSetStmt as { name?: string } | undefined)?.name === 'TRANSACTION');
    }
  }
  if (statements.length === 0) return { statements, transactional: true, body: '', parts: [], begin: 'BEGIN' };
  const partsOf = (text: string) => used.map((p) => ({ text: text.slice(p.start, p.end), line: p.line }));
  const parts = partsOf(sql);

  const last = statements.length - 1;
  const marked = hasNoTransactionMarker(sql);
  const wrapped =
    !marked &&
    // Stryker disable next-line ConditionalExpression: equivalent, one statement cannot be both BEGIN and COMMIT
    statements.length >= 2 &&
    control[0] === 'begin' &&
    control[last] === 'commit' &&
    control.slice(1, last).every((c) => c === null || c === 'savepoint');
  if (wrapped) {
    // `SET TRANSACTION` must come before the transaction's first query, and slipway's claim on
    // the ledger is one: those right after the author's BEGIN open the transaction with it.
    let first = 1;
    // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, the last statement is a COMMIT, not a SET
    while (first < last && setsTransaction[first]) first++;
    // The wrapper's BEGIN and COMMIT become blanks: the rest keeps its place, so Postgres's
    // error positions still point at the file's lines.
    const body = blank(sql, [...ranges.slice(0, first), ranges[last]!]);
    const kept = statements.slice(first, last);
    const begin = statements
      .slice(0, first)
      .map((s) => s.sql)
      .join(';\n');
    return { statements: kept, transactional: kept.every((s) => s.noTransactionReason === null), body, parts: partsOf(body), begin };
  }
  if (control.some((c) => c === 'begin' || c === 'commit' || c === 'rollback' || c === 'chain')) {
    checkTransactionsClose(statements, control, source);
    return {
      statements: statements.map((s, i) =>
        // Stryker disable next-line ConditionalExpression: equivalent, no transaction control statement has a reason of its own
        control[i] === null || control[i] === 'savepoint' || s.noTransactionReason !== null
          ? s
          : { ...s, noTransactionReason: OWN_TRANSACTIONS },
      ),
      transactional: false,
      body: sql,
      parts,
      begin: 'BEGIN',
    };
  }
  // A marked file runs statement by statement, each committed with its progress.
  return {
    statements,
    transactional: !marked && statements.every((s) => s.noTransactionReason === null),
    body: sql,
    parts,
    begin: 'BEGIN',
  };
}

/**
 * The parser's statements of whole files already parsed in one run, by text: the runner and the
 * lint gate share it, so each file is parsed once. It keeps at most `budgetChars` of SQL (a
 * file's tree is many times its size); beyond that, files are parsed again when asked again.
 */
export class ParseMemo {
  private readonly parsed = new Map<string, Promise<RawStatement[]>>();
  private kept = 0;

  constructor(private readonly budgetChars = 4_000_000) {}

  /** The statements of a whole file: from memory when this run parsed the same text already. */
  statements(text: string): Promise<RawStatement[]> {
    const known = this.parsed.get(text);
    if (known !== undefined) return known;
    const parsed = parseText(text);
    if (this.kept + text.length <= this.budgetChars) {
      this.parsed.set(text, parsed);
      this.kept += text.length;
    }
    return parsed;
  }
}

/** The statements of a whole file, through `memo` when there is one. */
export function parseStatements(text: string, memo?: ParseMemo): Promise<RawStatement[]> {
  return memo === undefined ? parseText(text) : memo.statements(text);
}

/** How many texts this process gave the parser (not found in the parse cache): for tests and profiles. */
export const parserCalls = { count: 0 };

async function parseText(text: string): Promise<RawStatement[]> {
  // The parser refuses an empty text ("Query cannot be empty"); an empty file is a no-op, like one of comments.
  if (text === '') return [];
  const known = readParsed<RawStatement[]>(text);
  if (known !== undefined) return known;
  const { parse } = await loadParser();
  parserCalls.count++;
  // Equivalent: the parser returns a stmts array for every text it parses (empty for comments only).
  // Stryker disable next-line ArrayDeclaration: equivalent, see the line above
  const statements = ((await parse(text)) as unknown as { stmts?: RawStatement[] }).stmts ?? [];
  writeParsed(text, statements);
  return statements;
}

function syntaxError(error: unknown, sql: string, pieceStart: number, source: string): SourceError {
  const details = (error as { sqlDetails?: { cursorPosition?: number } }).sqlDetails;
  // cursorPosition counts code points (not bytes, not UTF-16 units) from the start of the text parsed.
  // Stryker disable next-line StringLiteral: equivalent, libpg-query gives every syntax error its position (see below)
  let where = '';
  // Stryker disable next-line ConditionalExpression,OptionalChaining: equivalent, libpg-query gives every syntax error its position
  if (details?.cursorPosition !== undefined) {
    const index = pieceStart + codePointsToIndex(sql.slice(pieceStart), details.cursorPosition);
    where = `:${countLines(sql, 0, index)}:${index - sql.lastIndexOf('\n', index - 1)}`;
  }
  return new SourceError(`${source}${where}: ${(error as Error).message}; fix the SQL before running it`);
}

/** `text` with the given ranges turned into spaces, newlines kept. */
function blank(text: string, ranges: ReadonlyArray<readonly [number, number]>): string {
  let out = '';
  let cursor = 0;
  for (const [from, to] of ranges) {
    out += text.slice(cursor, from) + text.slice(from, to).replace(/[^\n]/g, ' ');
    cursor = to;
  }
  return out + text.slice(cursor);
}

/**
 * Where a large file may be cut between statements, found by a quick scan that knows quotes,
 * comments, dollar quotes and parentheses (the parser then checks every piece). Pieces are
 * about `pieceChars` long and end just after a `;`.
 */
export function cutIntoPieces(sql: string, pieceChars: number): Array<{ start: number; end: number }> {
  const pieces: Array<{ start: number; end: number }> = [];
  let start = 0;
  let depth = 0;
  let i = 0;
  const n = sql.length;
  // Past the end charCodeAt gives NaN, which is no character this scan looks for, and sql[-1] is undefined:
  // the bounds below (<, >, === 0) read the same as <=, >=, or true there.
  const isIdent = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36 || c > 127;
  // Stryker disable next-line EqualityOperator: equivalent, at n no branch matches and the scan ends (see above)
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (c === 39 /* ' */) {
      // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, before index 0 there is no E and no word (see above)
      const escapes = i > 0 && (sql[i - 1] === 'E' || sql[i - 1] === 'e') && (i < 2 || !isIdent(sql.charCodeAt(i - 2)));
      i++;
      // Stryker disable next-line EqualityOperator: equivalent, at n no branch matches and the scan ends (see above)
      while (i < n) {
        const d = sql.charCodeAt(i);
        if (escapes && d === 92 /* \ */) i += 2;
        else if (d === 39) {
          if (sql.charCodeAt(i + 1) === 39) i += 2;
          else break;
        } else i++;
      }
      i++;
    } else if (c === 34 /* " */) {
      i = sql.indexOf('"', i + 1);
      // Stryker disable next-line ConditionalExpression: equivalent, "" ends and opens a quoted name again: the same end
      while (i !== -1 && sql.charCodeAt(i + 1) === 34) i = sql.indexOf('"', i + 2);
      i = i === -1 ? n : i + 1;
    } else if (c === 45 /* - */ && sql.charCodeAt(i + 1) === 45) {
      i = sql.indexOf('\n', i);
      i = i === -1 ? n : i + 1;
    } else if (c === 47 /* / */ && sql.charCodeAt(i + 1) === 42 /* * */) {
      let nesting = 1;
      i += 2;
      // Stryker disable next-line EqualityOperator: equivalent, at n no branch matches and the scan ends (see above)
      while (i < n && nesting > 0) {
        if (sql.charCodeAt(i) === 47 && sql.charCodeAt(i + 1) === 42) nesting++, (i += 2);
        else if (sql.charCodeAt(i) === 42 && sql.charCodeAt(i + 1) === 47) nesting--, (i += 2);
        else i++;
      }
    } else if (c === 36 /* $ */ && (i === 0 || !isIdent(sql.charCodeAt(i - 1)))) {
      const tag = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z_0-9\u0080-\uffff]*)?\$/.exec(sql.slice(i, i + 64));
      if (tag === null) i++;
      else {
        const close = sql.indexOf(tag[0], i + tag[0].length);
        i = close === -1 ? n : close + tag[0].length;
      }
    } else if (c === 40 /* ( */) depth++, i++;
    else if (c === 41 /* ) */) (depth = Math.max(0, depth - 1)), i++;
    else if (c === 59 /* ; */ && depth === 0) {
      i++;
      if (i - start >= pieceChars) {
        pieces.push({ start, end: i });
        start = i;
      }
    } else i++;
  }
  if (start < n) pieces.push({ start, end: n });
  return pieces;
}

/**
 * Statement texts and lines of the piece sql[from, to) starting on `firstLine`, in one pass
 * (offsets from the parser are in bytes of the piece).
 */
function cutStatements(
  sql: string,
  from: number,
  to: number,
  firstLine: number,
  raw: readonly RawStatement[],
  options: ClassifyOptions,
  ranges: Array<readonly [number, number]>,
): Statement[] {
  const text = sql.slice(from, to);
  // Stryker disable next-line StringLiteral: equivalent, Buffer.from reads a string as UTF-8 by default and for an empty encoding name
  const bytes = Buffer.from(text, 'utf8');
  // Stryker disable next-line ConditionalExpression: equivalent, a shortcut: the general path gives ASCII the same offsets
  const ascii = bytes.length === text.length;
  let byteCursor = 0;
  let charCursor = 0;
  let line = firstLine;
  const statements: Statement[] = [];
  for (const entry of raw) {
    const [kind, node] = Object.entries(entry.stmt)[0]!;
    const startByte = entry.stmt_location ?? 0;
    // Stryker disable next-line ConditionalExpression: equivalent, libpg-query leaves out a length of 0
    const endByte = entry.stmt_len === undefined || entry.stmt_len === 0 ? bytes.length : startByte + entry.stmt_len;
    const startChar = ascii ? startByte : charCursor + bytes.toString('utf8', byteCursor, startByte).length;
    const endChar = ascii ? endByte : startChar + bytes.toString('utf8', startByte, endByte).length;
    const piece = text.slice(startChar, endChar);
    const trimmed = piece.trim();
    // Stryker disable next-line ArithmeticOperator,MethodExpression: equivalent, libpg-query places a statement at its first token
    const firstChar = startChar + (piece.length - piece.trimStart().length);
    line += countNewlines(text, charCursor, firstChar);
    const reason = noTransactionReason(kind, node, options);
    const concurrent = reason === null ? null : concurrentTarget(kind, node);
    const createsTable = newTable(kind, node);
    const createsExtension = kind === 'CreateExtensionStmt' && typeof node.extname === 'string' ? node.extname : null;
    statements.push({
      sql: trimmed,
      kind,
      line,
      noTransactionReason: reason,
      ...(concurrent !== null && { concurrent }),
      ...(createsTable !== null && { createsTable }),
      ...(createsExtension !== null && { createsExtension }),
    });
    ranges.push([from + firstChar, from + firstChar + trimmed.length]);
    line += countNewlines(text, firstChar, endChar);
    byteCursor = endByte;
    charCursor = endChar;
  }
  return statements;
}

/** A file that manages its own transactions must not leave one open: the session would carry it on. */
function checkTransactionsClose(statements: readonly Statement[], control: ReadonlyArray<TransactionKind | null>, source: string): void {
  let openedAt: Statement | null = null;
  statements.forEach((statement, i) => {
    if (control[i] === 'begin') openedAt ??= statement;
    else if (control[i] === 'commit' || control[i] === 'rollback') openedAt = null;
    else if (control[i] === 'chain') openedAt ??= statement;
  });
  if (openedAt !== null) {
    const at = openedAt as Statement;
    throw new SourceError(
      `${source}:${at.line}: ${at.sql.split(/\s/)[0]!.toUpperCase()} opens a transaction that the file never ends: add COMMIT after its last statement`,
    );
  }
}

type TransactionKind = 'begin' | 'commit' | 'rollback' | 'chain' | 'savepoint' | 'other';

function transactionKind(entry: RawStatement): TransactionKind | null {
  const node = entry.stmt.TransactionStmt;
  if (node === undefined) return null;
  switch (node.kind) {
    case 'TRANS_STMT_BEGIN':
    case 'TRANS_STMT_START':
      return 'begin';
    case 'TRANS_STMT_COMMIT':
      return node.chain === true ? 'chain' : 'commit';
    case 'TRANS_STMT_ROLLBACK':
      return node.chain === true ? 'chain' : 'rollback';
    case 'TRANS_STMT_SAVEPOINT':
    case 'TRANS_STMT_RELEASE':
    case 'TRANS_STMT_ROLLBACK_TO':
      return 'savepoint';
    default:
      // PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED: ends or acts outside the current transaction.
      return 'rollback';
  }
}

/** Newlines in text[from, to). */
function countNewlines(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = text.indexOf('\n', from); i !== -1 && i < to; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** The 1-based line of the character at `index`. */
function countLines(text: string, from: number, index: number): number {
  return 1 + countNewlines(text, from, index);
}

/** The UTF-16 index of the `codePoints`-th code point. */
function codePointsToIndex(text: string, codePoints: number): number {
  let index = 0;
  for (let n = 0; n < codePoints && index < text.length; n++) index += text.codePointAt(index)! > 0xffff ? 2 : 1;
  return index;
}
