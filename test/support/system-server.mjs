// Runs a throwaway cluster of the system's PostgreSQL (Debian's `postgresql` package: 15 on
// Debian 12) in its own process, for the tests and benchmarks that need pg_dump, which the embedded
// server lacks. Installs the package when missing (CI runs as root with Debian's repositories
// reachable); fails, never skips, when it cannot. initdb into a temp folder, pg_ctl start on a free
// port, 127.0.0.1 only; as root its programs run as the `postgres` user the package created
// (postgres refuses root). Prints one JSON line {url, major, bin} once the server is up; stops it
// and removes the folder when stdin closes (the runner ended, even by crashing) or on SIGTERM
// (that life is server-process.mjs's, shared with embedded-server.mjs).
import { execFile, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, runServer } from './server-process.mjs';

const run = promisify(execFile);
const ROOT = '/usr/lib/postgresql';

/** The newest major whose server and pg_dump the system's packages put under /usr/lib/postgresql/<major>/bin. */
function installedMajor() {
  if (!existsSync(ROOT)) return null;
  const majors = readdirSync(ROOT)
    .map(Number)
    .filter((major) => ['initdb', 'pg_ctl', 'postgres', 'pg_dump'].every((b) => existsSync(path.join(ROOT, String(major), 'bin', b))));
  return majors.length === 0 ? null : Math.max(...majors);
}

function systemPostgres() {
  let major = installedMajor();
  if (major === null) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = () => spawnSync('apt-get', ['install', '-y', '-q', 'postgresql'], { encoding: 'utf8', env });
    let result = install();
    if (result.status !== 0) {
      spawnSync('apt-get', ['update', '-q'], { encoding: 'utf8' });
      result = install();
    }
    major = installedMajor();
    const why = result.stderr || result.error;
    if (major === null) throw new Error(`the system's PostgreSQL (server, pg_dump) is missing (apt-get install postgresql failed): ${why}`);
  }
  return { major, bin: path.join(ROOT, String(major), 'bin') };
}

function idOf(flag) {
  const result = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error('running as root, and there is no postgres user to run the system PostgreSQL as');
  return Number(result.stdout.trim());
}

const base = mkdtempSync(path.join(os.tmpdir(), 'slipway-system-pg-'));
const dataDir = path.join(base, 'data');
let as = null;
await runServer({
  name: 'the system PostgreSQL',
  folder: base,
  start: async () => {
    const { major, bin } = systemPostgres();
    const ids = process.getuid?.() === 0 ? { uid: idOf('-u'), gid: idOf('-g') } : {};
    if (ids.uid !== undefined) chownSync(base, ids.uid, ids.gid);
    as = (program, args) => run(path.join(bin, program), args, { ...ids, cwd: base, env: { ...process.env, LC_ALL: 'C' } });
    const port = await freePort();
    await as('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale']);
    const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off -c max_connections=100`;
    await as('pg_ctl', ['-D', dataDir, '-l', path.join(base, 'server.log'), '-w', '-o', options, 'start']);
    return JSON.stringify({ url: `postgres://postgres@127.0.0.1:${port}/postgres`, major, bin });
  },
  stop: async () => {
    if (as !== null) await as('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
  },
  stopWhenStartFails: true,
});
