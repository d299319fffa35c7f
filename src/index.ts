/**
 * slipway: concurrency-safe PostgreSQL migrations.
 *
 * @example
 * import { migrate } from 'slipway';
 * await migrate({ databaseUrl: process.env.DATABASE_URL, dir: './migrations', direction: 'up' });
 *
 * @packageDocumentation
 */
export { migrate, status, preview, adopt, seed, resolve, lint, dump, load, drift, verify } from './api.js';
export {
  lintSources,
  RULES,
  formatLintText,
  formatLintJson,
  formatLintGithub,
  type LintOptions,
  type LintSettings,
  type LintReport,
  type LintFinding,
  type IgnoredFinding,
  type LintRule,
  type Severity,
  type LintFormat,
} from './lint/index.js';
export {
  type MigrateOptions,
  type MigrateResult,
  type StepResult,
  type StatusReport,
  type Preview,
} from './migrations/runner.js';
export type { InspectOptions } from './migrations/prepare.js';
export type {
  AdoptOptions,
  AdoptResult,
  AdoptedMigration,
  ForeignTool,
} from './migrations/foreign.js';
export type { ResolveOptions, ResolveResult, Resolution } from './migrations/resolve.js';
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
} from './tenants/fleet.js';
export { readTenants, tenantLockKey, type Tenant } from './tenants/source.js';
export { readMigrationsDir, defineMigrations, type Migration, type MigrationInput } from './migrations/source.js';
export type { Direction, MigrationState, MigrationStatus, AppliedRow, LedgerState } from './migrations/plan.js';
export { parseSql, type ParsedSql, type Statement } from './migrations/statements.js';
export { DEFAULT_SEED_LOCK_KEY, type SeedOptions } from './seed/apply.js';
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
} from './schema/commands.js';
export type { SchemaDifference } from './schema/dump.js';
