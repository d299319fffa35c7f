/**
 * The server side of test databases: one small admin pool per server, what the server is and
 * may do, and the statements that create, mark, list and drop the databases slipway makes.
 * Every database slipway makes carries a JSON marker in its comment (COMMENT ON DATABASE);
 * listing and pruning go by that marker, never by the name alone.
 */
import os from 'node:os';
import pg from 'pg';
import { connectionTarget } from '../db/session.js';
import { checkConnectionString } from '../db/errors.js';
import { toSlipwayError } from '../db/errors.js';
import { quoteIdentifier } from '../db/identifier.js';
import { DatabaseError } from '../errors.js';

const { escapeLiteral } = pg;

/**
 * What a database slipway made is: a finished template, one being built, a failed build's record,
 * a clone in use, or a ready clone in the server's shared pool (no connections until claimed).
 */
export type MarkerKind = 'template' | 'build' | 'failed' | 'clone' | 'ready';

/** The JSON in a slipway-made database's comment. */
export interface Marker {
  readonly slipway: 'test-db';
  readonly kind: MarkerKind;
  /** The template's digest (for a clone: its template's). */
  readonly digest: string;
  /** ISO time the database was made, by the server's clock. */
  readonly createdAt: string;
  /** The process that made a warm-pool clone, so a later run on the same host can drop it once that process is gone. */
  readonly host?: string;
  readonly pid?: number;
  /** kind `failed`: the error the build ended with. */
  readonly error?: { readonly name: string; readonly code?: string; readonly message: string; readonly version?: string };
}

/** How `CREATE DATABASE … TEMPLATE` copies: PostgreSQL 15+ (14 and older have one way, and no STRATEGY clause). */
export type CloneStrategy = 'wal_log' | 'file_copy';

export interface ServerFacts {
  /** server_version_num / 10000. */
  readonly major: number;
  readonly user: string;
}

export interface Server {
  readonly url: string;
  readonly pool: pg.Pool;
  /** Runs one statement on the admin pool; driver errors become slipway's (same connection messages as `up`). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
  facts(): Promise<ServerFacts>;
}

const servers = new Map<string, Server>();

/** The admin side of one server, shared by every call in this process that names the same URL. */
export function serverOf(url: string): Server {
  let server = servers.get(url);
  if (server !== undefined) return server;
  checkConnectionString(url);
  // allowExitOnIdle: an idle admin connection never keeps a test process alive. max: this process's
  // own clones in the making (warm), a fill of the shared pool (its lock and two copies) and a claim
  // at once, so that a claim never queues behind a copy.
  const pool = new pg.Pool({ connectionString: url, max: 8, allowExitOnIdle: true, application_name: 'slipway-test-db' });
  pool.on('error', () => {});
  const target = connectionTarget({ databaseUrl: url });
  let facts: Promise<ServerFacts> | undefined;
  const query = async <R extends pg.QueryResultRow>(sql: string, values?: unknown[]) => {
    try {
      return await pool.query<R>(sql, values);
    } catch (error) {
      throw toSlipwayError(error, target);
    }
  };
  server = {
    url,
    pool,
    query,
    facts: () => (facts ??= readFacts(query).catch((error: unknown) => ((facts = undefined), Promise.reject(error)))),
  };
  servers.set(url, server);
  return server;
}

/** Ends every admin pool of this process (the warm clones are the caller's to drop first). */
export async function closeServers(): Promise<void> {
  const all = [...servers.values()];
  servers.clear();
  await Promise.all(all.map((s) => s.pool.end().catch(() => {})));
}

async function readFacts(query: Server['query']): Promise<ServerFacts> {
  const { rows } = await query<{ version: number; user: string; can_create: boolean }>(
    `SELECT current_setting('server_version_num')::int AS version, current_user AS user,
            coalesce((SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user), false) AS can_create`,
  );
  const row = rows[0]!;
  if (!row.can_create) {
    throw new DatabaseError(
      '42501',
      `role "${row.user}" may not create databases: test databases need the CREATEDB privilege (ALTER ROLE "${row.user}" CREATEDB), or a databaseUrl whose role has it`,
    );
  }
  return { major: Math.floor(row.version / 10000), user: row.user };
}

/** The connection string of another database on the same server. */
export function urlOfDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  u.searchParams.delete('dbname');
  return u.toString();
}

export function markerText(marker: Marker): string {
  return escapeLiteral(JSON.stringify(marker));
}

/** The marker of a comment, or null when slipway did not write it. */
export function parseMarker(comment: string | null): Marker | null {
  if (comment === null || !comment.startsWith('{')) return null;
  try {
    const value = JSON.parse(comment) as Partial<Marker>;
    const kinds: readonly string[] = ['template', 'build', 'failed', 'clone', 'ready'];
    if (
      value.slipway !== 'test-db' ||
      !kinds.includes(String(value.kind)) ||
      typeof value.digest !== 'string' ||
      typeof value.createdAt !== 'string'
    )
      return null;
    return value as Marker;
  } catch {
    return null;
  }
}

export interface MarkedDatabase {
  readonly name: string;
  readonly isTemplate: boolean;
  readonly marker: Marker;
}

/** Every database on the server that carries slipway's marker (optionally: only these names). One query. */
export async function listMarked(server: Server, names?: readonly string[]): Promise<MarkedDatabase[]> {
  const { rows } = await server.query<{ name: string; is_template: boolean; comment: string | null }>(
    `SELECT d.datname AS name, d.datistemplate AS is_template, shobj_description(d.oid, 'pg_database') AS comment
       FROM pg_database d WHERE $1::text[] IS NULL OR d.datname = ANY ($1::text[])`,
    [names ?? null],
  );
  return rows.flatMap((r) => {
    const marker = parseMarker(r.comment);
    return marker === null ? [] : [{ name: r.name, isTemplate: r.is_template, marker }];
  });
}

/** The server's clock, as markers record it. */
export async function serverNow(server: Server): Promise<Date> {
  return (await server.query<{ now: Date }>('SELECT clock_timestamp() AS now')).rows[0]!.now;
}

/**
 * A new database, marked; `CREATE DATABASE` runs outside any transaction, so the comment follows
 * it, on the same session. That session checks its client every 100 ms while it copies
 * (PostgreSQL 14+; older servers refuse the setting, which changes nothing else): the copy of a
 * process killed meanwhile is cancelled, instead of finishing a database that nobody marks.
 */
export async function createMarked(server: Server, name: string, marker: Omit<Marker, 'createdAt'>, clause: string): Promise<void> {
  let client: pg.PoolClient;
  try {
    client = await server.pool.connect();
  } catch (error) {
    throw toSlipwayError(error, connectionTarget({ databaseUrl: server.url }));
  }
  try {
    await client.query('SET client_connection_check_interval = 100').catch(() => {});
    await client.query(`CREATE DATABASE ${quoteIdentifier(name)} ${clause}`);
    await mark({ query: (sql) => client.query(sql) }, name, marker);
  } catch (error) {
    throw toSlipwayError(error, connectionTarget({ databaseUrl: server.url }));
  } finally {
    client.release();
  }
}

/**
 * Sets the marker in one round trip: the server's clock is read where the comment is written.
 * Its commit does not wait for the disk ({@link NO_FLUSH_WAIT}).
 */
export async function mark(
  server: { query(sql: string): Promise<unknown> },
  name: string,
  marker: Omit<Marker, 'createdAt'>,
): Promise<void> {
  const json = escapeLiteral(JSON.stringify(marker));
  await server.query(
    `DO $mark$ BEGIN ${NO_FLUSH_WAIT} EXECUTE format('COMMENT ON DATABASE %I IS %L', ${escapeLiteral(name)},
       (${json}::jsonb || jsonb_build_object('createdAt', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))::text); END $mark$`,
  );
}

/**
 * Why a marker's or a claim's commit does not wait for the WAL to reach the disk: it would queue
 * behind the WAL of every copy in flight (WAL_LOG writes a whole database to it), which is what a
 * test waits on while the workers refill at once. Nothing is lost that matters: a commit lost in
 * a server crash leaves what a process killed at that moment leaves (a claim not made, the clone
 * still ready; a copy without its marker, never handed out), and test databases do not outlive a
 * crash of their server anyway.
 */
export const NO_FLUSH_WAIT = "PERFORM set_config('synchronous_commit', 'off', true);";

/** The STRATEGY clause for this server: none before PostgreSQL 15. */
export function strategyClause(major: number, strategy: CloneStrategy): string {
  return major >= 15 ? ` STRATEGY ${strategy.toUpperCase()}` : '';
}

/** Where this process runs, for the markers of the clones it keeps warm. */
export const thisProcess = { host: os.hostname(), pid: process.pid };

/**
 * Drops a database slipway made: a template is first made an ordinary database (a template
 * cannot be dropped); `force` ends the sessions still connected (a test's leftover pool).
 */
export async function dropMarked(server: Server, db: Pick<MarkedDatabase, 'name' | 'isTemplate'>, force: boolean): Promise<void> {
  const name = quoteIdentifier(db.name);
  if (db.isTemplate) await server.query(`ALTER DATABASE ${name} WITH IS_TEMPLATE false`);
  await server.query(`DROP DATABASE IF EXISTS ${name}${force ? ' WITH (FORCE)' : ''}`);
}

/** Is a process on this host still running? (A pid it cannot signal, EPERM, is running.) */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface PruneOptions {
  /** Drop slipway-made databases older than this many milliseconds. */
  readonly olderThanMs: number;
  /** Also drop, whatever their age, warm clones made on this host by a process that has exited. Default true. */
  readonly deadProcesses?: boolean;
  /** Never drop these (the templates in use). */
  readonly keep?: readonly string[];
  /** Ready clones of the shared pool older than this go too (default `olderThanMs`); those whose template is gone always go. */
  readonly readyOlderThanMs?: number;
  /** Never drop ready clones of this digest by `readyOlderThanMs` (the template being used). */
  readonly keepDigest?: string;
}

/**
 * Drops the databases slipway made that are old (by their marker's time), or warm clones whose
 * process on this host is gone. A database someone is still connected to is left alone
 * (DROP without FORCE fails on it). Returns the names dropped.
 */
export async function pruneMarked(server: Server, options: PruneOptions): Promise<string[]> {
  const now = (await serverNow(server)).getTime();
  const dropped: string[] = [];
  // Ready clones last: a template dropped in this pass takes its ready clones with it.
  const all = (await listMarked(server)).sort((a, b) => Number(a.marker.kind === 'ready') - Number(b.marker.kind === 'ready'));
  const templates = new Set(all.filter((db) => db.marker.kind === 'template').map((db) => db.marker.digest));
  for (const db of all) {
    if (options.keep?.includes(db.name)) continue;
    const age = now - Date.parse(db.marker.createdAt);
    const old = age > options.olderThanMs;
    const orphan =
      options.deadProcesses !== false && db.marker.host === thisProcess.host && db.marker.pid !== undefined && !isAlive(db.marker.pid);
    // A ready clone nobody will claim: its template is gone (a stale digest), or it has waited too long.
    const staleReady =
      db.marker.kind === 'ready' &&
      (!templates.has(db.marker.digest) ||
        (db.marker.digest !== options.keepDigest && age > (options.readyOlderThanMs ?? options.olderThanMs)));
    if (!old && !orphan && !staleReady) continue;
    try {
      await dropMarked(server, db, false);
      dropped.push(db.name);
      if (db.marker.kind === 'template') templates.delete(db.marker.digest);
    } catch (error) {
      // In use (55006) or made by another role (42501): not ours to take away now.
      if (!(error instanceof DatabaseError && (error.sqlState === '55006' || error.sqlState === '42501'))) throw error;
    }
  }
  return dropped;
}
