import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Logger } from 'pino';
import { AbortedError, LockTimeoutError, SessionError } from '../errors.js';
import { backoffDelay } from './backoff.js';
import { backendPid, isTransientConnectionError, type Session } from './session.js';
export { DEFAULT_LOCK_KEY, toLockKey } from './lock-key.js';

// The two calls the lock stands on. The mutation test (scripts/mutation-lock.mjs) replaces
// them to prove the race tests notice a missing or a blocking lock.
const TRY_LOCK = 'pg_try_advisory_lock($1::bigint)';
const UNLOCK = 'pg_advisory_unlock($1::bigint)';

/**
 * The pg_locks row `l` is the advisory key whose halves are the parameters `high` and `low`
 * (classid, objid; see {@link keyParameters}), granted, in this database.
 */
function isKey(high: string, low: string): string {
  return `l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid = ${high}::bigint::oid AND l.objid = ${low}::bigint::oid
     AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())`;
}

/** Is the key ($2 high half, $3 low half) held by the server session running the statement? */
const HELD_HERE = `EXISTS (SELECT 1 FROM pg_catalog.pg_locks l WHERE l.pid = pg_backend_pid() AND ${isKey('$2', '$3')})`;

/**
 * One poll. A server session that already holds the key before this run took it is shared
 * with another client (a pooler in transaction mode): re-entering the lock there would
 * "succeed", so it is reported instead. `OFFSET 0` keeps `held` evaluated once, before the try.
 */
const ACQUIRE_SQL = `SELECT s.pid, s.held AS held_before, CASE WHEN s.held THEN false ELSE ${TRY_LOCK} END AS locked
  FROM (SELECT pg_backend_pid() AS pid, ${HELD_HERE} AS held OFFSET 0) AS s`;
/**
 * Releases only on the backend that took the lock ($2): through a pooler a statement may land
 * anywhere. `unlocked` is null when it landed elsewhere, false when that backend lost the lock.
 */
const RELEASE_SQL = `SELECT pg_backend_pid() AS pid, CASE WHEN pg_backend_pid() = $2 THEN ${UNLOCK} END AS unlocked`;

export interface LockHolder {
  readonly pid: number;
  readonly applicationName: string | null;
  readonly clientAddress: string | null;
  /** When the holder's current (or last) statement started. */
  readonly queryStart: Date | null;
  readonly backendStart: Date | null;
  /** `active`, `idle`, … as pg_stat_activity says (null without the privilege to see it). */
  readonly state: string | null;
  /** The holder's current (or last) statement, as pg_stat_activity shows it. */
  readonly query: string | null;
}

/** What a server backend is doing, as pg_stat_activity shows it. */
export interface BackendActivity {
  readonly pid: number;
  readonly application: string | null;
  readonly state: string | null;
  /** Seconds since its statement (or transaction) began. */
  readonly ageSeconds: number | null;
  readonly query: string | null;
}

/**
 * The statement a backend runs, as a person wrote it: slipway's own wrapper around a migration
 * (the transaction, the bookkeeping claim, its lock_timeout) is left out.
 */
export function ownStatement(query: string): string {
  return query
    .replace(/^[\s\S]*?END\$slipway\d*\$;\s*/, '')
    .replace(/^\s*SET LOCAL lock_timeout = '\d+ms';\s*/, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** One line about a backend: pid, application, state for how long, and its statement. */
export function describeBackend(b: BackendActivity): string {
  const query = b.query === null ? '' : `: ${ownStatement(b.query).slice(0, 100)}`;
  return `backend pid ${b.pid}${b.application ? ` (${b.application})` : ''}${b.state ? `, ${b.state}${b.ageSeconds === null ? '' : ` for ${b.ageSeconds} s`}` : ''}${query}`;
}

/** One line about who holds a lock: pid, application, and what it runs for how long. */
export function describeHolder(holder: LockHolder): string {
  const ageSeconds = holder.queryStart === null ? null : Math.round((Date.now() - holder.queryStart.getTime()) / 1000);
  return describeBackend({ pid: holder.pid, application: holder.applicationName, state: holder.state, ageSeconds, query: holder.query });
}

/** The lock as this run holds it. */
export interface HeldLock {
  readonly key: bigint;
  /** The server backend that holds it: every statement of the run must run there. */
  readonly pid: number;
  /** How long the run waited for it. */
  readonly waitedMs: number;
}

export interface AcquireOptions {
  readonly logger: Logger;
  /** Give up after this many milliseconds; undefined waits without limit. */
  readonly timeoutMs?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Backoff between attempts: first delay and cap, in ms. Jitter keeps waiters from polling in step. */
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  /** What the lock serializes, for messages: `migration` (default) or `seed`. */
  readonly purpose?: string;
}

/** The key and its two halves as pg_locks shows them (classid, objid), as query parameters. */
function keyParameters(key: bigint): [string, string, string] {
  const unsigned = BigInt.asUintN(64, key);
  return [key.toString(), (unsigned >> 32n).toString(), (unsigned & 0xffffffffn).toString()];
}

const POOLER_ADVICE =
  'a pooler in transaction or statement mode (PgBouncer pool_mode = transaction) cannot keep a session lock: use a direct or session-pooling connection for migrations';

/**
 * Takes the session-level advisory lock on the session's connection, polling
 * `pg_try_advisory_lock` with capped exponential backoff and jitter. It never blocks inside
 * `pg_advisory_lock`: a session blocked there holds a snapshot that the holder's
 * `CREATE INDEX CONCURRENTLY` waits for, and Postgres breaks that cycle by aborting one.
 * Then it checks that the connection keeps that server session (see {@link SessionError}).
 */
export async function acquireLock(session: Session, key: bigint, options: AcquireOptions): Promise<HeldLock> {
  const { logger, timeoutMs, signal } = options;
  const { client } = session;
  const lockName = `${options.purpose ?? 'migration'} lock`;
  const initialDelay = options.initialDelayMs ?? 20;
  const maxDelay = options.maxDelayMs ?? 500;
  const started = performance.now();
  const parameters = keyParameters(key);
  let nextReportAt = 1000;
  let reportInterval = 1000;

  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw new AbortedError(`stopped while waiting for the ${lockName}; nothing was changed`);
    const { rows } = await client.query<{ pid: number; held_before: boolean; locked: boolean }>(ACQUIRE_SQL, parameters);
    const waitedMs = performance.now() - started;
    const row = rows[0]!;
    if (row.held_before) {
      throw new SessionError(
        `server backend pid ${row.pid} already holds the ${lockName}, which this run never took there: another client shares that server session; ${POOLER_ADVICE}; nothing was changed`,
      );
    }
    if (row.locked === true) {
      if (attempt > 1) logger.info({ lockKey: key.toString(), waitedMs: Math.round(waitedMs), attempts: attempt }, `${lockName} acquired`);
      const held = { key, pid: row.pid, waitedMs };
      try {
        await verifyOneSession(session, held, lockName, logger);
      } catch (error) {
        // Whatever stopped the check, the lock is let go of before the run stops.
        if (!(error instanceof SessionError)) await releaseWhereHeld(session, held, logger, lockName).catch(() => session.markBroken());
        throw error instanceof SessionError ? error : unverifiable(lockName, error);
      }
      return held;
    }
    if (timeoutMs !== undefined && waitedMs >= timeoutMs) {
      const holder = await lockHolder(client, key);
      throw new LockTimeoutError(
        `gave up waiting for the ${lockName} (key ${key}) after ${Math.round(waitedMs)} ms${holder ? `: held by ${describeHolder(holder)}` : ''}; raise lockWaitTimeout or find what holds it`,
      );
    }
    if (waitedMs >= nextReportAt) {
      const holder = await lockHolder(client, key);
      logger.info(
        {
          lockKey: key.toString(),
          waitedMs: Math.round(waitedMs),
          holderPid: holder?.pid ?? null,
          holderApplication: holder?.applicationName ?? null,
          holderQuery: holder?.query ?? null,
        },
        `waited ${(waitedMs / 1000).toFixed(1)} s for the ${lockName}, held by ${holder === null ? 'a backend that just let go' : describeHolder(holder)}`,
      );
      reportInterval = Math.min(reportInterval * 2, 30_000);
      nextReportAt = waitedMs + reportInterval;
    }
    const jittered = backoffDelay(attempt - 1, initialDelay, maxDelay);
    const remaining = timeoutMs === undefined ? Infinity : Math.max(1, timeoutMs - waitedMs);
    try {
      await sleep(Math.min(jittered, remaining), undefined, signal ? { signal } : undefined);
    } catch {
      throw new AbortedError(`stopped while waiting for the ${lockName}; nothing was changed`);
    }
  }
}

/** How many times a second connection asks a pooler for a backend while this run holds the lock. */
const PROBES = 3;

/**
 * A direct connection names its server backend at connect time (BackendKeyData), and that is
 * the backend holding the lock: nothing to check. Anything else is a pooler, and a pooler in
 * transaction mode hands the lock's backend to whichever client asks next (PgBouncer reuses
 * the last released one first). So, a few times over, the run's connection runs a statement
 * (it must land on the lock's backend) and then a second connection asks for a backend:
 * getting the lock's own means the session is not ours. Either failure releases the lock
 * (wherever it is) and stops the run before it changes anything. A second connection that
 * waits for a backend (a session pool with none free) proves nothing more and ends the probe.
 */
async function verifyOneSession(session: Session, lock: HeldLock, lockName: string, logger: Logger): Promise<void> {
  if (backendPid(session.client) === lock.pid) return;
  let problem: string | null = null;
  const side = await session.openSide({ query_timeout: 1500 });
  try {
    for (let probe = 0; probe < PROBES && problem === null; probe++) {
      const next = (await session.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      if (next !== lock.pid) {
        problem = `the ${lockName} was taken on server backend pid ${lock.pid} but the next statement ran on pid ${next}`;
        break;
      }
      const seen = await side.query<{ pid: number }>('SELECT pg_backend_pid() AS pid').then(
        (r) => r.rows[0]!.pid,
        () => null,
      );
      if (seen === null) break;
      if (seen === lock.pid)
        problem = `a second connection was given the same server backend (pid ${lock.pid}) while this run held the ${lockName} there`;
    }
  } finally {
    await side.end().catch(() => {});
  }
  if (problem === null) return;
  await releaseWhereHeld(session, lock, logger, lockName);
  throw new SessionError(`the connection does not keep one server session: ${problem}; ${POOLER_ADVICE}; nothing was changed`);
}

function unverifiable(lockName: string, error: unknown): SessionError {
  const why = (error as Error | null)?.message ?? String(error);
  return new SessionError(
    `could not check that the connection keeps one server session (a second connection failed: ${why}); the ${lockName} was released; ${POOLER_ADVICE}; nothing was changed`,
    { cause: error },
  );
}

/**
 * Runs `work` holding the lock on the session's connection, and releases it afterwards,
 * also when `work` fails. When the connection is lost, the session is marked broken: closing
 * it ends the database session, which releases the lock. A release that finds the lock not
 * held by the run's backend means the run was not protected: a {@link SessionError}.
 */
export async function withLock<T>(
  session: Session,
  key: bigint,
  options: AcquireOptions,
  work: (lock: HeldLock) => Promise<T>,
): Promise<T> {
  const lock = await acquireLock(session, key, options);
  const lockName = `${options.purpose ?? 'migration'} lock`;
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await work(lock) };
  } catch (error) {
    outcome = { ok: false, error };
  }
  const connectionLost =
    !outcome.ok &&
    (isTransientConnectionError(outcome.error) || isTransientConnectionError((outcome.error as { cause?: unknown } | null)?.cause));
  let releaseError: unknown = null;
  if (connectionLost) session.markBroken();
  else {
    releaseError = await releaseLock(session, lock, options.logger, lockName).catch((error: unknown) => {
      if (error instanceof SessionError) return error;
      // Closing the connection ends the database session, which releases the lock.
      session.markBroken();
      return new SessionError(
        `could not release the ${lockName} (${(error as Error).message}); the connection is closed instead, which releases it`,
      );
    });
  }
  if (!outcome.ok) {
    if (releaseError !== null) options.logger.error({ err: releaseError }, (releaseError as Error).message);
    throw outcome.error;
  }
  if (releaseError !== null) throw releaseError;
  return outcome.value;
}

/**
 * Releases the lock taken by {@link acquireLock}. `pg_advisory_unlock` returning false means
 * the statement ran on a backend that did not hold the lock: the run was not protected. The
 * lock is then released where it is held, and a {@link SessionError} is returned.
 */
async function releaseLock(session: Session, lock: HeldLock, logger: Logger, lockName: string): Promise<SessionError | null> {
  const { rows } = await session.client.query<{ pid: number; unlocked: boolean | null }>(RELEASE_SQL, [lock.key.toString(), lock.pid]);
  const row = rows[0]!;
  if (row.unlocked === true) return null;
  if (row.unlocked === null) await releaseWhereHeld(session, lock, logger, lockName);
  return new SessionError(
    row.unlocked === null
      ? `the run's last statement ran on server backend pid ${row.pid}, not on pid ${lock.pid} where it took the ${lockName}: the run was not protected against other runners; ${POOLER_ADVICE}`
      : `server backend pid ${lock.pid} no longer held the ${lockName} at the end of the run: the run was not protected against other runners`,
  );
}

/**
 * Releases the run's lock on the backend that holds it, which through a pooler is not
 * necessarily where the next statement lands: first a few statements on the run's connection;
 * then second connections, each pinned in a transaction so the pooler must hand the next one
 * another backend; last, a backend that still holds the lock while idle is terminated (a
 * pooler reconnects). Leaves the lock held only when all of that fails, and says so.
 */
async function releaseWhereHeld(session: Session, lock: HeldLock, logger: Logger, lockName: string): Promise<void> {
  const parameters = [lock.key.toString(), lock.pid];
  for (let attempt = 0; attempt < 3; attempt++) {
    const { rows } = await session.client
      .query<{ unlocked: boolean | null }>(RELEASE_SQL, parameters)
      .catch(() => ({ rows: [{ unlocked: null }] }));
    if (rows[0]!.unlocked !== null) return;
  }
  const sides: pg.Client[] = [];
  try {
    for (let attempt = 0; attempt < 16; attempt++) {
      const side = await session.openSide({ query_timeout: 2000 }).catch(() => null);
      if (side === null) break;
      sides.push(side);
      const rows = await side
        .query('BEGIN')
        .then(() => side.query<{ unlocked: boolean | null }>(RELEASE_SQL, parameters))
        .then(
          (r) => r.rows,
          () => null,
        );
      if (rows === null) break;
      if (rows[0]!.unlocked !== null) return;
    }
  } finally {
    await Promise.all(
      sides.map((side) =>
        side
          .query('ROLLBACK')
          .catch(() => {})
          .then(() => side.end().catch(() => {})),
      ),
    );
  }
  const [, high, low] = keyParameters(lock.key);
  const terminated = await session.client
    .query<{ terminated: boolean }>(
      `SELECT pg_terminate_backend(a.pid) AS terminated FROM pg_catalog.pg_stat_activity a
        WHERE a.pid = $1 AND a.state = 'idle' AND EXISTS (SELECT 1 FROM pg_catalog.pg_locks l WHERE l.pid = a.pid AND ${isKey('$2', '$3')})`,
      [lock.pid, high, low],
    )
    .then(
      (r) => r.rows[0]?.terminated === true,
      () => false,
    );
  if (terminated) logger.warn({ pid: lock.pid }, `ended idle server backend pid ${lock.pid} to free the ${lockName} it held`);
  else if ((await lockHolder(session.client, lock.key).catch(() => null))?.pid === lock.pid) {
    logger.error(
      { pid: lock.pid },
      `the ${lockName} is still held by server backend pid ${lock.pid}; it is freed when that backend's session ends`,
    );
  }
}

/** Who holds the advisory lock `key` in this database right now, or null. */
export async function lockHolder(client: pg.ClientBase, key: bigint): Promise<LockHolder | null> {
  const [, high, low] = keyParameters(key);
  const { rows } = await client.query<{
    pid: number;
    application_name: string | null;
    client_addr: string | null;
    query_start: Date | null;
    backend_start: Date | null;
    state: string | null;
    query: string | null;
  }>(
    `SELECT l.pid, a.application_name, host(a.client_addr) AS client_addr, a.query_start, a.backend_start, a.state, a.query
       FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
      WHERE ${isKey('$1', '$2')}
      LIMIT 1`,
    [high, low],
  );
  const row = rows[0];
  if (row === undefined) return null;
  return {
    pid: row.pid,
    applicationName: row.application_name || null,
    clientAddress: row.client_addr,
    queryStart: row.query_start,
    backendStart: row.backend_start,
    state: row.state,
    query: row.query,
  };
}
