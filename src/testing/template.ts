/**
 * The template a test database is cloned from: the migrations applied by slipway's own runner
 * and the seed files loaded, named by a digest of everything that decides its contents.
 *
 * Built once per server however many processes ask at once: the builder holds an advisory lock
 * (polled with pg_try_advisory_lock, like a migration run) and builds under a temporary name,
 * then in one transaction marks it a template that takes no connections and renames it. A
 * database is cloned only under the final name, so a build that crashed half-way is never
 * cloned; the next builder drops it. A build that fails leaves a small record of the error,
 * so the processes that were waiting fail with that error instead of building again.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { withLock } from '../db/lock.js';
import { openSession } from '../db/session.js';
import { quoteIdentifier } from '../db/identifier.js';
import { IntegrityError, MigrationFailedError, SeedError, SlipwayError, SourceError } from '../errors.js';
import { loadMigrations } from '../commands/context.js';
import { SLIPWAY_VERSION } from '../version.js';
import {
  createMarked,
  dropMarked,
  listMarked,
  markerText,
  pruneMarked,
  serverNow,
  strategyClause,
  urlOfDatabase,
  type Marker,
  type Server,
} from './server.js';

/** What decides a template's contents. */
export interface TemplateSource {
  readonly dir: string;
  readonly seeds?: string | undefined;
  readonly table?: string | undefined;
}

/** The names one digest's databases go by. */
export interface TemplateNames {
  readonly digest: string;
  /** The finished template: the only name ever cloned. */
  readonly template: string;
  /** Where it is built. */
  readonly build: string;
  /** A failed build's record. */
  readonly failed: string;
}

/** A failed build is reported to callers that began before it ended, and to any caller for this long after. */
const FAILURE_REMEMBERED_MS = 30_000;
/** Databases slipway made that are older than this are dropped whenever a new template is built. */
const PRUNE_ON_BUILD_MS = 24 * 3600_000;
/** Ready clones of other templates that have waited this long are dropped whenever a new template is built. */
const READY_STALE_ON_BUILD_MS = 10 * 60_000;

/**
 * sha256 over the migrations (version and checksum, in the order the runner applies them), the
 * seed files (names and bytes), the bookkeeping table and slipway's version: the template's
 * contents, before the server is known. Reading the folder also refuses one the runner would refuse.
 */
export function contentsDigest(source: TemplateSource): string {
  const hash = createHash('sha256');
  hash.update(`slipway ${SLIPWAY_VERSION}\0table ${source.table ?? ''}\0`);
  for (const m of loadMigrations({ dir: source.dir }).migrations) hash.update(`m ${m.version} ${m.checksum}\0`);
  if (source.seeds !== undefined) {
    for (const name of seedFileNames(source.seeds))
      hash
        .update(`s ${name}\0`)
        .update(readFileSync(path.join(source.seeds, name)))
        .update('\0');
  }
  return hash.digest('hex');
}

/** The template's digest: its contents' on one major version of PostgreSQL. */
export function digestOn(contents: string, serverMajor: number): string {
  return createHash('sha256').update(`postgres ${serverMajor}\0${contents}`).digest('hex');
}

export function templateDigest(source: TemplateSource, serverMajor: number): string {
  return digestOn(contentsDigest(source), serverMajor);
}

function seedFileNames(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isFile() || e.isSymbolicLink())
      .map((e) => e.name)
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new SeedError(`seeds folder ${dir} does not exist: create it or pass another folder`);
    throw error;
  }
}

export function templateNames(digest: string): TemplateNames {
  const short = digest.slice(0, 24);
  return { digest, template: `slipway_tpl_${short}`, build: `slipway_tpl_${short}_build`, failed: `slipway_tpl_${short}_failed` };
}

/** The advisory-lock key of one digest's build: its first 8 bytes, under a prefix of its own. */
function buildLockKey(digest: string): bigint {
  return BigInt.asIntN(64, BigInt(`0x${createHash('sha256').update(`slipway-test-template:${digest}`).digest('hex').slice(0, 16)}`));
}

export interface EnsureOptions extends TemplateSource {
  readonly server: Server;
  readonly names: TemplateNames;
  readonly strategy: 'wal_log' | 'file_copy';
  readonly logger: Logger;
}

/** Makes sure the finished template exists: returns whether this call built it. */
export async function ensureTemplate(options: EnsureOptions): Promise<{ built: boolean }> {
  const { server, names } = options;
  const { rows } = await server.query<{ asked_at: Date; finished: boolean }>(
    'SELECT clock_timestamp() AS asked_at, EXISTS (SELECT FROM pg_database WHERE datname = $1 AND datistemplate AND NOT datallowconn) AS finished',
    [names.template],
  );
  const { asked_at: askedAt, finished } = rows[0]!;
  if (finished) return { built: false };
  const session = await openSession({ databaseUrl: server.url });
  try {
    return await withLock(session, buildLockKey(names.digest), { logger: options.logger, purpose: 'test template' }, async () => {
      const found = new Map((await listMarked(server, [names.template, names.build, names.failed])).map((d) => [d.name, d]));
      if (found.get(names.template)?.isTemplate) return { built: false };
      const failed = found.get(names.failed);
      if (failed !== undefined) {
        const at = Date.parse(failed.marker.createdAt);
        if (at >= askedAt.getTime() || (await serverNow(server)).getTime() - at < FAILURE_REMEMBERED_MS) throw errorOf(failed.marker);
        await dropMarked(server, failed, true);
      }
      // Left by a build that crashed (this lock was free, so nobody is building it): never cloned, dropped now.
      for (const name of [names.build, names.template]) {
        const leftover = found.get(name);
        if (leftover !== undefined) await dropMarked(server, leftover, true);
      }
      await build(options);
      return { built: true };
    });
  } finally {
    await session.close();
  }
}

async function build(options: EnsureOptions): Promise<void> {
  const { server, names, logger } = options;
  const started = performance.now();
  const { major } = await server.facts();
  await createMarked(
    server,
    names.build,
    { slipway: 'test-db', kind: 'build', digest: names.digest },
    `TEMPLATE template0${strategyClause(major, options.strategy)}`,
  );
  const url = urlOfDatabase(server.url, names.build);
  // Loaded only by the process that builds: the others clone and never need the runner.
  const { migrate, seed } = await import('../api.js');
  try {
    await migrate({
      databaseUrl: url,
      dir: options.dir,
      direction: 'up',
      logger,
      ...(options.table !== undefined && { table: options.table }),
    });
    if (options.seeds !== undefined) await seed({ databaseUrl: url, dir: options.seeds, logger });
  } catch (error) {
    await dropMarked(server, { name: names.build, isTemplate: false }, true);
    await recordFailure(server, names, error);
    throw error;
  }
  await settled(server, names.build);
  const createdAt = (await serverNow(server)).toISOString();
  const marker = markerText({ slipway: 'test-db', kind: 'template', digest: names.digest, createdAt });
  // One transaction: it is a template under its final name, or it is still the build.
  await server.query(
    `BEGIN; ALTER DATABASE ${quoteIdentifier(names.build)} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true;
     COMMENT ON DATABASE ${quoteIdentifier(names.build)} IS ${marker};
     ALTER DATABASE ${quoteIdentifier(names.build)} RENAME TO ${quoteIdentifier(names.template)}; COMMIT`,
  );
  logger.info(
    { template: names.template, durationMs: Math.round(performance.now() - started) },
    `test template ${names.template} built in ${Math.round(performance.now() - started)} ms`,
  );
  // A new template is the moment old ones stop being used: drop what is a day old, and the ready
  // clones of other templates that have waited 10 minutes (an edited migration's old pool).
  await pruneMarked(server, {
    olderThanMs: PRUNE_ON_BUILD_MS,
    keep: [names.template],
    keepDigest: names.digest,
    readyOlderThanMs: READY_STALE_ON_BUILD_MS,
  }).catch(() => {});
}

/**
 * Waits until the build's own sessions are gone: a closed connection's server backend ends a
 * moment later, and a database still in use cannot be renamed (55006). New ones are refused first.
 */
async function settled(server: Server, name: string): Promise<void> {
  await server.query(`ALTER DATABASE ${quoteIdentifier(name)} WITH ALLOW_CONNECTIONS false`);
  for (let attempt = 0; attempt < 400; attempt++) {
    const { rows } = await server.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_catalog.pg_stat_activity WHERE datname = $1', [
      name,
    ]);
    if (rows[0]!.n === 0) return;
    await sleep(25);
  }
}

/** An empty database that takes no connections, whose marker holds the error: what the waiting callers throw. */
async function recordFailure(server: Server, names: TemplateNames, error: unknown): Promise<void> {
  const e = error instanceof Error ? error : new Error(String(error));
  const recorded: NonNullable<Marker['error']> = {
    name: e.name,
    message: e.message,
    ...(e instanceof SlipwayError && { code: e.code }),
    ...(e instanceof MigrationFailedError && { version: e.version }),
  };
  await createMarked(
    server,
    names.failed,
    { slipway: 'test-db', kind: 'failed', digest: names.digest, error: recorded },
    'TEMPLATE template0 ALLOW_CONNECTIONS false',
  ).catch(() => {});
}

/** The recorded error as the builder threw it (its class, code and message). */
function errorOf(marker: Marker): Error {
  const e = marker.error ?? { name: 'Error', message: 'the test template build failed' };
  const message = `${e.message} (the template build failed in another process)`;
  switch (e.name) {
    case 'MigrationFailedError':
      return new MigrationFailedError(e.version ?? '', 'up', message);
    case 'SeedError':
      return new SeedError(message);
    case 'SourceError':
      return new SourceError(message);
    case 'IntegrityError':
      return new IntegrityError('unknown-state', e.version ?? '', message);
    default:
      return new SlipwayError(e.code ?? 'TEST_TEMPLATE', message);
  }
}
