import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/db/embedded.js';

const CANDIDATES = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer', '/usr/local/bin/pgbouncer'];

function findBinary(): string | null {
  const onPath = spawnSync('sh', ['-c', 'command -v pgbouncer'], { encoding: 'utf8' }).stdout.trim();
  return onPath || CANDIDATES.find((p) => existsSync(p)) || null;
}

/**
 * The PgBouncer binary, installed from the system's packages when missing (CI runs as root
 * with Debian's repositories reachable). Throws when it cannot be had: the pooler tests
 * fail, they never skip.
 */
export function pgbouncerBinary(): string {
  let found = findBinary();
  if (found !== null) return found;
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '-q', 'pgbouncer'], {
      encoding: 'utf8',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  let result = install();
  if (result.status !== 0) {
    spawnSync('apt-get', ['update', '-q'], { encoding: 'utf8' });
    result = install();
  }
  found = findBinary();
  if (found === null)
    throw new Error(
      `PgBouncer is needed by the pooler tests and could not be installed (apt-get install -y pgbouncer): ${result.stderr || result.error}`,
    );
  return found;
}

/**
 * Waits for PgBouncer's "listening on" log line. Not by connecting: a probe connection counts
 * against max_client_conn until PgBouncer notices it closed, which under load can be after the
 * test's own first connection arrives (and is refused).
 */
async function waitForPort(port: number, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  const listening = new RegExp(`listening on 127\\.0\\.0\\.1:${port}\\b`);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if (existsSync(logFile) && listening.test(readFileSync(logFile, 'utf8'))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
  throw new Error(`PgBouncer did not start (exit code ${child.exitCode}): ${log.slice(-1500)}`);
}

export interface Pooler {
  /** A connection string to `postgres` through the pooler (any user name is accepted). */
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Starts a PgBouncer in `mode` in front of the server of `databaseUrl`, on a free port, with a
 * config of its own in a temp folder. As root it runs as the `postgres` user (PgBouncer refuses root).
 */
export async function startPgbouncer(
  databaseUrl: string,
  mode: 'transaction' | 'session',
  poolSize: number,
  settings: { maxClientConn?: number } = {},
): Promise<Pooler> {
  const binary = pgbouncerBinary();
  const server = new URL(databaseUrl);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-pgbouncer-'));
  chmodSync(dir, 0o777);
  const port = await freePort();
  const logFile = path.join(dir, 'pgbouncer.log');
  const config = path.join(dir, 'pgbouncer.ini');
  const dbname = server.pathname.slice(1) || 'postgres';
  writeFileSync(
    config,
    [
      '[databases]',
      `* = host=${server.hostname} port=${server.port} dbname=${dbname} user=${decodeURIComponent(server.username)} password=${decodeURIComponent(server.password)}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = any',
      `pool_mode = ${mode}`,
      `default_pool_size = ${poolSize}`,
      `max_client_conn = ${settings.maxClientConn ?? 500}`,
      `logfile = ${logFile}`,
      'ignore_startup_parameters = extra_float_digits,options',
      '',
    ].join('\n'),
  );
  chmodSync(config, 0o644);
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? (spawnSync('id', ['-u', 'postgres']).status === 0 ? 'postgres' : 'nobody') : null;
  const child = spawn(binary, [...(user ? ['-u', user] : []), config], { stdio: 'ignore' });
  await waitForPort(port, child, logFile);
  return {
    url: `postgres://slipway@127.0.0.1:${port}/${dbname}`,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGINT');
        await once(child, 'exit');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
