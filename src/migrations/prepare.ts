/**
 * What every command that reads migrations and the bookkeeping table does before its work:
 * validate the options, read the migrations, open the run's one connection.
 */
import type { Logger } from 'pino';
import { parseTableName, type TableName } from '../db/identifier.js';
import { DEFAULT_LOCK_KEY, toLockKey } from '../db/lock.js';
import { checkConnectionSource, openSession, type Session } from '../db/session.js';
import { UsageError } from '../errors.js';
import { createLogger } from '../log.js';
import type { MigrateOptions } from './runner.js';
import { defineMigrations, type Migration, type MigrationInput, type MigrationsFolder } from './source.js';
import { checkFormat, openMigrationsFolder, type MigrationFormat } from './formats/index.js';

/** Options shared by every command that reads migrations and the bookkeeping table. */
export type InspectOptions = Omit<MigrateOptions, 'direction' | 'target' | 'steps' | 'all' | 'lockWaitTimeout'>;

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
export function prepareLazily(options: InspectOptions) {
  const tableName: TableName = parseTableName(options.table ?? 'schema_migrations');
  const lockKey = options.lockKey === undefined ? DEFAULT_LOCK_KEY : toLockKey(options.lockKey);
  checkConnectionSource(options);
  const logger = options.logger ?? createLogger();
  const { readMigrations, warnings, format } = listMigrations(options);
  // Another tool's layout is said once: what was detected is never a silent choice.
  if (format !== null && format !== 'slipway' && format !== 'golang-migrate') logger.info({ dir: options.dir, format }, `reading ${options.dir} as a ${format} folder`);
  for (const warning of warnings) logger.warn(warning);
  return { tableName, lockKey, logger, warnings, readMigrations };
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
function listMigrations(from: Pick<InspectOptions, 'dir' | 'migrations' | 'format'>): { readMigrations: () => Migration[]; warnings: string[]; format: MigrationFormat | null } {
  if ((from.dir === undefined) === (from.migrations === undefined)) {
    throw new UsageError('pass exactly one of dir (a migrations folder) or migrations (a list)');
  }
  const format = checkFormat(from.format);
  if (from.dir !== undefined) return openMigrationsFolder(from.dir, format);
  if (format !== undefined) throw new UsageError('format names the layout of a folder (dir): a list of migrations (migrations) has none');
  const list = from.migrations!;
  const migrations = list.every((m) => 'checksum' in m) ? [...(list as readonly Migration[])] : defineMigrations(list as readonly MigrationInput[]);
  return { readMigrations: () => migrations, warnings: [], format: null };
}
