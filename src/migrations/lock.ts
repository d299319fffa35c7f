import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Logger } from 'pino';
import { isTransientConnectionError, type Session } from '../db/session.js';
import { AbortedError, LockTimeoutError, UsageError } from '../errors.js';

/** The default advisory-lock key: the bytes of "slipway" read as a number. */
export const DEFAULT_LOCK_KEY = 0x736c6970776179n;

// The two statements the lock stands on. The mutation test (scripts/mutation-lock.mjs)
// replaces them to prove the race tests notice a missing or a blocking lock.
const TRY_LOCK_SQL = 'SELECT pg_try_advisory_lock($1::bigint) AS locked';
const UNLOCK_SQL = 'SELECT pg_advisory_unlock($1::bigint) AS unlocked';

export interface LockHolder {
  readonly pid: number;
  readonly applicationName: string | null;
  readonly clientAddress: string | null;
  /** When the holder's current (or last) statement started. */
  readonly queryStart: Date | null;
  readonly backendStart: Date | null;
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

/** Accepts a lock key as bigint, safe integer or decimal string; refuses anything outside signed 64 bits. */
export function toLockKey(value: bigint | number | string): bigint {
  let key: bigint;
  try {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new Error('not a safe integer');
    if (typeof value === 'string' && !/^-?\d+$/.test(value.trim())) throw new Error('not an integer');
    key = BigInt(typeof value === 'string' ? value.trim() : value);
  } catch {
    throw new UsageError(`invalid lock key ${JSON.stringify(String(value))}: use a whole number between -9223372036854775808 and 9223372036854775807`);
  }
  if (BigInt.asIntN(64, key) !== key) {
    throw new UsageError(`invalid lock key ${key}: use a whole number between -9223372036854775808 and 9223372036854775807`);
  }
  return key;
}

/**
 * Takes the session-level advisory lock on `client`, polling `pg_try_advisory_lock`
 * with capped exponential backoff and jitter. It never blocks inside
 * `pg_advisory_lock`: a session blocked there holds a snapshot that the holder's
 * `CREATE INDEX CONCURRENTLY` waits for, and Postgres breaks that cycle by aborting one.
 * Returns how long it waited.
 */
export async function acquireLock(client: pg.ClientBase, key: bigint, options: AcquireOptions): Promise<{ waitedMs: number }> {
  const { logger, timeoutMs, signal } = options;
  const lockName = `${options.purpose ?? 'migration'} lock`;
  const initialDelay = options.initialDelayMs ?? 20;
  const maxDelay = options.maxDelayMs ?? 500;
  const started = performance.now();
  let delay = initialDelay;
  let nextReportAt = 1000;
  let reportInterval = 1000;

  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw new AbortedError(`stopped while waiting for the ${lockName}; nothing was changed`);
    const { rows } = await client.query<{ locked: boolean }>(TRY_LOCK_SQL, [key.toString()]);
    const waitedMs = performance.now() - started;
    if (rows[0]?.locked === true) {
      if (attempt > 1) logger.info({ lockKey: key.toString(), waitedMs: Math.round(waitedMs), attempts: attempt }, `${lockName} acquired`);
      return { waitedMs };
    }
    if (timeoutMs !== undefined && waitedMs >= timeoutMs) {
      const holder = await lockHolder(client, key);
      throw new LockTimeoutError(
        `gave up waiting for the ${lockName} (key ${key}) after ${Math.round(waitedMs)} ms${holder ? `: held by backend pid ${holder.pid}${holder.applicationName ? ` (${holder.applicationName})` : ''}` : ''}; raise lockWaitTimeout or find what holds it`,
      );
    }
    if (waitedMs >= nextReportAt) {
      const holder = await lockHolder(client, key);
      logger.info(
        { lockKey: key.toString(), waitedMs: Math.round(waitedMs), holderPid: holder?.pid ?? null, holderApplication: holder?.applicationName ?? null },
        `waited ${(waitedMs / 1000).toFixed(1)} s for the ${lockName}, held by backend pid ${holder?.pid ?? 'unknown'}`,
      );
      reportInterval = Math.min(reportInterval * 2, 30_000);
      nextReportAt = waitedMs + reportInterval;
    }
    const jittered = delay / 2 + Math.random() * (delay / 2);
    const remaining = timeoutMs === undefined ? Infinity : Math.max(1, timeoutMs - waitedMs);
    try {
      await sleep(Math.min(jittered, remaining), undefined, signal ? { signal } : undefined);
    } catch {
      throw new AbortedError(`stopped while waiting for the ${lockName}; nothing was changed`);
    }
    delay = Math.min(delay * 2, maxDelay);
  }
}

/**
 * Runs `work` holding the lock on the session's connection, and releases it afterwards,
 * also when `work` fails. When the connection is lost, or the release fails, the session is
 * marked broken: closing it ends the database session, which releases the lock.
 */
export async function withLock<T>(session: Session, key: bigint, options: AcquireOptions, work: (waitedMs: number) => Promise<T>): Promise<T> {
  const { waitedMs } = await acquireLock(session.client, key, options);
  let connectionLost = false;
  try {
    return await work(waitedMs);
  } catch (error) {
    connectionLost = isTransientConnectionError(error) || isTransientConnectionError((error as { cause?: unknown } | null)?.cause);
    throw error;
  } finally {
    if (connectionLost) session.markBroken();
    else {
      await releaseLock(session.client, key).catch((error: unknown) => {
        session.markBroken();
        options.logger.warn({ err: error }, `could not release the ${options.purpose ?? 'migration'} lock; closing the connection releases it`);
      });
    }
  }
}

/** Releases the lock taken by {@link acquireLock} on the same client. */
export async function releaseLock(client: pg.ClientBase, key: bigint): Promise<void> {
  await client.query(UNLOCK_SQL, [key.toString()]);
}

/** Who holds the advisory lock `key` in this database right now, or null. */
export async function lockHolder(client: pg.ClientBase, key: bigint): Promise<LockHolder | null> {
  const unsigned = BigInt.asUintN(64, key);
  const { rows } = await client.query<{ pid: number; application_name: string | null; client_addr: string | null; query_start: Date | null; backend_start: Date | null }>(
    `SELECT l.pid, a.application_name, host(a.client_addr) AS client_addr, a.query_start, a.backend_start
       FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
        AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      LIMIT 1`,
    [(unsigned >> 32n).toString(), (unsigned & 0xffffffffn).toString()],
  );
  const row = rows[0];
  if (row === undefined) return null;
  return { pid: row.pid, applicationName: row.application_name || null, clientAddress: row.client_addr, queryStart: row.query_start, backendStart: row.backend_start };
}
