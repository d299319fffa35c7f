// The servers of a benchmark run, each a throwaway PostgreSQL in a process of its own (the tests'
// scripts in test/support): resolves to its URL and a stop() that removes it.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** Starts test/support/<script>; `urlOf` reads the URL from the line it prints once the server is up. */
async function spawnServer(script, what, env, urlOf) {
  const child = spawn(process.execPath, [path.join(root, 'test/support', script)], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`${what} did not start (exit ${code})`)));
  });
  return { url: urlOf(line), stop: () => new Promise((resolve) => (child.once('exit', resolve), child.stdin.end())) };
}

/** One fresh embedded PostgreSQL, with the benchmark's extra flags. */
export function startServer(extraFlags) {
  return spawnServer('embedded-server.mjs', 'embedded PostgreSQL', { EMBEDDED_PG_EXTRA: extraFlags }, (line) => line);
}

/** A cluster of the system's PostgreSQL (Debian's, default settings; installed when missing). */
export function startSystemServer() {
  return spawnServer('system-server.mjs', 'the system PostgreSQL', {}, (line) => JSON.parse(line).url);
}
