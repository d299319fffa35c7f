/**
 * The readers of other tools' layouts, detection, `slipway new` in each layout, the
 * no-transaction marker and SET TRANSACTION in a file's own BEGIN: pure, no database.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rejection, thrown } from '../support/errors.js';
import { SourceError, UsageError } from '../../src/errors.js';
import { checkFormat, openMigrationsFolder } from '../../src/migrations/formats/index.js';
import { createMigration } from '../../src/migrations/formats/new.js';
import { splitSections } from '../../src/migrations/formats/sections.js';
import { compareMigrations, isUnwritten, nextVersionNumber } from '../../src/migrations/source.js';
import { hasNoTransactionMarker, parseSql } from '../../src/sql/parse.js';
import { parseForLint } from '../../src/lint/source.js';

const FIXTURES = path.resolve('test/fixtures/formats');

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A folder from `{ 'path/in/folder': 'content' }`, sub-folders made as needed. */
function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-formats-'));
  made.push(dir);
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

const read = (dir: string, format?: Parameters<typeof openMigrationsFolder>[1]) => openMigrationsFolder(dir, format).readMigrations();
const versions = (dir: string, format?: Parameters<typeof openMigrationsFolder>[1]) => read(dir, format).map((m) => m.version);
const refusal = (fn: () => unknown) => thrown(fn, SourceError).message;

describe('detection', () => {
  it.each([
    ['prisma', 'prisma'],
    ['drizzle', 'drizzle'],
    ['dbmate', 'dbmate'],
    ['goose', 'goose'],
    ['sql-migrate', 'sql-migrate'],
    ['node-pg-migrate', 'node-pg-migrate'],
    ['maragudk', 'maragudk'],
    ['golang-migrate', 'slipway'],
  ])('the %s fixture reads as %s', (fixture, format) => {
    expect(openMigrationsFolder(path.join(FIXTURES, fixture)).format).toBe(format);
  });

  it('an empty folder, or one of notes and hidden files, has no layout and no migrations', () => {
    for (const dir of [folder({}), folder({ '.gitkeep': '', 'README.md': 'notes', 'notes.txt': '' })]) {
      expect(openMigrationsFolder(dir).format).toBeNull();
      expect(read(dir)).toEqual([]);
    }
  });

  it('a folder of other files (the wrong --dir) is refused, naming a few of them', () => {
    const dir = folder({ 'index.ts': '', 'app.json': '', 'b.json': '', 'c.json': '', 'lib/x.ts': '' });
    expect(refusal(() => read(dir))).toMatch(
      new RegExp(`^${dir}: no migration layout explains app\\.json, b\\.json, c\\.json and 2 more: `),
    );
  });

  it('a file with the markers of two tools is refused by name', () => {
    const dir = folder({ '1_a.sql': '-- +goose Up\n-- migrate:up\nSELECT 1;\n' });
    expect(refusal(() => read(dir))).toBe(
      `${path.join(dir, '1_a.sql')} has the markers of dbmate and goose: keep one tool's markers, or name the layout with --format`,
    );
  });

  it('slipway files next to maragudk names are a mix, unless the format is named', () => {
    const dir = folder({ '001_a.up.sql': 'SELECT 1;', '0157.up.sql': 'SELECT 2;' });
    expect(refusal(() => read(dir))).toContain(
      'mixes migration layouts: 001_a.up.sql (slipway/golang-migrate: <digits>_<name>.up.sql), 0157.up.sql (maragudk/migrate: <name>.up.sql)',
    );
    expect(versions(dir, 'maragudk')).toEqual(['001_a', '0157']);
  });

  it('a misnamed .sql file in a slipway folder gets slipway own message, as before', () => {
    const dir = folder({ '001_a.up.sql': 'SELECT 1;', 'notes.sql': '-- scratch' });
    expect(refusal(() => read(dir))).toBe(
      `${path.join(dir, 'notes.sql')}: migration files must be named <digits>_<name>.up.sql or <digits>_<name>.down.sql`,
    );
  });

  it('code migrations are refused by name: goose .go, JavaScript ones', () => {
    expect(refusal(() => read(folder({ '00001_a.sql': '-- +goose Up\nSELECT 1;\n', '00002_b.go': '', '00003_c.go': '' })))).toMatch(
      /00002_b\.go is a goose Go migration \(with 00003_c\.go\): slipway runs SQL migrations only; /,
    );
    expect(refusal(() => read(folder({ '1700000000000_init.js': '' })))).toMatch(/1700000000000_init\.js is a migration written as code: /);
  });

  it('an unknown format option is a usage error naming the layouts', () => {
    expect(thrown(() => checkFormat('flyway'), UsageError).message).toBe(
      'unknown migrations format "flyway": use one of slipway, golang-migrate, maragudk, prisma, drizzle, dbmate, goose, sql-migrate, node-pg-migrate, supabase',
    );
  });
});

describe('Supabase', () => {
  it('plain <timestamp>_<name>.sql files with no markers are whole migrations, in version order', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-supabase-'));
    try {
      writeFileSync(path.join(dir, '20240215093000_posts.sql'), 'create table posts (id int);\n');
      writeFileSync(path.join(dir, '20240101120000_init.sql'), 'create table users (id int);\n');
      writeFileSync(path.join(dir, '9_early.sql'), 'select 1;\n');
      const folder = openMigrationsFolder(dir);
      expect(folder.format).toBe('supabase');
      expect(folder.readMigrations().map((m) => [m.version, m.upSql, m.downSql])).toEqual([
        ['9_early', 'select 1;\n', null],
        ['20240101120000_init', 'create table users (id int);\n', null],
        ['20240215093000_posts', 'create table posts (id int);\n', null],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Prisma', () => {
  it('orders folders by name, so an 8-digit folder sorts by its characters; keeps migration.sql whole; no downs', () => {
    const dir = folder({
      'migration_lock.toml': 'provider = "postgresql"\n',
      '20250625_add_index/migration.sql': 'CREATE INDEX i ON t (a);\n',
      '20250101000000_init/migration.sql': 'CREATE TABLE t (a int);\n',
      '20250701000000_more/migration.sql': 'ALTER TABLE t ADD b int;\n',
    });
    const migrations = read(dir);
    expect(migrations.map((m) => [m.version, m.number, m.name, m.order, m.downSql])).toEqual([
      ['20250101000000_init', 20250101000000n, 'init', 0, null],
      ['20250625_add_index', 20250625n, 'add_index', 1, null],
      ['20250701000000_more', 20250701000000n, 'more', 2, null],
    ]);
    expect(migrations[1]!.upSql).toBe('CREATE INDEX i ON t (a);\n');
    expect(migrations[1]!.upSource).toBe(path.join(dir, '20250625_add_index', 'migration.sql'));
    // The format's order wins over number-then-name in every comparison the plan makes.
    expect(compareMigrations(migrations[0]!, migrations[1]!)).toBeLessThan(0);
  });

  it('a symlinked migration folder counts', () => {
    const shared = folder({ 'migration.sql': 'CREATE TABLE shared (a int);\n' });
    const dir = folder({ '20250101000000_init/migration.sql': 'SELECT 1;' });
    symlinkSync(shared, path.join(dir, '20250201000000_shared'));
    expect(versions(dir)).toEqual(['20250101000000_init', '20250201000000_shared']);
  });

  it('refuses a folder without migration.sql and loose SQL files', () => {
    const empty = folder({ '20250101000000_init/migration.sql': 'SELECT 1;', '20250102000000_wip/notes.md': '' });
    expect(refusal(() => read(empty))).toBe(
      `${path.join(empty, '20250102000000_wip')} has no migration.sql (Prisma layout: <timestamp>_<name>/migration.sql): add it, or move the folder out of ${empty}`,
    );
    const loose = folder({ '20250101000000_init/migration.sql': 'SELECT 1;', 'fix.sql': 'SELECT 2;' });
    expect(refusal(() => read(loose, 'prisma'))).toContain(
      'holds Prisma migration folders and loose SQL files (fix.sql), which Prisma never runs',
    );
  });
});

describe('Drizzle', () => {
  const journal = (tags: string[]) =>
    JSON.stringify({
      version: '7',
      dialect: 'postgresql',
      entries: tags.map((tag, idx) => ({ idx, version: '7', when: 1700000000000 + idx, tag, breakpoints: true })),
    });

  it('takes order and membership from meta/_journal.json', () => {
    const dir = folder({
      'meta/_journal.json': journal(['0000_b_first', '0001_a_second']),
      'meta/0000_snapshot.json': '{}',
      '0001_a_second.sql': 'ALTER TABLE t ADD b int;',
      '0000_b_first.sql': 'CREATE TABLE t (a int);\n--> statement-breakpoint\nCREATE INDEX i ON t (a);',
    });
    const migrations = read(dir);
    expect(migrations.map((m) => [m.version, m.order])).toEqual([
      ['0000_b_first', 0],
      ['0001_a_second', 1],
    ]);
    expect(migrations[0]!.upSql).toContain('--> statement-breakpoint');
  });

  it('skips, with one warning, the files the journal does not list', () => {
    const orphan = folder({
      'meta/_journal.json': journal(['0000_a']),
      '0000_a.sql': 'SELECT 1;',
      '0001_b.sql': 'SELECT 2;',
      '0002_c.sql': 'SELECT 3;',
    });
    const opened = openMigrationsFolder(orphan);
    expect(opened.readMigrations().map((m) => m.version)).toEqual(['0000_a']);
    expect(opened.warnings).toEqual([
      `${path.join(orphan, '0001_b.sql')} (and 0002_c.sql) is not in ${path.join(orphan, 'meta', '_journal.json')}, so Drizzle never runs it: skipped; add it with drizzle-kit generate --custom, or delete it`,
    ]);
  });

  it('refuses an entry without its file, a broken journal, a repeated tag', () => {
    expect(refusal(() => read(folder({ 'meta/_journal.json': journal(['0000_a', '0001_b']), '0000_a.sql': 'SELECT 1;' })))).toMatch(
      /lists 0001_b but .*0001_b\.sql does not exist/,
    );
    expect(refusal(() => read(folder({ 'meta/_journal.json': '{"entries": [', '0000_a.sql': '' })))).toMatch(
      /_journal\.json is not valid JSON \(/,
    );
    expect(refusal(() => read(folder({ 'meta/_journal.json': '{"entries": [{"tag": "../x"}]}' })))).toMatch(/has no entries list of/);
    expect(refusal(() => read(folder({ 'meta/_journal.json': journal(['0000_a', '0000_a']), '0000_a.sql': 'SELECT 1;' })))).toMatch(
      /are both migration 0000_a: rename one of them$/,
    );
  });

  it('named explicitly without a journal, says so', () => {
    expect(refusal(() => read(folder({ '0000_a.sql': 'SELECT 1;' }), 'drizzle'))).toMatch(/meta\/_journal\.json does not exist: /);
  });
});

describe('sections of one-file layouts', () => {
  it('dbmate: each section keeps its lines where the file has them; transaction:false marks line 1', () => {
    const text =
      "-- migrate:up transaction:false\nALTER TYPE e ADD VALUE 'x';\nUPDATE t SET e = 'x';\n\n-- migrate:down\nUPDATE t SET e = NULL;\n";
    const { up, down } = splitSections(text, 'f.sql', 'dbmate');
    expect(up.split('\n')).toEqual(['-- slipway:no-transaction', "ALTER TYPE e ADD VALUE 'x';", "UPDATE t SET e = 'x';", '', '', '', '']);
    expect(down!.split('\n')).toEqual(['', '', '', '', '', 'UPDATE t SET e = NULL;', '']);
    expect(hasNoTransactionMarker(up)).toBe(true);
    expect(hasNoTransactionMarker(down!)).toBe(false);
  });

  it('goose: NO TRANSACTION for both directions, annotations in any case, StatementBegin/End kept as comments, CRLF lines', () => {
    const text =
      '-- +goose NO TRANSACTION\r\n-- +goose up\r\n-- +goose StatementBegin\r\nCREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END; $$ LANGUAGE plpgsql;\r\n-- +goose StatementEnd\r\n-- +goose DOWN\r\nDROP FUNCTION f();\r\n';
    const { up, down } = splitSections(text, 'f.sql', 'goose');
    expect(up.split('\n')[0]).toBe('-- slipway:no-transaction');
    expect(up).toContain('-- +goose StatementBegin\r\nCREATE FUNCTION f()');
    expect(down!.split('\n')[0]).toBe('-- slipway:no-transaction');
    expect(down!.split('\n')[6]).toBe('DROP FUNCTION f();\r');
  });

  it('goose: refuses ENVSUB ON, an unknown annotation, a second Up, SQL before Up, no Up at all', () => {
    const refused = (text: string) => thrown(() => splitSections(text, 'f.sql', 'goose'), SourceError).message;
    expect(refused('-- +goose ENVSUB ON\n-- +goose Up\nSELECT ${X};\n')).toBe(
      'f.sql:1: ENVSUB ON asks goose to expand environment variables, which slipway does not do: write the values into the SQL',
    );
    expect(refused('-- +goose Up\n-- +goose Sideways\n')).toBe('f.sql:2: an annotation goose does not know (-- +goose Sideways)');
    expect(refused('-- +goose Up\nCREATE TABLE t (a int);\n  -- +goose Down\nDROP TABLE t;\n')).toBe(
      'f.sql:3: an indented goose annotation, which goose refuses: start it at the beginning of the line (-- +goose Down)',
    );
    expect(refused('-- +goose Up\nSELECT 1;\n-- +goose Up\nSELECT 2;\n')).toBe(
      'f.sql:3: a second up section: slipway reads one up and one down section per goose file; split it into two migrations',
    );
    expect(refused('SELECT 0;\n-- +goose Up\nSELECT 1;\n')).toBe(
      'f.sql:1: SQL before the first section, which goose would not run: move it under -- +goose Up',
    );
    expect(refused('-- +goose Down\nSELECT 1;\n')).toBe(
      'f.sql has no -- +goose Up line, which every goose migration has: add it above the SQL to apply',
    );
  });

  it('sql-migrate: notransaction for its own direction only; node-pg-migrate: no down section is no down SQL', () => {
    const migrate = splitSections(
      '-- +migrate Up\nCREATE INDEX CONCURRENTLY i ON t (a);\n-- +migrate Down notransaction\nDROP INDEX CONCURRENTLY i;\n',
      'f.sql',
      'sql-migrate',
    );
    expect(hasNoTransactionMarker(migrate.up)).toBe(false);
    expect(hasNoTransactionMarker(migrate.down!)).toBe(true);
    expect(splitSections('-- Up Migration\nCREATE TABLE t (a int);\n', 'f.sql', 'node-pg-migrate')).toEqual({
      up: '\nCREATE TABLE t (a int);\n',
      down: null,
    });
  });

  it('orders as each tool does: goose and sql-migrate by number (unnumbered last), dbmate and maragudk by name', () => {
    const goose = folder({
      '10_c.sql': '-- +goose Up\nSELECT 3;',
      '2_b.sql': '-- +goose Up\nSELECT 2;',
      '1_a.sql': '-- +goose Up\nSELECT 1;',
    });
    expect(versions(goose)).toEqual(['1_a', '2_b', '10_c']);
    const sqlMigrate = folder({
      'init.sql': '-- +migrate Up\nSELECT 0;',
      '10_c.sql': '-- +migrate Up\nSELECT 3;',
      '9_b.sql': '-- +migrate Up\nSELECT 2;',
    });
    expect(versions(sqlMigrate)).toEqual(['9_b', '10_c', 'init']);
    const dbmate = folder({
      '20240102_b.sql': '-- migrate:up\nSELECT 2;\n-- migrate:down\n',
      '20240101120000_a.sql': '-- migrate:up\nSELECT 1;\n-- migrate:down\n',
    });
    expect(versions(dbmate)).toEqual(['20240101120000_a', '20240102_b']);
    const maragudk = folder({ '9.up.sql': 'SELECT 9;', '10.up.sql': 'SELECT 10;', '10.down.sql': 'SELECT -10;', 'x_up.sql': 'SELECT 0;' });
    expect(read(maragudk).map((m) => [m.version, m.downSql])).toEqual([
      ['10', 'SELECT -10;'],
      ['9', null],
      ['x', null],
    ]);
  });

  it('the checksum is that of the up section: editing a down section is no edit of what was applied', () => {
    const before = read(folder({ '1_a.sql': '-- +goose Up\nCREATE TABLE t (a int);\n-- +goose Down\nDROP TABLE t;\n' }))[0]!;
    const after = read(folder({ '1_a.sql': '-- +goose Up\nCREATE TABLE t (a int);\n-- +goose Down\nDROP TABLE IF EXISTS t;\n' }))[0]!;
    const edited = read(folder({ '1_a.sql': '-- +goose Up\nCREATE TABLE t (a bigint);\n-- +goose Down\nDROP TABLE t;\n' }))[0]!;
    expect(after.checksum).toBe(before.checksum);
    expect(edited.checksum).not.toBe(before.checksum);
  });
});

describe('the no-transaction marker and SET TRANSACTION', () => {
  it('the marker counts among the leading comments only', () => {
    expect(hasNoTransactionMarker('\n-- a note\n--slipway:no-transaction\nSELECT 1;')).toBe(true);
    expect(hasNoTransactionMarker('-- SLIPWAY:NO-TRANSACTION\r\nSELECT 1;')).toBe(true);
    expect(hasNoTransactionMarker('SELECT 1;\n-- slipway:no-transaction\n')).toBe(false);
    expect(hasNoTransactionMarker('-- slipway:no-transaction please\nSELECT 1;')).toBe(false);
  });

  it('a marked file is not transactional; its statements keep no reason of their own, so each commits with its progress', async () => {
    const parsed = await parseSql("-- slipway:no-transaction\nALTER TYPE e ADD VALUE 'x';\nINSERT INTO t VALUES ('x');\n", 'f.sql');
    expect(parsed.transactional).toBe(false);
    expect(parsed.statements.map((s) => [s.kind, s.noTransactionReason, s.line])).toEqual([
      ['AlterEnumStmt', null, 2],
      ['InsertStmt', null, 3],
    ]);
  });

  it('lint sees a marked file as running outside a transaction, as the runner runs it', async () => {
    const file = await parseForLint(
      { source: 'f.sql', sql: '-- slipway:no-transaction\nALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;\n' },
      new Set(),
    );
    expect(file.transactional).toBe(false);
    expect(file.statements[0]!.inTransaction).toBe(false);
  });

  it('a marked file wrapped in BEGIN/COMMIT runs as written', async () => {
    const parsed = await parseSql('-- slipway:no-transaction\nBEGIN;\nCREATE TABLE t (a int);\nCOMMIT;\n', 'f.sql');
    expect(parsed.transactional).toBe(false);
    expect(parsed.statements).toHaveLength(3);
  });

  it('SET TRANSACTION right after the author BEGIN opens slipway transaction with it; the body keeps its lines', async () => {
    const sql = 'BEGIN;\nSET TRANSACTION ISOLATION LEVEL SERIALIZABLE;\nSET TRANSACTION READ WRITE;\nCREATE TABLE t (a int);\nCOMMIT;\n';
    const parsed = await parseSql(sql, 'f.sql');
    expect(parsed.begin).toBe('BEGIN;\nSET TRANSACTION ISOLATION LEVEL SERIALIZABLE;\nSET TRANSACTION READ WRITE');
    expect(parsed.statements.map((s) => s.kind)).toEqual(['CreateStmt']);
    expect(parsed.body.split('\n').map((line) => line.trim())).toEqual([';', ';', ';', 'CREATE TABLE t (a int);', ';', '']);
    // Later, after a query, it stays where it is: Postgres refuses it there, as psql would show.
    const late = await parseSql('BEGIN;\nCREATE TABLE t (a int);\nSET TRANSACTION READ ONLY;\nCOMMIT;\n', 'f.sql');
    expect(late.begin).toBe('BEGIN');
    expect(late.statements.map((s) => s.kind)).toEqual(['CreateStmt', 'VariableSetStmt']);
  });
});

describe('slipway new in the folder layout', () => {
  const now = new Date('2024-06-01T12:34:56.789Z');

  it.each([
    [
      'dbmate',
      { '20240101000000_a.sql': '-- migrate:up\nSELECT 1;\n-- migrate:down\n' },
      '20240601123456_add_b',
      ['20240601123456_add_b.sql'],
    ],
    ['goose', { '00001_a.sql': '-- +goose Up\nSELECT 1;\n' }, '00002_add_b', ['00002_add_b.sql']],
    ['sql-migrate', { '1_a.sql': '-- +migrate Up\nSELECT 1;\n' }, '002_add_b', ['002_add_b.sql']],
    ['node-pg-migrate', { '1700000000000_a.sql': '-- Up Migration\nSELECT 1;\n' }, '1717245296789_add_b', ['1717245296789_add_b.sql']],
    [
      'prisma',
      { '20240101000000_a/migration.sql': 'SELECT 1;\n', 'migration_lock.toml': '' },
      '20240601123456_add_b',
      ['20240601123456_add_b/migration.sql'],
    ],
    ['slipway', { '001_a.up.sql': 'SELECT 1;\n' }, '002_add_b', ['002_add_b.up.sql', '002_add_b.down.sql']],
  ])('%s: a file its reader reads back, refused when run as it is', async (format, files, version, written) => {
    const dir = folder(files);
    const created = await createMigration(dir, 'add_b', { now });
    expect(created).toEqual({ version, format, files: written.map((f) => path.join(dir, f)) });
    const migration = read(dir).find((m) => m.version === version)!;
    expect(isUnwritten(migration.upSql, version, 'up')).toBe(true);
    if (migration.downSql !== null) expect(isUnwritten(migration.downSql, version, 'down')).toBe(true);
    expect(readFileSync(created.files[0]!, 'utf8')).toContain(`-- ${version}: write the change here.`);
  });

  it('a new folder gets slipway own pair; Prisma and dbmate always stamp the time; Drizzle is left to drizzle-kit', async () => {
    const dir = path.join(folder({}), 'migrations');
    expect((await createMigration(dir, 'init', { now })).files).toEqual([
      path.join(dir, '001_init.up.sql'),
      path.join(dir, '001_init.down.sql'),
    ]);
    expect((await createMigration(folder({}), 'init', { now, format: 'prisma' })).version).toBe('20240601123456_init');
    const drizzle = folder({ 'meta/_journal.json': '{"entries": []}' });
    const error = await rejection(createMigration(drizzle, 'add_b', { now }), UsageError);
    expect(error.message).toBe(
      `${drizzle} is a Drizzle folder, whose journal drizzle-kit keeps: create the migration with drizzle-kit generate --custom --name add_b`,
    );
    expect(readdirSync(drizzle)).toEqual(['meta']);
  });

  it('nextVersionNumber in timestamp style stamps the time, or follows a newer number', () => {
    expect(nextVersionNumber([], now, 'timestamp')).toBe('20240601123456');
    expect(nextVersionNumber(['20250625'], now, 'timestamp')).toBe('20240601123456');
    expect(nextVersionNumber(['20990101000000'], now, 'timestamp')).toBe('20990101000001');
  });
});
