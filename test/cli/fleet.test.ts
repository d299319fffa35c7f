import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type FreshDatabase } from '../support/db.js';
import { migrationsDir, tempFolder } from '../support/files.js';
import { runCli, startCli } from '../support/cli.js';

const FILES = {
  '001_create_notes.up.sql': 'CREATE TABLE notes (id int PRIMARY KEY);',
  '001_create_notes.down.sql': 'DROP TABLE notes;',
  '002_index_notes.up.sql': 'CREATE INDEX CONCURRENTLY notes_id_idx ON notes (id);',
  '002_index_notes.down.sql': 'DROP INDEX CONCURRENTLY notes_id_idx;',
};

let db: FreshDatabase;
beforeAll(async () => {
  db = await freshDatabase();
  await db.admin.query(Array.from({ length: 12 }, (_, i) => `CREATE SCHEMA shop_${i + 1};`).join(' '));
});
afterAll(async () => db?.drop());

const lines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('slipway --tenants', () => {
  it('up --json: one line per tenant and a summary; a failing tenant exits 1 and is named; again, only it runs', async () => {
    const dir = migrationsDir(FILES);
    await db.admin.query('CREATE TABLE shop_4.notes (x text)');
    const args = ['--tenants', 'schema:shop\\_%', '--database-url', db.url, '--dir', dir, '--concurrency', '3'];
    const up = await runCli(['up', ...args, '--json']);
    expect(up.code).toBe(1);
    const out = lines(up.stdout);
    expect(out).toHaveLength(13);
    const tenants = out.slice(0, 12);
    expect(tenants.map((t) => t.tenant).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `shop_${i + 1}`).sort());
    expect(tenants.filter((t) => t.outcome === 'failed')).toEqual([
      expect.objectContaining({
        tenant: 'shop_4',
        error: { code: 'MIGRATION_FAILED', message: expect.stringContaining('relation "notes" already exists') },
      }),
    ]);
    expect(out[12]).toEqual({ summary: expect.objectContaining({ total: 12, changed: 11, failed: 1, executed: 22, concurrency: 3 }) });

    const text = await runCli(['up', ...args, '--log-format', 'json']);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(
      /\nFAILED shop_4: migration 001_create_notes \(up\) failed in .*relation "notes" already exists.*\nup: 12 tenants: 11 up to date, 1 failed in \d+\.\d s \(concurrency 3\)\n$/,
    );
    // Off a terminal, a JSON log line per tenant.
    expect(lines(text.stdout).filter((l) => typeof l.tenant === 'string' && l.outcome === 'up-to-date')).toHaveLength(11);

    await db.admin.query('DROP TABLE shop_4.notes');
    const fixed = await runCli(['up', ...args, '--log-format', 'json']);
    expect(fixed.code).toBe(0);
    expect(fixed.stdout).toMatch(/\nup: 12 tenants: 1 migrated \(2 migrations\), 11 up to date in \d+\.\d s \(concurrency 3\)\n$/);

    const status = await runCli(['status', ...args, '--log-level', 'silent']);
    expect(status).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^status: 12 tenants: 12 up to date in \d+\.\d s \(concurrency 3\)\n$/),
    });
    const plan = await runCli(['plan', 'down', ...args, '--log-level', 'silent']);
    expect(plan.code).toBe(0);
    expect(plan.stdout.split('\n')[0]).toBe('shop_1: would run 1: 002_index_notes');
  });

  it('bad sources: one clear line, exit 1 (nothing to run) or 2 (usage)', async () => {
    const dir = migrationsDir(FILES);
    const empty = await runCli(['up', '--tenants', 'schema:nobody%', '--database-url', db.url, '--dir', dir]);
    expect(empty).toMatchObject({ code: 1, stderr: 'slipway: no schema matches "nobody%" in the database: no tenants to run\n' });
    const missing = await runCli(['up', '--tenants', '/nonexistent/tenants.txt', '--dir', dir]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^slipway: tenants file \/nonexistent\/tenants\.txt does not exist/);
    const stray = await runCli(['up', '--concurrency', '4', '--database-url', db.url, '--dir', dir]);
    expect(stray).toMatchObject({ code: 2, stderr: 'slipway: --concurrency and --fail-fast go with --tenants\n' });
    const qualified = await runCli(['up', '--tenants', 'schema:shop\\_%', '--table', 'ops.ledger', '--database-url', db.url, '--dir', dir]);
    expect(qualified.code).toBe(2);
    expect(qualified.stderr).toMatch(/^slipway: table ops\.ledger is schema-qualified: for schema tenants give the table's name only/);
  });
});

describe('a connection string meant as a URL but malformed', () => {
  const password = 'Pw9-s3cret';
  const malformed = [
    `postgres//app:${password}@db.internal/app`,
    `app:${password}@db.internal/app`,
    `postgresql:/app:${password}@db.internal/app`,
  ];

  it('single runs, by flag or DATABASE_URL, refuse it with exit 2 and print no password', async () => {
    const dir = migrationsDir(FILES);
    for (const url of malformed) {
      for (const run of [
        runCli(['status', '--database-url', url, '--dir', dir]),
        runCli(['up', '--dir', dir], { env: { DATABASE_URL: url } }),
      ]) {
        const { code, stdout, stderr } = await run;
        expect(code).toBe(2);
        expect(stderr).toMatch(/^slipway: the connection string ".*:\*\*\*@db\.internal\/app" is not a URL/);
        expect(stdout + stderr).not.toContain(password);
      }
    }
  });

  it('fleet runs: as --database-url, as a line of the tenants file, as the file itself; the good tenant is read, no password printed', async () => {
    const dir = migrationsDir(FILES);
    const good = await freshDatabase();
    const file = path.join(tempFolder({}), 'tenants.txt');
    writeFileSync(file, [good.url, ...malformed].join('\n'));
    try {
      for (const format of [['--json'], ['--log-format', 'json'], ['--log-format', 'pretty']]) {
        const run = await runCli(['status', '--tenants', file, '--dir', dir, ...format]);
        expect(run.code).toBe(1);
        expect(run.stdout + run.stderr).toMatch(
          /tenants\.txt:4: the connection string \\?"postgresql:\/app:\*\*\*@db\.internal\/app\\?" is not a URL/,
        );
        expect(run.stdout + run.stderr).toMatch(/"outcome":"pending"|2 pending: 001_create_notes, 002_index_notes/);
        expect(run.stdout + run.stderr).not.toContain(password);
      }
    } finally {
      await good.drop();
    }
    for (const url of malformed) {
      const bySchema = await runCli(['up', '--tenants', 'schema:shop\\_%', '--database-url', url, '--dir', dir]);
      expect(bySchema.code).toBe(2);
      const asFile = await runCli(['up', '--tenants', url, '--dir', dir]);
      expect(asFile.code).toBe(1);
      expect(asFile.stderr).toMatch(/^slipway: tenants file .*:\*\*\*@db\.internal\/app does not exist/);
      for (const { stdout, stderr } of [bySchema, asFile]) expect(stdout + stderr).not.toContain(password);
    }
  });
});

describe('--tenants query:', () => {
  it('several statements are refused with exit 1 and the table the text would drop is kept', async () => {
    await db.admin.query('CREATE TABLE public.victim (id int)');
    const run = await runCli([
      'up',
      '--tenants',
      `query:COMMIT; DROP TABLE public.victim; SELECT 'shop_1'`,
      '--database-url',
      db.url,
      '--dir',
      migrationsDir(FILES),
    ]);
    expect(run).toMatchObject({
      code: 1,
      stderr: 'slipway: the tenants query must be one SELECT statement; it has 3 (COMMIT, DROP, SELECT)\n',
    });
    expect((await db.admin.query(`SELECT to_regclass('public.victim') IS NOT NULL AS kept`)).rows[0].kept).toBe(true);
    await db.admin.query('DROP TABLE public.victim');
  });

  it('SIGTERM cancels a running tenants query: exit 1, nothing left running on the server', async () => {
    const { child, done } = startCli([
      'status',
      '--tenants',
      'query:SELECT pg_sleep(1000)::text',
      '--database-url',
      db.url,
      '--dir',
      migrationsDir(FILES),
    ]);
    await waitForSleep(true);
    child.kill('SIGTERM');
    const result = await done;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('slipway: stopped while reading the tenants; nothing was changed\n');
    await waitForSleep(false);
  });
});

describe('a fleet run stopped by SIGTERM', () => {
  it('cancels the running migration and reports, for each tenant, what it applied before', async () => {
    await db.admin.query('CREATE SCHEMA slow_1');
    const dir = migrationsDir({
      '001_create_notes.up.sql': FILES['001_create_notes.up.sql'],
      '002_slow.up.sql': 'SELECT pg_sleep(1000);\nCREATE TABLE slow (id int);',
    });
    // --no-batch: 001 commits on its own before 002 starts (an empty ledger would run them in one transaction).
    const { child, done } = startCli([
      'up',
      '--no-batch',
      '--tenants',
      'schema:slow\\_%',
      '--database-url',
      db.url,
      '--dir',
      dir,
      '--json',
    ]);
    await waitForSleep(true);
    child.kill('SIGTERM');
    const result = await done;
    expect(result.code).toBe(1);
    const out = lines(result.stdout);
    expect(out[0]).toMatchObject({
      tenant: 'slow_1',
      outcome: 'failed',
      executed: ['001_create_notes'],
      error: { message: expect.stringMatching(/^stopped during 002_slow \(up\)/) },
    });
    expect(out.at(-1)).toEqual({ summary: expect.objectContaining({ failed: 1, executed: 1 }) });
    await waitForSleep(false);
    const { rows } = await db.admin.query(
      `SELECT array_agg(version) AS v, to_regclass('slow_1.slow') AS slow FROM slow_1.schema_migrations`,
    );
    expect(rows[0]).toEqual({ v: ['001_create_notes'], slow: null });
    await db.admin.query('DROP SCHEMA slow_1 CASCADE');
  });

  it('the text report says what a failed tenant applied before its failure', async () => {
    await db.admin.query('CREATE SCHEMA part_1');
    const dir = migrationsDir({ '001_create_notes.up.sql': FILES['001_create_notes.up.sql'], '002_fails.up.sql': 'SELECT 1/0;' });
    const run = await runCli(['up', '--tenants', 'schema:part\\_%', '--database-url', db.url, '--dir', dir, '--log-level', 'silent']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /^FAILED part_1: migration 002_fails \(up\) failed .*division by zero.* \(applied 1 before: 001_create_notes\)\n/,
    );
    await db.admin.query('DROP SCHEMA part_1 CASCADE');
  });
});

/** Waits until a session runs (or no longer runs) a query with pg_sleep(1000) in it. */
async function waitForSleep(running: boolean): Promise<void> {
  for (;;) {
    const { rows } = await db.admin.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep(1000)%' AND pid <> pg_backend_pid()`,
    );
    if (rows[0].n > 0 === running) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
