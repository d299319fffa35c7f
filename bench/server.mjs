// One fresh embedded PostgreSQL for a benchmark run (the tests' throwaway server, with the
// benchmark's extra flags). Resolves to its URL and a stop() that removes it.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

export async function startServer(extraFlags) {
  const child = spawn(process.execPath, [path.join(root, 'test/support/embedded-server.mjs')], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, EMBEDDED_PG_EXTRA: extraFlags },
  });
  const url = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`embedded PostgreSQL did not start (exit ${code})`)));
  });
  return { url, stop: () => new Promise((resolve) => (child.once('exit', resolve), child.stdin.end())) };
}

/** A throwaway cluster of the system's PostgreSQL (Debian's, default settings; installed when missing). */
export async function startSystemServer() {
  const child = spawn(process.execPath, [path.join(root, 'test/support/system-server.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the system PostgreSQL did not start (exit ${code})`)));
  });
  const { url, major } = JSON.parse(line);
  return {
    url,
    version: String(major),
    stop: () => new Promise((resolve) => (child.once('exit', resolve), child.stdin.end())),
  };
}
