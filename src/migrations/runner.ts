import type pg from 'pg';
import type { Logger } from 'pino';
import { parseTableName, quoteTableName, type TableName } from '../db/identifier.js';
import { DEFAULT_LOCK_KEY, lockHolder, toLockKey, withLock, type HeldLock, type LockHolder } from '../db/lock.js';
import { checkConnectionSource, openSession, type ConnectionSource, type Session } from '../db/session.js';
import { AbortedError, MigrationFailedError, UsageError } from '../errors.js';
import { createLogger } from '../log.js';
import { locateLedger, type Ledger } from './ledger.js';
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
  /**
   * Bookkeeping table, optionally schema-qualified. Default `schema_migrations`. An unqualified
   * name means the one table of that name in the database, in whatever schema (so every role
   * finds the same one); when there is none, it is created in `current_schema()`.
   */
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
  const { tableName, lockKey, logger, migrations } = await prepare(options);
  if (options.lockWaitTimeout !== undefined && !(Number.isFinite(options.lockWaitTimeout) && options.lockWaitTimeout >= 0)) {
    throw new UsageError(`invalid lockWaitTimeout ${JSON.stringify(options.lockWaitTimeout)}: give milliseconds, 0 or more`);
  }
  if (options.signal?.aborted) throw new AbortedError('stopped before the run began; nothing was changed');

  const started = performance.now();
  const session = await connect(options, logger);
  try {
    const seen = await (await locateLedger(session.client, tableName)).read(session.client);
    // A row being applied or reverted may be a migration another runner is executing right now:
    // only the lock holder may call it interrupted, so such a read goes to the lock instead of failing.
    if (!seen.rows.some((row) => row.state === 'in_flight' || row.state === 'reverting')) {
      const fastPlan = plan(migrations, seen.rows, request, { table: quoteTableName(tableName), adopting: seen.adopting });
      if (!needsLock(fastPlan)) {
        logger.info({ direction: request.direction, migrations: migrations.length, applied: seen.rows.length }, `nothing to ${request.direction === 'up' ? 'apply' : 'revert'}`);
        return result(migrations, fastPlan, [], null, started, seen.rows);
      }
    }
    const lockOptions = { logger, timeoutMs: options.lockWaitTimeout, signal: options.signal };
    return await withLock(session, lockKey, lockOptions, async (lock) => {
      // Located again under the lock: another runner may have created the table meanwhile.
      const ledger = await locateLedger(session.client, tableName);
      const contents = await ledger.read(session.client);
      const lockedPlan = plan(migrations, contents.rows, request, { table: ledger.sqlName, adopting: contents.adopting });
      if (!needsLock(lockedPlan)) {
        logger.info({ direction: request.direction, waitedMs: Math.round(lock.waitedMs) }, `nothing left to ${request.direction === 'up' ? 'apply' : 'revert'}: another runner did it while this one waited`);
      }
      for (const warning of lockedPlan.warnings) logger.warn(warning);
      const executed = await execute(session, ledger, lockedPlan, lock, logger, options.signal);
      return result(migrations, lockedPlan, executed, lock.waitedMs, started, contents.rows);
    });
  } finally {
    await session.close();
  }
}

/** Options shared by every command that reads migrations and the bookkeeping table. */
export type InspectOptions = Omit<MigrateOptions, 'direction' | 'target' | 'steps' | 'all' | 'lockWaitTimeout'>;

/** Everything a command needs before it connects; all of it validated first. */
async function prepare(options: InspectOptions) {
  const tableName: TableName = parseTableName(options.table ?? 'schema_migrations');
  const lockKey = options.lockKey === undefined ? DEFAULT_LOCK_KEY : toLockKey(options.lockKey);
  checkConnectionSource(options);
  const logger = options.logger ?? createLogger();
  const migrations = await loadMigrations(options);
  return { tableName, lockKey, logger, migrations };
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
  const { tableName, lockKey, logger, migrations } = await prepare(options);
  const session = await connect(options, logger);
  try {
    const ledger = await locateLedger(session.client, tableName);
    const { rows } = await ledger.read(session.client);
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
  const { tableName, logger, migrations } = await prepare(options);
  const session = await connect(options, logger);
  try {
    const ledger = await locateLedger(session.client, tableName);
    const contents = await ledger.read(session.client);
    const p = plan(migrations, contents.rows, request, { table: ledger.sqlName, adopting: contents.adopting });
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

/**
 * Runs a plan under the lock: bookkeeping first, then every step, each parsed before any runs.
 * Every migration's commit is flushed before it is reported applied: a line that says
 * "applied" survives a crash of the server.
 */
async function execute(session: Session, ledger: Ledger, p: Plan, lock: HeldLock, logger: Logger, signal: AbortSignal | undefined): Promise<StepResult[]> {
  if (!needsLock(p)) return [];
  const { client } = session;
  // Parse everything first: a syntax error in the last file stops the run before the first changes anything.
  const parsed = await parseSteps(session, p);

  await ledger.ensure(client, p.checksumsToRecord);
  if (p.checksumsToRecord.length > 0) {
    logger.info({ versions: p.checksumsToRecord.map((c) => c.version) }, `recorded checksums of ${p.checksumsToRecord.length} adopted migration(s)`);
  }

  const executed: StepResult[] = [];
  for (const [index, migration] of p.steps.entries()) {
    if (signal?.aborted) {
      throw new AbortedError(`stopped before ${migration.version}: ${executed.length} migration(s) ran, ${p.steps.length - index} not started`);
    }
    const sql = parsed[index]!;
    const started = performance.now();
    const runStep = sql.transactional ? runInTransaction : runStatementByStatement;
    await withCancellation(session, lock.pid, signal, () => runStep(client, ledger, migration, p.direction, sql, lock.pid));
    const durationMs = performance.now() - started;
    executed.push({ version: migration.version, direction: p.direction, durationMs: Math.round(durationMs), transactional: sql.transactional });
    logger.info(
      { version: migration.version, direction: p.direction, durationMs: Math.round(durationMs), transactional: sql.transactional },
      `${p.direction === 'up' ? 'applied' : 'reverted'} ${migration.version} (${Math.round(durationMs)} ms${sql.transactional ? '' : ', outside a transaction'})`,
    );
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

/**
 * The SQL and its bookkeeping change commit together or not at all: the row is written first
 * (BEGIN and the claim in one round trip), so a second runner stops at the row, before the file.
 */
async function runInTransaction(client: pg.ClientBase, ledger: Ledger, migration: Migration, direction: Direction, sql: ParsedSql, pid: number): Promise<void> {
  try {
    await (direction === 'up' ? ledger.beginApply(client, migration, pid) : ledger.beginRevert(client, migration, pid));
  } catch (error) {
    await ledger.rollback(client);
    throw error;
  }
  try {
    await client.query(sql.body);
    await ledger.commit(client, migration);
  } catch (error) {
    await ledger.rollback(client);
    throw failure(migration, direction, error, sql.body, 0, 'it was rolled back, nothing changed');
  }
}

/**
 * For files Postgres refuses in a transaction: mark the row first (in flight, or reverting),
 * run each statement on its own (a multi-statement string would itself be one implicit
 * transaction), then settle the row. An interruption leaves the mark for the next run to see.
 */
async function runStatementByStatement(client: pg.ClientBase, ledger: Ledger, migration: Migration, direction: Direction, sql: ParsedSql, pid: number): Promise<void> {
  const started = performance.now();
  await (direction === 'up' ? ledger.markInFlight(client, migration, pid) : ledger.markReverting(client, migration, pid));
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
        `it runs outside a transaction (${sql.statements.find((s) => s.noTransactionReason)?.noTransactionReason}); statement ${index + 1} of ${sql.statements.length} (line ${statement.line}) failed, the ${index} before it took effect, and it stays marked ${direction === 'up' ? 'in flight' : 'reverting'}`,
      );
    }
  }
  await (direction === 'up' ? ledger.finishInFlight(client, migration, performance.now() - started) : ledger.finishReverting(client, migration));
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

/** While `work` runs, an abort cancels the running statement on backend `pid` from a side connection. */
async function withCancellation<T>(session: Session, pid: number, signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
  if (signal === undefined) return work();
  const cancel = () => {
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
