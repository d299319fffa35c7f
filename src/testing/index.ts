/**
 * `slipway/testing`: a migrated, seeded database for every test, cloned from a template.
 *
 * The first call in a process finds (or builds, once per server) the template for the current
 * migrations and seed files, then every call clones it. Ready clones wait on the server, shared
 * by every process (the first test of each claims one at once), and a few more in each process;
 * both are refilled in the background, so a test usually gets one at once.
 *
 * @example
 * import { testDatabase } from 'slipway/testing';
 * await using db = await testDatabase({ dir: './migrations', seeds: './seeds' });
 * const pool = db.pool();
 * await pool.query('SELECT count(*) FROM issues');
 * // dropped at the end of the scope (or: await db.drop())
 */
import pg from 'pg';
import path from 'node:path';
import type { Logger } from 'pino';
import { connectionTarget } from '../db/session.js';
import { toSlipwayError } from '../db/errors.js';
import { UsageError } from '../errors.js';
import { createLogger } from '../log.js';
import { Clones } from './clones.js';
import { closeServers, dropMarked, listMarked, pruneMarked, serverOf, urlOfDatabase, type CloneStrategy, type Server } from './server.js';
import { contentsDigest, digestOn, ensureTemplate, templateNames, type TemplateNames } from './template.js';

export type { CloneStrategy } from './server.js';

export interface TestDatabaseOptions {
  /** The migrations folder; default `./migrations`. */
  readonly dir?: string;
  /** A folder of seed files loaded into the template after the migrations (see `seed`). */
  readonly seeds?: string;
  /** The server, as a connection string to a database that exists on it; default `DATABASE_URL`. The role needs CREATEDB. */
  readonly databaseUrl?: string;
  /** The bookkeeping table, as for `migrate`. */
  readonly table?: string;
  /** How many clones to keep ready in this process; default 2, 0 for none (and then no shared ones either, unless `ready` says). */
  readonly warm?: number;
  /**
   * How many ready clones of the template to keep on the server, shared by every process that
   * uses it (a test whose process has none ready claims one); default 16 (0 when `warm` is 0),
   * 0 for none. Give at least your test runner's worker count.
   */
  readonly ready?: number;
  /**
   * How PostgreSQL 15+ copies the template. Default `wal_log`, the faster for small databases
   * in bench/testdb.mjs (`file_copy` checkpoints on every copy). Ignored before PostgreSQL 15.
   */
  readonly strategy?: CloneStrategy;
  /** Where the template build logs; default: slipway's logger at level warn. */
  readonly logger?: Logger;
}

/** A fresh database of its own, with every migration applied and the seeds loaded. */
export interface TestDatabase extends AsyncDisposable {
  /** The database's name. */
  readonly name: string;
  /** Its connection string (the given one with the database name replaced). */
  readonly url: string;
  /** The template it was cloned from. */
  readonly template: string;
  /** True when this call built the template (false: it existed, or another process built it). */
  readonly templateBuilt: boolean;
  /** A pool on the database, made on first call (the same one after), ended by `drop`. */
  pool(config?: Omit<pg.PoolConfig, 'connectionString'>): pg.Pool;
  /** Ends the pool and drops the database (its other sessions are ended too). Safe to call twice. */
  drop(): Promise<void>;
}

/** One template's clones in this process. */
interface Source {
  readonly server: Server;
  readonly names: TemplateNames;
  readonly clones: Clones;
  readonly built: boolean;
}

const sources = new Map<string, Promise<Source>>();

/** The server's shared pool of ready clones per template, unless `ready` says otherwise. */
const DEFAULT_READY = 16;

function serverUrl(databaseUrl: string | undefined): string {
  const url = databaseUrl ?? process.env.DATABASE_URL;
  if (url === undefined || url.trim() === '') {
    throw new UsageError('no server for test databases: pass databaseUrl or set DATABASE_URL (slipway db start prints a local one)');
  }
  return url;
}

async function guarded<T>(url: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw toSlipwayError(error, connectionTarget({ databaseUrl: url }));
  }
}

function checkOptions(options: TestDatabaseOptions): void {
  if (options.warm !== undefined && !(Number.isInteger(options.warm) && options.warm >= 0 && options.warm <= 64)) {
    throw new UsageError(`invalid warm ${JSON.stringify(options.warm)}: give how many clones to keep ready, 0 to 64`);
  }
  if (options.ready !== undefined && !(Number.isInteger(options.ready) && options.ready >= 0 && options.ready <= 256)) {
    throw new UsageError(`invalid ready ${JSON.stringify(options.ready)}: give how many clones to keep ready on the server, 0 to 256`);
  }
  if (options.strategy !== undefined && options.strategy !== 'wal_log' && options.strategy !== 'file_copy') {
    throw new UsageError(`invalid strategy ${JSON.stringify(options.strategy)}: give 'wal_log' or 'file_copy'`);
  }
}

/** The template for these options, found or built once per process; a failure is not kept, so the next call tries again. */
function sourceFor(options: TestDatabaseOptions, ownedByProcess: boolean, waitForFill = false): Promise<Source> {
  checkOptions(options);
  const url = serverUrl(options.databaseUrl);
  const dir = path.resolve(options.dir ?? './migrations');
  const seeds = options.seeds === undefined ? undefined : path.resolve(options.seeds);
  const warm = options.warm ?? 2;
  const ready = options.ready ?? (warm === 0 ? 0 : DEFAULT_READY);
  const key = JSON.stringify([url, dir, seeds, options.table, warm, ready, options.strategy, ownedByProcess]);
  let source = sources.get(key);
  if (source === undefined) {
    source = guarded(url, async () => {
      const server = serverOf(url);
      // The connection is opened while the files are read and hashed.
      const facts = server.facts();
      let contents: string;
      try {
        contents = contentsDigest({ dir, seeds, table: options.table });
      } catch (error) {
        facts.catch(() => {});
        throw error;
      }
      const { major } = await facts;
      const names = templateNames(digestOn(contents, major));
      const strategy = options.strategy ?? 'wal_log';
      const clones = new Clones({ server, names, major, strategy, warm, ready, ownedByProcess });
      // A ready clone is a copy of the finished template: when one waits, the first test takes it
      // with one statement, and the template is known to exist.
      const claimed = ownedByProcess && ready > 0 ? await clones.claim() : undefined;
      let built = false;
      if (claimed === undefined) {
        const logger = options.logger ?? createLogger({ level: 'warn' });
        ({ built } = await ensureTemplate({ server, names, dir, seeds, table: options.table, strategy, logger }));
      } else {
        clones.hold(claimed);
      }
      // Clones left by test processes of this host that are gone (killed, crashed) go, whatever their age.
      if (ownedByProcess) clones.track(pruneMarked(server, { olderThanMs: Infinity, keep: [names.template] }));
      // The server's shared pool, topped up (by one process: the others find the fill lock taken).
      if (ready > 0) await (waitForFill ? clones.fill() : (clones.fill().catch(() => {}), undefined));
      return { server, names, built, clones };
    });
    sources.set(key, source);
    source.catch(() => sources.delete(key));
  }
  return source;
}

/**
 * A fresh database with the migrations of `dir` applied and the seed files of `seeds` loaded,
 * cloned from a template built once per server (see the module's comment).
 *
 * @example
 * const db = await testDatabase({ dir: './migrations' });
 * try {
 *   const { rows } = await db.pool().query('SELECT 1');
 * } finally {
 *   await db.drop();
 * }
 */
export async function testDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  return openClone(await sourceFor(options, true));
}

/** For the CLI: a clone that outlives this process (dropped by `drop`, or by `prune` once old). */
export async function testDatabaseForScript(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  return openClone(await sourceFor({ ...options, warm: 0, ready: 0 }, false));
}

async function openClone(source: Source): Promise<TestDatabase> {
  const name = await guarded(source.server.url, () => source.clones.take());
  const url = urlOfDatabase(source.server.url, name);
  let pool: pg.Pool | undefined;
  let dropped: Promise<void> | undefined;
  const drop = () =>
    (dropped ??= guarded(source.server.url, async () => {
      await pool?.end().catch(() => {});
      // serverOf, not source.server: closeTestDatabases may have ended that pool while this database was in use.
      await dropMarked(serverOf(source.server.url), { name, isTemplate: false }, true);
    }));
  return {
    name,
    url,
    template: source.names.template,
    templateBuilt: source.built,
    pool(config = {}) {
      if (dropped !== undefined) throw new UsageError(`test database ${name} was dropped: take a new one with testDatabase()`);
      if (pool === undefined) {
        pool = new pg.Pool({ ...config, connectionString: url });
        pool.on('error', () => {});
      }
      return pool;
    },
    drop,
    [Symbol.asyncDispose]: drop,
  };
}

/**
 * Builds the template now, if it is missing, and fills the server's shared pool with `ready`
 * clones (default 16), without taking one: for a test runner's global setup, so the workers that
 * start next find the template built and the first test of each claims a clone at once.
 *
 * @example
 * // vitest globalSetup
 * export default async () => { await prepareTemplate({ dir: './migrations', seeds: './seeds' }); };
 */
export async function prepareTemplate(options: TestDatabaseOptions = {}): Promise<{ template: string; built: boolean }> {
  const source = await sourceFor({ ...options, warm: 0, ready: options.ready ?? DEFAULT_READY }, false, true);
  return { template: source.names.template, built: source.built };
}

/**
 * Drops one test database, by name or connection string; refuses a database that slipway did
 * not clone (no marker in its comment), whatever its name.
 */
export async function dropTestDatabase(nameOrUrl: string, options: Pick<TestDatabaseOptions, 'databaseUrl'> = {}): Promise<void> {
  const url = serverUrl(options.databaseUrl);
  const name = nameOrUrl.includes('://') ? decodeURIComponent(new URL(nameOrUrl).pathname.slice(1)) : nameOrUrl;
  await guarded(url, async () => {
    const server = serverOf(url);
    const [marked] = await listMarked(server, [name]);
    if (marked === undefined || marked.marker.kind !== 'clone') {
      const exists = (await server.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rows.length > 0;
      throw new UsageError(
        exists
          ? `database "${name}" is not a test database slipway cloned (no slipway marker in its comment): not dropped`
          : `no database "${name}" on the server: nothing dropped`,
      );
    }
    await dropMarked(server, marked, true);
  });
}

/**
 * Drops the databases slipway made for tests (templates, clones, ready clones, failed builds'
 * records) that are older than `olderThan` milliseconds (default one hour), the clones of test
 * processes on this host that have exited, and ready clones whose template is gone. Goes by
 * slipway's marker, never by name alone; a database in use is left alone. Returns the names dropped.
 */
export async function pruneTestDatabases(
  options: Pick<TestDatabaseOptions, 'databaseUrl'> & { readonly olderThan?: number } = {},
): Promise<string[]> {
  const url = serverUrl(options.databaseUrl);
  const olderThanMs = options.olderThan ?? 3600_000;
  if (!(olderThanMs >= 0)) throw new UsageError(`invalid olderThan ${JSON.stringify(options.olderThan)}: give milliseconds, 0 or more`);
  return guarded(url, () => pruneMarked(serverOf(url), { olderThanMs }));
}

/**
 * Drops this process's own ready clones, waits for a fill of the server's pool under way, and
 * closes its admin connections (e.g. in a global teardown or afterAll). The server's ready
 * clones stay for the next process (pruned by age, or once their template is gone).
 */
export async function closeTestDatabases(): Promise<void> {
  const all = [...sources.values()];
  sources.clear();
  await Promise.all(
    all.map((s) =>
      s.then(
        (source) => source.clones.close(),
        () => {},
      ),
    ),
  );
  await closeServers();
}
