import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dump, migrate } from '../../src/index.js';
import { runCli } from '../support/cli.js';
import { freshDatabasePerTest, silentLogger } from '../support/db.js';
import { migrationsDir, tempFolder } from '../support/files.js';

const database = freshDatabasePerTest();

const HISTORY = {
  '001_users.up.sql': 'CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);',
  '001_users.down.sql': 'DROP TABLE users;',
  '002_orders.up.sql': 'CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users);',
  '002_orders.down.sql': 'DROP TABLE orders;',
};

describe('migrate with dump (up --dump)', () => {
  it('writes the schema after a run that changed something, as dump does, and leaves the file alone after one that did not', async () => {
    const db = await database();
    const dir = migrationsDir(HISTORY);
    const file = path.join(tempFolder({}), 'schema.sql');
    const run = (direction: 'up' | 'down', extra = {}) =>
      migrate({ databaseUrl: db.url, dir, direction, logger: silentLogger, dump: file, ...extra });

    await run('up', { target: '001_users' });
    const first = readFileSync(file, 'utf8');
    expect(first).toBe((await dump({ databaseUrl: db.url, logger: silentLogger })).sql);
    expect(first).toContain('-- table public.users');
    expect(first).not.toContain('orders');

    await run('up');
    const second = readFileSync(file, 'utf8');
    expect(second).toBe((await dump({ databaseUrl: db.url, logger: silentLogger })).sql);
    expect(second).toContain('-- table public.orders');
    // Nothing to do: no rewrite (a file changed by hand stays as it is).
    writeFileSync(file, 'kept\n');
    expect((await run('up')).executed).toEqual([]);
    expect(readFileSync(file, 'utf8')).toBe('kept\n');

    // A down that reverted something rewrites it too.
    await run('down');
    const third = readFileSync(file, 'utf8');
    expect(third).toContain('-- table public.users');
    expect(third).not.toContain('orders');
    expect(third).not.toContain('002_orders');
  });

  it('refuses a file whose folder does not exist before anything runs, and says the run is done when the file cannot be written', async () => {
    const db = await database();
    const dir = migrationsDir(HISTORY);
    const folder = tempFolder({});
    await expect(
      migrate({ databaseUrl: db.url, dir, direction: 'up', logger: silentLogger, dump: path.join(folder, 'db/schema.sql') }),
    ).rejects.toThrow(`dump: the folder of ${path.join(folder, 'db/schema.sql')} does not exist: create it, or give another file`);
    const { rows } = await db.admin.query("SELECT to_regclass('public.schema_migrations') AS ledger");
    expect(rows[0].ledger).toBeNull();

    // The file's name is taken by a folder with something in it: the migrations ran all the same.
    const taken = path.join(folder, 'schema.sql');
    mkdirSync(taken);
    writeFileSync(path.join(taken, 'x'), '');
    const failed = migrate({ databaseUrl: db.url, dir, direction: 'up', logger: silentLogger, dump: taken });
    await expect(failed).rejects.toMatchObject({ code: 'DUMP_WRITE' });
    await expect(failed).rejects.toThrow(
      /^the migrations ran, but the schema could not be written to .*schema\.sql: (EISDIR|ENOTEMPTY|EEXIST)$/,
    );
    const applied = await db.admin.query('SELECT version FROM public.schema_migrations ORDER BY version');
    expect(applied.rows.map((r) => r.version)).toEqual(['001_users', '002_orders']);
    expect(existsSync(path.join(folder, `schema.sql.${process.pid}.tmp`))).toBe(false);
  });

  it('on the command line: --dump writes schema.sql in the working directory by default, and does not go with --tenants', async () => {
    const db = await database();
    const dir = migrationsDir(HISTORY);
    const project = tempFolder({});
    const up = await runCli(['up', '--database-url', db.url, '--dir', dir, '--dump', '--log-format', 'json'], { cwd: project });
    expect(up.code).toBe(0);
    expect(up.stdout).toContain('"msg":"dump: wrote ');
    expect(readFileSync(path.join(project, 'schema.sql'), 'utf8')).toBe((await dump({ databaseUrl: db.url, logger: silentLogger })).sql);

    const fleet = await runCli(['up', '--database-url', db.url, '--dir', dir, '--dump', 'x.sql', '--tenants', 'schema:t_%'], {
      cwd: project,
    });
    expect(fleet).toMatchObject({ code: 2, stderr: "slipway: --dump writes one database's schema: it does not go with --tenants\n" });
  });
});
