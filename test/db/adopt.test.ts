/**
 * Another tool's ledger: recognised by its shape, never run on top of by accident, taken over
 * only by `slipway adopt`. Each fixture has the tool's exact table, as the tool creates it in
 * PostgreSQL, with realistic rows. Each test has a database of its own: the default table
 * name is database-wide.
 */
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { adopt, IntegrityError, migrate } from '../../src/index.js';
import { runCli } from '../support/cli.js';
import { freshDatabase, silentLogger, type FreshDatabase } from '../support/db.js';
import { rejection } from '../support/errors.js';
import { migrationsDir } from '../support/files.js';

let db: FreshDatabase | undefined;
afterEach(async () => {
  await db?.drop();
  db = undefined;
});

/** Three migrations numbered `a`, `b`, `c` whose tables are bare CREATEs: run twice, they fail. */
function files(a: string, b: string, c: string, separator = '_'): Record<string, string> {
  return {
    [`${a}_create${separator}users.up.sql`]: 'CREATE TABLE users (id int);\n',
    [`${a}_create${separator}users.down.sql`]: 'DROP TABLE users;\n',
    [`${b}_create${separator}posts.up.sql`]: 'CREATE TABLE posts (id int);\n',
    [`${b}_create${separator}posts.down.sql`]: 'DROP TABLE posts;\n',
    [`${c}_create${separator}tags.up.sql`]: 'CREATE TABLE tags (id int);\n',
    [`${c}_create${separator}tags.down.sql`]: 'DROP TABLE tags;\n',
  };
}

/** What the old tool already did: the first two migrations' tables. */
const APPLIED_SCHEMA = 'CREATE TABLE users (id int); CREATE TABLE posts (id int);';

interface Fixture {
  readonly tool: string;
  /** The tool's ledger, exactly as the tool creates it, with its rows. */
  readonly setup: string;
  readonly files: Record<string, string>;
  /** The table as the refusal names it, and the rows it must keep. */
  readonly table: string;
  readonly rows: string;
  readonly refusal: string;
  readonly applied: readonly string[];
  readonly pending: string;
  /** Where the old rows are after adopting. */
  readonly keptAs: string;
  /** Dry-run lines, after the first one. */
  readonly mapping: readonly string[];
}

const ADVICE =
  ', and slipway has no ledger in this database: run `slipway adopt` to take it over; nothing was changed\n' +
  'run `slipway adopt --dry-run` first to see how its entries map to your migration files';

const FIXTURES: readonly Fixture[] = [
  {
    tool: 'golang-migrate',
    // golang-migrate v4, database/postgres: CREATE TABLE IF NOT EXISTS schema_migrations (version bigint not null primary key, dirty boolean not null)
    setup: `CREATE TABLE IF NOT EXISTS "schema_migrations" (version bigint not null primary key, dirty boolean not null);
            INSERT INTO schema_migrations (version, dirty) VALUES (2, false);`,
    files: files('000001', '000002', '000003'),
    table: 'public.schema_migrations',
    rows: 'SELECT version::text AS entry, dirty FROM %s ORDER BY 1',
    refusal: "golang-migrate's table public.schema_migrations says version 2 is applied (clean)",
    applied: ['000001_create_users', '000002_create_posts'],
    pending: '000003_create_tags',
    keptAs: 'public.schema_migrations_golang_migrate',
    mapping: [
      'VERSION              STATE    FROM',
      '000001_create_users  applied  golang-migrate version 2',
      '000002_create_posts  applied  golang-migrate version 2',
      '000003_create_tags   pending  -',
      '2 applied, 1 pending; adopt would record them in "public"."schema_migrations" and public.schema_migrations would be renamed to public.schema_migrations_golang_migrate',
      'dry run: nothing was changed',
    ],
  },
  {
    tool: 'dbmate',
    // dbmate, pkg/driver/postgres: create table if not exists schema_migrations (version varchar(128) primary key)
    setup: `create table if not exists public.schema_migrations (version varchar(128) primary key);
            insert into public.schema_migrations (version) values ('20240101120000'), ('20240215093000');`,
    files: files('20240101120000', '20240215093000', '20240302081500'),
    table: 'public.schema_migrations',
    rows: 'SELECT version AS entry FROM %s ORDER BY 1',
    refusal: "dbmate's table public.schema_migrations says 2 migrations are applied (20240101120000 to 20240215093000)",
    applied: ['20240101120000_create_users', '20240215093000_create_posts'],
    pending: '20240302081500_create_tags',
    keptAs: 'public.schema_migrations_dbmate',
    mapping: [
      'VERSION                      STATE    FROM',
      '20240101120000_create_users  applied  dbmate version 20240101120000',
      '20240215093000_create_posts  applied  dbmate version 20240215093000',
      '20240302081500_create_tags   pending  -',
      '2 applied, 1 pending; adopt would record them in "public"."schema_migrations" and public.schema_migrations would be renamed to public.schema_migrations_dbmate',
      'dry run: nothing was changed',
    ],
  },
  {
    tool: 'node-pg-migrate',
    // node-pg-migrate: CREATE TABLE "public"."pgmigrations" ( id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL)
    setup: `CREATE TABLE "public"."pgmigrations" ( id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL);
            INSERT INTO "public"."pgmigrations" (name, run_on) VALUES ('1700000000000_create-users', '2023-11-14 22:13:20'), ('1700000100000_create-posts', '2023-11-16 02:00:00');`,
    // Converted to slipway's names: the same numbers, underscores for dashes.
    files: files('1700000000000', '1700000100000', '1700000200000'),
    table: 'public.pgmigrations',
    rows: 'SELECT name AS entry, run_on::text FROM %s ORDER BY id',
    refusal:
      "node-pg-migrate's table public.pgmigrations says 2 migrations are applied (1700000000000_create-users to 1700000100000_create-posts)",
    applied: ['1700000000000_create_users', '1700000100000_create_posts'],
    pending: '1700000200000_create_tags',
    keptAs: 'public.pgmigrations',
    mapping: [
      'VERSION                     STATE    FROM',
      '1700000000000_create_users  applied  node-pg-migrate name 1700000000000_create-users',
      '1700000100000_create_posts  applied  node-pg-migrate name 1700000100000_create-posts',
      '1700000200000_create_tags   pending  -',
      '2 applied, 1 pending; adopt would record them in "public"."schema_migrations" and public.pgmigrations would be kept as it is',
      'dry run: nothing was changed',
    ],
  },
  {
    tool: 'goose',
    // goose v3, Postgres dialect: its own version 0 row first; version 3 was applied, then rolled back.
    setup: `CREATE TABLE goose_db_version (id serial NOT NULL, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp NULL default now(), PRIMARY KEY(id));
            INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (1, true), (2, true), (3, true), (3, false);`,
    files: files('00001', '00002', '00003'),
    table: 'public.goose_db_version',
    rows: 'SELECT version_id::text AS entry, is_applied FROM %s ORDER BY id',
    refusal: "goose's table public.goose_db_version says 2 versions are applied (1 to 2)",
    applied: ['00001_create_users', '00002_create_posts'],
    pending: '00003_create_tags',
    keptAs: 'public.goose_db_version',
    mapping: [
      'VERSION             STATE    FROM',
      '00001_create_users  applied  goose version_id 1',
      '00002_create_posts  applied  goose version_id 2',
      '00003_create_tags   pending  -',
      '2 applied, 1 pending; adopt would record them in "public"."schema_migrations" and public.goose_db_version would be kept as it is',
      'dry run: nothing was changed',
    ],
  },
  {
    tool: 'sql-migrate',
    // sql-migrate through gorp: create table if not exists "gorp_migrations" ("id" text not null primary key, "applied_at" timestamp with time zone)
    setup: `create table if not exists "gorp_migrations" ("id" text not null primary key, "applied_at" timestamp with time zone);
            insert into gorp_migrations (id, applied_at) values ('1_create_users.sql', '2024-01-01 12:00:00+00'), ('2_create_posts.sql', '2024-02-01 12:00:00+00');`,
    files: files('1', '2', '3'),
    table: 'public.gorp_migrations',
    rows: 'SELECT id AS entry, applied_at::text FROM %s ORDER BY 1',
    refusal: "sql-migrate's table public.gorp_migrations says 2 migrations are applied (1_create_users.sql to 2_create_posts.sql)",
    applied: ['1_create_users', '2_create_posts'],
    pending: '3_create_tags',
    keptAs: 'public.gorp_migrations',
    mapping: [
      'VERSION         STATE    FROM',
      '1_create_users  applied  sql-migrate id 1_create_users.sql',
      '2_create_posts  applied  sql-migrate id 2_create_posts.sql',
      '3_create_tags   pending  -',
      '2 applied, 1 pending; adopt would record them in "public"."schema_migrations" and public.gorp_migrations would be kept as it is',
      'dry run: nothing was changed',
    ],
  },
];

/** Every table and index outside the system schemas, with every row of every table: "nothing changed" is this staying equal. */
async function snapshot(client: pg.Client): Promise<unknown> {
  const { rows } = await client.query<{ schema: string; name: string; kind: string }>(
    `SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'i', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast' ORDER BY 1, 2`,
  );
  const contents: Record<string, unknown> = {};
  for (const r of rows.filter((r) => r.kind === 'r')) {
    contents[`${r.schema}.${r.name}`] = (
      await client.query(`SELECT to_jsonb(t)::text AS row FROM "${r.schema}"."${r.name}" AS t ORDER BY 1`)
    ).rows.map((x) => x.row);
  }
  return { relations: rows, contents };
}

async function slipwayRows(
  client: pg.Client,
  table = 'public.schema_migrations',
): Promise<Array<{ version: string; state: string; checksum_ok: boolean }>> {
  const { rows } = await client.query(`SELECT version, state, checksum ~ '^[0-9a-f]{64}$' AS checksum_ok FROM ${table} ORDER BY version`);
  return rows;
}

function cli(command: string[], dir: string) {
  return runCli([...command, '--database-url', db!.url, '--dir', dir, '--log-format', 'json']);
}

describe.each(FIXTURES)("$tool's ledger", (fixture) => {
  it('up refuses with a line naming the tool, its table, what it says and slipway adopt (then --dry-run), and changes nothing', async () => {
    db = await freshDatabase();
    await db.admin.query(fixture.setup);
    await db.admin.query(APPLIED_SCHEMA);
    const dir = migrationsDir(fixture.files);
    const before = await snapshot(db.admin);

    const result = await cli(['up'], dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`slipway: ${fixture.refusal}${ADVICE}\n`);
    expect(await snapshot(db.admin)).toEqual(before);

    const error = await rejection(migrate({ databaseUrl: db.url, dir, direction: 'up', logger: silentLogger }), IntegrityError);
    expect(error.kind).toBe('foreign-ledger');
    expect(await snapshot(db.admin)).toEqual(before);
  });

  it('adopt --dry-run prints the mapping and changes nothing', async () => {
    db = await freshDatabase();
    await db.admin.query(fixture.setup);
    await db.admin.query(APPLIED_SCHEMA);
    const dir = migrationsDir(fixture.files);
    const before = await snapshot(db.admin);

    const result = await cli(['adopt', '--dry-run'], dir);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe([fixture.refusal, ...fixture.mapping, ''].join('\n'));
    expect(await snapshot(db.admin)).toEqual(before);
  });

  it('adopt records what it applied and keeps its rows; up then applies only the rest, with the default table', async () => {
    db = await freshDatabase();
    await db.admin.query(fixture.setup);
    await db.admin.query(APPLIED_SCHEMA);
    const dir = migrationsDir(fixture.files);
    const oldRows = (await db.admin.query(fixture.rows.replace('%s', fixture.table))).rows;

    const adopted = await cli(['adopt', '--json'], dir);
    expect(adopted.code).toBe(0);
    const document = JSON.parse(adopted.stdout);
    expect(document).toMatchObject({
      tool: fixture.tool,
      foreignTable: fixture.table,
      keptAs: fixture.keptAs,
      table: '"public"."schema_migrations"',
      dryRun: false,
    });
    expect(await slipwayRows(db.admin)).toEqual(fixture.applied.map((version) => ({ version, state: 'applied', checksum_ok: true })));
    // The old tool's rows, untouched, where it can be pointed back at them.
    expect((await db.admin.query(fixture.rows.replace('%s', fixture.keptAs))).rows).toEqual(oldRows);
    // Renamed aside with its primary key's index, so slipway's table gets the plain name.
    const indexes = await db.admin.query(
      `SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1::regclass`,
      [fixture.keptAs],
    );
    expect(indexes.rows.map((r) => r.relname)).toEqual([`${fixture.keptAs.split('.')[1]}_pkey`]);

    const up = await cli(['up', '--json'], dir);
    expect(up.code).toBe(0);
    expect(JSON.parse(up.stdout).executed.map((s: { version: string }) => s.version)).toEqual([fixture.pending]);
    expect(await slipwayRows(db.admin)).toEqual(
      [...fixture.applied, fixture.pending].map((version) => ({ version, state: 'applied', checksum_ok: true })),
    );
    expect((await db.admin.query(`SELECT to_regclass('public.tags') IS NOT NULL AS created`)).rows[0].created).toBe(true);

    // The kept table is the old tool's bookkeeping: drift leaves it out, as it leaves out slipway's, and says so.
    const drifted = await cli(['drift', '--json'], dir);
    expect(drifted.stderr).toBe('');
    expect(JSON.parse(drifted.stdout)).toEqual({
      drifted: false,
      differences: [],
      diff: '',
      notCompared: [`${fixture.tool}'s ledger ${fixture.keptAs}`],
    });
    expect(drifted.code).toBe(0);
  });
});

describe('never on top of a foreign ledger', () => {
  it('down, plan and status refuse too, before anything changes', async () => {
    db = await freshDatabase();
    const golang = FIXTURES[0]!;
    await db.admin.query(golang.setup);
    await db.admin.query(APPLIED_SCHEMA);
    const dir = migrationsDir(golang.files);
    const before = await snapshot(db.admin);
    for (const command of [['down'], ['plan'], ['status'], ['down', '--all']]) {
      const result = await cli(command, dir);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(`slipway: ${golang.refusal}${ADVICE}\n`);
    }
    expect(await snapshot(db.admin)).toEqual(before);
  });

  it("after adopting, a run with nothing pending sends no query about other tools' tables", async () => {
    db = await freshDatabase();
    const nodePg = FIXTURES[2]!;
    await db.admin.query(nodePg.setup);
    const dir = migrationsDir(nodePg.files);
    await adopt({ databaseUrl: db.url, dir, logger: silentLogger });
    await migrate({ databaseUrl: db.url, dir, direction: 'up', logger: silentLogger });

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const sent: string[] = [];
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      sent.push(typeof args[0] === 'string' ? args[0] : String((args[0] as { text?: string }).text));
      return query(...args);
    };
    try {
      const result = await migrate({ client, dir, direction: 'up', logger: silentLogger });
      expect(result.executed).toEqual([]);
    } finally {
      await client.end();
    }
    expect(sent).toHaveLength(1);
    expect(sent.join('\n')).not.toMatch(/pgmigrations|goose_db_version|gorp_migrations/);
  });
});

describe('adopt refuses', () => {
  it('a dirty golang-migrate ledger, naming the version and what to check, and changes nothing', async () => {
    db = await freshDatabase();
    await db.admin.query(
      `CREATE TABLE schema_migrations (version bigint not null primary key, dirty boolean not null); INSERT INTO schema_migrations VALUES (62, true)`,
    );
    const dir = migrationsDir({
      '61_add_index.up.sql': 'SELECT 1;\n',
      '62_backfill_emails.up.sql': 'SELECT 1;\n',
      '63_add_tags.up.sql': 'SELECT 1;\n',
    });
    const before = await snapshot(db.admin);

    for (const args of [['adopt'], ['adopt', '--dry-run']]) {
      const result = await cli(args, dir);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(
        "slipway: golang-migrate's table public.schema_migrations is dirty at version 62 (that migration failed half-way): " +
          'check its effects, clear the flag with `migrate force`, then adopt again; nothing was changed\n' +
          'its effects must be all in the database or none (finish or undo them by hand); ' +
          "golang-migrate's force command then clears the flag: `migrate force 62` if they are all there, `migrate force 61` if none are\n",
      );
    }
    const error = await rejection(adopt({ databaseUrl: db.url, dir, logger: silentLogger }), IntegrityError);
    expect([error.kind, error.version]).toEqual(['foreign-dirty', '62']);
    // up names the same state in its refusal.
    expect((await cli(['up'], dir)).stderr).toMatch(
      /^slipway: golang-migrate's table public\.schema_migrations says version 62 is applied \(dirty\), and slipway has no ledger/,
    );
    expect(await snapshot(db.admin)).toEqual(before);
  });

  it('an entry that matches no migration file, naming it, and changes nothing', async () => {
    db = await freshDatabase();
    await db.admin.query(FIXTURES[2]!.setup);
    await db.admin.query(`INSERT INTO pgmigrations (name, run_on) VALUES ('1700000300000_drop-legacy', now())`);
    const dir = migrationsDir(FIXTURES[2]!.files);
    const before = await snapshot(db.admin);

    const result = await cli(['adopt'], dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `slipway: node-pg-migrate's table public.pgmigrations has name 1700000300000_drop-legacy, which matches no migration file in ${dir}: ` +
        'add the file or delete the entry, then adopt again; nothing was changed\n' +
        'add it as <number>_<name>.up.sql (e.g. 1700000300000_drop-legacy.up.sql), ' +
        'or, if it was removed on purpose, delete the entry from public.pgmigrations\n',
    );
    const error = await rejection(adopt({ databaseUrl: db.url, dir, logger: silentLogger }), IntegrityError);
    expect([error.kind, error.version]).toEqual(['foreign-unmapped', '1700000300000_drop-legacy']);
    expect(await snapshot(db.admin)).toEqual(before);
  });

  it('a second adopt: slipway already runs the database', async () => {
    db = await freshDatabase();
    await db.admin.query(FIXTURES[3]!.setup);
    const dir = migrationsDir(FIXTURES[3]!.files);
    expect((await cli(['adopt'], dir)).code).toBe(0);
    const before = await snapshot(db.admin);

    const again = await cli(['adopt'], dir);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(
      'slipway: slipway\'s ledger "public"."schema_migrations" already holds 2 row(s): this database is already run by slipway, there is nothing to adopt; use slipway up (other tools\' tables are left as they are)\n',
    );
    const error = await rejection(adopt({ databaseUrl: db.url, dir, logger: silentLogger }), IntegrityError);
    expect(error.kind).toBe('already-adopted');
    expect(await snapshot(db.admin)).toEqual(before);
  });

  it("a database with no other tool's ledger", async () => {
    db = await freshDatabase();
    const dir = migrationsDir(FIXTURES[0]!.files);
    const result = await cli(['adopt', '--dry-run'], dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      "slipway: no other tool's ledger in this database: there is nothing to adopt; use slipway up\n" +
        'adopt looks for the tables of golang-migrate, dbmate, node-pg-migrate, goose, sql-migrate, Prisma, Drizzle ' +
        "and the Supabase CLI, each of that tool's exact shape\n",
    );
    expect((await db.admin.query(`SELECT to_regclass('public.schema_migrations') AS t`)).rows[0].t).toBeNull();
  });
});
