import { execFile, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../src/db/embedded.js';

const run = promisify(execFile);
const ROOT = '/usr/lib/postgresql';

/** The newest major whose server and pg_dump the system's packages put under /usr/lib/postgresql/<major>/bin. */
function installedMajor(): number | null {
  if (!existsSync(ROOT)) return null;
  const majors = readdirSync(ROOT)
    .map(Number)
    .filter((major) => ['initdb', 'pg_ctl', 'postgres', 'pg_dump'].every((b) => existsSync(path.join(ROOT, String(major), 'bin', b))));
  return majors.length === 0 ? null : Math.max(...majors);
}

/**
 * The system's PostgreSQL server and client programs (Debian's `postgresql` package, which the
 * embedded server lacks: it has no pg_dump), installed from the system's packages when missing
 * (CI runs as root with Debian's repositories reachable). Throws when they cannot be had: the
 * tests that need them fail, they never skip.
 */
export function systemPostgres(): { major: number; bin: string } {
  let major = installedMajor();
  if (major === null) {
    const install = () =>
      spawnSync('apt-get', ['install', '-y', '-q', 'postgresql'], {
        encoding: 'utf8',
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      });
    let result = install();
    if (result.status !== 0) {
      spawnSync('apt-get', ['update', '-q'], { encoding: 'utf8' });
      result = install();
    }
    major = installedMajor();
    if (major === null)
      throw new Error(
        `the system's PostgreSQL (server and pg_dump) is needed and could not be installed (apt-get install -y postgresql): ${result.stderr || result.error}`,
      );
  }
  return { major, bin: path.join(ROOT, String(major), 'bin') };
}

export interface SystemServer {
  /** Its major version (15 on Debian 12). */
  readonly major: number;
  /** Connection string to its `postgres` database, as the superuser `postgres` (trust authentication). */
  readonly url: string;
  /** `pg_dump -s` of a database of this server, with the same major as the server. */
  pgDumpSchema(databaseUrl: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A throwaway cluster of the system's PostgreSQL: initdb into a temp folder, pg_ctl start on a free
 * port, 127.0.0.1 only. Postgres refuses to run as root, so as root its programs run as the
 * `postgres` user the package created. The folder lies in the test run's temp folder: should the
 * run die before stop(), the folder is removed with it, and the server, finding its lock file gone,
 * shuts itself down within a minute.
 */
export async function startSystemServer(): Promise<SystemServer> {
  const { major, bin } = systemPostgres();
  const asRoot = process.getuid?.() === 0;
  const ids = asRoot ? { uid: Number(idOf('-u')), gid: Number(idOf('-g')) } : {};
  const base = mkdtempSync(path.join(os.tmpdir(), 'slipway-system-pg-'));
  if (asRoot) chownSync(base, ids.uid!, ids.gid!);
  const dataDir = path.join(base, 'data');
  const as = (program: string, args: string[]) =>
    run(path.join(bin, program), args, { ...ids, cwd: base, env: { ...process.env, LC_ALL: 'C' } });
  const port = await freePort();
  await as('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale']);
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off -c max_connections=50`;
  await as('pg_ctl', ['-D', dataDir, '-l', path.join(base, 'server.log'), '-w', '-o', options, 'start']);
  return {
    major,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async pgDumpSchema(databaseUrl) {
      return (await run(path.join(bin, 'pg_dump'), ['--schema-only', databaseUrl], { maxBuffer: 64 << 20 })).stdout;
    },
    async stop() {
      await as('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop']).catch(() => {});
      rmSync(base, { recursive: true, force: true });
    },
  };
}

function idOf(flag: '-u' | '-g'): string {
  const result = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error('running as root, and there is no postgres user to run the system PostgreSQL as');
  return result.stdout.trim();
}
