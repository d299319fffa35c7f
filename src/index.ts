/**
 * slipway: concurrency-safe PostgreSQL migrations.
 *
 * @example
 * import { migrate } from 'slipway';
 * await migrate({ databaseUrl: process.env.DATABASE_URL, dir: './migrations', direction: 'up' });
 *
 * @packageDocumentation
 */
export { migrate, status, preview, adopt, seed } from './api.js';
export {
  type MigrateOptions,
  type MigrateResult,
  type StepResult,
  type InspectOptions,
  type StatusReport,
  type Preview,
} from './migrations/runner.js';
export {
  mapForeignLedger,
  recogniseTable,
  describeForeignLedger,
  describeEntry,
  type AdoptOptions,
  type AdoptResult,
  type AdoptedMigration,
  type AdoptionMapping,
  type AdoptionProblem,
  type ForeignLedger,
  type ForeignTool,
} from './migrations/foreign.js';
export { readMigrationsDir, defineMigrations, type Migration, type MigrationInput } from './migrations/source.js';
export {
  plan,
  validateRequest,
  describeState,
  type Plan,
  type RunRequest,
  type AppliedRow,
  type Direction,
  type MigrationState,
  type MigrationStatus,
  type LedgerState,
  type LedgerContext,
} from './migrations/plan.js';
export { parseSql, type ParsedSql, type Statement } from './migrations/statements.js';
export { DEFAULT_SEED_LOCK_KEY, type SeedOptions, type SeedResult, type SeedTableResult, type SeedConflict } from './seed/apply.js';
export { SeedError, describeLocation, type SeedLocation } from './seed/files.js';
export { DEFAULT_LOCK_KEY, lockHolder, type LockHolder } from './db/lock.js';
export { quoteTableName } from './db/identifier.js';
export { createLogger, redactConnectionString, passwordsOf, scrubSecrets } from './log.js';
export {
  SlipwayError,
  UsageError,
  SourceError,
  IntegrityError,
  MigrationFailedError,
  LockTimeoutError,
  AbortedError,
  SessionError,
  ConflictError,
  ConnectionError,
  DatabaseError,
  LocalServerError,
  type IntegrityKind,
  type ConnectionProblem,
} from './errors.js';
