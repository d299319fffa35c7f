import { fileURLToPath } from 'node:url';

/** Everything the service reads from its environment, validated once at startup. */
export interface Config {
  /** `DATABASE_URL`, required. */
  readonly databaseUrl: string;
  /** `PORT`, default 3000; 0 picks a free port (the "listening on" log line names it). */
  readonly port: number;
  /** `HOST`, default 127.0.0.1; 0.0.0.0 in a container. */
  readonly host: string;
  /** `LOG_LEVEL`, default info. */
  readonly logLevel: string;
  /** `SLIPWAY_DIR`: the migrations folder, default the example's own `migrations/`. */
  readonly migrationsDir: string;
  /** `SLIPWAY_TABLE`: the bookkeeping table, default slipway's `schema_migrations`. */
  readonly table?: string;
  /** `SLIPWAY_LOCK_KEY`: the migration lock key, default slipway's. */
  readonly lockKey?: string;
  /**
   * `MIGRATE_ON_START`, default true: apply the migrations before listening. `false` when a
   * migration Job applies them instead (deploy/tracker/migration-job): the service then only
   * serves, and /readyz answers 503 until the Job is done.
   */
  readonly migrateOnStart: boolean;
  /**
   * `DESCRIPTION_COLUMN`, default `body`: the column of `issues` that holds an issue's description.
   * Release 0.2.0 renamed it from `description` (migrations 007 and 008, the README's "A rename
   * over two releases"); `description` runs this code as release 0.1.0 did, which
   * test/example/rollout.test.ts rolls out from.
   */
  readonly descriptionColumn: DescriptionColumn;
}

export const DESCRIPTION_COLUMNS = ['body', 'description'] as const;
export type DescriptionColumn = (typeof DESCRIPTION_COLUMNS)[number];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** A setting is missing or malformed: the message names it and says what to give. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Reads the service's settings from `env`; throws a {@link ConfigError} naming the first bad one.
 *
 * @example readConfig({ DATABASE_URL: 'postgres://app@127.0.0.1/app', PORT: '3001' }).port // 3001
 */
export function readConfig(env: NodeJS.ProcessEnv): Config {
  const databaseUrl = env.DATABASE_URL;
  if (!databaseUrl) {
    throw new ConfigError('DATABASE_URL is not set: give the PostgreSQL connection string (for the local one: node dist/cli/main.js db start --database tracker prints it)');
  }
  const port = Number(env.PORT ?? 3000);
  if (!/^\d+$/.test(env.PORT ?? '3000') || port > 65535) {
    throw new ConfigError(`PORT=${JSON.stringify(env.PORT)} is not a port: give a whole number from 0 to 65535`);
  }
  const logLevel = env.LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL=${JSON.stringify(logLevel)} is not a level: use one of ${LOG_LEVELS.join(', ')}`);
  }
  const migrateOnStart = env.MIGRATE_ON_START ?? 'true';
  if (migrateOnStart !== 'true' && migrateOnStart !== 'false') {
    throw new ConfigError(`MIGRATE_ON_START=${JSON.stringify(migrateOnStart)} is not a switch: use true or false`);
  }
  const descriptionColumn = env.DESCRIPTION_COLUMN ?? 'body';
  if (!DESCRIPTION_COLUMNS.includes(descriptionColumn as DescriptionColumn)) {
    const given = JSON.stringify(descriptionColumn);
    throw new ConfigError(`DESCRIPTION_COLUMN=${given} is not a column of issues: use body, or description for release 0.1.0's code`);
  }
  return {
    databaseUrl,
    migrateOnStart: migrateOnStart === 'true',
    descriptionColumn: descriptionColumn as DescriptionColumn,
    port,
    host: env.HOST || '127.0.0.1',
    logLevel,
    migrationsDir: env.SLIPWAY_DIR || fileURLToPath(new URL('../migrations', import.meta.url)),
    ...(env.SLIPWAY_TABLE && { table: env.SLIPWAY_TABLE }),
    ...(env.SLIPWAY_LOCK_KEY && { lockKey: env.SLIPWAY_LOCK_KEY }),
  };
}
