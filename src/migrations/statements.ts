import { SourceError } from '../errors.js';

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
}

/** A migration's SQL, split and classified. */
export interface ParsedSql {
  readonly statements: readonly Statement[];
  /** True when the whole file can run in one transaction together with its bookkeeping row. */
  readonly transactional: boolean;
  /**
   * The text to send as one query when transactional: the file itself, minus a leading
   * `BEGIN` and trailing `COMMIT` that the author wrote (slipway wraps the file anyway).
   */
  readonly body: string;
}

export interface ClassifyOptions {
  /** `server_version_num` of the target server; `ALTER TYPE ... ADD VALUE` is refused in a transaction before 120000. */
  readonly serverVersionNum?: number;
}

type Node = Record<string, unknown>;
interface RawStatement {
  stmt: Record<string, Node>;
  stmt_location?: number;
  stmt_len?: number;
}

let parser: Promise<typeof import('libpg-query')> | null = null;
/** The parser (a WebAssembly module) is loaded on first use only: a run with nothing pending never loads it. */
function loadParser(): Promise<typeof import('libpg-query')> {
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
      const params = (node.params as Array<{ DefElem?: { defname?: string; arg?: unknown } }> | undefined) ?? [];
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
      const cmds = (node.cmds as Array<{ AlterTableCmd?: Node }> | undefined) ?? [];
      const detachConcurrently = cmds.some((c) => {
        const def = c.AlterTableCmd?.def as { PartitionCmd?: Node } | undefined;
        return c.AlterTableCmd?.subtype === 'AT_DetachPartition' && def?.PartitionCmd?.concurrent === true;
      });
      return detachConcurrently ? 'ALTER TABLE ... DETACH PARTITION CONCURRENTLY' : null;
    }
    case 'AlterEnumStmt':
      // Only ADD VALUE (newVal without oldVal; RENAME VALUE sets both) is refused before PG 12.
      return node.newVal !== undefined && node.oldVal === undefined && options.serverVersionNum !== undefined && options.serverVersionNum < 120000
        ? 'ALTER TYPE ... ADD VALUE before PostgreSQL 12'
        : null;
    default:
      return null;
  }
}

function isFalse(arg: unknown): boolean {
  const value = (arg as { Boolean?: { boolval?: boolean }; String?: { sval?: string } } | undefined);
  return value?.Boolean !== undefined ? value.Boolean.boolval !== true : value?.String?.sval === 'false';
}

/** Does this SQL contain an `ALTER TYPE ... ADD VALUE`, whose classification depends on the server version? */
export function needsServerVersion(parsed: ParsedSql): boolean {
  return parsed.statements.some((s) => s.kind === 'AlterEnumStmt');
}

/**
 * Splits a migration's SQL into statements with the real Postgres parser and classifies
 * whether it can run in a transaction. `source` names the file in errors.
 *
 * @example
 * const parsed = await parseSql('CREATE INDEX CONCURRENTLY i ON t (a);', '003_index.up.sql');
 * parsed.transactional; // false
 */
export async function parseSql(sql: string, source: string, options: ClassifyOptions = {}): Promise<ParsedSql> {
  const { parse } = await loadParser();
  let raw: RawStatement[];
  try {
    raw = ((await parse(sql)) as unknown as { stmts?: RawStatement[] }).stmts ?? [];
  } catch (error) {
    const details = (error as { sqlDetails?: { cursorPosition?: number } }).sqlDetails;
    // cursorPosition counts code points (not bytes, not UTF-16 units) from the start of the text.
    const where = details?.cursorPosition === undefined ? '' : ` (line ${lineAt(sql, [...sql].slice(0, details.cursorPosition).join('').length)})`;
    throw new SourceError(`${source}${where}: ${(error as Error).message}; fix the SQL before running it`);
  }

  const bytes = Buffer.from(sql, 'utf8');
  const statements: Statement[] = raw.map((entry) => {
    const [kind, node] = Object.entries(entry.stmt)[0]!;
    const start = entry.stmt_location ?? 0;
    const end = entry.stmt_len === undefined || entry.stmt_len === 0 ? bytes.length : start + entry.stmt_len;
    const text = bytes.subarray(start, end).toString('utf8').trim();
    const leading = bytes.subarray(0, start).toString('utf8');
    const line = lineAt(sql, leading.length + (text.length > 0 ? leadingWhitespace(bytes.subarray(start, end).toString('utf8')) : 0));
    return { sql: text, kind, line, noTransactionReason: noTransactionReason(kind, node, options) };
  });
  if (statements.length === 0) throw new SourceError(`${source} has no SQL statement (only comments or whitespace): write the migration or remove the file`);

  // An author's own BEGIN ... COMMIT around the whole file is redundant: drop it. Any other
  // transaction control would commit or abort slipway's transaction halfway, so it is refused.
  let first = 0;
  let last = statements.length;
  const control = (i: number) => transactionKind(raw[i]!);
  if (control(0) === 'begin' && control(statements.length - 1) === 'commit') {
    first = 1;
    last = statements.length - 1;
  }
  for (let i = first; i < last; i++) {
    if (control(i) !== null) {
      throw new SourceError(
        `${source} (line ${statements[i]!.line}): ${statements[i]!.sql.split(/\s/)[0]!.toUpperCase()} inside a migration is not supported: slipway runs each migration in its own transaction; remove the transaction control statements`,
      );
    }
  }
  const kept = statements.slice(first, last);
  if (kept.length === 0) throw new SourceError(`${source} has no SQL statement between BEGIN and COMMIT: write the migration or remove the file`);
  const transactional = kept.every((s) => s.noTransactionReason === null);
  // The separator sits on its own line: a statement's text may end in a `--` comment.
  const body = first === 0 && last === statements.length ? sql : kept.map((s) => s.sql).join('\n;\n');
  return { statements: kept, transactional, body };
}

function transactionKind(entry: RawStatement): 'begin' | 'commit' | 'other' | null {
  const node = entry.stmt.TransactionStmt;
  if (node === undefined) return null;
  if (node.kind === 'TRANS_STMT_BEGIN' || node.kind === 'TRANS_STMT_START') return 'begin';
  if (node.kind === 'TRANS_STMT_COMMIT') return 'commit';
  return 'other';
}

function lineAt(text: string, charIndex: number): number {
  let line = 1;
  for (let i = 0; i < charIndex && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

function leadingWhitespace(text: string): number {
  return text.length - text.trimStart().length;
}
