import type pg from 'pg';
import { quoteIdentifier } from '../db/identifier.js';
import { OWN_TRANSACTIONS, type ParsedSql, type RelationName, type Statement } from '../sql/parse.js';

/**
 * How to go on with the statement an interrupted run was at, as the catalog shows it:
 * run it (again), skip it (it finished after its runner died), drop an INVALID index it
 * left behind and run it, finish it with `sql` in its place, or stop because nothing shows
 * whether it took effect.
 */
export type Resumption =
  | { readonly action: 'run'; readonly why: string }
  | { readonly action: 'skip'; readonly why: string }
  | { readonly action: 'drop-then-run'; readonly drop: readonly string[]; readonly why: string }
  | { readonly action: 'finish'; readonly sql: string; readonly why: string }
  | { readonly action: 'undecidable'; readonly why: string };

/** The statements to replay before resuming: session settings the file made before the stop. */
export function settingsBefore(sql: ParsedSql, done: number): Statement[] {
  return sql.statements.slice(0, done).filter((s) => s.kind === 'VariableSetStmt');
}

/**
 * Decides how to resume at `statement`, the first one not known done. Every statement that can
 * run in a transaction recorded its progress in the same transaction, so it is simply run. A
 * concurrent index statement or detach is judged from the catalog. Other statements Postgres
 * refuses in a transaction are re-run when running them twice is harmless, and undecidable otherwise.
 */
export async function decideResumption(client: pg.ClientBase, statement: Statement): Promise<Resumption> {
  if (statement.noTransactionReason === null || statement.noTransactionReason === OWN_TRANSACTIONS) {
    return { action: 'run', why: 'it had not committed' };
  }
  const target = statement.concurrent;
  if (target?.action === 'create-index') {
    if (target.index === null)
      return { action: 'undecidable', why: 'the index has no name, so the catalog cannot tell whether it was built' };
    const index = await findIndex(client, target.index);
    if (index === null) return { action: 'run', why: `index ${target.index.name} does not exist` };
    if (index.valid) return { action: 'skip', why: `index ${index.qualified} was built and is valid` };
    return { action: 'drop-then-run', drop: [index.qualified], why: `index ${index.qualified} was left INVALID` };
  }
  if (target?.action === 'drop-index') {
    const found = await Promise.all(target.indexes.map((name) => findIndex(client, name)));
    if (found.every((index) => index === null))
      return { action: 'skip', why: `${target.indexes.map((i) => i.name).join(', ')} already dropped` };
    return { action: 'run', why: 'the index is still there' };
  }
  if (target?.action === 'reindex' && target.relation !== null && target.kind !== 'other') {
    const leftovers = await reindexLeftovers(client, target.relation, target.kind);
    return leftovers.length === 0
      ? { action: 'run', why: 'rebuilding again is harmless' }
      : { action: 'drop-then-run', drop: leftovers, why: `the interrupted rebuild left INVALID ${leftovers.join(', ')}` };
  }
  if (target?.action === 'detach-partition') return resumeDetach(client, target.table, target.partition);
  switch (statement.kind) {
    case 'VacuumStmt':
    case 'ClusterStmt':
    case 'ReindexStmt':
    case 'AlterSystemStmt':
      return { action: 'run', why: 'running it again is harmless' };
    default:
      return { action: 'undecidable', why: `the catalog does not show whether ${statement.noTransactionReason} took effect` };
  }
}

function qualifiedName(schema: string | null, name: string): string {
  return schema === null ? quoteIdentifier(name) : `${quoteIdentifier(schema)}.${quoteIdentifier(name)}`;
}

/** An index by name (as the session's search_path resolves it), with its validity. */
async function findIndex(client: pg.ClientBase, name: RelationName): Promise<{ qualified: string; valid: boolean } | null> {
  const { rows } = await client.query<{ schema: string; name: string; valid: boolean }>(
    `SELECT n.nspname AS schema, c.relname AS name, i.indisvalid AS valid
       FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = to_regclass($1)`,
    [qualifiedName(name.schema, name.name)],
  );
  const row = rows[0];
  return row === undefined ? null : { qualified: qualifiedName(row.schema, row.name), valid: row.valid };
}

/** INVALID `_ccnew`/`_ccold` copies an interrupted `REINDEX … CONCURRENTLY` leaves on the table. */
async function reindexLeftovers(client: pg.ClientBase, relation: RelationName, kind: 'index' | 'table'): Promise<string[]> {
  const table = kind === 'table' ? 'to_regclass($1)' : '(SELECT indrelid FROM pg_catalog.pg_index WHERE indexrelid = to_regclass($1))';
  const { rows } = await client.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name
       FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE i.indrelid = ${table} AND NOT i.indisvalid AND c.relname ~ '_cc(new|old)[0-9]*$'
      ORDER BY 2`,
    [qualifiedName(relation.schema, relation.name)],
  );
  return rows.map((r) => qualifiedName(r.schema, r.name));
}

/**
 * `DETACH PARTITION … CONCURRENTLY` commits a first transaction that marks the partition pending
 * detach (`pg_inherits.inhdetachpending`, PostgreSQL 14+), then waits for every transaction that
 * may still see the partition: stopped there, it is finished with `DETACH PARTITION … FINALIZE`.
 */
async function resumeDetach(client: pg.ClientBase, table: RelationName, partition: RelationName): Promise<Resumption> {
  const { rows } = await client.query<{
    schema: string;
    name: string;
    parent_schema: string | null;
    parent_name: string | null;
    pending: boolean | null;
  }>(
    `SELECT n.nspname AS schema, c.relname AS name, pn.nspname AS parent_schema, p.relname AS parent_name, i.inhdetachpending AS pending
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_catalog.pg_class p ON p.oid = to_regclass($2) LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
       LEFT JOIN pg_catalog.pg_inherits i ON i.inhrelid = c.oid AND i.inhparent = p.oid
      WHERE c.oid = to_regclass($1)`,
    [qualifiedName(partition.schema, partition.name), qualifiedName(table.schema, table.name)],
  );
  const row = rows[0];
  // A partition that does not exist: the statement, run, says so.
  if (row === undefined) return { action: 'run', why: `partition ${partition.name} does not exist` };
  const qualified = qualifiedName(row.schema, row.name);
  const parent = row.parent_name === null ? qualifiedName(table.schema, table.name) : qualifiedName(row.parent_schema, row.parent_name);
  if (row.pending === null) return { action: 'skip', why: `${qualified} is no longer a partition of ${parent}: the detach finished` };
  if (!row.pending) return { action: 'run', why: `${qualified} is still attached to ${parent}, not pending detach` };
  return {
    action: 'finish',
    sql: `ALTER TABLE ${parent} DETACH PARTITION ${qualified} FINALIZE`,
    why: `${qualified} was left pending detach from ${parent}`,
  };
}
