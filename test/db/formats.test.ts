import { createHash } from 'node:crypto';
/**
 * Folders in the layouts teams switch from (test/fixtures/formats, written in the shapes those
 * tools generate), applied by a plain `migrate({ direction: 'up' })` against a real PostgreSQL:
 * each in its format's own order, with its own down sections and no-transaction markers.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { adopt, migrate, MigrationFailedError, SourceError, type MigrateOptions } from '../../src/index.js';
import { openMigrationsFolder } from '../../src/migrations/formats/index.js';
import { runCli } from '../support/cli.js';
import { captureLogger, freshDatabase, sandbox, silentLogger, type FreshDatabase, type Sandbox, migrateIn } from '../support/db.js';
import { rejection } from '../support/errors.js';
import { migrationsDir, tempFolder } from '../support/files.js';

const FIXTURES = path.resolve('test/fixtures/formats');
const fixture = (layout: string) => path.join(FIXTURES, layout);

let box: Sandbox;
afterEach(async () => box?.cleanup());

function run(direction: 'up' | 'down', dir: string, extra: Partial<MigrateOptions> = {}) {
  return migrateIn(box, direction, dir, extra);
}
async function rows(sql: string): Promise<unknown[]> {
  return (await box.admin.query(sql)).rows;
}
async function tables(): Promise<string[]> {
  const { rows: found } = await box.admin.query(
    `SELECT relname FROM pg_class WHERE relnamespace = $1::regnamespace AND relkind = 'r' ORDER BY 1`,
    [box.schema],
  );
  return found.map((r) => r.relname).filter((name) => `${box.schema}.${name}` !== box.table);
}
async function indexes(): Promise<Array<{ name: string; valid: boolean }>> {
  const { rows: found } = await box.admin.query(
    `SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = $1::regnamespace AND NOT i.indisprimary ORDER BY 1`,
    [box.schema],
  );
  return found;
}
async function enumValues(type: string): Promise<string[]> {
  const { rows: found } = await box.admin.query(`SELECT enumlabel FROM pg_enum WHERE enumtypid = $1::regtype ORDER BY enumsortorder`, [
    `${box.schema}."${type}"`,
  ]);
  return found.map((r) => r.enumlabel);
}
async function ledger(): Promise<string[]> {
  return (await box.admin.query(`SELECT version FROM ${box.table} ORDER BY applied_at, version`)).rows.map((r) => r.version);
}

describe('each layout, read as it is and applied by migrate({ direction: up })', () => {
  it('Prisma: folders in name order (20240615_index_books after 20240301000000_add_books), migration_lock.toml ignored', async () => {
    box = await sandbox();
    const up = await run('up', fixture('prisma'));
    expect(up.executed.map((s) => s.version)).toEqual(['20240105093000_init', '20240301000000_add_books', '20240615_index_books']);
    expect(await tables()).toEqual(['Author', 'Book']);
    expect(await indexes()).toEqual([
      { name: 'Author_email_key', valid: true },
      { name: 'Book_authorId_idx', valid: true },
    ]);
    expect(await enumValues('Role')).toEqual(['READER', 'WRITER', 'EDITOR']);
    // A second run finds nothing to do: the versions are the folder names.
    expect((await run('up', fixture('prisma'))).executed).toEqual([]);
    expect(await ledger()).toEqual(['20240105093000_init', '20240301000000_add_books', '20240615_index_books']);
  });

  it('Prisma: --to follows the folder order too (20240615_index_books is after 20240301000000_add_books)', async () => {
    box = await sandbox();
    const up = await run('up', fixture('prisma'), { target: '20240301000000_add_books' });
    expect(up.executed.map((s) => s.version)).toEqual(['20240105093000_init', '20240301000000_add_books']);
    expect(await indexes()).toEqual([{ name: 'Author_email_key', valid: true }]);
  });

  it('Prisma: no down SQL, so a down is refused by name', async () => {
    box = await sandbox();
    await run('up', fixture('prisma'));
    const error = await rejection(run('down', fixture('prisma')), Error);
    expect(error.message).toContain('cannot revert 20240615_index_books');
    expect(await tables()).toEqual(['Author', 'Book']);
  });

  it('Drizzle: the journal order, statement breakpoints, meta/ snapshots ignored', async () => {
    box = await sandbox();
    const up = await run('up', fixture('drizzle'));
    expect(up.executed.map((s) => s.version)).toEqual(['0000_quiet_harrier', '0001_amused_lizard']);
    expect(await tables()).toEqual(['authors', 'books']);
    expect(
      await rows(
        `SELECT column_name FROM information_schema.columns WHERE table_schema = '${box.schema}' AND table_name = 'books' ORDER BY ordinal_position`,
      ),
    ).toEqual([{ column_name: 'id' }, { column_name: 'title' }, { column_name: 'author_id' }, { column_name: 'published_on' }]);
    expect(await rows(`SELECT conname FROM pg_constraint WHERE contype = 'f' AND connamespace = '${box.schema}'::regnamespace`)).toEqual([
      { conname: 'books_author_id_authors_id_fk' },
    ]);
    expect(await indexes()).toEqual([{ name: 'books_author_idx', valid: true }]);
  });

  it('dbmate: up sections applied, transaction:false runs a new enum value and its use one after the other; the down section reverts', async () => {
    box = await sandbox();
    const up = await run('up', fixture('dbmate'));
    expect(up.executed.map((s) => [s.version, s.transactional])).toEqual([
      ['20240101120000_create_authors', true],
      ['20240102120000_archive_authors', false],
    ]);
    expect(await rows(`SELECT name, status::text FROM authors ORDER BY name`)).toEqual([
      { name: 'Italo', status: 'archived' },
      { name: 'Ursula', status: 'active' },
    ]);
    const down = await run('down', fixture('dbmate'), { all: true });
    expect(down.executed.map((s) => s.version)).toEqual(['20240102120000_archive_authors', '20240101120000_create_authors']);
    expect(await tables()).toEqual([]);
  });

  it('goose: version order (10 after 2), StatementBegin/End around a plpgsql body, NO TRANSACTION for CREATE INDEX CONCURRENTLY, Down sections', async () => {
    box = await sandbox();
    // Not batched: in a batch the index of a table the batch created is built in it (test/db/batch.test.ts).
    const up = await run('up', fixture('goose'), { batch: false });
    expect(up.executed.map((s) => [s.version, s.transactional])).toEqual([
      ['1_create_authors', true],
      ['2_touch_updated_at', true],
      ['10_index_authors_name', false],
    ]);
    expect(await indexes()).toEqual([{ name: 'authors_name_idx', valid: true }]);
    await box.admin.query(`INSERT INTO authors (name, updated_at) VALUES ('Ada', '2000-01-01')`);
    await box.admin.query(`UPDATE authors SET name = 'Ada L.'`);
    expect(await rows(`SELECT updated_at > '2000-01-01' AS touched FROM authors`)).toEqual([{ touched: true }]);
    const down = await run('down', fixture('goose'), { all: true });
    expect(down.executed.map((s) => s.version)).toEqual(['10_index_authors_name', '2_touch_updated_at', '1_create_authors']);
    expect(await tables()).toEqual([]);
    expect(await rows(`SELECT proname FROM pg_proc WHERE proname = 'touch_updated_at'`)).toEqual([]);
  });

  it('sql-migrate: number order, Up notransaction, StatementBegin/End', async () => {
    box = await sandbox();
    const up = await run('up', fixture('sql-migrate'));
    expect(up.executed.map((s) => [s.version, s.transactional])).toEqual([
      ['1_initial', true],
      ['2_retire_books', false],
      ['10_book_count', true],
    ]);
    expect(await enumValues('book_state')).toEqual(['draft', 'published', 'retired']);
    expect(await rows(`SELECT title, state::text, book_count()::int AS n FROM books`)).toEqual([
      { title: 'Solaris', state: 'retired', n: 1 },
    ]);
  });

  it('node-pg-migrate SQL files: -- Up Migration / -- Down Migration', async () => {
    box = await sandbox();
    const up = await run('up', fixture('node-pg-migrate'));
    expect(up.executed.map((s) => s.version)).toEqual(['1704447000000_create-authors', '1709283600000_add-books']);
    expect(await tables()).toEqual(['authors', 'books']);
    await run('down', fixture('node-pg-migrate'));
    expect(await tables()).toEqual(['authors']);
  });

  it('maragudk/migrate: <name>.up.sql and .down.sql; golang-migrate: slipway own layout, a BEGIN/COMMIT file as written', async () => {
    box = await sandbox();
    expect((await run('up', fixture('maragudk'))).executed.map((s) => s.version)).toEqual(['0001', '0002']);
    expect(await tables()).toEqual(['authors', 'books']);
    await run('down', fixture('maragudk'), { all: true });
    expect(await tables()).toEqual([]);
    await box.cleanup();

    box = await sandbox();
    expect((await run('up', fixture('golang-migrate'))).executed.map((s) => s.version)).toEqual([
      '000001_create_authors',
      '000002_add_books',
    ]);
    expect(await tables()).toEqual(['authors', 'books']);
  });

  it('an error in a section names the line of the file it is on', async () => {
    box = await sandbox();
    const dir = migrationsDir({
      '1_a.sql': '-- +goose Up\nCREATE TABLE a (id int);\n\n-- +goose Down\nDROP TABLE a;\n',
      '2_b.sql': "-- a note\n-- +goose Up\nCREATE TABLE b (id int);\nINSERT INTO b VALUES ('x');\n",
    });
    const error = await rejection(run('up', dir), MigrationFailedError);
    expect(error.message).toContain(
      `migration 2_b (up) failed at ${path.join(dir, '2_b.sql')}:4: invalid input syntax for type integer: "x" [22P02]`,
    );
    expect(await tables()).toEqual(['a']);
  });

  it('format names the layout: goose read as goose; read as dbmate, its files are refused by name', async () => {
    box = await sandbox();
    expect((await run('up', fixture('goose'), { format: 'goose' })).executed).toHaveLength(3);
    await box.cleanup();
    box = await sandbox();
    const error = await rejection(run('up', fixture('goose'), { format: 'dbmate' }), SourceError);
    expect(error.message).toBe(
      `${path.join(fixture('goose'), '10_index_authors_name.sql')} has no -- migrate:up line, which every dbmate migration has: add it above the SQL to apply`,
    );
    expect(await tables()).toEqual([]);
  });
});

describe('taking over from the tool, files left as they are', () => {
  let db: FreshDatabase | undefined;
  afterEach(async () => {
    await db?.drop();
    db = undefined;
  });

  it('goose: adopt maps goose_db_version to the goose files, then up applies only what goose had not', async () => {
    db = await freshDatabase();
    // What goose left after applying versions 1 and 2 of the fixture.
    await db.admin.query(`CREATE TABLE goose_db_version (id serial NOT NULL, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp NULL default now(), PRIMARY KEY(id));
      INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (1, true), (2, true);
      CREATE TABLE authors (id bigserial PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());`);
    const adopted = await adopt({ databaseUrl: db.url, dir: fixture('goose'), logger: silentLogger });
    expect(adopted.migrations.map((m) => [m.version, m.state])).toEqual([
      ['1_create_authors', 'applied'],
      ['2_touch_updated_at', 'applied'],
      ['10_index_authors_name', 'pending'],
    ]);
    const up = await migrate({ databaseUrl: db.url, dir: fixture('goose'), direction: 'up', logger: silentLogger });
    expect(up.executed.map((s) => s.version)).toEqual(['10_index_authors_name']);
    expect((await db.admin.query(`SELECT to_regclass('public.authors_name_idx') IS NOT NULL AS built`)).rows).toEqual([{ built: true }]);
  });

  it('Prisma: adopt reads _prisma_migrations (finished rows, checksums of migration.sql); up then applies the rest', async () => {
    db = await freshDatabase();
    const init = readFileSync(path.join(fixture('prisma'), '20240105093000_init', 'migration.sql'));
    // The state Prisma left: its first migration applied, with the sha256 Prisma records of its migration.sql.
    await db.admin.query(`CREATE TABLE _prisma_migrations (id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL, finished_at timestamptz, migration_name varchar(255) NOT NULL,
      logs text, rolled_back_at timestamptz, started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0);
      INSERT INTO _prisma_migrations VALUES ('3b5e7c1a-0000-4000-8000-000000000001', '${createHash('sha256').update(init).digest('hex')}', now(), '20240105093000_init', NULL, NULL, now(), 1);
      CREATE TYPE "Role" AS ENUM ('READER', 'WRITER');
      CREATE TABLE "Author" ("id" SERIAL NOT NULL, "email" TEXT NOT NULL, "role" "Role" NOT NULL DEFAULT 'WRITER', "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, CONSTRAINT "Author_pkey" PRIMARY KEY ("id"));
      CREATE UNIQUE INDEX "Author_email_key" ON "Author"("email");`);
    const cli = await runCli(['adopt', '--database-url', db.url, '--dir', fixture('prisma')]);
    expect(cli.code, cli.stderr).toBe(0);
    const up = await migrate({ databaseUrl: db.url, dir: fixture('prisma'), direction: 'up', logger: silentLogger });
    expect(up.executed.map((s) => s.version)).toEqual(['20240301000000_add_books', '20240615_index_books']);
  });

  it.each([
    [
      'sql-migrate',
      `create table gorp_migrations ("id" text not null primary key, "applied_at" timestamp with time zone); insert into gorp_migrations values ('1_initial.sql', now()), ('2_retire_books.sql', now());`,
    ],
    [
      'node-pg-migrate',
      `CREATE TABLE pgmigrations (id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL); INSERT INTO pgmigrations (name, run_on) VALUES ('1704447000000_create-authors', now());`,
    ],
  ])('%s: adopt --dry-run maps its ledger to its own files', async (layout, setup) => {
    db = await freshDatabase();
    await db.admin.query(setup);
    const mapping = await adopt({ databaseUrl: db.url, dir: fixture(layout), dryRun: true, logger: silentLogger });
    const expected =
      layout === 'sql-migrate'
        ? [
            ['1_initial', 'applied'],
            ['2_retire_books', 'applied'],
            ['10_book_count', 'pending'],
          ]
        : [
            ['1704447000000_create-authors', 'applied'],
            ['1709283600000_add-books', 'pending'],
          ];
    expect(mapping.migrations.map((m) => [m.version, m.state])).toEqual(expected);
  });

  it('Drizzle: adopt matches drizzle.__drizzle_migrations rows to the files by the hash Drizzle recorded; up then applies the rest', async () => {
    db = await freshDatabase();
    const journal = JSON.parse(readFileSync(path.join(fixture('drizzle'), 'meta', '_journal.json'), 'utf8')) as {
      entries: Array<{ when: number; tag: string }>;
    };
    const first = journal.entries[0]!;
    const hash = createHash('sha256')
      .update(readFileSync(path.join(fixture('drizzle'), `${first.tag}.sql`)))
      .digest('hex');
    // What Drizzle's migrator left after the fixture's first migration: its hash and the entry's `when`.
    await db.admin.query(`CREATE SCHEMA drizzle; CREATE TABLE drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint);
      INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ('${hash}', ${first.when});
      CREATE TABLE authors (id serial PRIMARY KEY NOT NULL, name text NOT NULL);
      CREATE TABLE books (id serial PRIMARY KEY NOT NULL, title text NOT NULL, author_id integer NOT NULL REFERENCES authors (id));`);
    await adopt({ databaseUrl: db.url, dir: fixture('drizzle'), logger: silentLogger });
    const up = await migrate({ databaseUrl: db.url, dir: fixture('drizzle'), direction: 'up', logger: silentLogger });
    expect(up.executed.map((s) => s.version)).toEqual(['0001_amused_lizard']);
  });

  it('dbmate: adopt maps its schema_migrations versions to the dbmate files', async () => {
    db = await freshDatabase();
    await db.admin.query(`CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY); INSERT INTO schema_migrations VALUES ('20240101120000');
      CREATE TYPE author_status AS ENUM ('active', 'retired');
      CREATE TABLE authors (id bigserial PRIMARY KEY, name text NOT NULL, status author_status NOT NULL DEFAULT 'active');
      INSERT INTO authors (name) VALUES ('Ursula'), ('Italo');`);
    await adopt({ databaseUrl: db.url, dir: fixture('dbmate'), logger: silentLogger });
    const up = await migrate({ databaseUrl: db.url, dir: fixture('dbmate'), direction: 'up', logger: silentLogger });
    expect(up.executed.map((s) => s.version)).toEqual(['20240102120000_archive_authors']);
    expect((await db.admin.query(`SELECT status::text FROM authors WHERE name = 'Italo'`)).rows).toEqual([{ status: 'archived' }]);
  });
});

describe('folders refused in one line (the detail, if any, on a second), nothing applied', () => {
  it.each([
    [
      'mixed layouts',
      {
        '001_a.up.sql': 'CREATE TABLE a (id int);',
        '20240101120000_b.sql': '-- migrate:up\nCREATE TABLE b (id int);\n-- migrate:down\nDROP TABLE b;\n',
      },
      /mixes migration layouts: 001_a\.up\.sql \(slipway\/golang-migrate: <digits>_<name>\.up\.sql\), 20240101120000_b\.sql \(dbmate: -- migrate:up\): keep one layout per folder/,
    ],
    [
      'a goose Go migration',
      { '00001_init.sql': '-- +goose Up\nCREATE TABLE a (id int);\n', '00002_backfill.go': 'package migrations\n' },
      /00002_backfill\.go is a goose Go migration: slipway runs SQL migrations only/,
    ],
  ])('%s', async (_what, files, message) => {
    box = await sandbox();
    const error = await rejection(run('up', migrationsDir(files)), SourceError);
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('\n');
    expect(error.message.length).toBeLessThan(300);
    expect(await tables()).toEqual([]);
  });

  it('files no layout explains: one line, then the layouts --format takes on a second', async () => {
    box = await sandbox();
    const dir = migrationsDir({ 'V1__init.sql': 'CREATE TABLE a (id int);', 'V2__more.sql': 'CREATE TABLE b (id int);' });
    const error = await rejection(run('up', dir), SourceError);
    expect(error.message).toBe(
      `${dir}: no migration layout explains V1__init.sql, V2__more.sql: name files <digits>_<name>.up.sql, ` +
        "or give your tool's layout with --format\n" +
        'the layouts --format takes: slipway, maragudk, prisma, drizzle, dbmate, goose, sql-migrate, node-pg-migrate, supabase',
    );
    expect(await tables()).toEqual([]);
  });

  it('a Drizzle file the journal does not list is skipped with a warning, as Drizzle skips it; a journal entry without its file is refused', async () => {
    box = await sandbox();
    const journal = (tags: string[]) =>
      JSON.stringify({
        version: '7',
        dialect: 'postgresql',
        entries: tags.map((tag, idx) => ({ idx, version: '7', when: 1704447000000 + idx, tag, breakpoints: true })),
      });
    const missing = tempFolder({ '0000_a.sql': 'CREATE TABLE a (id int);', '0001_b.sql': 'CREATE TABLE b (id int);' });
    await (await import('node:fs/promises')).mkdir(path.join(missing, 'meta'));
    await (await import('node:fs/promises')).writeFile(
      path.join(missing, 'meta', '_journal.json'),
      journal(['0000_a', '0001_b', '0002_c']),
    );
    expect((await rejection(run('up', missing), SourceError)).message).toMatch(
      /_journal\.json lists 0002_c but .*0002_c\.sql does not exist: restore the file, or remove its journal entry/,
    );
    expect(await tables()).toEqual([]);

    // Drizzle's own order leaves 0001_b out, so the schema Drizzle (or psql over the journal) builds has no table b.
    const orphan = tempFolder({
      '0000_a.sql': 'CREATE TABLE a (id int);',
      '0001_b.sql': 'CREATE TABLE b (id int);',
      '0002_c.sql': 'CREATE TABLE c (id int);',
    });
    await (await import('node:fs/promises')).mkdir(path.join(orphan, 'meta'));
    await (await import('node:fs/promises')).writeFile(path.join(orphan, 'meta', '_journal.json'), journal(['0000_a', '0002_c']));
    const { logger, lines } = captureLogger();
    const up = await run('up', orphan, { logger });
    expect(up.executed.map((s) => s.version)).toEqual(['0000_a', '0002_c']);
    expect(lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual([
      `${path.join(orphan, '0001_b.sql')} is not in ${path.join(orphan, 'meta', '_journal.json')}, so Drizzle never runs it: skipped; add it with drizzle-kit generate --custom, or delete it`,
    ]);
    expect(await tables()).toEqual(['a', 'c']);
  });

  it('an empty folder (notes and hidden files only) still has nothing to apply', async () => {
    box = await sandbox();
    const up = await run('up', migrationsDir({ '.gitkeep': '', 'README.md': '# migrations\n' }));
    expect(up.executed).toEqual([]);
    expect(up.migrations).toEqual([]);
  });
});

describe('transactions as the file asks', () => {
  const ENUM = "CREATE TYPE mood AS ENUM ('calm');\nCREATE TABLE people (name text, mood mood);\n";
  const USE = "ALTER TYPE mood ADD VALUE 'happy';\nINSERT INTO people VALUES ('Ada', 'happy');\n";

  it('-- slipway:no-transaction runs a file statement by statement, so a new enum value can be used right after it is added', async () => {
    box = await sandbox();
    const up = await run('up', migrationsDir({ '001_mood.up.sql': ENUM, '002_happy.up.sql': `-- slipway:no-transaction\n${USE}` }));
    expect(up.executed.map((s) => [s.version, s.transactional])).toEqual([
      ['001_mood', true],
      ['002_happy', false],
    ]);
    expect(await rows(`SELECT name, mood::text FROM people`)).toEqual([{ name: 'Ada', mood: 'happy' }]);
  });

  it('without the marker the same file fails in one transaction (55P04) and nothing of it stays', async () => {
    box = await sandbox();
    const error = await rejection(run('up', migrationsDir({ '001_mood.up.sql': ENUM, '002_happy.up.sql': USE })), MigrationFailedError);
    expect(error.message).toContain('[55P04]');
    expect(await enumValues('mood')).toEqual(['calm']);
  });

  it('a failing statement of a marked file names it and says that it ran outside a transaction', async () => {
    box = await sandbox();
    const dir = migrationsDir({ '001_t.up.sql': "-- slipway:no-transaction\nCREATE TABLE t (id int);\nINSERT INTO t VALUES ('x');\n" });
    const error = await rejection(run('up', dir), MigrationFailedError);
    expect(error.message).toContain(`failed at ${path.join(dir, '001_t.up.sql')}:3: `);
    expect(error.message).toContain(
      'it runs outside a transaction (marked -- slipway:no-transaction); statement 2 of 2 failed, the 1 before it took effect',
    );
    expect(await tables()).toEqual(['t']);
  });

  it('BEGIN; SET TRANSACTION ISOLATION LEVEL …; …; COMMIT; runs as psql runs it, at that isolation level', async () => {
    box = await sandbox();
    const file =
      "BEGIN;\nSET TRANSACTION ISOLATION LEVEL REPEATABLE READ;\nSET TRANSACTION READ WRITE;\nCREATE TABLE levels (level text);\nINSERT INTO levels SELECT current_setting('transaction_isolation');\nCOMMIT;\n";
    const up = await run('up', migrationsDir({ '001_levels.up.sql': file }));
    expect(up.executed.map((s) => [s.version, s.transactional])).toEqual([['001_levels', true]]);
    expect(await rows(`SELECT level FROM levels`)).toEqual([{ level: 'repeatable read' }]);
  });
});

describe('the CLI', () => {
  const dbArgs = (dir: string) => ['--database-url', box.url, '--dir', dir, '--table', box.table, '--lock-key', box.lockKey.toString()];

  it('slipway up --dir <a Prisma folder> applies it', async () => {
    box = await sandbox();
    const cli = await runCli(['up', ...dbArgs(fixture('prisma')), '--log-format', 'json']);
    expect(cli.code).toBe(0);
    expect(
      cli.stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line).msg)[0],
    ).toBe(`reading ${fixture('prisma')} as a prisma folder`);
    expect(await ledger()).toEqual(['20240105093000_init', '20240301000000_add_books', '20240615_index_books']);
    expect(await tables()).toEqual(['Author', 'Book']);
  });

  it.each(['drizzle', 'dbmate', 'goose', 'sql-migrate', 'node-pg-migrate', 'maragudk'])(
    'slipway up --dir <a %s folder> applies it, lint on',
    async (layout) => {
      box = await sandbox();
      const cli = await runCli(['up', ...dbArgs(fixture(layout))]);
      expect(cli.stderr).toBe('');
      expect(cli.code).toBe(0);
      expect(await ledger()).toEqual(
        openMigrationsFolder(fixture(layout))
          .readMigrations()
          .map((m) => m.version),
      );
    },
  );

  it('a folder no layout explains exits non-zero with one line and the layouts on a second, never "nothing to apply"', async () => {
    box = await sandbox();
    const dir = migrationsDir({ 'V1__init.sql': 'CREATE TABLE a (id int);' });
    const cli = await runCli(['up', ...dbArgs(dir)]);
    expect(cli.code).not.toBe(0);
    expect(cli.stdout + cli.stderr).not.toContain('nothing to apply');
    const lines = cli.stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain(`${dir}: no migration layout explains V1__init.sql`);
    expect(lines[1]).toBe(
      'the layouts --format takes: slipway, maragudk, prisma, drizzle, dbmate, goose, sql-migrate, node-pg-migrate, supabase',
    );
  });

  it('slipway new writes in the folder layout, or the one --format names, numbered after the newest file', async () => {
    const goose = migrationsDir({ '00001_init.sql': '-- +goose Up\nCREATE TABLE a (id int);\n' });
    const created = await runCli(['new', 'add_b', '--dir', goose]);
    expect(created).toEqual({ code: 0, stdout: `created ${path.join(goose, '00002_add_b.sql')}\n`, stderr: '' });
    // sql-migrate names as goalert's: a timestamp, then `-`. The new file follows them, never before them.
    const sqlMigrate = migrationsDir({
      '20180816095155-change-log.sql': '-- +migrate Up\nCREATE TABLE log (id int);\n',
      '20240415143348-ext-int-keys.sql': '-- +migrate Up\nCREATE TABLE keys (id int);\n',
    });
    const next = await runCli(['new', 'add_widgets', '--dir', sqlMigrate]);
    expect(next.stdout).toMatch(/^created .*\/\d{14}-add_widgets\.sql\n$/);
    const versions = openMigrationsFolder(sqlMigrate)
      .readMigrations()
      .map((m) => m.version);
    expect(versions.slice(0, 2)).toEqual(['20180816095155-change-log', '20240415143348-ext-int-keys']);
    expect(versions[2]).toMatch(/^\d{14}-add_widgets$/);
    const empty = migrationsDir({});
    const dbmate = await runCli(['new', 'init', '--dir', empty, '--format', 'dbmate']);
    expect(dbmate.code).toBe(0);
    expect(dbmate.stdout).toMatch(/^created .*\/\d{14}_init\.sql\n$/);
  });

  it('--format names the layout', async () => {
    box = await sandbox();
    const cli = await runCli(['up', ...dbArgs(fixture('sql-migrate')), '--format', 'goose']);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toContain('has no -- +goose Up line');
    expect((await runCli(['up', ...dbArgs(fixture('sql-migrate')), '--format', 'sql-migrate'])).code).toBe(0);
    expect(await ledger()).toEqual(['1_initial', '2_retire_books', '10_book_count']);
  });
});
