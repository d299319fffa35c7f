import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

export interface SystemServer {
  /** Its major version (15 on Debian 12). */
  readonly major: number;
  /** Connection string to its `postgres` database, as the superuser `postgres` (trust authentication). */
  readonly url: string;
  /** `pg_dump --schema-only` of a database of this server, by the pg_dump of the server's own major. */
  pgDumpSchema(databaseUrl: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A throwaway cluster of the system's PostgreSQL with its pg_dump (test/support/system-server.mjs,
 * in a process of its own: installed when missing, stopped and removed when this process ends).
 */
export async function startSystemServer(): Promise<SystemServer> {
  const child = spawn(process.execPath, [path.resolve('test/support/system-server.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    void exited.then(([code]) => reject(new Error(`the system PostgreSQL did not start (exit code ${code})`)));
  });
  const { url, major, bin } = JSON.parse(line) as { url: string; major: number; bin: string };
  return {
    major,
    url,
    async pgDumpSchema(databaseUrl) {
      return (await promisify(execFile)(path.join(bin, 'pg_dump'), ['--schema-only', databaseUrl], { maxBuffer: 64 << 20 })).stdout;
    },
    async stop() {
      child.stdin!.end();
      await exited;
    },
  };
}
