import type pg from 'pg';
import type { Logger } from 'pino';
import { quoteIdentifier } from '../db/identifier.js';
import { checkConnectionSource, openSession, type ConnectionSource } from '../db/session.js';
import { AbortedError, SessionError, SlipwayError } from '../errors.js';
import { createLogger } from '../log.js';
import { toLockKey, withLock } from '../db/lock.js';
import { describeLocation, readSeedDir, SeedError, type SeedLocation } from './files.js';
import { isReference, planSeed, tablesToLookUp, type Batch, type Catalog, type CatalogColumn, type CatalogTable, type Reference, type SeedPlan, type SeedStep, type Value, type ValueCheck } from './plan.js';

/** The default advisory-lock key for seeding: the bytes of "slipseed" read as a number. Not the migration lock's key. */
export const DEFAULT_SEED_LOCK_KEY = 0x736c697073656564n;

export interface SeedOptions extends ConnectionSource {
  /** The folder of seed files; default `seeds`. */
  readonly dir?: string;
  /** Overwrite rows whose key is present with other values; default: report them as conflicts and leave them. */
  readonly update?: boolean;
  /** Do everything in a transaction and roll it back: the result says what a run would do. */
  readonly dryRun?: boolean;
  /** Advisory-lock key; seed runs with the same key exclude each other. Default {@link DEFAULT_SEED_LOCK_KEY}. */
  readonly lockKey?: bigint | number | string;
  readonly logger?: Logger;
  /** Aborting stops before the next batch and rolls everything back. */
  readonly signal?: AbortSignal;
  /** With `databaseUrl`: milliseconds to keep retrying a connection that fails for a transient reason. Default: try once. */
  readonly connectWait?: number;
}

/** A row whose key is in the table with other values in some of the seeded columns. */
export interface SeedConflict {
  readonly at: SeedLocation;
  /** The key as the seed file writes it. */
  readonly key: Readonly<Record<string, unknown>>;
  /** Each differing column, with the seed's and the database's value as text. */
  readonly columns: ReadonlyArray<{ readonly column: string; readonly seed: string | null; readonly database: string | null }>;
}

export interface SeedTableResult {
  readonly table: string;
  readonly inserted: number;
  /** Rows already there with the seeded values. */
  readonly skipped: number;
  /** Rows already there with other values; with `update` each one was updated, otherwise left as it is. */
  readonly conflicts: readonly SeedConflict[];
  readonly updated: number;
}

export interface SeedResult {
  /** One entry per seeded table, in file order. */
  readonly tables: readonly SeedTableResult[];
  /** True when everything was rolled back. */
  readonly dryRun: boolean;
  /** How long this run waited for the seed lock; null when there were no seed files. */
  readonly lockWaitMs: number | null;
  readonly durationMs: number;
}

/**
 * Loads the seed files into the database, any number of times, from any number of processes
 * at once, never creating a duplicate. Files are read and checked (duplicates, syntax) before
 * connecting, then checked against the catalog and the values parsed by the server before
 * anything is written. Then, holding the seed lock on one connection and in ONE transaction,
 * each file's rows are looked up by key, many rows per query: missing rows are inserted,
 * equal ones skipped, different ones reported as conflicts (updated with `update`). Any
 * error rolls everything back.
 *
 * @example
 * import { seed } from 'slipway';
 * const result = await seed({ databaseUrl: process.env.DATABASE_URL, dir: './seeds' });
 * for (const t of result.tables) console.log(t.table, t.inserted, 'inserted', t.conflicts.length, 'conflicts');
 *
 * @example
 * // what would change, and overwrite what differs
 * await seed({ pool, dir: './seeds', update: true, dryRun: true });
 */
export async function seed(options: SeedOptions = {}): Promise<SeedResult> {
  const lockKey = options.lockKey === undefined ? DEFAULT_SEED_LOCK_KEY : toLockKey(options.lockKey);
  checkConnectionSource(options);
  const logger = options.logger ?? createLogger();
  const dryRun = options.dryRun === true;
  const started = performance.now();
  const dir = options.dir ?? 'seeds';
  const files = await readSeedDir(dir);
  if (files.length === 0) {
    logger.info({ dir }, 'no seed files');
    return { tables: [], dryRun, lockWaitMs: null, durationMs: Math.round(performance.now() - started) };
  }
  if (options.signal?.aborted) throw new AbortedError('stopped before seeding began; nothing was written');

  const session = await openSession(options, { waitMs: options.connectWait, logger, signal: options.signal });
  const { client } = session;
  try {
    const plan = planSeed(files, await readCatalog(client, tablesToLookUp(files)));
    await checkValues(client, plan.checks);
    return await withLock(session, lockKey, { logger, signal: options.signal, purpose: 'seed' }, async (lock) => {
      // The seed transaction must run where the lock is held (a transaction pooler would move it).
      const begun = (await client.query('BEGIN; SELECT pg_backend_pid() AS pid')) as unknown as pg.QueryResult<{ pid: number }>[];
      try {
        if (begun[1]!.rows[0]!.pid !== lock.pid) {
          throw new SessionError(
            `the seed transaction ran on server backend pid ${begun[1]!.rows[0]!.pid}, not on pid ${lock.pid} which holds the seed lock: the connection does not keep one server session (a pooler in transaction mode?); use a direct or session-pooling connection; nothing was written`,
          );
        }
        const tables = await write(client, plan, options.update === true, options.signal);
        await client.query(dryRun ? 'ROLLBACK' : 'COMMIT');
        report(tables, dryRun, logger);
        return { tables, dryRun, lockWaitMs: Math.round(lock.waitedMs), durationMs: Math.round(performance.now() - started) };
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
    });
  } finally {
    await session.close();
  }
}

/** Reads every named table's columns and primary key in ONE query. Tables that do not exist are absent. */
async function readCatalog(client: pg.ClientBase, tables: ReadonlyArray<{ name: string; sqlName: string }>): Promise<Catalog> {
  const { rows } = await client.query<{ name: string; sql_name: string; oid: number; primary_key: string | null; columns: CatalogColumn[] | null }>(
    `SELECT n.name, n.sql_name, c.oid,
            (SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
              WHERE i.indrelid = c.oid AND i.indisprimary AND i.indnkeyatts = 1) AS primary_key,
            (SELECT json_agg(json_build_object(
                      'name', a.attname,
                      'type', format_type(a.atttypid, a.atttypmod),
                      'json', b.oid IN ('json'::regtype, 'jsonb'::regtype),
                      'array', b.typcategory = 'A',
                      'text', b.typcategory = 'S',
                      'required', a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = '') ORDER BY a.attnum)
               FROM pg_attribute a
               JOIN pg_type t ON t.oid = a.atttypid
               JOIN pg_type b ON b.oid = CASE t.typtype WHEN 'd' THEN t.typbasetype ELSE t.oid END
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
       FROM unnest($1::text[], $2::text[]) AS n(name, sql_name)
       JOIN pg_class c ON c.oid = to_regclass(n.sql_name) AND c.relkind IN ('r', 'p')`,
    [tables.map((t) => t.name), tables.map((t) => t.sqlName)],
  );
  return new Map(
    rows.map((row) => [
      row.name,
      { name: row.name, sqlName: row.sql_name, oid: row.oid, primaryKey: row.primary_key, columns: new Map((row.columns ?? []).map((c) => [c.name, c])) },
    ]),
  );
}

/**
 * Has the server parse every literal as its column's type in ONE query, so a bad value is
 * reported with its file and row before anything is written. Needs PostgreSQL 16
 * (`pg_input_is_valid`); on older servers a bad value fails its batch, naming the file.
 */
async function checkValues(client: pg.ClientBase, checks: readonly ValueCheck[]): Promise<void> {
  if (checks.length === 0) return;
  let rows: Array<{ ord: string; message: string }>;
  try {
    ({ rows } = await client.query(
      `SELECT v.ord, (pg_input_error_info(v.value, v.type)).message
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS v(value, type, ord)
        WHERE NOT pg_input_is_valid(v.value, v.type)
        ORDER BY v.ord LIMIT 1`,
      [checks.map((c) => c.value), checks.map((c) => c.type)],
    ));
  } catch (error) {
    if ((error as { code?: string }).code === '42883') return; // undefined_function: before PostgreSQL 16
    throw error;
  }
  const bad = rows[0];
  if (bad === undefined) return;
  const check = checks[Number(bad.ord) - 1]!;
  throw new SeedError(`${describeLocation(check.at)}: column ${check.column}: ${bad.message}; fix the value`, check.at);
}

interface Tally {
  table: string;
  inserted: number;
  skipped: number;
  conflicts: SeedConflict[];
  updated: number;
}

/** Writes every step, level by level. Call inside a transaction, holding the seed lock. */
async function write(client: pg.ClientBase, plan: SeedPlan, update: boolean, signal: AbortSignal | undefined): Promise<Tally[]> {
  const tallies = new Map<string, Tally>();
  for (const step of plan.steps) {
    const name = step.table.name;
    const tally = tallies.get(name) ?? tallies.set(name, { table: name, inserted: 0, skipped: 0, conflicts: [], updated: 0 }).get(name)!;
    try {
      for (const level of step.levels) {
        if (signal?.aborted) throw new AbortedError(`stopped while seeding ${name} from ${step.at.file}; rolled back, nothing was written`);
        const refs: Reference[] = [];
        for (const batch of level) for (const row of batch.rows) for (const value of row.values.values()) if (isReference(value)) refs.push(value);
        const ids = await resolve(client, refs);
        await writeLevel(client, step, level, ids, update, tally);
      }
    } catch (error) {
      if (error instanceof SlipwayError) throw error;
      const pgError = error as { message?: string; detail?: string; code?: string };
      throw new SeedError(
        `seeding ${name} from ${step.at.file} failed: ${pgError.message ?? String(error)}${pgError.detail ? ` (${pgError.detail})` : ''}${pgError.code ? ` [${pgError.code}]` : ''}; rolled back, nothing was written`,
        step.at,
        { cause: error },
      );
    }
  }
  return [...tallies.values()];
}

/**
 * Writes one level in ONE statement, each batch's rows sent once: per batch, the rows are
 * looked up by key, the missing ones inserted and, with `update`, the differing ones
 * updated; the statement returns only what the report needs (per batch the number of rows
 * found, the differing rows with the database's values, keys that name several rows).
 * Nothing is written when a key names several rows. Foreign keys among the level's rows
 * (a reply's plain `parent_key`) are checked at the statement's end, in any order.
 */
async function writeLevel(client: pg.ClientBase, step: SeedStep, level: readonly Batch[], ids: ReadonlyMap<string, string>, update: boolean, tally: Tally): Promise<void> {
  const { table, key } = step;
  const params: Array<Array<string | null>> = [];
  const items: string[] = [];
  const changes: string[] = [];
  const results: string[] = [];
  const prepared = level.map((batch, b) => {
    const texts = batch.rows.map((row) => batch.columns.map((column) => textOf(row.values.get(column)!, ids)));
    const others = batch.columns.filter((column) => !key.includes(column));
    const alias = (column: string) => `v.c${batch.columns.indexOf(column) + 1}`;
    const keyMatches = key.map((column) => equal(table, column, `t.${quoteIdentifier(column)}`, alias(column), '=')).join(' AND ');
    // Per column, whether it differs, and the database's values: only for rows where one does (few), NULL for equal rows.
    const differences = others.map((c) => equal(table, c, `t.${quoteIdentifier(c)}`, alias(c), 'IS DISTINCT FROM'));
    const anyDiffers = differences.length > 0 ? differences.join(' OR ') : 'false';
    const source = unnest(table, batch.columns, texts, params.length);
    params.push(...source.params);
    items.push(
      `v${b} AS (${source.select})`,
      `f${b} AS (SELECT v.ord,
                CASE WHEN ${anyDiffers} THEN ARRAY[${differences.join(', ')}]::boolean[] END AS differs,
                CASE WHEN ${anyDiffers} THEN ARRAY[${others.map((c) => `t.${quoteIdentifier(c)}::text`).join(', ')}]::text[] END AS current
           FROM v${b} AS v JOIN ${table.sqlName} AS t ON ${keyMatches})`,
      `d${b} AS (SELECT ord, count(*) AS n FROM f${b} GROUP BY ord HAVING count(*) > 1)`,
    );
    changes.push(
      `INSERT INTO ${table.sqlName} (${batch.columns.map(quoteIdentifier).join(', ')})
         SELECT ${batch.columns.map(alias).join(', ')} FROM v${b} AS v
          WHERE NOT EXISTS (SELECT FROM f${b} AS f WHERE f.ord = v.ord) AND NOT EXISTS (SELECT FROM several) ORDER BY v.ord`,
    );
    if (update && others.length > 0) {
      changes.push(
        `UPDATE ${table.sqlName} AS t SET ${others.map((c) => `${quoteIdentifier(c)} = ${alias(c)}`).join(', ')}
           FROM v${b} AS v WHERE ${keyMatches} AND (${anyDiffers}) AND NOT EXISTS (SELECT FROM several)`,
      );
    }
    results.push(
      `SELECT ${b} AS b, NULL::bigint AS ord, (SELECT count(*) FROM f${b}) AS n, NULL::boolean[] AS differs, NULL::text[] AS current`,
      `SELECT ${b}, ord, 1, differs, current FROM f${b} WHERE differs IS NOT NULL`,
      `SELECT ${b}, ord, n, NULL, NULL FROM d${b}`,
    );
    return { batch, texts, others };
  });
  items.push(`several AS (${level.map((_, b) => `SELECT FROM d${b}`).join(' UNION ALL ')} LIMIT 1)`);
  changes.forEach((statement, i) => items.push(`w${i} AS (${statement})`));
  const { rows } = await client.query<{ b: number; ord: string | null; n: string; differs: boolean[] | null; current: Array<string | null> | null }>(
    `WITH ${items.join(',\n')}\n${results.join('\nUNION ALL ')}`,
    params,
  );

  // Keys that name several rows: the first such row, in the order rows are written.
  const several = rows.filter((row) => row.ord !== null && row.n !== '1').sort((x, y) => x.b - y.b || Number(x.ord) - Number(y.ord))[0];
  if (several !== undefined) {
    const { at, key: written } = level[several.b]!.rows[Number(several.ord) - 1]!;
    throw new SeedError(`${describeLocation(at)}: several ${table.name} rows have key ${JSON.stringify(written)}; the key must name one row (a unique index on it keeps it so)`, at);
  }
  const found = level.map(() => 0);
  const differing = level.map(() => [] as Array<{ ord: number; differs: boolean[]; current: Array<string | null> }>);
  for (const row of rows) {
    if (row.ord === null) found[row.b] = Number(row.n);
    else differing[row.b]!.push({ ord: Number(row.ord), differs: row.differs!, current: row.current! });
  }
  prepared.forEach(({ batch, texts, others }, b) => {
    const conflicts = differing[b]!.sort((x, y) => x.ord - y.ord);
    tally.inserted += batch.rows.length - found[b]!;
    tally.skipped += found[b]! - conflicts.length;
    for (const { ord, differs, current } of conflicts) {
      const index = ord - 1;
      const row = batch.rows[index]!;
      const columns = others.flatMap((column, i) =>
        differs[i] ? [{ column, seed: texts[index]![batch.columns.indexOf(column)] ?? null, database: current[i] ?? null }] : [],
      );
      tally.conflicts.push({ at: row.at, key: row.key, columns });
    }
    if (update) tally.updated += conflicts.length;
  });
}

/**
 * Resolves references to primary keys (as text), by {@link Reference.id}: each distinct
 * reference once, the references inside their keys first, then one query per target table
 * and column set, whatever the number of rows. An error names the first reference (in
 * `refs` order) that has the missing or ambiguous key.
 */
async function resolve(client: pg.ClientBase, refs: readonly Reference[]): Promise<Map<string, string>> {
  const distinct = new Map<string, Reference>(); // each id's first reference
  for (const ref of refs) if (!distinct.has(ref.id)) distinct.set(ref.id, ref);
  // A reference inside another is written where that one is (equal references share their key, and its inner references the first place).
  const inner = [...distinct.values()].flatMap((ref) => [...ref.key.values()].filter(isReference).map((value) => ({ ...value, at: ref.at })));
  const ids = inner.length > 0 ? await resolve(client, inner) : new Map<string, string>();
  const groups = new Map<string, { table: CatalogTable; columns: string[]; keys: Map<string, { texts: string[]; refs: Reference[] }> }>();
  for (const ref of distinct.values()) {
    const columns = [...ref.key.keys()].sort();
    const texts = columns.map((column) => textOf(ref.key.get(column)!, ids)!);
    const groupId = JSON.stringify([ref.table.name, columns]);
    const group = groups.get(groupId) ?? groups.set(groupId, { table: ref.table, columns, keys: new Map() }).get(groupId)!;
    let keyId = '';
    for (const text of texts) keyId += `${text.length}:${text}`; // length-prefixed: unambiguous, cheaper than JSON
    const entry = group.keys.get(keyId) ?? group.keys.set(keyId, { texts, refs: [] }).get(keyId)!;
    entry.refs.push(ref);
  }
  for (const { table, columns, keys } of groups.values()) {
    const entries = [...keys.values()];
    const source = unnest(table, columns, entries.map((e) => e.texts));
    const matches = columns.map((column, i) => equal(table, column, `t.${quoteIdentifier(column)}`, `v.c${i + 1}`, '=')).join(' AND ');
    // The number of matching rows and one's key: scalars, not an array per row to parse.
    const { rows } = await client.query<{ ord: string; matches: string; id: string }>(
      `SELECT v.ord, count(*) AS matches, min(t.${quoteIdentifier(table.primaryKey!)}::text) AS id
         FROM ${source.sql} JOIN ${table.sqlName} AS t ON ${matches} GROUP BY v.ord`,
      source.params,
    );
    const found = new Map(rows.map((row) => [Number(row.ord) - 1, row]));
    entries.forEach((entry, index) => {
      const match = found.get(index);
      const { at, written } = entry.refs[0]!;
      if (match === undefined) {
        throw new SeedError(`${describeLocation(at)}: no ${table.name} row matches ${JSON.stringify(written)}; seed it in an earlier file or fix the reference`, at);
      }
      if (match.matches !== '1') {
        throw new SeedError(`${describeLocation(at)}: ${match.matches} ${table.name} rows match ${JSON.stringify(written)}; refer by columns that name one row`, at);
      }
      for (const ref of entry.refs) ids.set(ref.id, match.id);
    });
  }
  return ids;
}

function textOf(value: Value, ids: ReadonlyMap<string, string>): string | null {
  return isReference(value) ? ids.get(value.id)! : value;
}

/**
 * A FROM item `v(c1 … cn, ord)` (and its SELECT, for a WITH item): one text array per column, unnested side by side and cast
 * to the columns' types, `ord` numbering the rows from 1. Values travel as parameters,
 * numbered from `paramOffset + 1`.
 */
function unnest(
  table: CatalogTable,
  columns: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<string | null>>,
  paramOffset = 0,
): { sql: string; select: string; params: Array<Array<string | null>> } {
  const casts = columns.map((column, i) => `u.c${i + 1}::${table.columns.get(column)!.type} AS c${i + 1}`);
  const arrays = columns.map((_, i) => `$${paramOffset + i + 1}::text[]`);
  const aliases = columns.map((_, i) => `c${i + 1}`);
  const select = `SELECT ${casts.join(', ')}, u.ord FROM unnest(${arrays.join(', ')}) WITH ORDINALITY AS u(${aliases.join(', ')}, ord)`;
  return {
    sql: `(${select}) AS v`,
    select,
    params: columns.map((_, i) => rows.map((row) => row[i] ?? null)),
  };
}

/** `left op right` for a column; json has no equality operator, so it compares as jsonb. */
function equal(table: CatalogTable, column: string, left: string, right: string, op: '=' | 'IS DISTINCT FROM'): string {
  return table.columns.get(column)!.json ? `${left}::jsonb ${op} ${right}::jsonb` : `${left} ${op} ${right}`;
}

function report(tables: readonly Tally[], dryRun: boolean, logger: Logger): void {
  // One summary line at info; each table's counts at debug (the CLI prints them as a table).
  for (const t of tables) {
    logger.debug(
      { table: t.table, inserted: t.inserted, skipped: t.skipped, conflicts: t.conflicts.length, updated: t.updated, dryRun },
      `${dryRun ? '[dry run] ' : ''}${t.table}: ${t.inserted} inserted, ${t.skipped} skipped, ${t.conflicts.length} conflicts, ${t.updated} updated`,
    );
    const left = t.conflicts.length - t.updated;
    if (left > 0) logger.warn({ table: t.table, conflicts: left }, `${left} ${t.table} row(s) differ from the seed files and were left as they are; seed with update to overwrite them`);
  }
  const total = (count: (t: Tally) => number) => tables.reduce((n, t) => n + count(t), 0);
  const [inserted, skipped, conflicts, updated] = [total((t) => t.inserted), total((t) => t.skipped), total((t) => t.conflicts.length), total((t) => t.updated)];
  logger.info(
    { tables: tables.length, inserted, skipped, conflicts, updated, dryRun },
    `${dryRun ? '[dry run] ' : ''}seeded ${tables.length} table(s): ${inserted} inserted, ${skipped} skipped, ${conflicts} conflicts, ${updated} updated`,
  );
}
