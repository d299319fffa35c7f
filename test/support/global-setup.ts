import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

/**
 * Uses DATABASE_URL when set; otherwise starts ONE throwaway PostgreSQL for the whole
 * run (test/support/embedded-server.mjs: temp dir, free port) and removes it at the end,
 * also when the run fails. A server that cannot start fails the run: nothing skips.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  // Every temporary file of the run (tests, the CLI they start, the servers) goes in one folder,
  // removed at the end: no test leaves anything behind. Others' users (postgres) must reach in.
  const temp = mkdtempSync(path.join(os.tmpdir(), 'slipway-test-run-'));
  chmodSync(temp, 0o1777);
  process.env.TMPDIR = temp;
  const removeTemp = () => rmSync(temp, { recursive: true, force: true });
  if (process.env.DATABASE_URL) {
    project.provide('databaseUrl', process.env.DATABASE_URL);
    return async () => removeTemp();
  }
  const server = spawn(process.execPath, [path.resolve('test/support/embedded-server.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(server, 'exit');
  const firstLine = new Promise<string>((resolve, reject) => {
    createInterface({ input: server.stdout! }).once('line', resolve);
    void exited.then(([code]) => reject(new Error(`the embedded PostgreSQL for the tests did not start (exit code ${code})`)));
  });
  const url = await firstLine;
  project.provide('databaseUrl', url);
  process.env.DATABASE_URL = url;
  return async () => {
    server.stdin!.end();
    await exited;
    removeTemp();
  };
}
