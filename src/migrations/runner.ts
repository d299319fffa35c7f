import type pg from 'pg';
import type { Logger } from 'pino';
import { backendPid, checkConnectionSource, openSession, type ConnectionSource, type Session } from '../db/session.js';
import { AbortedError, MigrationFailedError, UsageError } from '../errors.js';
import { createLogger } from '../log.js';
import { Ledger } from './ledger.js';
import { DEFAULT_LOCK_KEY, lockHolder, toLockKey, withLock, type LockHolder } from './lock.js';
import { describeState, needsLock, plan, validateRequest, type AppliedRow, type Direction, type MigrationStatus, type Plan } from './plan.js';
import { defineMigrations, readMigrationsDir, type Migration, type MigrationInput } from './source.js';
import { needsServerVersion, parseSql, type ParsedSql } from './statements.js';

export interface MigrateOptions extends ConnectionSource {
  /** `'up'` or `'down'`, exactly; anything else throws before any connection is opened. */
  readonly direction: Direction;
  /** A folder of `<digits>_<name>.up.sql` / `.down.sql` files. */
  readonly dir?: string;
  /** Migrations given in memory instead of a folder. */
  readonly migrations?: readonly MigrationInput[] | readonly Migration[];
  /** up: stop after this version. down: revert the migrations after it. */
  readonly target?: string;
  /** up: apply at most this many. down: revert this many (default 1). */
  readonly steps?: number;
  /** down: revert every applied migration. */
  readonly all?: boolean;
  /** Bookkeeping table, optionally schema-qualified. Default `schema_migrations`. */
  readonly table?: string;
  /** Advisory-lock key; runners with the same key exclude each other. Default {@link DEFAULT_LOCK_KEY}. */
  readonly lockKey?: bigint | number | string;
  /** Milliseconds to wait for the lock before failing; default: wait as long as it takes. */
  readonly lockWaitTimeout?: number;
  readonly logger?: Logger;
  /** Aborting stops before the next migration and cancels (rolls back) a running transactional one. */
  readonly signal?: AbortSignal;
  /**
   * With `databaseUrl`: keep retrying a connection that fails for a transient reason
   * (refused, reset, server starting up) for this many milliseconds. Default: try once.
   */
  readonly connectWait?: number;
}

/** What happened to one migration in this run. */
export interface StepResult {
  readonly version: string;
  readonly direction: Direction;
  readonly durationMs: number;
  /** False when it ran statement by statement outside a transaction. */
  readonly transactional: boolean;
}

export interface MigrateResult {
  readonly direction: Direction;
  /** Migrations applied or reverted by this run, in order. Empty when there was nothing to do. */
  readonly executed: readonly StepResult[];
  /** Every migration in the folder with its state after the run. */
  readonly migrations: ReadonlyArray<{ readonly version: string; readonly state: 'applied' | 'pending' }>;
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
  const { ledger, lockKey, logger, migrations } = await prepare(options);
  if (options.lockWaitTimeout !== undefined && !(Number.isFinite(options.lockWaitTimeout) && options.lockWaitTimeout >= 0)) {
    throw new UsageError(`invalid lockWaitTimeout ${JSON.stringify(options.lockWaitTimeout)}: give milliseconds, 0 or more`);
  }
  if (options.signal?.aborted) throw new AbortedError('stopped before the run began; nothing was changed');

  const started = performance.now();
  const session = await connect(options, logger);
  try {
    const seen = await ledger.read(session.client);
    // An in-flight row may be a migration another runner is executing right now: only the
    // lock holder may call it interrupted, so such a read goes to the lock instead of failing.
    if (!seen.some((row) => row.state === 'in_flight')) {
      const fastPlan = plan(migrations, seen, request, ledger.sqlName);
      if (!needsLock(fastPlan)) {
        logger.info({ direction: request.direction, migrations: migrations.length, applied: seen.length }, `nothing to ${request.direction === 'up' ? 'apply' : 'revert'}`);
        return result(migrations, fastPlan, [], null, started, seen);
      }
    }
    const lockOptions = { logger, timeoutMs: options.lockWaitTimeout, signal: options.signal };
    return await withLock(session, lockKey, lockOptions, async (waitedMs) => {
      const rows = await ledger.read(session.client);
      const lockedPlan = plan(migrations, rows, request, ledger.sqlName);
      if (!needsLock(lockedPlan)) {
        logger.info({ direction: request.direction, waitedMs: Math.round(waitedMs) }, `nothing left to ${request.direction === 'up' ? 'apply' : 'revert'}: another runner did it while this one waited`);
      }
      for (const warning of lockedPlan.warnings) logger.warn(warning);
      const executed = await execute(session, ledger, lockedPlan, logger, options.signal);
      return result(migrations, lockedPlan, executed, waitedMs, started, rows);
    });
  } finally {
    await session.close();
  }
}

/** Options shared by every command that reads migrations and the bookkeeping table. */
export type InspectOptions = Omit<MigrateOptions, 'direction' | 'target' | 'steps' | 'all' | 'lockWaitTimeout'>;

/** Everything a command needs before it connects; all of it validated first. */
async function prepare(options: InspectOptions) {
  const ledger = new Ledger(options.table ?? 'schema_migrations');
  const lockKey = options.lockKey === undefined ? DEFAULT_LOCK_KEY : toLockKey(options.lockKey);
  checkConnectionSource(options);
  const logger = options.logger ?? createLogger();
  const migrations = await loadMigrations(options);
  return { ledger, lockKey, logger, migrations };
}

export interface StatusReport {
  /** The bookkeeping table, as quoted in SQL. */
  readonly table: string;
  readonly migrations: readonly MigrationStatus[];
  /** Who holds the migration lock right now, or null. */
  readonly lock: LockHolder | null;
}

/**
 * Every migration with its state (applied, pending, missing-file, edited, in-flight)
 * and who holds the migration lock. Takes no lock; two queries.
 *
 * @example
 * const report = await status({ databaseUrl, dir: './migrations' });
 * report.migrations.filter((m) => m.state !== 'applied');
 */
export async function status(options: InspectOptions): Promise<StatusReport> {
  const { ledger, lockKey, logger, migrations } = await prepare(options);
  const session = await connect(options, logger);
  try {
    const rows = await ledger.read(session.client);
    const lock = await lockHolder(session.client, lockKey);
    return { table: ledger.sqlName, migrations: describeState(migrations, rows), lock };
  } finally {
    await session.close();
  }
}

export interface Preview {
  readonly direction: Direction;
  /** What the same `migrate` call would run now, in order, and whether each runs in a transaction. */
  readonly steps: ReadonlyArray<{ readonly version: string; readonly direction: Direction; readonly transactional: boolean }>;
  readonly warnings: readonly string[];
}

/**
 * What `migrate` with the same options would do, executing nothing and taking no lock.
 * Throws the same integrity errors the run would.
 *
 * @example
 * const { steps } = await preview({ databaseUrl, dir: './migrations', direction: 'down', steps: 2 });
 */
export async function preview(options: MigrateOptions): Promise<Preview> {
  const request = validateRequest(options);
  const { ledger, logger, migrations } = await prepare(options);
  const session = await connect(options, logger);
  try {
    const p = plan(migrations, await ledger.read(session.client), request, ledger.sqlName);
    const parsed = await parseSteps(session, p);
    return {
      direction: p.direction,
      steps: p.steps.map((m, i) => ({ version: m.version, direction: p.direction, transactional: parsed[i]!.transactional })),
      warnings: p.warnings,
    };
  } finally {
    await session.close();
  }
}

/** The run's one connection, retrying transient failures for `connectWait` ms. */
function connect(options: InspectOptions, logger: Logger): Promise<Session> {
  return openSession(options, { waitMs: options.connectWait, logger, signal: options.signal });
}

async function loadMigrations(options: InspectOptions): Promise<readonly Migration[]> {
  if ((options.dir === undefined) === (options.migrations === undefined)) {
    throw new UsageError('pass exactly one of dir (a migrations folder) or migrations (a list)');
  }
  if (options.dir !== undefined) return readMigrationsDir(options.dir);
  const list = options.migrations!;
  return list.every((m) => 'checksum' in m) ? [...(list as readonly Migration[])] : defineMigrations(list as readonly MigrationInput[]);
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
  for (const step of executed) (step.direction === 'up' ? applied.add(step.version) : applied.delete(step.version));
  return {
    direction: p.direction,
    executed,
    migrations: migrations.map((m) => ({ version: m.version, state: applied.has(m.version) ? 'applied' : 'pending' })),
    warnings: p.warnings,
    lockWaitMs: lockWaitMs === null ? null : Math.round(lockWaitMs),
    durationMs: Math.round(performance.now() - started),
  };
}

/** Runs a plan under the lock: bookkeeping first, then every step, each parsed before any runs. */
async function execute(session: Session, ledger: Ledger, p: Plan, logger: Logger, signal: AbortSignal | undefined): Promise<StepResult[]> {
  if (!needsLock(p)) return [];
  const { client } = session;
  // Parse everything first: a syntax error in the last file stops the run before the first changes anything.
  const parsed = await parseSteps(session, p);

  await ledger.ensure(client);
  if (p.checksumsToRecord.length > 0) {
    await ledger.recordChecksums(client, p.checksumsToRecord);
    logger.info({ versions: p.checksumsToRecord.map((c) => c.version) }, `recorded checksums of ${p.checksumsToRecord.length} adopted migration(s)`);
  }

  const executed: StepResult[] = [];
  // Every commit but the last skips the wait for its WAL flush: each migration still commits
  // atomically with its row, WAL is replayed in order, and the last (synchronous) commit flushes
  // all earlier ones before the run reports success. A crash in between loses at most a tail of
  // whole migrations, which the next run applies again. One fsync per run instead of per migration.
  const batched = p.steps.length > 1;
  if (batched) await client.query('SET synchronous_commit = off');
  let synchronous = !batched;
  try {
    for (const [index, migration] of p.steps.entries()) {
      if (signal?.aborted) {
        throw new AbortedError(`stopped before ${migration.version}: ${executed.length} migration(s) ran, ${p.steps.length - index} not started`);
      }
      if (index === p.steps.length - 1 && !synchronous) {
        await client.query('RESET synchronous_commit');
        synchronous = true;
      }
      const sql = parsed[index]!;
      const started = performance.now();
      const runStep = sql.transactional ? runInTransaction : runStatementByStatement;
      await withCancellation(session, signal, () => runStep(client, ledger, migration, p.direction, sql));
      const durationMs = performance.now() - started;
      executed.push({ version: migration.version, direction: p.direction, durationMs: Math.round(durationMs), transactional: sql.transactional });
      logger.info(
        { version: migration.version, direction: p.direction, durationMs: Math.round(durationMs), transactional: sql.transactional },
        `${p.direction === 'up' ? 'applied' : 'reverted'} ${migration.version} (${Math.round(durationMs)} ms${sql.transactional ? '' : ', outside a transaction'})`,
      );
    }
  } finally {
    // A failed or stopped run leaves the session (which may go back to a pool) as it found it.
    if (!synchronous) await client.query('RESET synchronous_commit').catch(() => {});
  }
  return executed;
}

function parseStep(migration: Migration, direction: Direction, serverVersionNum?: number): Promise<ParsedSql> {
  const source = direction === 'up' ? migration.upSource : migration.downSource!;
  const text = direction === 'up' ? migration.upSql : migration.downSql!;
  return parseSql(text, source, serverVersionNum === undefined ? {} : { serverVersionNum });
}

/** Parses every step; asks the server its version only when a step's classification depends on it. */
async function parseSteps(session: Session, p: Plan): Promise<ParsedSql[]> {
  const parsed = await Promise.all(p.steps.map((m) => parseStep(m, p.direction)));
  if (!parsed.some(needsServerVersion)) return parsed;
  const { rows } = await session.client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
  const serverVersionNum = Number(rows[0]!.v);
  return Promise.all(p.steps.map((m) => parseStep(m, p.direction, serverVersionNum)));
}

const BEGIN = 'BEGIN;\n';

/** The SQL and its bookkeeping change commit together or not at all: three round trips. */
async function runInTransaction(client: pg.ClientBase, ledger: Ledger, migration: Migration, direction: Direction, sql: ParsedSql): Promise<void> {
  const started = performance.now();
  try {
    await client.query(BEGIN + sql.body);
    if (direction === 'up') await ledger.recordApplied(client, migration.version, migration.checksum, performance.now() - started);
    else await ledger.remove(client, migration.version);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw failure(migration, direction, error, sql.body, BEGIN.length, 'it was rolled back, nothing changed');
  }
}

/**
 * For files Postgres refuses in a transaction: mark the row in flight, run each statement
 * on its own (a multi-statement string would itself be one implicit transaction), then
 * mark it done. An interruption leaves the in-flight mark for the next run to see.
 */
async function runStatementByStatement(client: pg.ClientBase, ledger: Ledger, migration: Migration, direction: Direction, sql: ParsedSql): Promise<void> {
  const started = performance.now();
  await ledger.markInFlight(client, migration.version, migration.checksum);
  for (const [index, statement] of sql.statements.entries()) {
    try {
      await client.query(statement.sql);
    } catch (error) {
      throw failure(
        migration,
        direction,
        error,
        statement.sql,
        0,
        `it runs outside a transaction (${sql.statements.find((s) => s.noTransactionReason)?.noTransactionReason}); statement ${index + 1} of ${sql.statements.length} (line ${statement.line}) failed, the ${index} before it took effect, and it stays marked in flight`,
      );
    }
  }
  if (direction === 'up') await ledger.finishInFlight(client, migration.version, performance.now() - started);
  else await ledger.remove(client, migration.version);
}

function failure(migration: Migration, direction: Direction, error: unknown, text: string, offset: number, consequence: string): Error {
  if (error instanceof AbortedError) return error;
  const pgError = error as { message?: string; code?: string; position?: string };
  if (pgError.code === '57014') {
    return new AbortedError(`stopped during ${migration.version} (${direction}): the statement was cancelled; ${consequence}`);
  }
  const position = pgError.position === undefined ? NaN : Number(pgError.position) - 1 - offset;
  const line = Number.isNaN(position) || position < 0 ? '' : ` at line ${text.slice(0, position).split('\n').length}`;
  const source = direction === 'up' ? migration.upSource : migration.downSource;
  return new MigrationFailedError(
    migration.version,
    direction,
    `migration ${migration.version} (${direction}) failed${line} in ${source}: ${pgError.message ?? String(error)}${pgError.code ? ` [${pgError.code}]` : ''}; ${consequence}`,
    { cause: error },
  );
}

/** While `work` runs, an abort cancels the running statement from a side connection. */
async function withCancellation<T>(session: Session, signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
  if (signal === undefined) return work();
  const pid = backendPid(session.client);
  const cancel = () => {
    if (pid === undefined) return;
    void session
      .openSide()
      .then(async (side) => {
        try {
          await side.query('SELECT pg_cancel_backend($1)', [pid]);
        } finally {
          await side.end();
        }
      })
      .catch(() => {});
  };
  signal.addEventListener('abort', cancel, { once: true });
  try {
    return await work();
  } finally {
    signal.removeEventListener('abort', cancel);
  }
}
