import pg from 'pg';
import { quoteIdentifier } from '../db/identifier.js';
import { withoutConcurrently } from '../sql/concurrently.js';
import { needsServerVersion, type ParsedSql, type RelationName } from '../sql/parse.js';

const { escapeLiteral } = pg;

/** A file of a batch, and the SQL it runs there. */
export interface BatchEntry {
  readonly sql: ParsedSql;
  /** A no-transaction file run in the batch: its `CREATE INDEX CONCURRENTLY` without the keyword. */
  readonly folded: boolean;
}

/**
 * An up's steps in the transactions they share: each batch as {@link batchFrom} takes it from
 * where the one before ended, or one file each when `batch` is off. `plan` shows what a run does.
 *
 * @example batchesOf(parsed, true).map((b) => b.length) // [12, 1, 30]: a file outside a transaction between two batches
 */
export function batchesOf(parsed: readonly ParsedSql[], batch: boolean): BatchEntry[][] {
  const batches: BatchEntry[][] = [];
  for (let from = 0; from < parsed.length; ) {
    const next = batch ? batchFrom(parsed, from) : [{ sql: parsed[from]!, folded: false }];
    batches.push(next);
    from += next.length;
  }
  return batches;
}

/**
 * The files from `from` that can share one transaction: consecutive transactional files that
 * open it with a plain BEGIN (a file's own isolation level ends the batch), and files of only
 * `CREATE INDEX CONCURRENTLY` on tables that earlier files of the batch create. No other session
 * sees such a table before the commit, so building its index concurrently spares nobody a wait:
 * the plain `CREATE INDEX` builds the same index in one pass instead of two plus the waits for
 * other transactions, and joins the batch instead of ending it.
 *
 * A batch must never succeed where the files one by one would fail: a file that adds an enum
 * value starts a new batch (a value added to a type created in the same transaction is usable at
 * once, one added to a committed type is not), and ends it, as the files using the value would
 * fail in it; a partitioned table (no concurrent index build) never counts as created; and a
 * folded file first checks that this transaction holds its table in ACCESS EXCLUSIVE (as it holds
 * a table it created), else fails the batch, which then runs one file at a time.
 *
 * At least one file, even one that runs outside a transaction.
 */
function batchFrom(parsed: readonly ParsedSql[], from: number): BatchEntry[] {
  const batch: BatchEntry[] = [];
  const created = new Set<string>();
  for (let index = from; index < parsed.length; index++) {
    const sql = parsed[index]!;
    const joins = sql.transactional && /^BEGIN$/i.test(sql.begin.trim()) && (batch.length === 0 || !needsServerVersion(sql));
    const folded = joins || batch.length === 0 ? null : foldedIndexes(sql, created);
    if (!joins && folded === null) break;
    batch.push({ sql: folded ?? sql, folded: folded !== null });
    for (const key of tablesCreated(sql)) created.add(key);
    // An enum value added to a committed type cannot be used before the commit: the files after it wait for one.
    if (needsServerVersion(sql)) break;
  }
  return batch.length > 0 ? batch : [{ sql: parsed[from]!, folded: false }];
}

/** Keys of the tables a transactional file surely creates, under the names later files can reach them by. */
function tablesCreated(sql: ParsedSql): string[] {
  // An unqualified name lands where the search_path says; a file that sets it may put it elsewhere.
  const pathSet = /search_path/i.test(sql.body);
  return sql.statements.flatMap(({ createsTable: table }) => {
    // An unqualified name the catalog schema also has is looked up there first.
    const unsure = table?.schema === null && (pathSet || table.name.startsWith('pg_'));
    return table === undefined || unsure ? [] : [keyOf(table)];
  });
}

/**
 * The file as one transactional text when every statement is a `CREATE INDEX CONCURRENTLY` on a
 * table in `created`, each behind a check that the table is this transaction's; else null.
 */
function foldedIndexes(sql: ParsedSql, created: ReadonlySet<string>): ParsedSql | null {
  if (sql.statements.length === 0 || sql.statements.some((s) => s.noTransactionReason === null)) return null;
  const pieces: string[] = [];
  for (const statement of sql.statements) {
    const target = statement.concurrent;
    if (target?.action !== 'create-index' || !created.has(keyOf(target.table))) return null;
    const plain = withoutConcurrently(statement.sql);
    const name = target.table.schema === null ? [target.table.name] : [target.table.schema, target.table.name];
    // The name goes into a dollar-quoted block: one that could close it is not folded.
    if (plain === null || name.some((part) => part.includes('$'))) return null;
    pieces.push(newTableCheck(name.map(quoteIdentifier).join('.')), plain);
  }
  const text = pieces.join(';\n');
  return { statements: sql.statements, transactional: true, body: text, parts: [{ text, line: 1 }], begin: 'BEGIN' };
}

/** Fails unless this backend holds `table` (as the index will resolve it) in ACCESS EXCLUSIVE. */
function newTableCheck(table: string): string {
  const found = `SELECT FROM pg_catalog.pg_locks WHERE locktype = 'relation' AND relation = pg_catalog.to_regclass(${escapeLiteral(table)})
      AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
      AND pid = pg_catalog.pg_backend_pid() AND mode = 'AccessExclusiveLock' AND granted`;
  return `DO $slipway$BEGIN IF NOT EXISTS (${found}) THEN
    RAISE EXCEPTION 'slipway: % is not a table this transaction created', ${escapeLiteral(table)}; END IF; END$slipway$`;
}

function keyOf(table: RelationName): string {
  return `${table.schema ?? ''}\0${table.name}`;
}
