import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

export const CLI = path.resolve('dist/cli/main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment for a CLI subprocess: no DATABASE_URL, CI or SLIPWAY_* unless the test gives them. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  // CI changes what a run without a connection string does: a test that wants it sets it.
  for (const key of Object.keys(env)) if (key === 'DATABASE_URL' || key === 'CI' || key.startsWith('SLIPWAY_')) delete env[key];
  // The CLI's parse cache goes to a folder of this test process, not the user's cache.
  return { ...env, SLIPWAY_CACHE_DIR: path.join(os.tmpdir(), `slipway-test-parse-cache-${process.pid}`), ...extra };
}

/** Starts the built CLI; `done` resolves when it exits. */
export function startCli(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): { child: ChildProcess; done: Promise<CliResult>; output: () => string } {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: cleanEnv(options.env),
    cwd: options.cwd ?? process.cwd(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done, output: () => stdout + stderr };
}

export function runCli(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<CliResult> {
  return startCli(args, options).done;
}
