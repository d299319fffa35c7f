import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkTraffic } from '../../src/index.js';
import { captureLogger, sandbox, silentLogger, type Sandbox } from '../support/db.js';
import { migrationsDir } from '../support/files.js';
import { runCli } from '../support/cli.js';

/** A server of its own with pg_stat_statements loaded (the shared test server has not). */
let server: ChildProcess;
let url: string;
beforeAll(async () => {
  server = spawn(process.execPath, [path.resolve('test/support/embedded-server.mjs')], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, EMBEDDED_PG_EXTRA: '-c shared_preload_libraries=pg_stat_statements' },
  });
  let out = '';
  server.stdout!.on('data', (d) => (out += d));
  while (!out.includes('\n'))
    await Promise.race([
      once(server.stdout!, 'data'),
      once(server, 'exit').then(() => Promise.reject(new Error('the server did not start'))),
    ]);
  url = out.trim();
}, 120_000);
afterAll(async () => {
  server.stdin!.end();
  await once(server, 'exit');
});

let box: Sandbox | undefined;
afterEach(async () => box?.cleanup());

describe('the traffic-aware check', () => {
  it('names the dropped column and table that statements the server ran still use, apart from * and from a same-named column elsewhere', async () => {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(`CREATE EXTENSION pg_stat_statements;
        CREATE SCHEMA app;
        CREATE TABLE app.users (id int PRIMARY KEY, legacy_name text, display_name text);
        CREATE TABLE accounts (id int PRIMARY KEY, legacy_name text);
        CREATE TABLE orders (id int PRIMARY KEY, note text);
        SELECT pg_stat_statements_reset();`);
      // What release N's code runs: values go as parameters, the server keeps the texts normalized.
      for (let i = 1; i <= 3; i++) await admin.query('SELECT legacy_name FROM app.users WHERE id = $1', [i]);
      await admin.query('INSERT INTO app.users AS u (id, legacy_name) VALUES ($1, $2)', [1, 'secret value']);
      await admin.query('SELECT * FROM app.users WHERE id = $1', [1]);
      await admin.query('SELECT a.legacy_name FROM accounts a WHERE a.id = $1', [1]);
      await admin.query('SELECT u.display_name FROM app.users u JOIN accounts a ON a.id = u.id');
      await admin.query('SELECT note FROM public.orders WHERE id = $1', [1]);

      const dir = migrationsDir({
        '001_drop_legacy_name.up.sql': '-- slipway:post-deploy\nALTER TABLE app.users DROP COLUMN legacy_name;\n',
        '002_drop_orders.up.sql': '-- slipway:post-deploy\nDROP TABLE public.orders;\n',
        '003_drop_accounts_legacy.up.sql': '-- slipway:post-deploy\nALTER TABLE accounts DROP COLUMN legacy_name;\n',
      });
      const report = await checkTraffic({ databaseUrl: url, dir, logger: silentLogger });
      expect(report.why).toBeNull();
      expect(report.lines).toEqual([
        'DROP COLUMN app.users.legacy_name: 2 statements this server ran still use it (4 calls), e.g. SELECT legacy_name FROM app.users WHERE id = $1: the code that runs them is still deployed',
        'DROP COLUMN app.users.legacy_name: 1 statement this server ran reads it only through * (1 call), e.g. SELECT * FROM app.users WHERE id = $1: whether the code needs the column cannot be seen from the query',
        'DROP TABLE public.orders: 1 statement this server ran still uses it (1 call), e.g. SELECT note FROM public.orders WHERE id = $1: the code that runs them is still deployed',
        'DROP COLUMN accounts.legacy_name: 1 statement this server ran still uses it (1 call), e.g. SELECT a.legacy_name FROM accounts a WHERE a.id = $1: the code that runs them is still deployed',
      ]);
      // Only normalized texts: no value a statement carried.
      expect(JSON.stringify(report)).not.toContain('secret value');
    } finally {
      await admin.end();
    }
  });

  it('with a window, counts only what runs during it: up --post-deploy --traffic-window refuses while the old code runs, and runs once it is gone', async () => {
    const admin = new pg.Client({ connectionString: url });
    const oldCode = new pg.Client({ connectionString: url });
    await admin.connect();
    await oldCode.connect();
    try {
      await admin.query(`CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
        CREATE SCHEMA shop;
        CREATE TABLE shop.customers (id int PRIMARY KEY, old_email text, email text);
        INSERT INTO shop.customers VALUES (1, 'a@example.com', 'a@example.com');`);
      // Counted before any window: a release gone since.
      for (let i = 0; i < 5; i++) await oldCode.query('SELECT old_email FROM shop.customers WHERE id = $1', [1]);
      const dir = migrationsDir({
        '001_drop_old_email.up.sql': '-- slipway:post-deploy\nALTER TABLE shop.customers DROP COLUMN old_email;\n',
      });
      const args = [
        'up',
        '--post-deploy',
        '--traffic-window',
        '1',
        '--database-url',
        url,
        '--dir',
        dir,
        '--table',
        'shop.schema_migrations',
        '--log-format',
        'json',
      ];

      // The old code still runs: a replica keeps reading the column while the window is watched.
      let running = true;
      const replica = (async () => {
        while (running) await oldCode.query('UPDATE shop.customers SET old_email = $1 WHERE id = $2', ['b@example.com', 1]);
      })();
      const refused = await runCli(args);
      running = false;
      await replica;
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(
        /^slipway: .*1 column\(s\) or table\(s\) the post-deploy migrations drop or rename are still used by statements run in the last 1 s \(DROP COLUMN shop\.customers\.old_email, …\): nothing was run/m,
      );
      expect(refused.stdout).toMatch(
        /DROP COLUMN shop\.customers\.old_email: 1 statement this server ran still uses it \(\d[\d,]* calls?\), e\.g\. UPDATE shop\.customers SET old_email = \$1 WHERE id = \$2/,
      );
      expect(refused.stdout).not.toContain('SELECT old_email');
      expect(
        (
          await admin.query(
            `SELECT count(*)::int AS n FROM information_schema.columns WHERE table_schema = 'shop' AND column_name = 'old_email'`,
          )
        ).rows[0].n,
      ).toBe(1);

      // slipway lint watches the same way, and fails while the column is used.
      running = true;
      const replicaAgain = (async () => {
        while (running) await oldCode.query('UPDATE shop.customers SET old_email = $1 WHERE id = $2', ['c@example.com', 1]);
      })();
      const linted = await runCli([
        'lint',
        '--traffic-window',
        '1',
        '--database-url',
        url,
        '--dir',
        dir,
        '--table',
        'shop.schema_migrations',
      ]);
      running = false;
      await replicaAgain;
      expect(linted.code).toBe(1);
      expect(linted.stdout).toContain('no findings');
      expect(linted.stderr).toMatch(
        /^DROP COLUMN shop\.customers\.old_email: 1 statement this server ran still uses it \(\d[\d,]* calls?\), e\.g\. UPDATE shop\.customers/m,
      );

      // Every replica runs the new code: nothing uses the column during the window any more.
      const ran = await runCli(args);
      expect(ran.code).toBe(0);
      expect(
        (
          await admin.query(
            `SELECT count(*)::int AS n FROM information_schema.columns WHERE table_schema = 'shop' AND column_name = 'old_email'`,
          )
        ).rows[0].n,
      ).toBe(0);
    } finally {
      await oldCode.end();
      await admin.end();
    }
  });

  it('says once that it cannot check without pg_stat_statements, and goes on', async () => {
    box = await sandbox();
    const dir = migrationsDir({ '001_drop.up.sql': '-- slipway:post-deploy\nDROP TABLE things;\n' });
    const { logger, lines } = captureLogger();
    const report = await checkTraffic({ databaseUrl: box.url, dir, table: box.table, lockKey: box.lockKey, logger });
    expect(report).toMatchObject({ uses: null, lines: [] });
    expect(report.why).toMatch(/^the pg_stat_statements extension is not installed in this database/);
    expect(lines.filter((l) => l.traffic === false)).toHaveLength(1);
  });
});
