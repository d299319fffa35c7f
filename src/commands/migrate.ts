import { existsSync, statSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Logger } from 'pino';
import { quoteTableName, type TableName } from '../db/identifier.js';
import { backoffDelay } from '../db/backoff.js';
import type { Session } from '../db/session.js';
import { AbortedError, LockTimeoutError, SlipwayError, UsageError } from '../errors.js';
import { withLedgerLocks } from './locks.js';
import {
  ledgerDigest,
  ledgerDigestOf,
  type Ledger,
  type LedgerContents,
  type LedgerDigest,
  type OpenedLedger,
} from '../migrations/ledger.js';
import { readOwnLedger } from '../migrations/foreign.js';
import { checkLockWaitTimeout, connect, prepareLazily, type MigrateOptions } from './context.js';

export type { MigrateOptions };
import {
  needsLock,
  phaseOverlapsToCheck,
  plan,
  refusePhaseOverlaps,
  validateRequest,
  type AppliedRow,
  type Direction,
  type Plan,
} from '../migrations/plan.js';
import type { Migration, Phase } from '../migrations/source.js';
import { execute, parsedCache, parseSteps, type StepResult } from '../migrations/execute.js';
import { readSnapshot } from '../schema/catalog.js';
import { renderDump } from '../schema/dump.js';
import { namedObjects, type ParseMemo } from '../sql/parse.js';

export const DEFAULT_LOCK_TIMEOUT_MS = 5000;
/** Pending SQL longer than this (characters) is parsed before the lock is taken. */
const PARSE_BEFORE_LOCK_CHARS = 1_000_000;

/** How much SQL a plan would run. */
function pendingText(p: Plan): number {
  let total = 0;
  for (const m of p.steps) total += (p.direction === 'up' ? m.upSql : (m.downSql ?? '')).length;
  return total;
}
const DEFAULT_LOCK_RETRIES = 5;

export interface MigrateResult {
  readonly direction: Direction;
  /** Migrations applied or reverted by this run, in order. Empty when there was nothing to do. */
  readonly executed: readonly StepResult[];
  /** Every migration in the folder with its state after the run, and its phase. */
  readonly migrations: ReadonlyArray<{ readonly version: string; readonly state: 'applied' | 'pending'; readonly phase: Phase }>;
  /** The post-deploy migrations left pending (an up without `postDeploy`): for `up --post-deploy` once every replica runs this release. */
  readonly deferred: readonly string[];
  readonly warnings: readonly string[];
  /** How long this run waited for the lock; null when it needed no lock (nothing to do). */
  readonly lockWaitMs: number | null;
  readonly durationMs: number;
}

/**
 * Applies (`up`) or reverts (`down`) migrations, serialized across every process that
 * uses the same database and lock key. Safe to call from every replica at startup:
 * one applies, the others wait for the lock, then find nothing to do.
 *
 * @example
 * import { migrate } from 'slipway';
 * const result = await migrate({ databaseUrl: process.env.DATABASE_URL, dir: './migrations', direction: 'up' });
 * console.log(result.executed.map((s) => `${s.version} ${s.durationMs} ms`));
 *
 * @example
 * // revert the two newest migrations, using a pool the service already has
 * await migrate({ pool, dir: './migrations', direction: 'down', steps: 2 });
 */
export async function migrate(options: MigrateOptions): Promise<MigrateResult> {
  const request = validateRequest(options);
  const { tableName, lockKey, logger, readMigrations, sayFolder } = prepareLazily(options, { quiet: true });
  checkLockWaitTimeout(options.lockWaitTimeout);
  checkDumpFile(options.dump);
  if (options.signal?.aborted) throw new AbortedError('stopped before the run began; nothing was changed');

  const started = performance.now();
  const cache = parsedCache();
  // Filled as each migration finishes: an error thrown later still says what this run did (executedBefore).
  const executed: StepResult[] = [];
  const session = await connect(options, logger);
  let linted = false;
  try {
    // The first query goes out before the files are read: the server answers while they are.
    // An up asks for the ledger's digest first: when it is that of every file applied as it is,
    // there is nothing to do, and no row is sent or parsed.
    const reading = request.direction === 'up' ? ledgerDigest(session.client, tableName) : readOwnLedger(session.client, tableName);
    let migrations: Migration[];
    try {
      migrations = readMigrations();
    } catch (error) {
      await reading.catch(() => {});
      throw error;
    }
    const seen = await settle(session.client, tableName, migrations, await reading);
    // A row being applied or reverted may be a migration another runner is executing right now:
    // only the lock holder may call it interrupted, so such a read goes to the lock instead of failing.
    if (!seen.rows.some((row) => row.state === 'in_flight' || row.state === 'reverting')) {
      const fastPlan = plan(migrations, seen.rows, request, { table: quoteTableName(tableName), adopting: seen.adopting });
      if (!needsLock(fastPlan)) {
        logger.info(
          { direction: request.direction, migrations: migrations.length, applied: seen.rows.length },
          `nothing to ${request.direction === 'up' ? 'apply' : 'revert'}`,
        );
        reportDeferred(fastPlan, logger);
        return result(migrations, fastPlan, [], null, started, seen.rows);
      }
      await checkPhaseOrder(fastPlan, cache.memo);
      // A long parse never holds the lock: large files are parsed (and linted) before taking it.
      // Small ones are parsed under it, so that the runners waiting for it (which then usually
      // find nothing left) do not all parse the same files.
      if (pendingText(fastPlan) > PARSE_BEFORE_LOCK_CHARS) {
        await parseSteps(session, fastPlan, cache, options.signal);
        linted = await lintGate(session, fastPlan, migrations, seen.rows, options, logger, cache.memo);
      }
    }
    sayFolder();
    const lockOptions = { logger, timeoutMs: options.lockWaitTimeout, signal: options.signal };
    return await withLedgerLocks(session, tableName, lockKey, lockOptions, async (ledger, lock) => {
      if (options.signal?.aborted) throw new AbortedError('stopped before the first migration; nothing was changed');
      // Read again under the locks: another runner may have changed it meanwhile.
      const contents = await readSettled(session, ledger, lockOptions);
      const lockedPlan = plan(migrations, contents.rows, request, { table: ledger.sqlName, adopting: contents.adopting, resume: true });
      if (!needsLock(lockedPlan)) {
        logger.info(
          { direction: request.direction, waitedMs: Math.round(lock.waitedMs) },
          `nothing left to ${request.direction === 'up' ? 'apply' : 'revert'}: another runner did it while this one waited`,
        );
      }
      for (const warning of lockedPlan.warnings) logger.warn(warning);
      await checkPhaseOrder(lockedPlan, cache.memo);
      reportDeferred(lockedPlan, logger);
      if (!linted) await lintGate(session, lockedPlan, migrations, contents.rows, options, logger, cache.memo);
      const batch = batching(options, contents.rows);
      await execute(session, ledger, lockedPlan, lock, logger, options.signal, cache, { ...lockRetry(options), batch }, executed);
      if (options.dump !== undefined && executed.length > 0) await writeSchema(session.client, ledger.sqlName, options.dump, logger);
      return result(migrations, lockedPlan, executed, lock.waitedMs, started, contents.rows);
    });
  } catch (error) {
    if (executed.length > 0 && typeof error === 'object' && error !== null) {
      Object.defineProperty(error, 'executed', { value: [...executed], enumerable: false, configurable: true });
    }
    throw error;
  } finally {
    await session.close();
  }
}

/** The `dump` option: a file name whose folder exists, checked before anything runs. */
function checkDumpFile(file: string | undefined): void {
  if (file === undefined) return;
  if (typeof file !== 'string' || file === '')
    throw new UsageError(`invalid dump ${JSON.stringify(file)}: give the file to write the schema to`);
  const folder = path.dirname(path.resolve(file));
  if (!existsSync(folder) || !statSync(folder).isDirectory())
    throw new UsageError(`dump: the folder of ${file} does not exist: create it, or give another file`);
}

/**
 * The schema, as `dump` writes it, into `file`: written beside it and renamed over it, so a reader
 * never sees half a file. A failure says that the run's migrations are done all the same.
 */
async function writeSchema(client: pg.ClientBase, ledger: string, file: string, logger: Logger): Promise<void> {
  const snapshot = await readSnapshot(client, ledger);
  const partial = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(partial, renderDump(snapshot));
    await rename(partial, file);
  } catch (error) {
    await rm(partial, { force: true });
    const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new SlipwayError('DUMP_WRITE', `the migrations ran, but the schema could not be written to ${file}: ${why}`, { cause: error });
  }
  const objects = snapshot.objects.filter((o) => o.sql !== '').length;
  logger.info({ file, objects }, `dump: wrote ${objects} objects to ${file}`);
}

/**
 * The ledger's rows, read under its lock, once no row in flight or reverting has a live writer:
 * such a migration is running (its run let go of its locks, or runs through another path), and
 * only a row whose writer is gone is interrupted. Waits for the writers as for a lock.
 */
async function readSettled(
  session: Session,
  ledger: Ledger,
  options: { logger: Logger; timeoutMs?: number | undefined; signal?: AbortSignal | undefined },
): Promise<LedgerContents> {
  const started = performance.now();
  let nextReportAt = 0;
  for (let attempt = 0; ; attempt++) {
    const contents = await ledger.read(session.client);
    if (!contents.rows.some((row) => row.state === 'in_flight' || row.state === 'reverting')) return contents;
    const live = await ledger.liveWriters(session.client);
    if (live.length === 0) return contents;
    const waited = performance.now() - started;
    const what = live.map((w) => `${w.version} by server backend pid ${w.pid}`).join(', ');
    if (options.timeoutMs !== undefined && waited >= options.timeoutMs) {
      throw new LockTimeoutError(
        `gave up after ${Math.round(waited)} ms waiting for a run that is still executing ${what}; raise lockWaitTimeout or find that run`,
      );
    }
    if (waited >= nextReportAt) {
      options.logger.info(
        { running: live, waitedMs: Math.round(waited) },
        `waiting for a run that is still executing ${what} (it let go of the lock, not of its session)`,
      );
      nextReportAt = waited + 5000;
    }
    try {
      await sleep(backoffDelay(attempt, 50, 1000), undefined, options.signal ? { signal: options.signal } : undefined);
    } catch {
      throw new AbortedError(`stopped while waiting for the run executing ${what}; nothing was changed`);
    }
  }
}

/**
 * Whether an up shares transactions among its files (see `batchesOf`): as asked, else when the
 * ledger is empty (a new database: nothing uses it yet, no commit per migration is needed).
 */
export function batching(options: Pick<MigrateOptions, 'batch'>, ledgerRows: readonly unknown[]): boolean {
  return options.batch ?? ledgerRows.length === 0;
}

/**
 * Refuses a plan that runs a regular migration ahead of a pending post-deploy one numbered before
 * it when both name the same objects (see `refusePhaseOverlaps`). Parses only those migrations.
 */
export async function checkPhaseOrder(p: Plan, memo: ParseMemo): Promise<void> {
  const pairs = phaseOverlapsToCheck(p);
  if (pairs.length === 0) return;
  const touched = new Map<string, Set<string>>();
  for (const m of new Set(pairs.flatMap(({ regular, postDeploy }) => [regular, ...postDeploy]))) {
    // SQL the parser refuses touches nothing seen here: the run reports it, by line, when it parses the file to run it.
    touched.set(m.version, await namedObjects(m.upSql, memo).catch(() => new Set<string>()));
  }
  refusePhaseOverlaps(p, touched);
}

/** Says, with their count, which post-deploy migrations an up leaves pending: a deploy that forgets the post-deploy phase is seen in its logs. */
function reportDeferred(p: Plan, logger: Logger): void {
  if (p.deferred.length === 0) return;
  const versions = p.deferred.map((m) => m.version);
  logger.warn(
    { postDeployPending: versions.length, versions },
    `left ${versions.length} post-deploy migration(s) pending (${versions.slice(0, 3).join(', ')}${versions.length > 3 ? ', …' : ''}): ` +
      'run slipway up --post-deploy once every replica runs this release',
  );
}

/**
 * The migrations a failed `migrate` applied or reverted before it failed (or was stopped), read
 * from the error it threw; empty when none finished.
 */
export function executedBefore(error: unknown): readonly StepResult[] {
  return (error as { executed?: readonly StepResult[] } | null)?.executed ?? [];
}

/**
 * The ledger's contents from what the first query brought: the rows, or a digest. A digest
 * equal to that of every file applied stands for those rows; any other is read row by row.
 */
async function settle(
  client: pg.ClientBase,
  tableName: TableName,
  migrations: readonly Migration[],
  first: OpenedLedger | { ledger: Ledger; digest: LedgerDigest | null },
): Promise<LedgerContents> {
  if ('contents' in first) return first.contents;
  const digest = first.digest;
  const applied = (list: readonly Migration[]): LedgerContents => ({
    adopting: false,
    rows: list.map((m) => ({ version: m.version, checksum: m.checksum, state: 'applied', appliedAt: null, durationMs: null })),
  });
  const matches = (list: readonly Migration[]) => {
    const expected = ledgerDigestOf(list);
    return digest !== null && digest.count === expected.count && digest.hash === expected.hash;
  };
  if (matches(migrations)) return applied(migrations);
  // After the regular phase of a deploy the newest post-deploy migrations are the rows missing: when
  // the digest is that of every other file, those rows stand for the ledger (a digest cannot lie about which).
  const missing = digest === null ? 0 : migrations.length - digest.count;
  if (missing > 0) {
    const waiting = new Set<Migration>();
    for (let i = migrations.length - 1; i >= 0 && waiting.size < missing; i--)
      if (migrations[i]!.phase === 'post-deploy') waiting.add(migrations[i]!);
    const rest = migrations.filter((m) => !waiting.has(m));
    if (waiting.size === missing && matches(rest)) return applied(rest);
  }
  return (await readOwnLedger(client, tableName, first.ledger)).contents;
}

function result(
  migrations: readonly Migration[],
  p: Plan,
  executed: StepResult[],
  lockWaitMs: number | null,
  started: number,
  appliedBefore: readonly AppliedRow[],
): MigrateResult {
  const applied = new Set(appliedBefore.map((row) => row.version));
  for (const step of executed) step.direction === 'up' ? applied.add(step.version) : applied.delete(step.version);
  return {
    direction: p.direction,
    executed,
    migrations: migrations.map((m) => ({ version: m.version, state: applied.has(m.version) ? 'applied' : 'pending', phase: m.phase })),
    deferred: p.deferred.map((m) => m.version),
    warnings: p.warnings,
    lockWaitMs: lockWaitMs === null ? null : Math.round(lockWaitMs),
    durationMs: Math.round(performance.now() - started),
  };
}

/** The lock timeout and retries of a run, validated. */
function lockRetry(options: MigrateOptions): { lockTimeout: number; lockRetries: number } {
  const lockTimeout = options.lockTimeout ?? DEFAULT_LOCK_TIMEOUT_MS;
  const lockRetries = options.lockRetries ?? DEFAULT_LOCK_RETRIES;
  if (!Number.isFinite(lockTimeout) || lockTimeout < 0)
    throw new UsageError(`invalid lockTimeout ${JSON.stringify(options.lockTimeout)}: give milliseconds, 0 or more`);
  if (!Number.isInteger(lockRetries) || lockRetries < 0)
    throw new UsageError(`invalid lockRetries ${JSON.stringify(options.lockRetries)}: give a whole number, 0 or more`);
  return { lockTimeout: Math.round(lockTimeout), lockRetries };
}

/**
 * With `lint` on: lints an up plan's steps before they run (see `lintPlan`), throwing on an
 * error-level finding. The linter is loaded only then: a run with lint off never loads it.
 */
export async function lintGate(
  session: Session,
  p: Plan,
  migrations: readonly Migration[],
  applied: readonly AppliedRow[],
  options: Pick<MigrateOptions, 'lint' | 'lockTimeout'>,
  logger: Logger,
  memo: ParseMemo,
): Promise<boolean> {
  if (options.lint === undefined || options.lint === false) return false;
  const settings = options.lint === true ? {} : options.lint;
  await (await import('./lint-gate.js')).lintGate(
    session,
    p,
    migrations,
    applied,
    { lockTimeout: options.lockTimeout ?? DEFAULT_LOCK_TIMEOUT_MS, ...settings },
    logger,
    memo,
  );
  return true;
}
