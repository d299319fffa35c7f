import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { drift, migrate, verify } from '../../src/index.js';
import { runCli } from '../support/cli.js';
import { databaseUrl, freshDatabasePerTest, silentLogger } from '../support/db.js';
import { migrationsDir, tempFolder } from '../support/files.js';

const database = freshDatabasePerTest();

/** No scratch database is left behind by drift or verify. */
async function scratchDatabases(): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl() });
  await client.connect();
  try {
    return (await client.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'slipway\\_scratch\\_%'")).rows.map(
      (r) => r.datname,
    );
  } finally {
    await client.end();
  }
}

const HISTORY = {
  '001_users.up.sql':
    "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, plan text DEFAULT 'free', CONSTRAINT email_at CHECK (email LIKE '%@%'));",
  '001_users.down.sql': 'DROP TABLE users;',
  '002_orders.up.sql':
    'CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users);\nCREATE INDEX orders_user_idx ON orders (user_id);',
  '002_orders.down.sql': 'DROP TABLE orders;',
};

describe('drift', () => {
  it('exits 0 when the database is what its migrations build, and names each hand-made change with exit 1', async () => {
    const db = await database();
    const dir = migrationsDir(HISTORY);
    await migrate({ databaseUrl: db.url, dir, direction: 'up', logger: silentLogger });
    const clean = await drift({ databaseUrl: db.url, dir, logger: silentLogger });
    expect(clean).toMatchObject({ drifted: false, differences: [], diff: '' });
    const cli = await runCli(['drift', '--database-url', db.url, '--dir', dir]);
    expect(cli.stderr).toBe('');
    expect(cli).toMatchObject({ code: 0, stdout: "no drift: the database's schema is the one its migrations build\n" });

    await db.admin.query(`CREATE INDEX users_email_idx ON users (email);
      ALTER TABLE users ALTER COLUMN plan SET DEFAULT 'trial';
      ALTER TABLE users DROP CONSTRAINT email_at`);
    const report = await drift({ databaseUrl: db.url, dir, logger: silentLogger });
    expect(report.drifted).toBe(true);
    expect(report.differences.map((d) => [d.object, d.change])).toEqual([
      ['table public.users', 'changed'],
      ['constraint email_at on public.users', 'missing'],
      ['index public.users_email_idx', 'extra'],
    ]);
    expect(report.diff).toContain("-    plan text DEFAULT 'free'::text\n+    plan text DEFAULT 'trial'::text");
    expect(report.diff).toContain(
      '@@ index public.users_email_idx (only in database) @@\n+CREATE INDEX users_email_idx ON public.users USING btree (email);',
    );

    const drifted = await runCli(['drift', '--database-url', db.url, '--dir', dir]);
    expect(drifted.code).toBe(1);
    expect(drifted.stdout).toBe(report.diff);
    expect(await scratchDatabases()).toEqual([]);
  });

  it('installs first, in the scratch database, the extensions the database has and no migration creates; drift and verify say so', async () => {
    const db = await database();
    // By hand, as many projects' setup asks before their first migration.
    await db.admin.query('CREATE EXTENSION citext');
    const dir = migrationsDir({
      '001_users.up.sql': 'CREATE TABLE users (id int PRIMARY KEY, email citext NOT NULL);',
      '001_users.down.sql': 'DROP TABLE users;',
      // Created by a migration (without IF NOT EXISTS): the scratch database must not have it first.
      '002_search.up.sql': 'CREATE EXTENSION pg_trgm;\nCREATE INDEX users_email_trgm ON users USING gin ((email::text) gin_trgm_ops);',
      '002_search.down.sql': 'DROP INDEX users_email_trgm;\nDROP EXTENSION pg_trgm;',
    });
    await migrate({ databaseUrl: db.url, dir, direction: 'up', logger: silentLogger });
    expect(await drift({ databaseUrl: db.url, dir, logger: silentLogger })).toMatchObject({ drifted: false, differences: [] });
    expect(await verify({ databaseUrl: db.url, dir, logger: silentLogger })).toMatchObject({
      checked: ['001_users', '002_search'],
      problems: [],
    });
    const cli = await runCli(['drift', '--database-url', db.url, '--dir', dir, '--log-format', 'json']);
    expect(cli.stdout).toBe("no drift: the database's schema is the one its migrations build\n");
    expect(cli.stderr).toContain(
      'drift: installing citext in the scratch database first: the database has them and no migration creates them',
    );
    expect(cli.code).toBe(0);
    expect(await scratchDatabases()).toEqual([]);
  });

  it("leaves out the ledger's own schema on both sides, and reports only what was added to it by hand", async () => {
    const db = await database();
    const dir = migrationsDir(HISTORY);
    const table = 'ops.schema_migrations'; // slipway creates the schema ops, for its ledger alone
    await migrate({ databaseUrl: db.url, dir, direction: 'up', table, logger: silentLogger });
    expect(await drift({ databaseUrl: db.url, dir, table, logger: silentLogger })).toMatchObject({ drifted: false, notCompared: [] });
    await db.admin.query('CREATE TABLE ops.notes (id int)');
    const report = await drift({ databaseUrl: db.url, dir, table, logger: silentLogger });
    // ops holds only the ledger where the migrations are built: it is the ledger's there, so it is not compared here either.
    expect(report.differences.map((d) => [d.object, d.change])).toEqual([['table ops.notes', 'extra']]);
  });

  it('says in one line that the role needs CREATEDB when it may not create the scratch database', async () => {
    const db = await database();
    const role = `r_${randomBytes(4).toString('hex')}`;
    await db.admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'secret'; GRANT ALL ON SCHEMA public TO ${role}`);
    try {
      const dir = migrationsDir(HISTORY);
      const result = await runCli(['drift', '--database-url', db.urlAs(role, 'secret'), '--dir', dir]);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `slipway: drift builds the migrations in a scratch database, and role "${role}" may not create one: grant it CREATEDB or run drift as a role that has it\n`,
      );
    } finally {
      await db.drop();
      const server = new pg.Client({ connectionString: databaseUrl() });
      await server.connect();
      await server.query(`DROP ROLE IF EXISTS ${role}`);
      await server.end();
    }
  });
});

/** A history in the shapes real ones break in: a down that forgets an index, a down naming a table that is not there. */
const DOWNS = {
  '001_users.up.sql': 'CREATE TABLE users (id int PRIMARY KEY, email text);',
  '001_users.down.sql': 'DROP TABLE users;',
  '002_email.up.sql': 'ALTER TABLE users ADD COLUMN name text;\nCREATE INDEX users_email_idx ON users (email);',
  '002_email.down.sql': 'ALTER TABLE users DROP COLUMN name;',
  '003_orders.up.sql': 'CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users);',
  '003_orders.down.sql': 'DROP TABLE order_items;',
  '004_note.up.sql': 'ALTER TABLE users ADD COLUMN note text;',
  '005_view.up.sql': 'CREATE VIEW user_notes AS SELECT id, note FROM users;',
  '005_view.down.sql': 'DROP VIEW user_notes;',
};

describe('verify', () => {
  it('names every down that fails or leaves the schema different, and nothing else', async () => {
    const db = await database();
    const dir = migrationsDir(DOWNS);
    const report = await verify({ databaseUrl: db.url, dir, logger: silentLogger });
    expect(report.checked).toEqual(['001_users', '002_email', '003_orders', '005_view']);
    expect(report.withoutDown).toEqual(['004_note']);
    expect(report.problems.map((p) => [p.version, p.kind])).toEqual([
      ['002_email', 'down-differs'],
      ['002_email', 'up-failed'],
      ['003_orders', 'down-failed'],
    ]);
    expect(report.problems[0]!.message).toBe(
      '002_email: down leaves the schema different from before its up: index public.users_email_idx (left in after down)',
    );
    expect(report.problems[1]!.message).toMatch(/^002_email: up after its down failed: .*relation "users_email_idx" already exists/);
    expect(report.problems[2]!.message).toMatch(/^003_orders: down failed: .*table "order_items" does not exist/);
    // Nothing was done to the target database itself.
    const { rows } = await db.admin.query("SELECT count(*)::int AS n FROM pg_class WHERE relname IN ('users', 'schema_migrations')");
    expect(rows[0].n).toBe(0);

    const cli = await runCli(['verify', '--database-url', db.url, '--dir', dir]);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain(
      '@@ index public.users_email_idx (only in after down) @@\n+CREATE INDEX users_email_idx ON public.users USING btree (email);',
    );
    expect(cli.stdout.trimEnd().split('\n').at(-1)).toBe('verify: 4 down files checked, 1 without a down file: 3 problems');

    const fromFive = await verify({ databaseUrl: db.url, dir, from: '005_view', logger: silentLogger });
    expect(fromFive).toMatchObject({ checked: ['005_view'], problems: [] });
    expect(await scratchDatabases()).toEqual([]);
  });
});

describe('verify, an up that builds something else after its down', () => {
  it('reports it with the objects that differ, and refuses a --from that names no migration', async () => {
    const db = await database();
    const dir = migrationsDir({
      '001_items.up.sql': 'CREATE TABLE IF NOT EXISTS items (id int);\nALTER TABLE items ADD COLUMN IF NOT EXISTS label text;',
      '001_items.down.sql': 'ALTER TABLE items RENAME COLUMN label TO old_label;',
    });
    const report = await verify({ databaseUrl: db.url, dir, logger: silentLogger });
    expect(report.problems.map((p) => [p.kind, p.message])).toEqual([
      ['down-differs', '001_items: down leaves the schema different from before its up: table public.items (left in after down)'],
      ['up-differs', '001_items: up after its down builds a different schema: table public.items (changed)'],
    ]);
    expect(report.problems[1]!.diff).toContain('     id integer,\n+    old_label text,\n     label text\n');
    await expect(verify({ databaseUrl: db.url, dir, from: '002_later', logger: silentLogger })).rejects.toThrow(
      'verify: no migration at or after --from 002_later; the newest is 001_items',
    );
  });
});

describe('dump and load on the command line', () => {
  it('writes the dump to --out and loads it into an empty database; a second load is refused in one line', async () => {
    const db = await database();
    const dir = migrationsDir(HISTORY);
    await migrate({ databaseUrl: db.url, dir, direction: 'up', logger: silentLogger });
    const out = path.join(tempFolder({}), 'schema.sql');
    const dumped = await runCli(['dump', '--database-url', db.url, '--dir', dir, '--out', out, '--log-format', 'json']);
    expect(dumped.code).toBe(0);
    const copy = await database();
    const loaded = await runCli(['load', out, '--database-url', copy.url, '--dir', dir]);
    expect(loaded).toMatchObject({ code: 0, stdout: `loaded ${out} into database ${copy.name}\n` });
    const again = await runCli(['dump', '--database-url', copy.url, '--dir', dir]);
    expect(again.stdout).toBe(readFileSync(out, 'utf8'));
    const status = await runCli(['status', '--database-url', copy.url, '--dir', dir, '--json']);
    expect(JSON.parse(status.stdout).migrations.map((m: { state: string }) => m.state)).toEqual(['applied', 'applied']);
    const refused = await runCli(['load', out, '--database-url', copy.url, '--dir', dir]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /^slipway: load: database "\w+" is not empty \(it has table public\.orders, table public\.schema_migrations, table public\.users\): load a dump into a new, empty database\n$/,
    );
  });
});
