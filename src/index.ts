/**
 * slipway: concurrency-safe PostgreSQL migrations.
 *
 * @example
 * import { migrate } from 'slipway';
 * await migrate({ databaseUrl: process.env.DATABASE_URL, dir: './migrations', direction: 'up' });
 *
 * @packageDocumentation
 */
export { migrate, status, preview, adopt, seed, resolve, lint, checkTraffic } from './api.js';
export {
  lintSources,
  readLintConfig,
  RULES,
  formatLintText,
  formatLintJson,
  formatLintGithub,
  type LintOptions,
  type LintSettings,
  type LintSuppression,
  type LintConfig,
  type LintReport,
  type LintFinding,
  type IgnoredFinding,
  type LintRule,
  type Severity,
  type LintFormat,
} from './commands/lint.js';
export type { MigrateOptions, MigrateResult } from './commands/migrate.js';
export type { StepResult } from './migrations/execute.js';
export type { StatusReport } from './commands/status.js';
export type { TrafficOptions, TrafficReport } from './commands/traffic.js';
export type { TrafficUse, BreakingChange } from './lint/traffic.js';
export type { Preview } from './commands/plan.js';
export type { InspectOptions } from './commands/context.js';
export type { AdoptOptions, AdoptResult } from './commands/adopt.js';
export type { AdoptedMigration, ForeignTool } from './migrations/foreign.js';
export type { ResolveOptions, ResolveResult, Resolution } from './commands/resolve.js';
export {
  migrateTenants,
  tenantsStatus,
  previewTenants,
  describeSummary,
  type TenantsOptions,
  type MigrateTenantsOptions,
  type TenantResult,
  type FleetResult,
  type FleetProgress,
  type FleetCommand,
} from './commands/fleet.js';
export { readTenants, tenantLockKey, type Tenant } from './tenants/source.js';
export { readMigrationsDir, defineMigrations, type Migration, type MigrationInput, type Phase } from './migrations/source.js';
export { openMigrationsFolder, MIGRATION_FORMATS, type MigrationFormat, type OpenedFolder } from './migrations/formats/index.js';
export { createMigration } from './migrations/formats/new.js';
export type { Direction, MigrationState, MigrationStatus, AppliedRow, LedgerState } from './migrations/plan.js';
export { parseSql, type ParsedSql, type Statement } from './sql/parse.js';
export { DEFAULT_SEED_LOCK_KEY, type SeedOptions } from './commands/seed.js';
export type { SeedResult, SeedTableResult, SeedConflict } from './seed/report.js';
export { describeLocation } from './seed/files.js';
export { DEFAULT_LOCK_KEY, lockHolder, type LockHolder } from './db/lock.js';
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
  SeedError,
  type SeedLocation,
  ConnectionError,
  DatabaseError,
  LocalServerError,
  LintError,
  type LintErrorFinding,
  TenantError,
  type TenantProblem,
  type IntegrityKind,
  type ConnectionProblem,
} from './errors.js';
