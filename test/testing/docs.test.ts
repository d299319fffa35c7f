import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanEnv } from '../support/cli.js';
import { databaseUrl } from '../support/db.js';

/**
 * The examples of docs/testing.md, run as a project would: each code block that starts with a
 * file name (`// test/db.ts`, `-- migrations/…`, `# seeds/…`) is written to that file in a new
 * project whose node_modules links slipway (this package, built), vitest and pg.
 */
const REPO = path.resolve('.');
const doc = readFileSync(path.join(REPO, 'docs/testing.md'), 'utf8');
const work = mkdtempSync(path.join(os.tmpdir(), 'slipway-docs-testing-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Every block of the doc that names its file: path → text. */
const files = new Map<string, string>();
for (const m of doc.matchAll(/```\w+\n([\s\S]*?)```/g)) {
  const [first, ...rest] = m[1]!.split('\n');
  const name = /^(?:\/\/|--|#) ([\w./-]+\.\w+)$/.exec(first!)?.[1];
  if (name !== undefined) files.set(name, name.endsWith('.sql') || name.endsWith('.yaml') ? rest.join('\n') : m[1]!);
}

function project(name: string, paths: readonly string[]): string {
  const dir = path.join(work, name);
  for (const p of paths) {
    const text = files.get(p);
    if (text === undefined) throw new Error(`docs/testing.md has no block for ${p}`);
    mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    writeFileSync(path.join(dir, p), text);
  }
  mkdirSync(path.join(dir, 'node_modules'), { recursive: true });
  symlinkSync(REPO, path.join(dir, 'node_modules/slipway'));
  for (const dep of ['vitest', 'pg']) symlinkSync(path.join(REPO, 'node_modules', dep), path.join(dir, 'node_modules', dep));
  return dir;
}

async function vitest(cwd: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [path.join(REPO, 'node_modules/vitest/vitest.mjs'), 'run'], {
      cwd,
      env: cleanEnv({ DATABASE_URL: databaseUrl(), NO_COLOR: '1' }),
      maxBuffer: 16 << 20,
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, output: `${e.stdout ?? ''}${e.stderr ?? String(error)}` };
  }
}

const DATA = ['migrations/001_create_workspaces.up.sql', 'seeds/01_workspaces.yaml'];

describe('docs/testing.md', () => {
  it('the vitest setup (globalSetup and a per-test fixture) runs and passes', async () => {
    const dir = project('vitest', ['vitest.config.ts', 'test/global-setup.ts', 'test/db.ts', 'test/workspaces.test.ts', ...DATA]);
    const run = await vitest(dir);
    expect(run.output).toMatch(/Tests\s+2 passed \(2\)/);
    expect(run.code).toBe(0);
  });

  it("the jest setup runs and passes (under vitest's jest-compatible globals: jest is not a dependency)", async () => {
    const dir = project('jest', ['jest.config.mjs', 'test/jest-global-setup.mjs', 'test/workspaces.jest.mjs', ...DATA]);
    // jest's config read as jest reads it: the same globalSetup module, test files and environment.
    writeFileSync(
      path.join(dir, 'vitest.config.mjs'),
      `import jest from './jest.config.mjs';
export default { test: { globals: true, environment: jest.testEnvironment, include: jest.testMatch, globalSetup: [jest.globalSetup] } };\n`,
    );
    const run = await vitest(dir);
    expect(run.output).toMatch(/Tests\s+2 passed \(2\)/);
    expect(run.code).toBe(0);
  });
});
