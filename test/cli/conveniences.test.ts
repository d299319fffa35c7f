/**
 * What users of the peers expect from the command line: durations with units, `status
 * --exit-code` for CI, `redo`, `.env` and `--env-file`, and usage errors (exit 2) for a version
 * that names no migration.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, cleanEnv, runCli } from '../support/cli.js';
import { sandbox, type Sandbox } from '../support/db.js';
import { migrationsDir, tempFolder } from '../support/files.js';

let box: Sandbox | undefined;
afterEach(async () => {
  await box?.cleanup();
  box = undefined;
});

const TWO = {
  '001_create_users.up.sql': 'CREATE TABLE users (id int);\n',
  '001_create_users.down.sql': 'DROP TABLE users;\n',
  '002_add_email.up.sql': 'ALTER TABLE users ADD COLUMN email text;\n',
  '002_add_email.down.sql': 'ALTER TABLE users DROP COLUMN email;\n',
};

/** `program args` (no table or lock-key flags added), with this node first on the PATH (for the bin's #!/usr/bin/env node). */
async function run(program: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = cleanEnv();
  env.PATH = `${path.dirname(process.execPath)}${path.delimiter}${env.PATH}`;
  const child = spawn(program, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

function cli(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
  return runCli([...args, '--table', box!.table, '--lock-key', box!.lockKey.toString(), '--log-format', 'json'], options);
}

describe('the command line', () => {
  it('takes durations with their unit, and refuses one it cannot read with exit 2', async () => {
    box = await sandbox();
    const dir = migrationsDir(TWO);
    expect((await cli(['up', '--database-url', box.url, '--dir', dir, '--lock-timeout', '500ms', '--wait', '1m'])).code).toBe(0);
    const bad = await cli(['up', '--database-url', box.url, '--dir', dir, '--lock-timeout', '5 parsecs']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--lock-timeout.*give seconds \(5, 1\.5\) or a duration with its unit \(500ms, 5s, 2m, 1h\)/);
  });

  it('status --exit-code exits 1 while a migration is pending, 0 once all are applied', async () => {
    box = await sandbox();
    const dir = migrationsDir(TWO);
    await cli(['up', '--database-url', box.url, '--dir', dir, '--to', '001_create_users']);
    const pending = await cli(['status', '--exit-code', '--database-url', box.url, '--dir', dir]);
    expect([pending.code, pending.stdout]).toEqual([1, expect.stringMatching(/002_add_email\s+pending/)]);
    expect((await cli(['status', '--database-url', box.url, '--dir', dir])).code).toBe(0);
    await cli(['up', '--database-url', box.url, '--dir', dir]);
    expect((await cli(['status', '--exit-code', '--database-url', box.url, '--dir', dir])).code).toBe(0);
  });

  it('redo reverts the newest migration and applies it again, leaving the rest alone', async () => {
    box = await sandbox();
    const dir = migrationsDir(TWO);
    await cli(['up', '--database-url', box.url, '--dir', dir]);
    const redo = await cli(['redo', '--database-url', box.url, '--dir', dir]);
    expect(redo.code, redo.stderr).toBe(0);
    const messages = redo.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => String(JSON.parse(l).msg));
    expect(messages.filter((m) => /^(reverted|applied) /.test(m))).toEqual([
      expect.stringMatching(/^reverted 002_add_email/),
      expect.stringMatching(/^applied 002_add_email/),
    ]);
    expect((await box.admin.query(`SELECT version FROM ${box.table} ORDER BY 1`)).rows.map((r) => r.version)).toEqual([
      '001_create_users',
      '002_add_email',
    ]);
  });

  it('a version that names no migration is a usage error (exit 2): up --to, down --to, resolve', async () => {
    box = await sandbox();
    const dir = migrationsDir(TWO);
    for (const args of [
      ['up', '--to', '003_nope'],
      ['down', '--to', '003_nope'],
      ['resolve', '003_nope', '--pending'],
    ]) {
      const result = await cli([...args, '--database-url', box.url, '--dir', dir]);
      expect([args, result.code]).toEqual([args, 2]);
      expect(result.stderr).toMatch(/003_nope/);
    }
  });

  it('reads DATABASE_URL from .env in the working directory, or from --env-file; the environment wins', async () => {
    box = await sandbox();
    const project = tempFolder({ '.env': `# the app's settings\nDATABASE_URL=${box.url}\n`, 'test.env': `DATABASE_URL="${box.url}"\n` });
    writeFileSync(path.join(project, 'placeholder'), '');
    const dir = migrationsDir(TWO);
    const fromDotEnv = await cli(['status', '--dir', dir], { cwd: project });
    expect([fromDotEnv.code, fromDotEnv.stderr]).toEqual([0, '']);
    const fromFile = await cli(['status', '--dir', dir, '--env-file', path.join(project, 'test.env')]);
    expect([fromFile.code, fromFile.stderr]).toEqual([0, '']);
    // A missing one is slipway's usage error where Node lets slipway see it (node -- main.js …)…
    const nope = path.join(project, 'nope.env');
    const missing = await run(process.execPath, ['--', CLI, 'status', '--dir', dir, '--env-file', nope]);
    expect(missing).toEqual({ code: 2, stdout: '', stderr: `slipway: --env-file ${nope}: no such file\n` });
    // …while the bin as npm links it (#!/usr/bin/env node) is stopped by Node 20 itself, which checks
    // an --env-file anywhere in its arguments (docs/cli.md says so).
    const linked = await run(CLI, ['status', '--dir', dir, '--env-file', nope]);
    expect(linked).toEqual({ code: 9, stdout: '', stderr: `node: ${nope}: not found\n` });
    // A variable already set is not replaced: this one leads nowhere, and the run says so.
    const envWins = await cli(['status', '--dir', dir], { cwd: project, env: { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' } });
    expect(envWins.code).toBe(1);
    expect(envWins.stderr).toMatch(/127\.0\.0\.1:1/);
  });
});

describe('plan --sql', () => {
  it('prints the SQL each step would run, in order, and runs nothing', async () => {
    box = await sandbox();
    const dir = migrationsDir(TWO);
    const plan = await cli(['plan', '--sql', '--database-url', box.url, '--dir', dir]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toBe(
      '-- 001_create_users (up, in a transaction)\nCREATE TABLE users (id int);\n\n-- 002_add_email (up, in a transaction)\nALTER TABLE users ADD COLUMN email text;\n',
    );
    expect((await box.admin.query(`SELECT to_regclass('users') AS t`)).rows).toEqual([{ t: null }]);
  });

  it("says which index is built in its table's transaction, and which outside one", async () => {
    box = await sandbox();
    const index = (table: string) => `CREATE INDEX CONCURRENTLY ${table}_id ON ${table} (id);`;
    const dir = migrationsDir({
      '001_users.up.sql': 'CREATE TABLE users (id int);',
      '002_users_id.up.sql': index('users'),
      '003_teams_id.up.sql': index('teams'),
    });
    await box.admin.query('CREATE TABLE teams (id int)');
    const plan = await cli(['plan', '--sql', '--database-url', box.url, '--dir', dir]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout.split('\n').filter((line) => line.startsWith('-- '))).toEqual([
      '-- 001_users (up, in a transaction)',
      "-- 002_users_id (up, in its table's transaction: CONCURRENTLY not needed)",
      '-- 003_teams_id (up, outside a transaction, statement by statement)',
    ]);
  });
});

describe('sslmode=require', () => {
  it("prints no multi-line security warning of the driver's: a failing run is one line", async () => {
    const dir = migrationsDir(TWO);
    const result = await runCli(['status', '--dir', dir, '--database-url', 'postgres://app@127.0.0.1:1/app?sslmode=require']);
    expect(result.code).toBe(1);
    expect(result.stderr).not.toMatch(/SECURITY WARNING/);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('flags before the command', () => {
  it("are the command's: slipway --database-url X --dir D status", async () => {
    box = await sandbox();
    const dir = migrationsDir(TWO);
    const result = await runCli(['--database-url', box.url, '--dir', dir, '--table', box.table, 'status']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/001_create_users\s+pending/);
  });
});
