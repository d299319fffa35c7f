/**
 * The public functions as `import { … } from 'slipway'` and the CLI get them: the runner, adopt
 * and seed, plus what every caller is owed: a summary line for each run that changed something,
 * and errors that are `SlipwayError`s whose message says in its first line what happened and what
 * to do (detail, when there is some, on the next), and never carries a password
 * (a driver error becomes a `ConnectionError` or `DatabaseError`, its original as the `cause`).
 */
import type { Logger } from 'pino';
import { connectionTarget, type ConnectionSource } from './db/session.js';
import { toSlipwayError } from './db/errors.js';
import { defaultLogger } from './log/lines.js';
import * as runner from './commands/migrate.js';
import { status as statusOf, type StatusReport } from './commands/status.js';
import { preview as previewOf, type Preview } from './commands/plan.js';
import type { TrafficOptions, TrafficReport } from './commands/traffic.js';
import type { InspectOptions } from './commands/context.js';
import type { AdoptOptions, AdoptResult } from './commands/adopt.js';
import type * as resolution from './commands/resolve.js';
import type * as seeding from './commands/seed.js';
import type * as linting from './commands/lint.js';
import type { SeedResult } from './seed/report.js';
import type * as schema from './commands/schema.js';

async function guarded<T>(source: ConnectionSource, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw toSlipwayError(error, connectionTarget(source));
  }
}

/** The caller's logger, or slipway's default one, created once so the run and its summary share it. */
function loggerOf(options: { readonly logger?: Logger | undefined }): Logger {
  return options.logger ?? defaultLogger();
}

/**
 * Applies (`up`) or reverts (`down`) migrations, serialized across every process that
 * uses the same database and lock key. Safe to call from every replica at startup:
 * one applies, the others wait for the lock, then find nothing to do. A run that changed
 * something ends with one summary line (`up: 2 applied in 109 ms`).
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
export async function migrate(options: runner.MigrateOptions): Promise<runner.MigrateResult> {
  const logger = loggerOf(options);
  const result = await guarded(options, () => runner.migrate({ ...options, logger }));
  const n = result.executed.length;
  if (n > 0) {
    const what = result.direction === 'up' ? 'applied' : 'reverted';
    logger.info(
      { direction: result.direction, executed: n, durationMs: result.durationMs },
      `${result.direction}: ${n} ${what} in ${result.durationMs} ms`,
    );
  }
  return result;
}

/**
 * Every migration with its state (applied, pending, missing-file, edited, in-flight)
 * and who holds the migration lock. Takes no lock; two queries.
 *
 * @example
 * const report = await status({ databaseUrl, dir: './migrations' });
 * report.migrations.filter((m) => m.state !== 'applied');
 */
export function status(options: InspectOptions): Promise<StatusReport> {
  return guarded(options, () => statusOf(options));
}

/**
 * What `migrate` with the same options would do, executing nothing and taking no lock.
 * Throws the same integrity errors the run would.
 *
 * @example
 * const { steps } = await preview({ databaseUrl, dir: './migrations', direction: 'down', steps: 2 });
 */
export function preview(options: runner.MigrateOptions): Promise<Preview> {
  return guarded(options, () => previewOf(options));
}

/**
 * Which statements the server has run (`pg_stat_statements`) still use the columns and tables the
 * pending migrations drop or rename: run it before the post-deploy phase. Takes no lock.
 *
 * @example
 * const { lines } = await checkTraffic({ databaseUrl, dir: './migrations' });
 */
export function checkTraffic(options: TrafficOptions): Promise<TrafficReport> {
  // Loaded on use: a plain migrate never loads the traffic check or the linter behind it.
  return guarded(options, async () => (await import('./commands/traffic.js')).checkTraffic(options));
}

/**
 * Takes over another tool's ledger (golang-migrate, dbmate, node-pg-migrate, goose,
 * sql-migrate) in one transaction under the migration lock; `dryRun: true` for the mapping alone.
 *
 * @example
 * await adopt({ databaseUrl, dir: './migrations' });
 */
export function adopt(options: AdoptOptions): Promise<AdoptResult> {
  return guarded(options, async () => (await import('./commands/adopt.js')).adopt(options));
}

/**
 * Loads seed files idempotently: rows whose key exists are skipped, differing ones reported.
 *
 * @example
 * const result = await seed({ databaseUrl: process.env.DATABASE_URL, dir: './seeds' });
 */
export function seed(options: seeding.SeedOptions = {}): Promise<SeedResult> {
  // Loaded on use: the seed tool brings the YAML parser, which a migration run never needs.
  return guarded(options, async () => (await import('./commands/seed.js')).seed(options));
}

/**
 * Settles what slipway cannot decide by itself, under the migration lock: a migration took
 * effect (`applied`), left nothing (`pending`), or its file was edited on purpose (`accept-edit`).
 *
 * @example
 * await resolve({ databaseUrl, dir: './migrations', version: '020_add_index', as: 'applied' });
 */
export function resolve(options: resolution.ResolveOptions): Promise<resolution.ResolveResult> {
  return guarded(options, async () => (await import('./commands/resolve.js')).resolve(options));
}

/**
 * Lints migrations for statements that would lock production tables (CREATE INDEX without
 * CONCURRENTLY, a foreign key without NOT VALID, a volatile default, SET NOT NULL, …) or break
 * the replicas still running the previous release. History-aware: tables the run creates are
 * new, and nothing about locking them is reported. Given `files`, lints them as one run in that
 * order; given `dir` without a connection, every file; with a connection, what `up` would apply.
 *
 * @example
 * const report = await lint({ dir: './migrations' });
 * if (report.errors > 0) process.exitCode = 1;
 *
 * @example
 * // the pending set of a database, with the style rules on
 * await lint({ dir: './migrations', databaseUrl: process.env.DATABASE_URL, enable: ['all'] });
 */
export async function lint(options: linting.LintOptions): Promise<linting.LintReport> {
  const connected = options.databaseUrl !== undefined || options.pool !== undefined || options.client !== undefined;
  // Loaded on use, like adopt and resolve: a migration run without lint never needs the rules.
  const run = async () => (await import('./commands/lint.js')).lint(options);
  return connected ? guarded(options, run) : run();
}

// The schema commands, loaded on use like adopt and resolve. See src/commands/schema.ts.

/**
 * The database's schema as SQL, from its catalog (no pg_dump), then the bookkeeping rows.
 *
 * @example
 * const { sql } = await dump({ databaseUrl: process.env.DATABASE_URL });
 */
export function dump(options: schema.DumpOptions): Promise<schema.DumpResult> {
  return guarded(options, async () => (await import('./commands/schema.js')).dump(options));
}

/**
 * Creates a schema from a dump into an empty database, in one transaction; refuses one that is not empty.
 *
 * @example
 * await load({ databaseUrl, file: 'schema.sql' });
 */
export function load(options: schema.LoadOptions): Promise<{ readonly database: string }> {
  return guarded(options, async () => (await import('./commands/schema.js')).load(options));
}

/**
 * Compares the database's schema with what its migrations build in a scratch database.
 *
 * @example
 * const report = await drift({ databaseUrl, dir: './migrations' });
 * if (report.drifted) process.exitCode = 1;
 */
export function drift(options: schema.DriftOptions): Promise<schema.DriftReport> {
  return guarded(options, async () => (await import('./commands/schema.js')).drift(options));
}

/**
 * Checks in a scratch database that every down file undoes its up.
 *
 * @example
 * const { problems } = await verify({ databaseUrl, dir: './migrations' });
 */
export function verify(options: schema.VerifyOptions): Promise<schema.VerifyReport> {
  return guarded(options, async () => (await import('./commands/schema.js')).verify(options));
}
