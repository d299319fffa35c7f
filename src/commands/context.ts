/**
 * What every command that reads migrations and the bookkeeping table does before its work:
 * validate the options, read the migrations, open the run's one connection.
 */
import type { Logger } from 'pino';
import { parseTableName, type TableName } from '../db/identifier.js';
import { DEFAULT_LOCK_KEY, toLockKey } from '../db/lock.js';
import { checkConnectionSource, openSession, type ConnectionSource, type Session } from '../db/session.js';
import type { Direction } from '../migrations/plan.js';
import type { LintSettings } from '../lint/lint.js';
import { UsageError } from '../errors.js';
import { defaultLogger } from '../log/lines.js';
import { defineMigrations, type Migration, type MigrationInput, type MigrationsFolder } from '../migrations/source.js';
import { checkFormat, openMigrationsFolder, type MigrationFormat } from '../migrations/formats/index.js';

export interface MigrateOptions extends ConnectionSource {
  /** `'up'` or `'down'`, exactly; anything else throws before any connection is opened. */
  readonly direction: Direction;
  /** A folder of `<digits>_<name>.up.sql` / `.down.sql` files, or of another tool's layout (see `format`). */
  readonly dir?: string;
  /**
   * The layout of `dir` (`prisma`, `drizzle`, `dbmate`, `goose`, `sql-migrate`, `node-pg-migrate`,
   * `maragudk`, `slipway`/`golang-migrate`); default: the one its contents show.
   */
  readonly format?: MigrationFormat;
  /** Migrations given in memory instead of a folder. */
  readonly migrations?: readonly MigrationInput[] | readonly Migration[];
  /** up: stop after this version. down: revert the migrations after it. */
  readonly target?: string;
  /** up: apply at most this many. down: revert this many (default 1). */
  readonly steps?: number;
  /** down: revert every applied migration. */
  readonly all?: boolean;
  /**
   * up: apply the post-deploy migrations too (those marked `-- slipway:post-deploy`), in their
   * place in the order. Leave it off at startup: run it once every replica runs the new release.
   */
  readonly postDeploy?: boolean;
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
  /**
   * Milliseconds a migration's statement may wait for a table lock (Postgres's `lock_timeout`)
   * before it is rolled back and retried, so it never queues the application's queries behind
   * it for longer. Default 5000; 0 waits without limit. A file's own `SET lock_timeout` wins.
   * Concurrent index statements take no lock that blocks the application and are exempt.
   */
  readonly lockTimeout?: number;
  /** How many times a migration that hit `lockTimeout` is retried, with backoff. Default 5. */
  readonly lockRetries?: number;
  /**
   * up: run consecutive transactional migrations in one transaction (one commit instead of one
   * each; every file still writes its own row in it). When one fails the batch is rolled back and
   * its migrations run one by one, so the failing file is reported as usual and those before it
   * are applied. Default: only when the ledger has no rows (a new database, CI, a test template);
   * `false` never, `true` also on a database that has applied migrations.
   */
  readonly batch?: boolean;
  /**
   * up: lint the pending migrations before taking the lock (see `lint`) and refuse to run any
   * of them on an error-level finding (a `LintError`). `true` for the default rules, or the
   * settings. Default false: the CLI's `up` and `plan` turn it on (`--no-lint` turns it off).
   */
  readonly lint?: boolean | LintSettings;
  /**
   * A file to write the database's schema to, as `dump` writes it, after a run that applied or
   * reverted something (still holding the lock, so it is this run's result); a run with nothing
   * to do leaves the file as it is. Commit it, as dbmate's schema.sql, and a pull request's diff
   * shows what its migrations change. Its folder must exist.
   */
  readonly dump?: string;
}

/** Options shared by every command that reads migrations and the bookkeeping table. */
export type InspectOptions = Omit<MigrateOptions, 'direction' | 'target' | 'steps' | 'all' | 'lockWaitTimeout' | 'dump'>;

/** Everything a command needs before it connects; all of it validated first. */
export function prepare(options: InspectOptions) {
  const { readMigrations, ...prepared } = prepareLazily(options);
  return { ...prepared, migrations: readMigrations() };
}

/**
 * {@link prepare}, with the folder's files read only when `readMigrations` is called: the
 * options, the folder's file names and their pairs are checked now, so a run can open its
 * connection and send its first query, then read the files while the server answers.
 */
export function prepareLazily(options: InspectOptions, { quiet = false } = {}) {
  const tableName: TableName = parseTableName(options.table ?? 'schema_migrations');
  const lockKey = options.lockKey === undefined ? DEFAULT_LOCK_KEY : toLockKey(options.lockKey);
  checkConnectionSource(options);
  const logger = options.logger ?? defaultLogger();
  const { readMigrations, warnings, format } = listMigrations(options);
  // Another tool's layout is said: what was detected is never a silent choice.
  const sayFolder = () => {
    if (format !== null && format !== 'slipway' && format !== 'golang-migrate')
      logger.info({ dir: options.dir, format }, `reading ${options.dir} as a ${format} folder`);
    for (const warning of warnings) logger.warn(warning);
  };
  // Quiet: the caller says it when the run has something to do (a no-op repeats nothing).
  if (!quiet) sayFolder();
  return { tableName, lockKey, logger, warnings, readMigrations, sayFolder };
}

/** The run's one connection, retrying transient failures for `connectWait` ms. */
export function connect(options: InspectOptions, logger: Logger): Promise<Session> {
  return openSession(options, { waitMs: options.connectWait, logger, signal: options.signal });
}

/** Refuses a `lockWaitTimeout` that is not a number of milliseconds, 0 or more. */
export function checkLockWaitTimeout(value: number | undefined): void {
  if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
    throw new UsageError(`invalid lockWaitTimeout ${JSON.stringify(value)}: give milliseconds, 0 or more`);
  }
}

/** The migrations a call names: a folder (`dir`) or a list (`migrations`), exactly one of the two. */
export function loadMigrations(from: Pick<InspectOptions, 'dir' | 'migrations' | 'format'>): MigrationsFolder {
  const { readMigrations, warnings } = listMigrations(from);
  return { migrations: readMigrations(), warnings };
}

/** {@link loadMigrations} in two steps: the names checked now, the files read by `readMigrations`. */
function listMigrations(from: Pick<InspectOptions, 'dir' | 'migrations' | 'format'>): {
  readMigrations: () => Migration[];
  warnings: string[];
  format: MigrationFormat | null;
} {
  if ((from.dir === undefined) === (from.migrations === undefined)) {
    throw new UsageError('pass exactly one of dir (a migrations folder) or migrations (a list)');
  }
  const format = checkFormat(from.format);
  if (from.dir !== undefined) return openMigrationsFolder(from.dir, format);
  if (format !== undefined) throw new UsageError('format names the layout of a folder (dir): a list of migrations (migrations) has none');
  const list = from.migrations!;
  const migrations = list.every((m) => 'checksum' in m)
    ? [...(list as readonly Migration[])]
    : defineMigrations(list as readonly MigrationInput[]);
  return { readMigrations: () => migrations, warnings: [], format: null };
}
