#!/usr/bin/env node
/**
 * The `slipway` command: thin wrappers that parse arguments, call the library, print and
 * exit. Exit codes: 0 success, 1 migration or database failure, 2 usage error.
 */
import './runtime.js';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { parseEnv } from 'node:util';
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { Logger } from 'pino';
import { checkDatabaseName, parseTableName } from '../db/identifier.js';
import { IntegrityError, LintError, SlipwayError, SourceError, UsageError } from '../errors.js';
import { passwordsOf, scrubSecrets } from '../secrets.js';
import { toLockKey } from '../db/lock-key.js';
import { defaultParseCacheDir, useParseCache } from '../sql/parse-cache.js';
import type { LintConfig, LintFormat, LintSettings } from '../commands/lint.js';
import type { MigrateOptions } from '../commands/migrate.js';
import { MIGRATION_FORMATS, openMigrationsFolder, type MigrationFormat } from '../migrations/formats/index.js';
import { createMigration } from '../migrations/formats/new.js';
import type { LogFormat } from './logger.js';
import { writeAll } from '../log/write.js';
import type { FleetResult, TenantsOptions } from '../commands/fleet.js';

// Loaded by the commands that use them: `--version`, `--help` and `new` need neither the
// driver nor the logger, and only `seed` needs the YAML parser.
const api = () => import('../api.js');
const format = () => import('./format.js');
// The local server's code (child processes, the embedded binaries) only for `db` and a run without a URL.
const localServer = () => import('../db/embedded.js');

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

// The CLI keeps what the parser said about each file across runs (SLIPWAY_CACHE_DIR moves it,
// SLIPWAY_CACHE=off turns it off): its runs are short, each would parse every pending file again.
useParseCache(defaultParseCacheDir(), () => {
  const parser = (createRequire(import.meta.url)('libpg-query/package.json') as { version: string }).version;
  return `libpg-query ${parser}\0slipway ${packageJson.version}`;
});

/** Options every database command takes; flags win over the environment. */
interface DatabaseFlags {
  dir: string;
  format?: MigrationFormat;
  table: string;
  lockKey?: bigint;
  databaseUrl?: string;
  /** Use the local PostgreSQL even where `CI` is set. */
  local?: boolean;
  wait?: number;
  json?: boolean;
  logLevel: string;
  logFormat?: LogFormat;
}

/** Secrets to scrub from anything printed: the password of the connection string in use. */
const secrets: string[] = [...passwordsOf(process.env.DATABASE_URL)];
const scrub = (text: string) => scrubSecrets(text, secrets);

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('give a whole number of 1 or more.');
  return n;
}

const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, min: 60, h: 3600 };

/** Seconds, or a duration with its unit: `5`, `1.5`, `500ms`, `5s`, `2m`, `1h`. */
function seconds(value: string): number {
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|min|h)?\s*$/.exec(value);
  if (match === null) throw new InvalidArgumentError('give seconds (5, 1.5) or a duration with its unit (500ms, 5s, 2m, 1h).');
  return Number(match[1]) * UNITS[match[2] ?? 's']!;
}

/** A lock key in decimal or in hex (`0x736c6970776179`, as the help shows the default). */
function lockKey(value: string): bigint {
  try {
    const hex = /^(-?)0x([0-9a-f]+)$/i.exec(value.trim());
    return toLockKey(hex ? (hex[1] ? -1n : 1n) * BigInt(`0x${hex[2]}`) : value);
  } catch {
    throw new InvalidArgumentError('give a whole number (decimal, or hex as 0x…) that fits in a signed 64-bit integer.');
  }
}

function tableName(value: string): string {
  try {
    parseTableName(value);
    return value;
  } catch {
    throw new InvalidArgumentError('use "table" or "schema.table".');
  }
}

/** --format: the migrations folder's layout, when its contents should not decide it. */
function formatOption(): Option {
  return new Option('--format <layout>', "the migrations folder's layout (default: the one its files show)")
    .env('SLIPWAY_FORMAT')
    .choices(MIGRATION_FORMATS);
}

/** Connection, logging and output options; with `migrations`, also the folder, table and lock key of a migration run. */
function withDatabaseOptions(command: Command, { json = true, migrations = true } = {}): Command {
  if (migrations) {
    command
      .addOption(new Option('--dir <path>', 'migrations folder').env('SLIPWAY_DIR').default('./migrations'))
      .addOption(formatOption())
      .addOption(
        new Option('--table <name>', 'bookkeeping table, may be schema-qualified')
          .env('SLIPWAY_TABLE')
          .default('schema_migrations')
          .argParser(tableName),
      )
      .addOption(
        new Option(
          '--lock-key <n>',
          'advisory-lock key, decimal or 0x hex (bigint); default 32488822435963257 = 0x736c6970776179 ("slipway")',
        )
          .env('SLIPWAY_LOCK_KEY')
          .argParser(lockKey),
      );
  }
  command
    .addOption(
      new Option('--database-url <url>', 'PostgreSQL connection string; without one, the local server in .slipway/postgres').env(
        'DATABASE_URL',
      ),
    )
    .addOption(new Option('--local', 'without a connection string, use the local server in .slipway/postgres even where CI is set'))
    .addOption(new Option('--wait <seconds>', 'retry connection failures (server starting) for this long').argParser(seconds))
    .addOption(
      new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
    )
    .addOption(
      new Option('--log-format <format>', 'log lines as JSON or readable (default: readable on a terminal)').choices(['json', 'pretty']),
    );
  if (json) command.option('--json', 'print one JSON document on stdout (logs go to stderr)');
  return command;
}

/** --lock-timeout and --lock-retries, for the commands that run migrations. */
interface LockRetryFlags {
  lockTimeout?: number;
  lockRetries?: number;
}

function withLockRetryOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--lock-timeout <seconds>',
        "how long a migration's statement may wait for a table lock before it is rolled back and retried (0: no limit)",
      )
        .argParser(seconds)
        .default(5, '5'),
    )
    .addOption(
      new Option('--lock-retries <n>', 'how many times a migration that timed out on a lock is retried')
        .argParser(wholeNumberOrZero)
        .default(5, '5'),
    );
}

/** --tenants, --concurrency and --fail-fast: up, down, status and plan over a fleet. */
interface FleetFlags {
  tenants?: string;
  concurrency?: number;
  failFast?: boolean;
}

function withFleetOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--tenants <source>',
        'run over many tenants: schema:<LIKE pattern> or query:<SQL> (schemas of --database-url), or a file of database URLs (one per line)',
      ).env('SLIPWAY_TENANTS'),
    )
    .addOption(
      new Option('--concurrency <n>', 'with --tenants: tenants at once (default min(8, max_connections/4))').argParser(wholeNumber),
    )
    .option('--fail-fast', 'with --tenants: start no more tenants after the first failure');
}

function lockRetryOptions(flags: LockRetryFlags): Pick<MigrateOptions, 'lockTimeout' | 'lockRetries'> {
  return {
    ...(flags.lockTimeout !== undefined && { lockTimeout: Math.round(flags.lockTimeout * 1000) }),
    ...(flags.lockRetries !== undefined && { lockRetries: flags.lockRetries }),
  };
}

function wholeNumberOrZero(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('give a whole number, 0 or more.');
  return n;
}

/** The state one command run carries: its logger, its abort signal, its connection. */
interface Run {
  logger: Logger;
  signal: AbortSignal;
  library: Pick<MigrateOptions, 'databaseUrl' | 'dir' | 'format' | 'table' | 'lockKey' | 'connectWait' | 'logger' | 'signal'>;
}

/** Logs go to stdout, except for commands whose stdout is a document (status, plan, seed, --json). */
async function loggerFor(flags: DatabaseFlags, printsDocument: boolean): Promise<Logger> {
  const { cliLogger } = await import('./logger.js');
  return cliLogger({ level: flags.logLevel, format: flags.logFormat, toStderr: printsDocument || flags.json === true });
}

/**
 * The run's connection string: the one given, or the local server's. Everything that needs no
 * database (the migrations or seed folder, the connection string's form) is checked first, so
 * a run that cannot succeed never starts a local server.
 */
async function prepareRun(flags: DatabaseFlags, logger: Logger, signal: AbortSignal, folder: 'migrations' | 'seeds'): Promise<Run> {
  let databaseUrl = flags.databaseUrl;
  if (databaseUrl !== undefined && databaseUrl.trim() === '') {
    throw new UsageError(
      'DATABASE_URL (or --database-url) is set but empty: set it to the database to use, or unset it for the local PostgreSQL in .slipway/postgres',
    );
  }
  if (databaseUrl === undefined && inAutomation() && flags.local !== true) {
    throw new UsageError(
      'no DATABASE_URL and CI is set: set DATABASE_URL (or --database-url) to the database to use, or pass --local for a local PostgreSQL in .slipway/postgres',
    );
  }
  if (databaseUrl === undefined) {
    if (folder === 'migrations') openMigrationsFolder(flags.dir, flags.format).readMigrations();
    else await (await import('../seed/files.js')).readSeedDir(flags.dir);
    const local = await (await localServer()).startLocalServer();
    logger.info(
      { url: local.url },
      `no DATABASE_URL or --database-url: using the local PostgreSQL in .slipway/postgres (${local.url})${local.started ? ', started now' : ''}`,
    );
    databaseUrl = local.url;
  }
  secrets.push(...passwordsOf(databaseUrl));
  (await import('../db/session.js')).checkConnectionSource({ databaseUrl });
  return {
    logger,
    signal,
    library: {
      databaseUrl,
      dir: flags.dir,
      ...(flags.format !== undefined && { format: flags.format }),
      table: flags.table,
      ...(flags.lockKey !== undefined && { lockKey: flags.lockKey }),
      ...(flags.wait !== undefined && { connectWait: flags.wait * 1000 }),
      logger,
      signal,
    },
  };
}

/** CI services set `CI` (to `true`, `1`, or a name); `false` and `0` say it is not one. */
function inAutomation(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && !/^(false|0)$/i.test(ci);
}

/**
 * Writes to stdout, all of it, before the next statement (see {@link writeAll}). Node queues
 * what a pipe cannot take yet and the exit at the end drops the queue: `slipway dump | psql`
 * got the first 128 KB of a schema.
 */
function print(text: string): void {
  writeAll(1, text);
}

/** {@link print} for stderr. */
function printError(text: string): void {
  writeAll(2, text);
}

function printJson(document: unknown): void {
  print(`${scrub(JSON.stringify(document, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2))}\n`);
}

/** Stops a run on SIGINT/SIGTERM: before the next migration, cancelling a running one. A second signal exits at once. */
function abortOnSignals(logger: () => Logger | undefined): AbortController {
  const controller = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (controller.signal.aborted) process.exit(EXIT_FAILURE);
      logger()?.warn({ signal }, `received ${signal}: stopping (a running migration is cancelled and rolled back)`);
      controller.abort();
    });
  }
  return controller;
}

/**
 * Runs the command line. With `describe`, builds the commands and hands them over instead of
 * running anything: the CLI reference in docs/cli.md is written from them (scripts/docs-cli.mjs),
 * as `--help` is.
 */
export async function main(argv: string[], options: { describe?: (program: Command) => void } = {}): Promise<number> {
  let logger: Logger | undefined;
  let inputErrorsAreUsage = false;
  let lintFailed = false;
  let json = false;
  let fleetFailed = false;
  let notUpToDate = false;
  let schemaDiffers = false;
  const controller = abortOnSignals(() => logger);
  const program = new Command('slipway')
    .description('Concurrency-safe PostgreSQL migrations')
    .version(packageJson.version, '-v, --version', 'print the version')
    .exitOverride()
    .showSuggestionAfterError()
    .configureOutput({
      writeOut: print,
      writeErr: printError,
      outputError: (text, write) => {
        const line = scrub(text.trim().split('\n')[0]!);
        write(
          `${line}${line.startsWith('error: unknown command') ? `; commands: ${program.commands.map((c) => c.name()).join(', ')}` : ''}\n`,
        );
      },
    });

  const begin = async (flags: DatabaseFlags, printsDocument = false, folder: 'migrations' | 'seeds' = 'migrations') => {
    json = flags.json === true;
    logger = await loggerFor(flags, printsDocument);
    return prepareRun(flags, logger, controller.signal, folder);
  };

  /**
   * A fleet run: the schemas of one database (the local server's without a URL) or a file of
   * database URLs. Returns false when the command is not a fleet run.
   */
  const fleet = async (
    command: 'up' | 'down' | 'status' | 'plan',
    flags: DatabaseFlags & FleetFlags & LockRetryFlags & LintFlag,
    request: { direction?: 'up' | 'down'; target?: string; steps?: number; all?: boolean; postDeploy?: boolean },
  ) => {
    if (flags.tenants === undefined) {
      if (flags.concurrency !== undefined || flags.failFast) throw new UsageError('--concurrency and --fail-fast go with --tenants');
      return false;
    }
    json = flags.json === true;
    const { formatFleet, progressLine, tenantLine } = await import('./fleet.js');
    const { migrateTenants, previewTenants, tenantsStatus } = await import('../commands/fleet.js');
    const tty = !json && process.stderr.isTTY === true;
    logger = await loggerFor(
      { ...flags, logLevel: tty && flags.logLevel === 'info' ? 'warn' : flags.logLevel },
      json || command === 'status' || command === 'plan',
    );
    const needsDatabase = /^(schema|query):/i.test(flags.tenants.trim());
    const run = needsDatabase ? await prepareRun(flags, logger, controller.signal, 'migrations') : null;
    const progress = progressLine(tty);
    const options: TenantsOptions = {
      tenants: flags.tenants,
      databaseUrl: run?.library.databaseUrl ?? flags.databaseUrl,
      dir: flags.dir,
      ...(flags.format !== undefined && { format: flags.format }),
      table: flags.table,
      ...(flags.lockKey !== undefined && { lockKey: flags.lockKey }),
      ...(flags.concurrency !== undefined && { concurrency: flags.concurrency }),
      failFast: flags.failFast === true,
      ...lockRetryOptions(flags),
      ...(command === 'up' && (flags as { batch?: boolean }).batch !== undefined && { batch: (flags as { batch?: boolean }).batch }),
      ...((command === 'up' || (command === 'plan' && request.direction === 'up')) && { lint: await lintFlag(flags, logger) }),
      logger,
      signal: controller.signal,
      onTenant: (result, p) => {
        if (json) print(`${scrub(tenantLine(result))}\n`);
        progress.update(p);
      },
    };
    let result: FleetResult;
    try {
      const withRequest = { ...options, direction: request.direction ?? 'up', ...requestFlags(request) };
      result =
        command === 'status'
          ? await tenantsStatus(options)
          : command === 'plan'
            ? await previewTenants(withRequest)
            : await migrateTenants(withRequest);
    } finally {
      progress.clear();
    }
    if (json) print(`${scrub(JSON.stringify({ summary: result.summary }))}\n`);
    else print(`${scrub(formatFleet(result))}\n`);
    if (result.summary.failed > 0 || result.summary.skipped > 0) fleetFailed = true;
    return true;
  };

  withDatabaseOptions(
    withFleetOptions(withLockRetryOptions(program.command('up')))
      .description('apply pending migrations (every one, or up to --to), once slipway lint finds no error in them')
      .option('--to <version>', 'stop after this version, e.g. 020_add_index')
      .option('--post-deploy', 'apply the post-deploy migrations too (-- slipway:post-deploy): once every replica runs this release')
      .addOption(
        new Option(
          '--traffic-window <seconds>',
          'with --post-deploy: first watch pg_stat_statements this long, and run nothing if a statement still uses what they drop or rename',
        ).argParser(positiveSeconds),
      )
      .option('--no-lint', 'run even when slipway lint finds an error-level problem in the pending migrations')
      .option(
        '--batch',
        'run consecutive transactional migrations in one transaction even when some are applied (default: only on an empty ledger)',
      )
      .option('--no-batch', 'commit each migration on its own, on an empty ledger too')
      .option(DUMP_FLAG, 'after a run that applied something, write the schema to this file (default schema.sql), as slipway dump does')
      .addOption(lintConfigOption()),
  ).action(
    async (
      flags: DatabaseFlags &
        LockRetryFlags &
        LintFlag &
        FleetFlags &
        DumpFlag & { to?: string; postDeploy?: boolean; trafficWindow?: number; batch?: boolean },
    ) => {
      refuseDumpWithTenants(flags);
      if (flags.trafficWindow !== undefined && flags.postDeploy !== true)
        throw new UsageError('--traffic-window goes with --post-deploy: it checks what the post-deploy migrations drop or rename');
      if (flags.trafficWindow !== undefined && flags.tenants !== undefined)
        throw new UsageError('--traffic-window is not supported with --tenants: check one database at a time');
      if (
        await fleet('up', flags, {
          direction: 'up',
          ...(flags.to !== undefined && { to: flags.to }),
          ...(flags.postDeploy === true && { postDeploy: true }),
        })
      )
        return;
      const run = await begin(flags);
      const { migrate, checkTraffic } = await api();
      if (flags.trafficWindow !== undefined) {
        const traffic = await checkTraffic({ ...run.library, windowMs: flags.trafficWindow * 1000, postDeployOnly: true });
        for (const line of traffic.lines) run.logger.warn({ traffic: true }, line);
        if (traffic.findings.length > 0) {
          throw new LintError(
            traffic.findings,
            `${traffic.findings.length} column(s) or table(s) the post-deploy migrations drop or rename are still used ` +
              `by statements run in the last ${flags.trafficWindow} s (${traffic.findings[0]!.message.split(':')[0]}, …): ` +
              'nothing was run; run it again once every replica runs the new release',
          );
        }
      }
      const result = await migrate({
        ...run.library,
        ...lockRetryOptions(flags),
        lint: await lintFlag(flags, run.logger),
        direction: 'up',
        ...(flags.to !== undefined && { target: flags.to }),
        ...(flags.postDeploy === true && { postDeploy: true }),
        ...(flags.batch !== undefined && { batch: flags.batch }),
        ...dumpOption(flags),
      });
      if (json) printJson(result);
    },
  );

  withDatabaseOptions(
    withFleetOptions(withLockRetryOptions(program.command('down')))
      .description('revert the newest applied migration (or --steps N, --to V, --all)')
      .addOption(new Option('--steps <n>', 'revert this many').argParser(wholeNumber).conflicts(['to', 'all']))
      .addOption(new Option('--to <version>', 'revert every migration after this version').conflicts(['all']))
      .option('--all', 'revert every applied migration')
      .option(DUMP_FLAG, 'after a run that reverted something, write the schema to this file (default schema.sql)'),
  ).action(async (flags: DatabaseFlags & LockRetryFlags & FleetFlags & DumpFlag & { to?: string; steps?: number; all?: boolean }) => {
    refuseDumpWithTenants(flags);
    if (await fleet('down', flags, { direction: 'down', ...flags })) return;
    const run = await begin(flags);
    const { migrate } = await api();
    const result = await migrate({
      ...run.library,
      ...lockRetryOptions(flags),
      direction: 'down',
      ...requestFlags(flags),
      ...dumpOption(flags),
    });
    if (json) printJson(result);
  });

  withDatabaseOptions(
    withFleetOptions(program.command('status'))
      .description('every migration with its state, and who holds the migration lock')
      .option('--exit-code', 'exit 1 when a migration is not applied (pending, in flight, edited, missing its file): for CI'),
  ).action(async (flags: DatabaseFlags & FleetFlags & { exitCode?: boolean }) => {
    if (await fleet('status', flags, {})) return;
    const run = await begin(flags, true);
    const report = await (await api()).status(run.library);
    if (json) printJson(report);
    else print(`${(await format()).formatStatus(report)}\n`);
    if (flags.exitCode === true && report.migrations.some((m) => m.state !== 'applied')) notUpToDate = true;
  });

  withDatabaseOptions(
    withLockRetryOptions(program.command('redo')).description('revert the newest applied migration and apply it again (for development)'),
  ).action(async (flags: DatabaseFlags & LockRetryFlags) => {
    const run = await begin(flags);
    const { migrate } = await api();
    const reverted = await migrate({ ...run.library, ...lockRetryOptions(flags), direction: 'down' });
    const version = reverted.executed[0]?.version;
    if (version === undefined) throw new UsageError('nothing to redo: no migration is applied');
    const applied = await migrate({ ...run.library, ...lockRetryOptions(flags), direction: 'up', target: version });
    if (json) printJson({ reverted: reverted.executed, applied: applied.executed });
  });

  withDatabaseOptions(
    withFleetOptions(program.command('plan'))
      .description('show what up or down would do, executing nothing')
      .addArgument(new Argument('[direction]', 'up or down').choices(['up', 'down']).default('up'))
      .addOption(new Option('--steps <n>', 'as for up/down').argParser(wholeNumber).conflicts(['to', 'all']))
      .addOption(new Option('--to <version>', 'as for up/down').conflicts(['all']))
      .option('--all', 'down: every applied migration')
      .option('--sql', 'print the SQL each step would run, in order (a dry run)')
      .option('--post-deploy', 'plan up: with the post-deploy migrations, as up --post-deploy')
      .option('--no-lint', 'plan up: do not refuse when slipway lint finds an error-level problem in the pending migrations')
      .addOption(lintConfigOption()),
  ).action(
    async (
      direction: 'up' | 'down',
      flags: DatabaseFlags & LintFlag & FleetFlags & { to?: string; steps?: number; all?: boolean; sql?: boolean; postDeploy?: boolean },
    ) => {
      if (direction === 'up' && flags.all)
        throw new UsageError('--all applies to plan down only: plan up already lists every pending migration');
      if (direction === 'down' && flags.postDeploy)
        throw new UsageError('--post-deploy applies to plan up only: down reverts migrations of either phase, newest first');
      if (await fleet('plan', flags, { direction, ...flags })) return;
      const run = await begin(flags, true);
      const result = await (await api()).preview({
        ...run.library,
        direction,
        lint: direction === 'up' && (await lintFlag(flags, run.logger)),
        ...requestFlags(flags),
      });
      if (json) printJson(result);
      else if (flags.sql === true) print((await format()).formatPreviewSql(result));
      else print(`${(await format()).formatPreview(result)}\n`);
    },
  );

  withDatabaseOptions(
    program
      .command('seed')
      .description('load seed files (YAML/JSON) idempotently: existing rows are skipped, differing ones reported')
      .addOption(new Option('--dir <path>', 'seed files folder').env('SLIPWAY_SEED_DIR').default('./seeds'))
      .addOption(
        new Option(
          '--lock-key <n>',
          'advisory-lock key of seed runs, decimal or 0x hex (bigint); default 8317147509291771236 = 0x736c697073656564 ("slipseed")',
        ).argParser(lockKey),
      )
      .option('--update', 'overwrite rows whose key exists with other values (default: report them as conflicts)')
      .option('--dry-run', 'do everything in a transaction and roll it back'),
    { migrations: false },
  ).action(async (flags: DatabaseFlags & { update?: boolean; dryRun?: boolean }) => {
    const run = await begin(flags, true, 'seeds');
    const result = await (await api()).seed({
      databaseUrl: run.library.databaseUrl,
      dir: flags.dir,
      update: flags.update === true,
      dryRun: flags.dryRun === true,
      ...(flags.lockKey !== undefined && { lockKey: flags.lockKey }),
      ...(run.library.connectWait !== undefined && { connectWait: run.library.connectWait }),
      logger: run.logger,
      signal: run.signal,
    });
    if (json) printJson(result);
    else print(`${(await format()).formatSeed(result)}\n`);
  });

  program
    .command('new')
    .description(
      "create the next migration in the folder's layout: <version>_<name>.up.sql / .down.sql, or a Prisma, dbmate, goose, … file",
    )
    .argument('<name>', 'lowercase letters, digits, _ and -, e.g. create_users')
    .addOption(new Option('--dir <path>', 'migrations folder').env('SLIPWAY_DIR').default('./migrations'))
    .addOption(formatOption())
    .option(
      '--timestamp',
      'number it with a 14-digit UTC timestamp (as a folder that already uses them is numbered), for teams whose branches add migrations at once',
    )
    .action(async (name: string, flags: { dir: string; format?: MigrationFormat; timestamp?: boolean }) => {
      const created = await createMigration(flags.dir, name, {
        ...(flags.format !== undefined && { format: flags.format }),
        timestamp: flags.timestamp === true,
      });
      print(created.files.map((file) => `created ${file}\n`).join(''));
    });

  const db = program.command('db').description('the local PostgreSQL in .slipway/postgres, for when you have none');
  db.command('start')
    .description('start it (creating it on first use) and print its connection string')
    .addOption(
      new Option(
        '--database <name>',
        'a database of its own on the local server, created when missing: the printed connection string names it',
      ).argParser((value: string) => {
        try {
          return checkDatabaseName(value);
        } catch (error) {
          throw new InvalidArgumentError(`${(error as Error).message.replace(/^invalid database name "[^"]*": /, '')}.`);
        }
      }),
    )
    .action(async (flags: { database?: string }) => {
      const local = await (await localServer()).startLocalServer(undefined, { database: flags.database });
      print(`${local.url}\n`);
      printError(
        `${local.started ? 'started' : 'already running'}: local PostgreSQL in ${local.dataDir}${local.createdDatabase ? `; created database ${flags.database}` : ''}\n`,
      );
    });
  db.command('stop')
    .description('stop it (data is kept)')
    .action(async () => {
      const stopped = await (await localServer()).stopLocalServer();
      print(stopped ? 'stopped the local PostgreSQL\n' : 'the local PostgreSQL was not running\n');
    });
  db.command('status')
    .description('say whether it runs, and where (exit 1 when it does not)')
    .action(async () => {
      const local = await (await localServer()).localServerStatus();
      if (local.running) print(`running: ${local.url} (data in ${local.dataDir})\n`);
      else print(local.initialised ? `stopped (data in ${local.dataDir})\n` : 'not created yet: slipway db start creates it\n');
      if (!local.running) throw new NotRunning();
    });

  // test-db: the library's test databases (slipway/testing) for shell scripts and other languages' test runners.
  const testing = () => import('../testing/index.js');
  const testDb = withDatabaseOptions(program.command('test-db'), { json: false, migrations: false })
    .description(
      'clone a fresh database with every migration applied (and --seeds loaded) from a template built once, and print its connection string',
    )
    .addOption(new Option('--dir <path>', 'migrations folder').env('SLIPWAY_DIR').default('./migrations'))
    .option('--seeds <path>', 'seed files folder, loaded into the template')
    .action(async (flags: DatabaseFlags & { seeds?: string }) => {
      const run = await begin(flags, true);
      const { testDatabaseForScript, closeTestDatabases } = await testing();
      const created = await testDatabaseForScript({
        databaseUrl: run.library.databaseUrl!,
        dir: flags.dir,
        ...(flags.seeds !== undefined && { seeds: flags.seeds }),
        logger: run.logger,
      });
      await closeTestDatabases();
      print(`${created.url}\n`);
    });
  const testDbServer = async (flags: { databaseUrl?: string; logLevel: string; logFormat?: LogFormat }) => {
    logger = await loggerFor({ ...flags, dir: '', table: '' }, true);
    return flags.databaseUrl || (await (await localServer()).startLocalServer()).url;
  };
  withDatabaseOptions(testDb.command('drop'), { json: false, migrations: false })
    .description('drop a test database slipway cloned (refuses any other database)')
    .argument('<url|name>', 'its connection string or name')
    .action(async (target: string, flags: DatabaseFlags) => {
      const { dropTestDatabase, closeTestDatabases } = await testing();
      await dropTestDatabase(target, { databaseUrl: await testDbServer(flags) }).finally(closeTestDatabases);
      print(`dropped ${target.includes('://') ? scrub(target) : target}\n`);
    });
  withDatabaseOptions(testDb.command('prune'), { json: false, migrations: false })
    .description("drop the test databases and templates slipway made that are older than --older-than (by slipway's marker, never by name)")
    .addOption(new Option('--older-than <minutes>', 'age in minutes').argParser(wholeNumberOrZero).default(60))
    .action(async (flags: DatabaseFlags & { olderThan: number }) => {
      const { pruneTestDatabases, closeTestDatabases } = await testing();
      const dropped = await pruneTestDatabases({ databaseUrl: await testDbServer(flags), olderThan: flags.olderThan * 60_000 }).finally(
        closeTestDatabases,
      );
      print(dropped.length === 0 ? 'nothing to prune\n' : `dropped ${dropped.length}: ${dropped.join(' ')}\n`);
    });

  program
    .command('lint')
    .description('check migrations for statements that lock production tables or break running replicas (exit 1 on an error-level finding)')
    .argument('[files...]', 'files to lint as one run, in this order (default: the --dir folder)')
    .addOption(
      new Option('--dir <path>', 'migrations folder: every up file, or with a database the pending ones')
        .env('SLIPWAY_DIR')
        .default('./migrations'),
    )
    .addOption(
      new Option('--format <format>', 'text, json, or github (workflow annotations)').choices(['text', 'json', 'github']).default('text'),
    )
    .option('--rules <ids>', 'comma-separated: rule ids to turn on (style rules are off by default), "all", or -id to turn one off')
    .addOption(
      new Option(
        '--pg-version <version>',
        "target PostgreSQL: a major version (16, 9.6) or server_version_num; default: the server's, else 13",
      ).argParser(pgVersion),
    )
    .addOption(
      new Option(
        '--lock-timeout <seconds>',
        'the lock timeout up will give each statement; 0 (none) makes require-lock-timeout check each file sets its own',
      )
        .argParser(seconds)
        .default(5, '5'),
    )
    .addOption(
      new Option('--table <name>', 'bookkeeping table, with a database')
        .env('SLIPWAY_TABLE')
        .default('schema_migrations')
        .argParser(tableName),
    )
    .addOption(
      new Option(
        '--database-url <url>',
        'lint what up would apply to this database (and use its version); without one, no database is used',
      ).env('DATABASE_URL'),
    )
    .addOption(new Option('--wait <seconds>', 'retry connection failures (server starting) for this long').argParser(seconds))
    .addOption(
      new Option(
        '--traffic-window <seconds>',
        'with --database-url: also watch pg_stat_statements this long for statements still using what the pending migrations drop or rename (exit 1 if any)',
      ).argParser(positiveSeconds),
    )
    .option('--list-rules', 'print every rule with its severity, reason and safe rewrite')
    .addOption(lintConfigOption())
    .option('--write-baseline', 'record every finding in the lint config file, so that only new ones fail (exit 0)')
    .action(async (files: string[], flags: LintFlags) => {
      inputErrorsAreUsage = true;
      const { formatRules, formatLintGithub, formatLintJson, formatLintText } = await import('../commands/lint.js');
      if (flags.listRules) {
        print(formatRules());
        return;
      }
      const databaseUrl = flags.databaseUrl === '' ? undefined : flags.databaseUrl;
      if (databaseUrl !== undefined) {
        secrets.push(...passwordsOf(databaseUrl));
        logger = await (await import('./logger.js')).cliLogger({ level: 'warn', toStderr: true });
      }
      if (flags.trafficWindow !== undefined && (databaseUrl === undefined || files.length > 0)) {
        throw new UsageError(
          '--traffic-window needs --database-url and a folder (--dir, no files): it checks what the pending migrations drop or rename',
        );
      }
      const rules = (flags.rules ?? '')
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean);
      const config = await lintConfig(flags);
      const report = await (await api()).lint({
        ...(files.length > 0 ? { files } : { dir: flags.dir }),
        ...(databaseUrl !== undefined && { databaseUrl, table: flags.table, ...(logger !== undefined && { logger }) }),
        ...(flags.wait !== undefined && { connectWait: flags.wait * 1000 }),
        enable: [...(config.enable ?? []), ...rules.filter((r) => !r.startsWith('-'))],
        disable: [...(config.disable ?? []), ...rules.filter((r) => r.startsWith('-')).map((r) => r.slice(1))],
        suppressions: config.suppressions,
        ...(flags.pgVersion !== undefined && { pgVersion: flags.pgVersion }),
        lockTimeout: Math.round(flags.lockTimeout * 1000),
      });
      if (flags.writeBaseline) {
        const { writeBaseline } = await import('../commands/lint.js');
        const file = flags.lintConfig ?? DEFAULT_LINT_CONFIG;
        const added = writeBaseline(file, report);
        print(
          `${added} finding${added === 1 ? '' : 's'} recorded in ${file}${report.ignored.length > 0 ? ` (${report.ignored.length} already silenced)` : ''}: only new ones fail from now on\n`,
        );
        return;
      }
      const format: LintFormat = flags.format;
      print(
        scrub(
          format === 'json'
            ? formatLintJson(report)
            : format === 'github'
              ? formatLintGithub(report)
              : formatLintText(report, { source: process.stdout.isTTY === true }),
        ),
      );
      if (report.errors > 0) lintFailed = true;
      if (flags.trafficWindow !== undefined) {
        // On stderr, so that stdout stays the report in the format asked for.
        const traffic = await (await api()).checkTraffic({
          databaseUrl: databaseUrl!,
          dir: flags.dir,
          table: flags.table,
          windowMs: flags.trafficWindow * 1000,
          ...(logger !== undefined && { logger }),
        });
        for (const line of traffic.lines) printError(`${scrub(line)}\n`);
        if (traffic.findings.length > 0) lintFailed = true;
      }
    });

  withDatabaseOptions(
    program
      .command('adopt')
      .description("take over another tool's ledger (golang-migrate, dbmate, node-pg-migrate, goose, sql-migrate)")
      .option('--dry-run', 'print how its entries map to the migration files, changing nothing'),
  ).action(async (flags: DatabaseFlags & { dryRun?: boolean }) => {
    const run = await begin(flags, true);
    const result = await (await api()).adopt({ ...run.library, dryRun: flags.dryRun === true });
    if (json) printJson(result);
    else print(`${(await format()).formatAdoption(result)}\n`);
  });

  withDatabaseOptions(
    program
      .command('resolve')
      .description(
        'settle what slipway cannot decide: a migration took effect (--applied), left nothing (--pending), or was edited on purpose (--accept-edit)',
      )
      .argument('<version>', 'the migration, e.g. 020_add_index')
      .addOption(new Option('--applied', 'it took effect: record it as applied').conflicts(['pending', 'acceptEdit']))
      .addOption(new Option('--pending', 'nothing of it remains: remove its row').conflicts(['acceptEdit']))
      .option('--accept-edit', "its file was edited on purpose after it ran: record the file's checksum as it is now"),
  ).action(async (version: string, flags: DatabaseFlags & { applied?: boolean; pending?: boolean; acceptEdit?: boolean }) => {
    const as = flags.applied ? 'applied' : flags.pending ? 'pending' : flags.acceptEdit ? 'accept-edit' : null;
    if (as === null) throw new UsageError('resolve needs one of --applied, --pending or --accept-edit');
    const run = await begin(flags);
    const result = await (await api()).resolve({ ...run.library, version, as });
    if (json) printJson(result);
  });

  // The schema commands: dump, load, drift, verify (src/commands/schema.ts). drift and verify exit 1 on a difference.
  withDatabaseOptions(
    program
      .command('dump')
      .description('print the database schema as SQL, from its catalog, with the bookkeeping rows (no pg_dump needed)')
      .option('--out <file>', 'write it to this file instead of stdout')
      .option('--privileges', 'also write owners and grants'),
    { json: false },
  ).action(async (flags: DatabaseFlags & { out?: string; privileges?: boolean }) => {
    const run = await begin(flags, true);
    const { sql, objects } = await (await api()).dump({ ...run.library, privileges: flags.privileges === true });
    if (flags.out === undefined) print(sql);
    else {
      await (await import('node:fs/promises')).writeFile(flags.out, sql);
      run.logger.info({ file: flags.out, objects }, `dump: wrote ${objects} objects to ${flags.out}`);
    }
  });
  withDatabaseOptions(
    program
      .command('load')
      .description('create the schema of a dump in an empty database (refuses one that is not)')
      .argument('<file>', 'a file written by slipway dump'),
    { json: false },
  ).action(async (file: string, flags: DatabaseFlags) => {
    const run = await begin(flags, true);
    const { database } = await (await api()).load({ ...run.library, file });
    print(`loaded ${file} into database ${database}\n`);
  });
  withDatabaseOptions(
    program
      .command('drift')
      .description("compare the database's schema with what the migrations build in a scratch database (exit 1 when they differ)"),
  ).action(async (flags: DatabaseFlags) => {
    const run = await begin(flags, true);
    const report = await (await api()).drift(run.library);
    schemaDiffers = report.drifted;
    if (json) printJson(report);
    else {
      print(report.drifted ? report.diff : "no drift: the database's schema is the one its migrations build\n");
      if (report.notCompared.length > 0) print(`not compared, as bookkeeping: ${report.notCompared.join(', ')}\n`);
    }
  });
  withDatabaseOptions(
    program
      .command('verify')
      .description('check in a scratch database that every down file undoes its up (exit 1 when one does not)')
      .option('--from <version>', 'check only this migration and the ones after it'),
  ).action(async (flags: DatabaseFlags & { from?: string }) => {
    const run = await begin(flags, true);
    const report = await (await api()).verify({ ...run.library, ...(flags.from !== undefined && { from: flags.from }) });
    schemaDiffers = report.problems.length > 0;
    if (json) printJson(report);
    else print(scrub((await import('../commands/schema.js')).formatVerify(report)));
  });

  if (options.describe !== undefined) {
    options.describe(program);
    return EXIT_OK;
  }
  try {
    await program.parseAsync(
      flagsAfterCommand(
        loadEnvFile(argv),
        program.commands.map((c) => c.name()),
      ),
      { from: 'user' },
    );
    return controller.signal.aborted || lintFailed || fleetFailed || notUpToDate || schemaDiffers ? EXIT_FAILURE : EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help'
        ? EXIT_OK
        : EXIT_USAGE;
    }
    if (error instanceof NotRunning) return EXIT_FAILURE;
    // For lint, input it cannot read (a file missing or not SQL) is bad input too.
    // A version that names no migration (--to, resolve) is a typo in the command line.
    const usage =
      error instanceof UsageError ||
      (inputErrorsAreUsage && error instanceof SourceError) ||
      (error instanceof IntegrityError && error.kind === 'unknown-target');
    const message = scrub(error instanceof Error ? error.message : String(error));
    // Every error the library means to throw is a SlipwayError; anything else is a bug or the system's (INTERNAL).
    if (json) printJson({ error: { code: error instanceof SlipwayError ? error.code : 'INTERNAL', message } });
    printError(`slipway: ${message}\n`);
    return usage ? EXIT_USAGE : EXIT_FAILURE;
  }
}

class NotRunning extends Error {}

/**
 * `slipway --database-url X up` as `slipway up --database-url X`: flags written before the
 * command are the command's (there are no program-wide ones besides help and version).
 */
function flagsAfterCommand(argv: string[], commands: readonly string[]): string[] {
  if (argv.length === 0 || !argv[0]!.startsWith('-') || /^(-h|--help|-v|--version)$/.test(argv[0]!)) return argv;
  const at = argv.findIndex((a) => commands.includes(a));
  if (at === -1) return argv;
  return [argv[at]!, ...argv.slice(0, at), ...argv.slice(at + 1)];
}

/**
 * Reads `--env-file <path>` (which must exist), else `.env` in the working directory when there is
 * one, as dbmate does: each variable it sets that the environment does not already have is set.
 * Returns the arguments without `--env-file`.
 */
function loadEnvFile(argv: string[]): string[] {
  const at = argv.findIndex((a) => a === '--env-file' || a.startsWith('--env-file='));
  const named = at === -1 ? undefined : argv[at]!.includes('=') ? argv[at]!.slice('--env-file='.length) : argv[at + 1];
  if (at !== -1 && (named === undefined || named === '')) throw new UsageError('--env-file needs a path, e.g. --env-file .env.test');
  const file = named ?? '.env';
  if (!existsSync(file)) {
    if (named !== undefined) throw new UsageError(`--env-file ${named}: no such file`);
    return argv;
  }
  for (const [key, value] of Object.entries(parseEnv(readFileSync(file, 'utf8')))) {
    if (process.env[key] === undefined) process.env[key] = value;
  }
  secrets.push(...passwordsOf(process.env.DATABASE_URL));
  return at === -1 ? argv : argv.filter((_, i) => i !== at && !(i === at + 1 && !argv[at]!.includes('=')));
}

/** `up --dump [file]` and `down --dump [file]`: the file the schema is written to after a run that changed it. */
const DUMP_FLAG = '--dump [file]';
interface DumpFlag {
  dump?: string | true;
}

function dumpOption(flags: DumpFlag): Pick<MigrateOptions, 'dump'> {
  return flags.dump === undefined ? {} : { dump: flags.dump === true ? 'schema.sql' : flags.dump };
}

function refuseDumpWithTenants(flags: DumpFlag & FleetFlags): void {
  if (flags.dump !== undefined && flags.tenants !== undefined)
    throw new UsageError("--dump writes one database's schema: it does not go with --tenants");
}

interface LintFlag {
  lint?: boolean;
  lintConfig?: string;
}

/** The lint config file read when --lint-config is not given, if it exists (see docs/lint.md). */
const DEFAULT_LINT_CONFIG = 'slipway-lint.json';

function lintConfigOption(): Option {
  return new Option(
    '--lint-config <file>',
    `lint config: rules on/off and findings silenced outside the migration files (default: ${DEFAULT_LINT_CONFIG} when present)`,
  ).env('SLIPWAY_LINT_CONFIG');
}

/** The lint config file's settings; a missing one is empty unless named by --lint-config (and not about to be written). */
async function lintConfig(flags: LintFlag & { writeBaseline?: boolean }): Promise<LintConfig> {
  const { readLintConfig } = await import('../lint/config.js');
  return readLintConfig(flags.lintConfig ?? DEFAULT_LINT_CONFIG, flags.lintConfig === undefined || flags.writeBaseline === true);
}

interface LintFlags {
  dir: string;
  format: LintFormat;
  rules?: string;
  pgVersion?: number;
  lockTimeout: number;
  table: string;
  databaseUrl?: string;
  wait?: number;
  listRules?: boolean;
  trafficWindow?: number;
  lintConfig?: string;
  writeBaseline?: boolean;
}

/** up and plan lint unless --no-lint, which is logged; the lint config file says which rules and suppressions. */
async function lintFlag(flags: LintFlag, logger: Logger): Promise<false | LintSettings> {
  if (flags.lint !== false) return lintConfig(flags);
  logger.warn({ lint: false }, 'not linting the pending migrations (--no-lint): statements that lock tables in use run as written');
  return false;
}

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value.trim()) || !(n > 0)) throw new InvalidArgumentError('give seconds, more than 0 (e.g. 30).');
  return n;
}

function pgVersion(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value.trim()) || !(n > 0))
    throw new InvalidArgumentError('give a major version (16, 9.6) or a server_version_num (160004).');
  return n;
}

function requestFlags(flags: {
  to?: string;
  steps?: number;
  all?: boolean;
  postDeploy?: boolean;
}): Pick<MigrateOptions, 'target' | 'steps' | 'all' | 'postDeploy'> {
  return {
    ...(flags.postDeploy === true && { postDeploy: true }),
    ...(flags.to !== undefined && { target: flags.to }),
    ...(flags.steps !== undefined && { steps: flags.steps }),
    ...(flags.all === true && { all: true }),
  };
}

// Run when started as the command (the bin, linked or not); not when imported for its reference.
// Always exit explicitly: a library's exit hook must not turn a failure into 0.
const started = process.argv[1] !== undefined && existsSync(process.argv[1]) ? realpathSync(process.argv[1]) : '';
if (started === fileURLToPath(import.meta.url))
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      printError(`slipway: ${scrub(String(error))}\n`);
      process.exit(EXIT_FAILURE);
    },
  );
