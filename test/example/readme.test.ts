import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanEnv, runCli, type CliResult } from '../support/cli.js';

/**
 * The README in order, on one local server: the 60-second tour in a folder of its own, then the
 * example's `make setup` path (everything after its `npm install`: `make database`), then the
 * tour again. Both share the local server (one SLIPWAY_HOME), as they do from the repository root.
 */
const home = mkdtempSync(path.join(os.tmpdir(), 'slipway-readme-home-'));
chmodSync(home, 0o755); // as root, the postgres user must reach the data folder
const project = mkdtempSync(path.join(os.tmpdir(), 'slipway-readme-tour-'));
const env = { SLIPWAY_HOME: home, SLIPWAY_LOG_LEVEL: 'info' };

afterAll(async () => {
  await runCli(['db', 'stop'], { env });
  rmSync(home, { recursive: true, force: true });
  rmSync(project, { recursive: true, force: true });
});

const tour = (...args: string[]) => runCli(args, { env, cwd: project });

async function make(target: string): Promise<CliResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)('make', ['--no-print-directory', target], {
      env: cleanEnv(env),
      cwd: path.resolve('.'),
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const messages = (r: CliResult) =>
  (r.stdout + r.stderr)
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => String(JSON.parse(l).msg));

describe('the README, command by command', () => {
  it('the 60-second tour, then the example setup, then the tour again, on the same local server', async () => {
    // $ npx slipway new create_users
    expect(await tour('new', 'create_users')).toMatchObject({
      code: 0,
      stdout: 'created migrations/001_create_users.up.sql\ncreated migrations/001_create_users.down.sql\n',
    });
    writeFileSync(
      path.join(project, 'migrations/001_create_users.up.sql'),
      'CREATE TABLE users (\n  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n  email text NOT NULL UNIQUE\n);\n',
    );
    writeFileSync(path.join(project, 'migrations/001_create_users.down.sql'), 'DROP TABLE users;\n');
    expect((await tour('new', 'index_users_email')).code).toBe(0);
    writeFileSync(
      path.join(project, 'migrations/002_index_users_email.up.sql'),
      'CREATE INDEX CONCURRENTLY users_email_lower_idx ON users (lower(email));\n',
    );
    writeFileSync(path.join(project, 'migrations/002_index_users_email.down.sql'), 'DROP INDEX CONCURRENTLY users_email_lower_idx;\n');

    const up = await tour('up');
    expect(up.code).toBe(0);
    expect(messages(up)).toEqual([
      expect.stringMatching(
        /^no DATABASE_URL or --database-url: using the local PostgreSQL in \.slipway\/postgres \(postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres\), started now$/,
      ),
      expect.stringMatching(/^applied 001_create_users \(\d+ ms\)$/),
      expect.stringMatching(/^applied 002_index_users_email \(\d+ ms, in its table's transaction: CONCURRENTLY not needed\)$/),
      expect.stringMatching(/^up: 2 applied in \d+ ms$/),
    ]);
    const status = await tour('status');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(
      /^VERSION\s+STATE\s+APPLIED AT\s+DURATION\n001_create_users\s+applied .*\n002_index_users_email\s+applied .*\n2 applied \(table "public"\."schema_migrations"\)\nmigration lock: free\n$/,
    );
    const down = await tour('down');
    expect(down.code).toBe(0);
    expect(messages(down).slice(1)).toEqual([
      expect.stringMatching(/^reverted 002_index_users_email \(\d+ ms, outside a transaction\)$/),
      expect.stringMatching(/^down: 1 reverted in \d+ ms$/),
    ]);
    expect(await tour('plan')).toMatchObject({ code: 0, stdout: 'apply 002_index_users_email  (outside a transaction)\n' });
    expect(await tour('db', 'stop')).toMatchObject({ code: 0, stdout: 'stopped the local PostgreSQL\n' });

    // $ make setup (after its npm install): the tracker's own database on the same local server.
    const setup = await make('database');
    expect(setup.stderr.split('\n')[0]).toBe(`started: local PostgreSQL in ${path.join(home, 'postgres')}; created database tracker`);
    expect(setup.code).toBe(0);
    expect(setup.stdout).toMatch(
      /^the tracker's database: postgres:\/\/postgres@127\.0\.0\.1:\d+\/tracker\nnode dist\/cli\/main\.js up --post-deploy --dir examples\/tracker\/migrations\n/,
    );
    expect(messages(setup).filter((m) => m.startsWith('applied '))).toHaveLength(8);
    expect(setup.stdout).toMatch(/\nworkspaces: 1 inserted, 0 skipped, 0 updated, 0 conflicts\nagents: 6 inserted/);

    // The tour's project again: its history is untouched, and it goes on.
    const again = await tour('up');
    expect(again.code).toBe(0);
    expect(messages(again).slice(1)).toEqual([
      expect.stringMatching(/^applied 002_index_users_email /),
      expect.stringMatching(/^up: 1 applied in \d+ ms$/),
    ]);
    const setupAgain = await make('database');
    expect(setupAgain.code).toBe(0);
    expect(setupAgain.stderr.split('\n')[0]).toBe(`already running: local PostgreSQL in ${path.join(home, 'postgres')}`);
    expect(messages(setupAgain)).toContain('nothing to apply');
    expect(setupAgain.stdout).toMatch(/\nworkspaces: 0 inserted, 1 skipped/);
    expect(readdirSync(project).sort()).toEqual(['migrations']);
  });
});
