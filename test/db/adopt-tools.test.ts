/**
 * The ledgers of Prisma, Drizzle and the Supabase CLI, each created exactly as the tool creates
 * it, half of a history applied by that tool's conventions: `adopt` then `up` runs exactly the
 * other half. And the refusals whose advice must never lead to running migrations again.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { adopt, drift, IntegrityError, migrate, type MigrationInput } from '../../src/index.js';
import { freshDatabase, silentLogger, type FreshDatabase } from '../support/db.js';
import { rejection } from '../support/errors.js';
import { migrationsDir } from '../support/files.js';

let db: FreshDatabase | undefined;
afterEach(async () => {
  await db?.drop();
  db = undefined;
});

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Four migrations; the first two are what the old tool applied. Run twice, each fails. */
function history(versions: readonly string[]): MigrationInput[] {
  const tables = ['users', 'posts', 'tags', 'likes'];
  return versions.map((version, i) => ({ version, up: `CREATE TABLE ${tables[i]} (id int);\n` }));
}
const APPLIED_SCHEMA = 'CREATE TABLE users (id int); CREATE TABLE posts (id int);';

async function adoptThenUp(migrations: MigrationInput[]) {
  const adopted = await adopt({ databaseUrl: db!.url, migrations, logger: silentLogger });
  const ran = await migrate({ databaseUrl: db!.url, migrations, direction: 'up', logger: silentLogger });
  const { rows } = await db!.admin.query<{ version: string }>('SELECT version FROM public.schema_migrations ORDER BY version');
  return { adopted, ran: ran.executed.map((s) => s.version), ledger: rows.map((r) => r.version) };
}

// Prisma's migration engine creates it so (migration-engine, postgres flavour).
const PRISMA_TABLE = `CREATE TABLE "_prisma_migrations" (
    "id" VARCHAR(36) PRIMARY KEY NOT NULL, "checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ,
    "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, "rolled_back_at" TIMESTAMPTZ,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), "applied_steps_count" INTEGER NOT NULL DEFAULT 0)`;
const PRISMA_VERSIONS = ['20240101120000_init', '20240215093000_posts', '20240302081500_tags', '20240401000000_likes'];

function prismaRow(id: number, name: string, sql: string, state: 'finished' | 'failed' | 'rolled-back' = 'finished'): string {
  const finished = state === 'finished' ? 'now()' : 'NULL';
  const rolledBack = state === 'rolled-back' ? 'now()' : 'NULL';
  return `INSERT INTO "_prisma_migrations" VALUES ('00000000-0000-0000-0000-00000000000${id}', '${sha256(sql)}', ${finished}, '${name}', NULL, ${rolledBack}, now(), 1)`;
}

describe("Prisma's _prisma_migrations", () => {
  it('adopt records the finished migrations, then up runs exactly the other half', async () => {
    db = await freshDatabase();
    const migrations = history(PRISMA_VERSIONS);
    await db.admin.query(
      `${PRISMA_TABLE}; ${prismaRow(1, PRISMA_VERSIONS[0]!, migrations[0]!.up)}; ${prismaRow(2, PRISMA_VERSIONS[1]!, migrations[1]!.up)}; ${APPLIED_SCHEMA}`,
    );
    await expect(migrate({ databaseUrl: db.url, migrations, direction: 'up', logger: silentLogger })).rejects.toThrow(
      /^prisma's table public\._prisma_migrations says 2 migrations are applied \(20240101120000_init to 20240215093000_posts\), and slipway has no ledger/,
    );
    const { adopted, ran, ledger } = await adoptThenUp(migrations);
    expect([adopted.tool, adopted.keptAs]).toEqual(['prisma', 'public._prisma_migrations']);
    expect(ran).toEqual(['20240302081500_tags', '20240401000000_likes']);
    expect(ledger).toEqual([...PRISMA_VERSIONS].sort());
  });

  it('a failed migration is refused with the Prisma command that settles it; nothing changes', async () => {
    db = await freshDatabase();
    const migrations = history(PRISMA_VERSIONS);
    await db.admin.query(
      `${PRISMA_TABLE}; ${prismaRow(1, PRISMA_VERSIONS[0]!, migrations[0]!.up)}; ${prismaRow(2, PRISMA_VERSIONS[1]!, migrations[1]!.up, 'failed')}`,
    );
    const error = await rejection(adopt({ databaseUrl: db.url, migrations, logger: silentLogger }), IntegrityError);
    expect(error.message).toMatch(
      /records 20240215093000_posts as started and never finished \(failed\): check its effects, then resolve it and adopt again; nothing was changed\nresolve it with `prisma migrate resolve --applied 20240215093000_posts`/,
    );
    expect((await db.admin.query(`SELECT to_regclass('public.schema_migrations') AS t`)).rows).toEqual([{ t: null }]);
  });

  it('a file edited after Prisma applied it is refused, naming it', async () => {
    db = await freshDatabase();
    const migrations = history(PRISMA_VERSIONS);
    await db.admin.query(`${PRISMA_TABLE}; ${prismaRow(1, PRISMA_VERSIONS[0]!, 'CREATE TABLE users (id bigint);\n')}`);
    const error = await rejection(adopt({ databaseUrl: db.url, migrations, logger: silentLogger }), IntegrityError);
    expect(error.message).toMatch(/20240101120000_init\S* was edited after Prisma applied it/);
  });
});

describe("Drizzle's drizzle.__drizzle_migrations", () => {
  it('entries are matched by the hash Drizzle recorded of each file; up runs the rest', async () => {
    db = await freshDatabase();
    const migrations = history(['0000_init', '0001_posts', '0002_tags', '0003_likes']);
    // drizzle-orm's pg migrator creates it so, and records sha256 of each file with the journal's `when`.
    await db.admin.query(`CREATE SCHEMA IF NOT EXISTS "drizzle";
      CREATE TABLE IF NOT EXISTS "drizzle"."__drizzle_migrations" (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint);
      INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ('${sha256(migrations[0]!.up)}', 1700000000000), ('${sha256(migrations[1]!.up)}', 1700000100000);
      ${APPLIED_SCHEMA}`);
    const { adopted, ran, ledger } = await adoptThenUp(migrations);
    expect(adopted.says).toBe("drizzle's table drizzle.__drizzle_migrations says 2 migrations are applied");
    expect(ran).toEqual(['0002_tags', '0003_likes']);
    expect(ledger).toEqual(['0000_init', '0001_posts', '0002_tags', '0003_likes']);
    // Drizzle's table, its sequence and its own schema are its bookkeeping: drift leaves them out and says so.
    const report = await drift({ databaseUrl: db.url, migrations, logger: silentLogger });
    expect(report).toMatchObject({ drifted: false, differences: [], notCompared: ["drizzle's ledger drizzle.__drizzle_migrations"] });
    await db.admin.query('CREATE TABLE drizzle.notes (id int)');
    const touched = await drift({ databaseUrl: db.url, migrations, logger: silentLogger });
    expect(touched.differences.map((d) => [d.object, d.change])).toEqual([
      ['schema drizzle', 'extra'],
      ['table drizzle.notes', 'extra'],
    ]);
  });
});

describe("the Supabase CLI's supabase_migrations.schema_migrations", () => {
  it("is never taken for slipway's ledger: up refuses; adopt keeps it where it is and slipway's ledger goes to public", async () => {
    db = await freshDatabase();
    const migrations = history(['20240101120000_init', '20240215093000_posts', '20240302081500_tags', '20240401000000_likes']);
    await db.admin.query(`CREATE SCHEMA supabase_migrations;
      CREATE TABLE supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY, statements text[], name text);
      INSERT INTO supabase_migrations.schema_migrations VALUES ('20240101120000', ARRAY['CREATE TABLE users (id int)'], 'init'), ('20240215093000', ARRAY['CREATE TABLE posts (id int)'], 'posts');
      ${APPLIED_SCHEMA}`);
    await expect(migrate({ databaseUrl: db.url, migrations, direction: 'up', logger: silentLogger })).rejects.toThrow(
      /^supabase's table supabase_migrations\.schema_migrations says 2 migrations are applied/,
    );
    const { adopted, ran, ledger } = await adoptThenUp(migrations);
    expect([adopted.keptAs, adopted.table]).toEqual(['supabase_migrations.schema_migrations', '"public"."schema_migrations"']);
    expect(ran).toEqual(['20240302081500_tags', '20240401000000_likes']);
    expect(ledger).toHaveLength(4);
    const report = await drift({ databaseUrl: db.url, migrations, logger: silentLogger });
    expect(report).toMatchObject({ drifted: false, notCompared: ["supabase's ledger supabase_migrations.schema_migrations"] });
  });
});

describe('a Supabase folder with its ledger', () => {
  it('is read as it is, adopted, and up runs the rest', async () => {
    db = await freshDatabase();
    const dir = migrationsDir({
      '20240101120000_init.sql': 'create table users (id int);\n',
      '20240215093000_posts.sql': 'create table posts (id int);\n',
      '20240302081500_tags.sql': 'create table tags (id int);\n',
    });
    await db.admin.query(`CREATE SCHEMA supabase_migrations;
      CREATE TABLE supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY, statements text[], name text, created_by text, idempotency_key text);
      INSERT INTO supabase_migrations.schema_migrations (version, name) VALUES ('20240101120000', 'init'), ('20240215093000', 'posts');
      ${APPLIED_SCHEMA}`);
    await adopt({ databaseUrl: db.url, dir, logger: silentLogger });
    const ran = await migrate({ databaseUrl: db.url, dir, direction: 'up', logger: silentLogger });
    expect(ran.executed.map((s) => s.version)).toEqual(['20240302081500_tags']);
  });
});

describe('refusals that never lead to running migrations again', () => {
  it("golang-migrate's version with no file is a high-water mark: the advice is the folder, never deleting the row", async () => {
    db = await freshDatabase();
    await db.admin.query(
      `CREATE TABLE schema_migrations (version bigint not null primary key, dirty boolean not null); INSERT INTO schema_migrations VALUES (5, false); ${APPLIED_SCHEMA}`,
    );
    const dir = migrationsDir({
      '000001_users.up.sql': 'CREATE TABLE users (id int);\n',
      '000002_posts.up.sql': 'CREATE TABLE posts (id int);\n',
    });
    const error = await rejection(adopt({ databaseUrl: db.url, dir, logger: silentLogger }), IntegrityError);
    expect(error.message).toMatch(
      /says every migration up to version 5 is applied; no file in .* has that number: point --dir at golang-migrate's folder; nothing was changed\nif golang-migrate ran this folder, restore that migration's files instead$/,
    );
    expect(error.message).not.toMatch(/delete/);
  });

  it('an empty ledger of another tool on a database with tables is refused, naming them', async () => {
    db = await freshDatabase();
    await db.admin.query(`create table if not exists public.schema_migrations (version varchar(128) primary key); ${APPLIED_SCHEMA}`);
    const dir = migrationsDir({ '20240101120000_users.up.sql': 'CREATE TABLE users (id int);\n' });
    const error = await rejection(adopt({ databaseUrl: db.url, dir, logger: silentLogger }), IntegrityError);
    expect(error.kind).toBe('foreign-empty');
    expect(error.message).toMatch(
      /^dbmate's table public\.schema_migrations says no migration is applied, yet the database has 2 table\(s\): adopting it would run every migration again.*\nthey include public\.posts, public\.users; /,
    );
  });
});
