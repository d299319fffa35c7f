import type pg from 'pg';
import type { Logger } from 'pino';
import { checkConnectionSource, openSession, type ConnectionSource } from '../db/session.js';
import { AbortedError, SessionError } from '../errors.js';
import { createLogger } from '../log.js';
import { toLockKey, withLock } from '../db/lock.js';
import { readCatalog } from '../seed/catalog.js';
import { checkValues } from '../seed/checks.js';
import { readSeedDir } from '../seed/files.js';
import { planSeed } from '../seed/plan.js';
import { tablesToLookUp } from '../seed/references.js';
import { reportSeed, type SeedResult } from '../seed/report.js';
import { writePlan } from '../seed/write.js';

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

/**
 * Loads the seed files into the database, any number of times, from any number of processes
 * at once, never creating a duplicate. Files are read and checked (duplicates, syntax) before
 * connecting, then checked against the catalog (every seed key needs a unique index on exactly
 * its columns) and the values parsed by the server before anything is written. Then, holding
 * the seed lock on one connection and in ONE transaction, each file's rows are looked up by
 * key, many rows per query: missing rows are inserted (`ON CONFLICT (key) DO NOTHING`), equal
 * ones skipped, different ones reported as conflicts (updated with `update`); insert-only
 * columns are written on insert only. Any error rolls everything back.
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
            'the connection does not keep one server session: use a direct or session-pooling connection; nothing was written\n' +
              `the seed transaction ran on server backend pid ${begun[1]!.rows[0]!.pid}, not on pid ${lock.pid}, ` +
              'which holds the seed lock (a pooler in transaction mode?)',
          );
        }
        const tables = await writePlan(client, plan, { update: options.update === true, signal: options.signal });
        await client.query(dryRun ? 'ROLLBACK' : 'COMMIT');
        reportSeed(tables, dryRun, logger);
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
