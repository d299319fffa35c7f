/**
 * slipway: concurrency-safe PostgreSQL migrations.
 *
 * @example
 * import { migrate } from 'slipway';
 * await migrate({ databaseUrl: process.env.DATABASE_URL, dir: './migrations', direction: 'up' });
 *
 * @packageDocumentation
 */
export { migrate, status, preview, adopt, seed, resolve, lint, dump, load, drift, verify, checkTraffic } from './api.js';
export {
  readLintConfig,
  type LintOptions,
  type LintSettings,
  type LintConfig,
  type LintReport,
  type LintFinding,
} from './commands/lint.js';
export type { MigrateOptions, MigrateResult } from './commands/migrate.js';
export type { StepResult } from './migrations/execute.js';
export type { StatusReport } from './commands/status.js';
export type { TrafficOptions, TrafficReport } from './commands/traffic.js';
export type { TrafficUse, BreakingChange } from './lint/traffic.js';
export type { Preview } from './commands/plan.js';
export type { InspectOptions } from './commands/context.js';
export type { AdoptOptions, AdoptResult } from './commands/adopt.js';
export type { ResolveOptions, ResolveResult, Resolution } from './commands/resolve.js';
export {
  migrateTenants,
  tenantsStatus,
  previewTenants,
  type TenantsOptions,
  type MigrateTenantsOptions,
  type TenantResult,
  type FleetResult,
} from './commands/fleet.js';

export { defineMigrations, type Migration, type MigrationInput, type Phase } from './migrations/source.js';
export { readMigrationsDir, type MigrationFormat } from './migrations/formats/index.js';

export type { Direction, MigrationState, MigrationStatus } from './migrations/plan.js';

export type { SeedOptions } from './commands/seed.js';
export type { SeedResult } from './seed/report.js';

export { DEFAULT_LOCK_KEY, lockHolder, type LockHolder } from './db/lock.js';
export { passwordsOf, scrubSecrets } from './log.js';
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
  SeedError,
  ConnectionError,
  DatabaseError,
  LocalServerError,
  LintError,
  TenantError,
  type IntegrityKind,
  type ConnectionProblem,
} from './errors.js';
export {
  formatVerify,
  type DumpOptions,
  type DumpResult,
  type LoadOptions,
  type DriftOptions,
  type DriftReport,
  type VerifyOptions,
  type VerifyReport,
  type VerifyProblem,
} from './commands/schema.js';
export type { SchemaDifference } from './schema/dump.js';
