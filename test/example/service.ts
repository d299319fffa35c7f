import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { cleanEnv } from '../support/cli.js';
import type { Sandbox } from '../support/db.js';

export const EXAMPLE = path.resolve('examples/tracker');
export const SERVICE = path.join(EXAMPLE, 'dist/main.js');
export const MIGRATIONS = path.join(EXAMPLE, 'migrations');

/**
 * Compiles the example into examples/tracker/dist, as `make start` runs it. Test files run
 * in parallel and each compiles, so each writes to a staging folder of its own inside dist
 * and then renames every file into place: a replica another file is starting never reads a
 * half-written one.
 */
export async function buildExample(): Promise<void> {
  const dist = path.join(EXAMPLE, 'dist');
  const staging = path.join(dist, `.staging-${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(staging, { recursive: true });
    await promisify(execFile)(process.execPath, [
      path.resolve('node_modules/typescript/bin/tsc'),
      '-p',
      path.join(EXAMPLE, 'tsconfig.json'),
      '--outDir',
      staging,
    ]);
    for (const file of readdirSync(staging)) renameSync(path.join(staging, file), path.join(dist, file));
  } catch (error) {
    const { stdout } = error as { stdout?: string };
    throw new Error(`the example does not compile: ${stdout || String(error)}`);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** The environment that points a replica at a sandbox: its schema, bookkeeping table and lock key, any free port. */
export function serviceEnv(box: Sandbox, extra: Record<string, string> = {}): Record<string, string> {
  return { DATABASE_URL: box.url, SLIPWAY_TABLE: box.table, SLIPWAY_LOCK_KEY: box.lockKey.toString(), PORT: '0', ...extra };
}

export type LogLine = Record<string, unknown> & { msg: string };

/** One replica of the compiled service, as a child process. */
export interface Service {
  readonly child: ChildProcess;
  /** Its log lines so far, parsed (each stdout line must be JSON). */
  lines(): LogLine[];
  /** What it wrote to stderr. */
  stderr(): string;
  /** Resolves with its http://127.0.0.1:port once it logs "listening on"; rejects if it exits first. */
  readonly listening: Promise<string>;
  /** Resolves with its exit code. */
  readonly exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();

/** Kills (SIGKILL) every replica still running; call it after each test, before dropping its sandbox. */
export async function killServices(): Promise<void> {
  await Promise.all(
    [...running].map((child) => {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      return gone;
    }),
  );
}

export function spawnService(env: Record<string, string>): Service {
  const child = spawn(process.execPath, [SERVICE], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  const lines: LogLine[] = [];
  let onListening: (url: string) => void;
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      running.delete(child);
      resolve(code);
    });
  });
  const listening = new Promise<string>((resolve, reject) => {
    onListening = resolve;
    void exited.then((code) => reject(new Error(`the service exited with code ${code} before listening:\n${stdout}${stderr}`)));
  });
  listening.catch(() => {}); // a test that expects the exit awaits `exited` instead
  child.stdout!.on('data', (chunk) => {
    stdout += chunk;
    const complete = stdout.split('\n');
    for (const line of complete.slice(lines.length, -1)) {
      const parsed = JSON.parse(line) as LogLine;
      lines.push(parsed);
      const url = /^listening on (http:\/\/\S+)$/.exec(parsed.msg)?.[1];
      if (url) onListening(url);
    }
  });
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  return { child, lines: () => lines, stderr: () => stderr, listening, exited };
}

export async function startService(env: Record<string, string>): Promise<Service & { url: string }> {
  const service = spawnService(env);
  return { ...service, url: await service.listening };
}

export interface Reply {
  status: number;
  headers: Headers;
  /** The parsed JSON: of many shapes, which the tests assert on. */
  body: any;
}

/** One HTTP request with a JSON body (when given), its reply parsed as JSON. */
export async function call(
  base: string,
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const response = await fetch(base + url, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : null };
}

/** Polls `check` every 25 ms until it returns true, failing after `ms`. */
export async function waitUntil(check: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
