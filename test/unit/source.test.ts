import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rejection, thrown } from '../support/errors.js';
import { SourceError, UsageError } from '../../src/errors.js';
import {
  checksumOf,
  compareMigrations,
  createMigrationFiles,
  decodeSql,
  defineMigrations,
  isUnwritten,
  newFileText,
  nextVersionNumber,
  pairDownFiles,
  parseVersion,
  readMigrationsDir,
  readMigrationsFolder,
} from '../../src/migrations/source.js';

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-source-test-'));
  made.push(dir);
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
  return dir;
}

function sha256(content: string | Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

const sourceError = (promise: Promise<unknown>) => rejection(promise, SourceError);

const syncSourceError = (fn: () => unknown) => thrown(fn, SourceError);

describe('readMigrationsDir', () => {
  it('orders by numeric value, not by text', async () => {
    const dir = tempDir({
      '1000_x.up.sql': 'SELECT 1000;',
      '999_y.up.sql': 'SELECT 999;',
      '2_b.up.sql': 'SELECT 2;',
      '10_a.up.sql': 'SELECT 10;',
    });
    const migrations = await readMigrationsDir(dir);
    expect(migrations.map((m) => m.version)).toEqual(['2_b', '10_a', '999_y', '1000_x']);
    expect(migrations.map((m) => m.number)).toEqual([2n, 10n, 999n, 1000n]);
  });

  it('orders 14-digit timestamps numerically', async () => {
    const dir = tempDir({
      '20240102000000_second.up.sql': 'SELECT 2;',
      '20231231235959_first.up.sql': 'SELECT 1;',
      '20240102000001_third.up.sql': 'SELECT 3;',
    });
    const migrations = await readMigrationsDir(dir);
    expect(migrations.map((m) => m.version)).toEqual(['20231231235959_first', '20240102000000_second', '20240102000001_third']);
    expect(migrations[0]!.number).toBe(20231231235959n);
  });

  it('orders a repeated number by name', async () => {
    const dir = tempDir({ '020_b.up.sql': 'SELECT 1;', '021_c.up.sql': 'SELECT 1;', '020_a.up.sql': 'SELECT 1;' });
    const migrations = await readMigrationsDir(dir);
    expect(migrations.map((m) => m.version)).toEqual(['020_a', '020_b', '021_c']);
  });

  it('uses the whole base name as version and splits number and name', async () => {
    const dir = tempDir({ '020_add_issue_index.up.sql': 'CREATE INDEX i ON t (a);' });
    const [migration] = await readMigrationsDir(dir);
    expect(migration!.version).toBe('020_add_issue_index');
    expect(migration!.number).toBe(20n);
    expect(migration!.name).toBe('add_issue_index');
    expect(migration!.upSource).toBe(path.join(dir, '020_add_issue_index.up.sql'));
  });

  it('checksums the up file bytes with sha256 hex', async () => {
    const up = Buffer.from('-- données ✓\r\nCREATE TABLE t (id int);\r\n', 'utf8');
    const dir = tempDir({ '001_t.up.sql': up, '001_t.down.sql': 'DROP TABLE t;' });
    const [migration] = await readMigrationsDir(dir);
    expect(migration!.checksum).toBe(sha256(up));
    expect(migration!.checksum).toMatch(/^[0-9a-f]{64}$/);
    expect(migration!.upSql).toBe(up.toString('utf8'));
  });

  it('reads the down file when present and leaves it null when absent', async () => {
    const dir = tempDir({
      '001_a.up.sql': 'CREATE TABLE a (id int);',
      '001_a.down.sql': 'DROP TABLE a;',
      '002_b.up.sql': 'CREATE TABLE b (id int);',
    });
    const [a, b] = await readMigrationsDir(dir);
    expect(a!.downSql).toBe('DROP TABLE a;');
    expect(a!.downSource).toBe(path.join(dir, '001_a.down.sql'));
    expect(b!.version).toBe('002_b');
    expect(b!.downSql).toBeNull();
    expect(b!.downSource).toBeNull();
  });

  it('ignores files that do not end in .sql and sub-folders', async () => {
    const dir = tempDir({
      '001_a.up.sql': 'SELECT 1;',
      'README.md': '# migrations',
      'notes.txt': 'x',
      '002_b.up.sql.bak': 'SELECT 2;',
      '.gitkeep': '',
    });
    mkdirSync(path.join(dir, 'archive'));
    const migrations = await readMigrationsDir(dir);
    expect(migrations.map((m) => m.version)).toEqual(['001_a']);
  });

  it('refuses a folder or a FIFO named like SQL, naming each, instead of skipping it', async () => {
    const dir = tempDir({ '001_a.up.sql': 'SELECT 1;' });
    mkdirSync(path.join(dir, '002_b.up.sql'));
    execFileSync('mkfifo', [path.join(dir, '003_c.down.sql')]);
    const error = await sourceError(readMigrationsDir(dir));
    expect(error.message).toBe(
      `${path.join(dir, '002_b.up.sql')} is a folder, not a file; ${path.join(dir, '003_c.down.sql')} is a FIFO, not a file: a migration must be a file (or a symlink to one); rename or remove it`,
    );
  });

  it('refuses a symlink that loops or leads nowhere as a file it cannot read, naming it', async () => {
    const dir = tempDir({ '001_a.up.sql': 'SELECT 1;' });
    symlinkSync('002_loop.up.sql', path.join(dir, '002_loop.up.sql'));
    expect((await sourceError(readMigrationsDir(dir))).message).toBe(
      `${path.join(dir, '002_loop.up.sql')} cannot be read: it is a symlink that loops (ELOOP): fix or remove it`,
    );
    rmSync(path.join(dir, '002_loop.up.sql'));
    symlinkSync('nowhere.sql', path.join(dir, '002_gone.up.sql'));
    expect((await sourceError(readMigrationsDir(dir))).message).toBe(
      `${path.join(dir, '002_gone.up.sql')} cannot be read: it is gone, or a symlink to nothing (ENOENT): fix or remove it`,
    );
  });

  it('refuses a symlink to a folder or to a FIFO (whose open would wait for a writer), naming it', async () => {
    const dir = tempDir({ '001_a.up.sql': 'SELECT 1;' });
    mkdirSync(path.join(dir, 'shared'));
    symlinkSync('shared', path.join(dir, '002_folder.up.sql'));
    expect((await sourceError(readMigrationsDir(dir))).message).toBe(
      `${path.join(dir, '002_folder.up.sql')} is a symlink to a folder, not to a file: a migration must be a file; fix the link or remove it`,
    );
    rmSync(path.join(dir, '002_folder.up.sql'));
    execFileSync('mkfifo', [path.join(dir, 'pipe')]);
    symlinkSync('pipe', path.join(dir, '002_pipe.up.sql'));
    expect((await sourceError(readMigrationsDir(dir))).message).toBe(
      `${path.join(dir, '002_pipe.up.sql')} is a symlink to a FIFO, not to a file: a migration must be a file; fix the link or remove it`,
    );
    rmSync(path.join(dir, '002_pipe.up.sql'));
    symlinkSync('pipe', path.join(dir, '001_a.down.sql'));
    const [migration] = await readMigrationsDir(dir);
    expect(() => migration!.downSql).toThrow(`${path.join(dir, '001_a.down.sql')} is a symlink to a FIFO, not to a file`);
  });

  it('passes on an error reading the folder other than missing or not a folder', async () => {
    const parent = tempDir({});
    const loop = path.join(parent, 'loop');
    symlinkSync(loop, loop);
    const error = await rejection(readMigrationsDir(loop), Error);
    expect(error).not.toBeInstanceOf(SourceError);
    expect((error as NodeJS.ErrnoException).code).toBe('ELOOP');
  });

  it('returns an empty list for an empty folder', async () => {
    expect(await readMigrationsDir(tempDir({}))).toEqual([]);
  });

  it('refuses a down file that pairs with no up file, suggesting a rename (never an up file)', async () => {
    const dir = tempDir({ '001_a.up.sql': 'SELECT 1;', '002_b.down.sql': 'SELECT 2;' });
    const error = await sourceError(readMigrationsDir(dir));
    expect(error.message).toBe(
      `down file without an up file: ${path.join(dir, '002_b.down.sql')} has no up file with its number: rename it after the up file it undoes (<version>.down.sql), or remove it`,
    );
  });

  it('pairs a down file with the up file of its number when the names differ, and warns once', async () => {
    const dir = tempDir({
      '030_add_magic_metadata.up.sql': 'CREATE TABLE magic (id int);',
      '030_drop_magic_metadata.down.sql': 'DROP TABLE magic;',
      '031_misspelt_nmae.up.sql': 'SELECT 1;',
      '031_misspelt_name.down.sql': 'SELECT 2;',
      '032_same.up.sql': 'SELECT 3;',
      '032_same.down.sql': 'SELECT 4;',
    });
    const { migrations, warnings } = await readMigrationsFolder(dir);
    expect(migrations.map((m) => [m.version, m.downSql, m.downSource])).toEqual([
      ['030_add_magic_metadata', 'DROP TABLE magic;', path.join(dir, '030_drop_magic_metadata.down.sql')],
      ['031_misspelt_nmae', 'SELECT 2;', path.join(dir, '031_misspelt_name.down.sql')],
      ['032_same', 'SELECT 4;', path.join(dir, '032_same.down.sql')],
    ]);
    expect(warnings).toEqual([
      'paired 2 down file(s) with the up file of the same number although their names differ: 030_drop_magic_metadata.down.sql with 030_add_magic_metadata.up.sql, 031_misspelt_name.down.sql with 031_misspelt_nmae.up.sql; renaming them to match silences this',
    ]);
  });

  it('keeps pairing by exact name where several up files share a number', async () => {
    const dir = tempDir({
      '020_a.up.sql': 'SELECT 1;',
      '020_a.down.sql': 'SELECT 2;',
      '020_b.up.sql': 'SELECT 3;',
      '020_c.down.sql': 'SELECT 4;',
    });
    const error = await sourceError(readMigrationsDir(dir));
    expect(error.message).toContain(
      `${path.join(dir, '020_c.down.sql')} matches no up file by name and its number has 2 up files (020_a.up.sql, 020_b.up.sql): rename it to the one it undoes`,
    );
  });

  it.each([
    'create_users.sql',
    '001.up.sql',
    '001_x.sql',
    '001_x.UP.sql',
    'V1__init.sql',
    'V1_init.up.sql',
    '001_a.up.sql.old.sql',
    'notes.SQL',
  ])('refuses the misnamed file %s, naming it', async (name) => {
    const dir = tempDir({ '001_ok.up.sql': 'SELECT 1;', [name]: 'SELECT 1;' });
    const error = await sourceError(readMigrationsDir(dir));
    expect(error.message).toContain(path.join(dir, name));
    expect(error.message).toContain('<digits>_<name>.up.sql');
  });

  it('names the first three misnamed files, in order, and counts the others: one short line however many there are', async () => {
    const dir = tempDir({ 'create_users.sql': 'SELECT 1;', '001.up.sql': 'SELECT 1;', 'b.sql': '', 'a.sql': '' });
    const error = await sourceError(readMigrationsDir(dir));
    expect(error.message).toBe(
      `${['001.up.sql', 'a.sql', 'b.sql'].map((f) => path.join(dir, f)).join(', ')} and 1 more: migration files must be named <digits>_<name>.up.sql or <digits>_<name>.down.sql`,
    );
  });

  it('leaves no file open', async () => {
    const files: Record<string, string> = {};
    for (let i = 1; i <= 40; i++) files[`${String(i).padStart(3, '0')}_m.up.sql`] = `SELECT ${i};`;
    const dir = tempDir(files);
    const open = () => readdirSync('/proc/self/fd').length;
    const before = open();
    for (let i = 0; i < 3; i++) expect(await readMigrationsDir(dir)).toHaveLength(40);
    expect(open()).toBe(before);
  });

  it.each([
    ['empty', ''],
    ['whitespace-only', '  \n\t\r\n  '],
    ['comment-only', '-- Deliberately do not restore the foreign key.\n'],
  ])('reads an %s up file as a migration (a deliberate no-op)', async (_label, content) => {
    const dir = tempDir({ '001_a.up.sql': 'SELECT 1;', '002_empty.up.sql': content });
    expect((await readMigrationsDir(dir)).map((m) => [m.version, m.upSql])).toEqual([
      ['001_a', 'SELECT 1;'],
      ['002_empty', content],
    ]);
  });

  it('refuses a file that is not UTF-8, naming the file, line and byte', async () => {
    const dir = tempDir({ '001_a.up.sql': 'SELECT 1;' });
    writeFileSync(
      path.join(dir, '002_latin1.up.sql'),
      Buffer.concat([Buffer.from("-- ok\nINSERT INTO t VALUES ('caf"), Buffer.from([0xe9]), Buffer.from("');\n")]),
    );
    const error = await sourceError(readMigrationsDir(dir));
    expect(error.message).toBe(
      `${path.join(dir, '002_latin1.up.sql')}:2: byte 33 (0xe9) is not valid UTF-8: convert the file to UTF-8, e.g. iconv -f LATIN1 -t UTF-8`,
    );
  });

  it('refuses a file holding a NUL byte, naming the file, line and byte: Postgres would read the SQL only up to it', async () => {
    const dir = tempDir({
      '001_a.up.sql': 'SELECT 1;',
      '002_nul.up.sql': Buffer.from('CREATE TABLE a (x int);\n\0CREATE TABLE b (x int);\n'),
    });
    const error = await sourceError(readMigrationsDir(dir));
    expect(error.message).toBe(
      `${path.join(dir, '002_nul.up.sql')}:2: byte 25 is a NUL byte (0x00), which would cut the SQL short there: remove it`,
    );
    expect(syncSourceError(() => defineMigrations([{ version: '001_a', up: 'SELECT 1;\0' }])).message).toBe(
      '<memory>/001_a.up.sql:1: byte 10 is a NUL byte (0x00), which would cut the SQL short there: remove it',
    );
    const withDown = tempDir({ '001_a.up.sql': 'SELECT 1;', '001_a.down.sql': Buffer.from('SELECT 2;\0') });
    const [migration] = await readMigrationsDir(withDown);
    expect(() => migration!.downSql).toThrow(`${path.join(withDown, '001_a.down.sql')}:1: byte 10 is a NUL byte (0x00)`);
  });

  it('reads a down file when its SQL is asked for: an up run is not stopped by a down file that is not UTF-8, a down run is', async () => {
    const dir = tempDir({ '001_a.up.sql': 'CREATE TABLE t (name text);' });
    writeFileSync(
      path.join(dir, '001_a.down.sql'),
      Buffer.concat([Buffer.from('-- caf'), Buffer.from([0xe9]), Buffer.from('\nDROP TABLE t;\n')]),
    );
    const [migration] = await readMigrationsDir(dir);
    expect(migration!.upSql).toBe('CREATE TABLE t (name text);');
    expect(migration!.downSource).toBe(path.join(dir, '001_a.down.sql'));
    expect(() => migration!.downSql).toThrow(`${path.join(dir, '001_a.down.sql')}:1: byte 7 (0xe9) is not valid UTF-8`);
  });

  it('accepts a UTF-8 byte order mark and drops it from the SQL (the checksum is of the bytes)', async () => {
    const dir = tempDir({ '001_a.up.sql': '\ufeffSELECT 1;', '001_a.down.sql': '\ufeffSELECT 2;' });
    const [migration] = await readMigrationsDir(dir);
    expect([migration!.upSql, migration!.downSql]).toEqual(['SELECT 1;', 'SELECT 2;']);
    expect(migration!.checksum).toBe(checksumOf(Buffer.from('\ufeffSELECT 1;', 'utf8')));
  });

  it('refuses a missing folder, naming it', async () => {
    const parent = tempDir({});
    const missing = path.join(parent, 'does-not-exist');
    const error = await sourceError(readMigrationsDir(missing));
    expect(error.message).toContain(missing);
    expect(error.message).toContain('does not exist');
  });

  it('refuses a path that is a file, not a folder', async () => {
    const parent = tempDir({ 'file.txt': 'x' });
    const file = path.join(parent, 'file.txt');
    const error = await sourceError(readMigrationsDir(file));
    expect(error.message).toContain(file);
    expect(error.message).toContain('not a folder');
  });
});

describe('defineMigrations', () => {
  it('sorts like a folder: numeric value, then name', () => {
    const migrations = defineMigrations([
      { version: '1000_x', up: 'SELECT 1;' },
      { version: '020_b', up: 'SELECT 1;' },
      { version: '999_y', up: 'SELECT 1;' },
      { version: '021_c', up: 'SELECT 1;' },
      { version: '020_a', up: 'SELECT 1;' },
      { version: '20240102000000_ts', up: 'SELECT 1;' },
    ]);
    expect(migrations.map((m) => m.version)).toEqual(['020_a', '020_b', '021_c', '999_y', '1000_x', '20240102000000_ts']);
  });

  it('builds the same fields as a file', () => {
    const up = 'CREATE TABLE users (id int); -- ✓';
    const [migration] = defineMigrations([{ version: '001_create_users', up, down: 'DROP TABLE users;' }]);
    expect(migration).toEqual({
      version: '001_create_users',
      number: 1n,
      name: 'create_users',
      upSql: up,
      downSql: 'DROP TABLE users;',
      checksum: sha256(Buffer.from(up, 'utf8')),
      upSource: '<memory>/001_create_users.up.sql',
      downSource: '<memory>/001_create_users.down.sql',
      phase: 'regular',
    });
  });

  it('gives the same checksum as the same bytes read from a folder', async () => {
    const up = 'CREATE TABLE é (id int);\n';
    const dir = tempDir({ '001_e.up.sql': up });
    const [fromDir] = await readMigrationsDir(dir);
    const [fromMemory] = defineMigrations([{ version: '001_e', up }]);
    expect(fromMemory!.checksum).toBe(fromDir!.checksum);
  });

  it('leaves down null when not given', () => {
    const [a, b] = defineMigrations([
      { version: '001_a', up: 'SELECT 1;' },
      { version: '002_b', up: 'SELECT 1;', down: null },
    ]);
    expect(a!.downSql).toBeNull();
    expect(a!.downSource).toBeNull();
    expect(b!.downSql).toBeNull();
  });

  it('refuses a version given twice', () => {
    const error = syncSourceError(() =>
      defineMigrations([
        { version: '001_a', up: 'SELECT 1;' },
        { version: '002_b', up: 'SELECT 1;' },
        { version: '001_a', up: 'SELECT 2;' },
      ]),
    );
    expect(error.message).toContain('001_a');
    expect(error.message).toContain('twice');
  });

  it.each(['create_users', '001', '001_', '_a', 'a_001', '', '001_a/b', ' 001_a', '001.up', '001_a\nb'])(
    'refuses the bad version %j',
    (version) => {
      const error = syncSourceError(() => defineMigrations([{ version, up: 'SELECT 1;' }]));
      expect(error.message).toContain(JSON.stringify(version));
      expect(error.message).toContain('<digits>_<name>');
    },
  );

  it.each(['', '   \n\t'])('takes an empty up (%j) as a no-op migration', (up) => {
    expect(defineMigrations([{ version: '003_empty', up }]).map((m) => m.upSql)).toEqual([up]);
  });
});

describe('readMigrationsDir: file sizes around the read buffer', () => {
  it('reads every byte of files smaller, exactly as large and larger than the 64 KiB read buffer, each its own', async () => {
    const sized = (n: number, fill: string) => `${`-- ${fill}\n`.padEnd(n - 1, fill)}\n`;
    // A pg_dump baseline of ~3 MB: its SET header, then one INSERT per line.
    const header = "SET statement_timeout = 0;\nSET client_encoding = 'UTF8';\nSELECT pg_catalog.set_config('search_path', '', false);\n";
    const dump =
      header + Array.from({ length: 50_000 }, (_, i) => `INSERT INTO public.items VALUES (${i}, 'item ${i}', now());\n`).join('');
    const files = {
      '1_small.up.sql': 'SELECT 1;\n',
      '2_exact.up.sql': sized(65536, 'a'),
      '3_over.up.sql': sized(65537, 'b'),
      '4_baseline.up.sql': dump,
      '5_comments_only.up.sql': '-- nothing to do here\n/* really */\n',
      '6_utf8.up.sql': `-- ${'é'.repeat(40_000)}\nSELECT 6;\n`,
      '7_bom.up.sql': '\ufeffSELECT 7;\n',
      '8_empty.up.sql': '',
    };
    expect(dump.length).toBeGreaterThan(2_500_000);
    const migrations = await readMigrationsDir(tempDir(files));
    // The checksum is of the bytes as written; the text loses only a byte-order mark.
    expect(migrations.map((m) => [m.version, m.checksum])).toEqual(
      Object.entries(files).map(([name, content]) => [name.replace('.up.sql', ''), sha256(content)]),
    );
    expect(migrations.map((m) => m.upSql)).toEqual(Object.values(files).map((content) => content.replace(/^\ufeff/, '')));
  });
});

describe('readMigrationsDir: symlinks', () => {
  it('reads a symlinked migration file', async () => {
    const { symlinkSync } = await import('node:fs');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-symlink-'));
    try {
      writeFileSync(path.join(dir, '001_a.up.sql'), 'SELECT 1;');
      writeFileSync(path.join(dir, 'shared.txt'), 'SELECT 2;');
      symlinkSync(path.join(dir, 'shared.txt'), path.join(dir, '002_shared.up.sql'));
      expect((await readMigrationsDir(dir)).map((m) => m.version)).toEqual(['001_a', '002_shared']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('compareMigrations and parseVersion', () => {
  it('orders by number, then name, then the version as written', () => {
    const key = (version: string) => ({ version, ...parseVersion(version)! });
    expect(compareMigrations(key('2_b'), key('10_a'))).toBe(-1);
    expect(compareMigrations(key('10_a'), key('2_b'))).toBe(1);
    expect(compareMigrations(key('2_a'), key('2_b'))).toBe(-1);
    expect(compareMigrations(key('2_b'), key('2_a'))).toBe(1);
    expect(compareMigrations(key('01_a'), key('1_a'))).toBe(-1);
    expect(compareMigrations(key('1_a'), key('01_a'))).toBe(1);
    expect(compareMigrations(key('1_a'), key('1_a'))).toBe(0);
  });

  it('orders one number by name before the way it is written', () => {
    expect(
      defineMigrations([
        { version: '01_b', up: '' },
        { version: '1_a', up: '' },
      ]).map((m) => m.version),
    ).toEqual(['1_a', '01_b']);
  });

  it('sorts the same number written with different padding stably', () => {
    expect(
      defineMigrations([
        { version: '1_a', up: '' },
        { version: '001_a', up: '' },
        { version: '01_a', up: '' },
      ]).map((m) => m.version),
    ).toEqual(['001_a', '01_a', '1_a']);
  });

  it('splits a version at its first underscore', () => {
    expect(parseVersion('020_add_issue_index')).toEqual({ number: 20n, name: 'add_issue_index' });
    expect(parseVersion('20240102000000_x')).toEqual({ number: 20240102000000n, name: 'x' });
    expect(parseVersion('a_020')).toBeNull();
    expect(parseVersion('020_')).toBeNull();
  });
});

describe('pairDownFiles', () => {
  it('pairs every down file by name without a warning when the names match', () => {
    const { pairs, warnings } = pairDownFiles(['001_a', '002_b', '003_c'], ['001_a', '003_c']);
    expect([...pairs]).toEqual([
      ['001_a', '001_a'],
      ['003_c', '003_c'],
    ]);
    expect(warnings).toEqual([]);
  });

  it('pairs by number where the name differs, by name elsewhere, and says which in one warning', () => {
    const { pairs, warnings } = pairDownFiles(['001_a', '002_b', '003_c'], ['001_a', '002_bee']);
    expect([...pairs]).toEqual([
      ['001_a', '001_a'],
      ['002_b', '002_bee'],
    ]);
    expect(warnings).toEqual([
      'paired 1 down file(s) with the up file of the same number although their names differ: 002_bee.down.sql with 002_b.up.sql; renaming them to match silences this',
    ]);
  });

  it("refuses two down files of one number when neither has the up file's name", () => {
    const error = syncSourceError(() => pairDownFiles(['001_a'], ['001_b', '001_c']));
    expect(error.message).toBe(
      'down file without an up file: 001_b.down.sql matches no up file by name and its number has 1 up files (001_a.up.sql): rename it to the one it undoes, e.g. 001_a.down.sql; 001_c.down.sql matches no up file by name and its number has 1 up files (001_a.up.sql): rename it to the one it undoes, e.g. 001_a.down.sql',
    );
  });

  it('refuses a second down file of a number whose up file already has its own', () => {
    const error = syncSourceError(() => pairDownFiles(['001_a'], ['001_a', '001_b']));
    expect(error.message).toBe(
      'down file without an up file: 001_b.down.sql matches no up file by name and its number has 1 up files (001_a.up.sql): rename it to the one it undoes, e.g. 001_a.down.sql',
    );
  });

  it('names each down file that pairs with none, with the advice that fits it', () => {
    const error = syncSourceError(() => pairDownFiles(['001_a', '002_a', '002_b'], ['002_c', '003_x'], (v) => `migrations/${v}.down.sql`));
    expect(error.message).toBe(
      'down file without an up file: migrations/002_c.down.sql matches no up file by name and its number has 2 up files (002_a.up.sql, 002_b.up.sql): rename it to the one it undoes, e.g. 002_a.down.sql; migrations/003_x.down.sql has no up file with its number: rename it after the up file it undoes (<version>.down.sql), or remove it',
    );
  });

  it('pairs by numeric value, so differently padded numbers pair', () => {
    expect([...pairDownFiles(['1_a'], ['001_a']).pairs]).toEqual([['1_a', '001_a']]);
  });
});

describe('decodeSql', () => {
  it('drops a leading byte order mark only', () => {
    expect(decodeSql(Buffer.from('\ufeffSELECT 1;'), 'x.sql')).toBe('SELECT 1;');
    expect(decodeSql(Buffer.from('SELECT 1;\ufeff'), 'x.sql')).toBe('SELECT 1;\ufeff');
    expect(decodeSql(Buffer.from(''), 'x.sql')).toBe('');
  });

  it('reads only the bytes of a view into a larger buffer', () => {
    const whole = Buffer.from('xxSELECT 1;yy');
    expect(decodeSql(whole.subarray(2, 11), 'x.sql')).toBe('SELECT 1;');
  });

  it.each<[string, number[], number, number, string]>([
    ['a lone continuation byte', [0x41, 0x0a, 0x80], 2, 3, '80'],
    ['a continuation byte between letters', [0x41, 0x80, 0x41], 1, 2, '80'],
    [
      'a bad byte after characters of every lead byte',
      [...Buffer.from('\u00a9\u07d0\u0915\uffe5\u{100000}\u{10ffff}🎉'), 0xff, 0x41],
      1,
      23,
      'ff',
    ],
    ['an overlong two-byte lead', [0xc0, 0x80], 1, 1, 'c0'],
    ['a lead byte past U+10FFFF', [0x41, 0xf5, 0x80, 0x80, 0x80], 1, 2, 'f5'],
    ['a byte that is never UTF-8', [0x41, 0xff], 1, 2, 'ff'],
    ['a three-byte sequence cut short at the end', [0x0a, 0x0a, 0x41, 0xe2, 0x82], 3, 4, 'e2'],
    ['an encoded surrogate', [0xed, 0xa0, 0x80], 1, 1, 'ed'],
    ['a bad byte after valid multi-byte characters', [...Buffer.from('é✓🎉\n'), 0xe9], 2, 11, 'e9'],
    ['a four-byte sequence with a bad continuation', [0xf0, 0x9f, 0x41, 0x41], 1, 1, 'f0'],
    ['a two-byte sequence with a bad continuation', [0x41, 0xc3, 0x41], 1, 2, 'c3'],
  ])('names the line and byte of %s', (_label, bytes, line, byte, hex) => {
    const error = syncSourceError(() => decodeSql(Uint8Array.from(bytes), 'f.sql'));
    expect(error.message).toBe(
      `f.sql:${line}: byte ${byte} (0x${hex}) is not valid UTF-8: convert the file to UTF-8, e.g. iconv -f LATIN1 -t UTF-8`,
    );
  });
});

describe('nextVersionNumber', () => {
  const now = new Date('2024-06-01T12:34:56.789Z');

  it('starts at 001 in an empty folder', () => {
    expect(nextVersionNumber([], now)).toBe('001');
  });

  it('follows the newest number by value, not by text, keeping the widest padding', () => {
    expect(nextVersionNumber(['001', '002'], now)).toBe('003');
    expect(nextVersionNumber(['010', '009'], now)).toBe('011');
    expect(nextVersionNumber(['9', '10'], now)).toBe('011');
    expect(nextVersionNumber(['10', '9'], now)).toBe('011');
    expect(nextVersionNumber(['0042'], now)).toBe('0043');
    expect(nextVersionNumber(['1', '0002'], now)).toBe('0003');
    expect(nextVersionNumber(['999'], now)).toBe('1000');
    expect(nextVersionNumber(['1', '1'], now)).toBe('002');
  });

  it('writes a UTC timestamp when the newest file has one', () => {
    expect(nextVersionNumber(['001', '20240102000000'], now)).toBe('20240601123456');
    expect(nextVersionNumber(['20240102000000', '20231231235959'], now)).toBe('20240601123456');
  });

  it('counts on from a timestamp that is not in the past', () => {
    expect(nextVersionNumber(['20240601123456'], now)).toBe('20240601123457');
    expect(nextVersionNumber(['20991231235959'], now)).toBe('20991231235960');
  });

  it('keeps counting when only an older file has a timestamp', () => {
    expect(nextVersionNumber(['20240102000000', '100000000000000'], now)).toBe('100000000000001');
  });
});

describe('createMigrationFiles', () => {
  it('writes an up and a down file with the next number, making the folder', async () => {
    const dir = path.join(tempDir({}), 'new', 'migrations');
    const created = await createMigrationFiles(dir, 'create_users');
    expect(created).toEqual({
      version: '001_create_users',
      up: path.join(dir, '001_create_users.up.sql'),
      down: path.join(dir, '001_create_users.down.sql'),
    });
    expect(readFileSync(created.up, 'utf8')).toBe('-- 001_create_users: write the change here.\n');
    expect(readFileSync(created.down, 'utf8')).toBe('-- 001_create_users: undo the change here.\n');
    expect(newFileText('001_create_users', 'up')).toBe('-- 001_create_users: write the change here.\n');
    expect(newFileText('001_create_users', 'down')).toBe('-- 001_create_users: undo the change here.\n');
  });

  it('follows the numbers of the migration files there, down files included, ignoring others', async () => {
    const dir = tempDir({ '0007_a.up.sql': '', '0009_b.down.sql': '', '0099_notes.txt': '', '12_readme.md': '' });
    expect((await createMigrationFiles(dir, 'c')).version).toBe('0010_c');
  });

  it('follows a folder of timestamps with the time given', async () => {
    const dir = tempDir({ '20240102000000_a.up.sql': '' });
    expect((await createMigrationFiles(dir, 'b', new Date('2024-06-01T12:34:56Z'))).version).toBe('20240601123456_b');
  });

  it('takes a hyphen, as the folder reader does, and numbers an empty folder with a timestamp when asked', async () => {
    const dir = tempDir({});
    expect((await createMigrationFiles(dir, 'create-users')).version).toBe('001_create-users');
    const stamped = tempDir({});
    expect((await createMigrationFiles(stamped, 'init', new Date('2024-06-01T12:34:56Z'), 'timestamp')).version).toBe(
      '20240601123456_init',
    );
  });

  it.each(['Create_users', '-create', 'create users', '', 'ünïcode', '../x'])(
    'refuses the name %j, saying what a name may hold',
    async (name) => {
      const dir = tempDir({});
      const error = await rejection(createMigrationFiles(dir, name), UsageError);
      expect(error.message).toBe(
        `invalid migration name ${JSON.stringify(name)}: use lowercase letters, digits, _ and - ([a-z0-9_-]+), e.g. create_users`,
      );
      expect(readdirSync(dir)).toEqual([]);
    },
  );
});

/** Runs `fn` with a property of a built-in module replaced, as every importer of the module sees it. */
async function withBuiltin<T>(module: string, name: string, value: unknown, fn: () => T | Promise<T>): Promise<T> {
  const exports = createRequire(import.meta.url)(module) as Record<string, unknown>;
  const saved = Object.getOwnPropertyDescriptor(exports, name);
  if (value === undefined) delete exports[name];
  else exports[name] = value;
  syncBuiltinESMExports();
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete exports[name];
    else Object.defineProperty(exports, name, saved);
    syncBuiltinESMExports();
  }
}

describe('source: edges', () => {
  it('hashes the same without crypto.hash (Node before 20.12), through a Hash object', async () => {
    const up = Buffer.from('-- données\nCREATE TABLE t (id int);\n');
    expect(await withBuiltin('node:crypto', 'hash', undefined, () => checksumOf(up))).toBe(sha256(up));
    expect(await withBuiltin('node:crypto', 'hash', undefined, () => checksumOf('SELECT 1;'))).toBe(sha256('SELECT 1;'));
  });

  it("orders by the format's own order only when both have one", () => {
    const key = (version: string, order?: number) => ({ version, ...parseVersion(version)!, ...(order === undefined ? {} : { order }) });
    expect(compareMigrations(key('10_a', 0), key('2_b', 1))).toBe(-1);
    expect(compareMigrations(key('2_b', 5), key('10_a'))).toBe(-1);
    expect(compareMigrations(key('10_a'), key('2_b', 5))).toBe(1);
  });

  it('names exactly three misnamed files without counting more', async () => {
    const dir = tempDir({ 'a.sql': '', 'b.sql': '', 'c.sql': '', '001_ok.up.sql': 'SELECT 1;' });
    expect((await sourceError(readMigrationsDir(dir))).message).toBe(
      `${['a.sql', 'b.sql', 'c.sql'].map((f) => path.join(dir, f)).join(', ')}: migration files must be named <digits>_<name>.up.sql or <digits>_<name>.down.sql`,
    );
  });

  it('refuses a socket named like SQL, and a symlink to a device, naming what each is', async () => {
    const dir = tempDir({ '001_a.up.sql': 'SELECT 1;' });
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(path.join(dir, '002_b.up.sql'), resolve));
    try {
      expect((await sourceError(readMigrationsDir(dir))).message).toBe(
        `${path.join(dir, '002_b.up.sql')} is a socket, not a file: a migration must be a file (or a symlink to one); rename or remove it`,
      );
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    symlinkSync('/dev/null', path.join(dir, '003_null.up.sql'));
    expect((await sourceError(readMigrationsDir(dir))).message).toBe(
      `${path.join(dir, '003_null.up.sql')} is a symlink to a device, not to a file: a migration must be a file; fix the link or remove it`,
    );
  });

  it("refuses a file the system cannot read for another reason with the system's own words", async () => {
    const dir = tempDir({ '001_a.up.sql': 'SELECT 1;', 'notes.txt': 'x' });
    symlinkSync('notes.txt/inside.sql', path.join(dir, '002_b.up.sql'));
    const message = (await sourceError(readMigrationsDir(dir))).message;
    expect(message).toMatch(
      new RegExp(`^${path.join(dir, '002_b.up.sql')} cannot be read: ENOTDIR: not a directory, stat .*: fix or remove it$`),
    );
  });

  it('refuses a NUL byte at once, wherever it is in the up SQL', () => {
    expect(syncSourceError(() => defineMigrations([{ version: '001_a', up: 'S\0ELECT 1;' }])).message).toBe(
      '<memory>/001_a.up.sql:1: byte 2 is a NUL byte (0x00), which would cut the SQL short there: remove it',
    );
  });

  it('reads the phase from leading comments longer than a pooled buffer, past blank lines, and to the end of a file of comments', async () => {
    const header = '-- Copyright (c) the authors. Licensed under the Apache License, Version 2.0.\n'.repeat(80);
    expect(header.length).toBeGreaterThan(4096);
    const [post, plain, comments] = defineMigrations([
      { version: '001_post', up: `${header}\n\n-- slipway:post-deploy\nALTER TABLE t DROP COLUMN c;\n` },
      { version: '002_plain', up: `${header}\n\nALTER TABLE t ADD COLUMN c int;\n-- slipway:post-deploy\n` },
      { version: '003_comments', up: `${header}-- slipway:post-deploy` },
    ]);
    expect([post!.phase, plain!.phase, comments!.phase]).toEqual(['post-deploy', 'regular', 'post-deploy']);
    const dir = tempDir({ '001_post.up.sql': `-- drop the old column\n\n-- slipway:post-deploy\nALTER TABLE t DROP COLUMN c;\n` });
    expect((await readMigrationsDir(dir)).map((m) => m.phase)).toEqual(['post-deploy']);
  });

  it('takes the last listed of one number written two ways as the newest', () => {
    const now = new Date('2024-06-01T12:34:56.789Z');
    expect(nextVersionNumber(['5', '00000000000005'], now)).toBe('20240601123456');
    expect(nextVersionNumber(['00000000000005', '5'], now)).toBe('00000000000006');
    expect(nextVersionNumber(['3', '10', '2'], now)).toBe('011');
  });

  it('never overwrites a migration file that appears after the folder was listed (another `new` at the same time)', async () => {
    const dir = tempDir({ '001_x.up.sql': 'CREATE TABLE x ();\n' });
    const listing = fs.readdirSync as (...args: unknown[]) => unknown;
    const stale = (folder: fs.PathLike, ...rest: unknown[]) => (folder === dir ? [] : listing(folder, ...rest));
    const error = await withBuiltin('node:fs', 'readdirSync', stale, () => rejection(createMigrationFiles(dir, 'x'), Error));
    expect((error as NodeJS.ErrnoException).code).toBe('EEXIST');
    expect(readFileSync(path.join(dir, '001_x.up.sql'), 'utf8')).toBe('CREATE TABLE x ();\n');
    rmSync(path.join(dir, '001_x.up.sql'));
    writeFileSync(path.join(dir, '001_x.down.sql'), 'DROP TABLE x;\n');
    const downError = await withBuiltin('node:fs', 'readdirSync', stale, () => rejection(createMigrationFiles(dir, 'x'), Error));
    expect((downError as NodeJS.ErrnoException).code).toBe('EEXIST');
    expect(readFileSync(path.join(dir, '001_x.down.sql'), 'utf8')).toBe('DROP TABLE x;\n');
  });

  it('tells a file still as `new` wrote it, blank lines aside, from one with SQL in it', () => {
    expect(isUnwritten('\n-- 001_a: write the change here.\n\n', '001_a', 'up')).toBe(true);
    expect(isUnwritten('-- 001_a: undo the change here.', '001_a', 'down')).toBe(true);
    expect(isUnwritten('-- 001_a: write the change here.\nCREATE TABLE a ();\n', '001_a', 'up')).toBe(false);
    expect(isUnwritten('-- 001_a: write the change here.\n', '001_a', 'down')).toBe(false);
  });
});

describe('readMigrationsDir: a file read before is not read again while its stat is unchanged', () => {
  /** The files `fn` opens, by base name. */
  async function opened(fn: () => Promise<unknown>): Promise<string[]> {
    const names: string[] = [];
    const openSync = fs.openSync;
    const spy = (file: fs.PathLike, ...rest: unknown[]) => {
      names.push(path.basename(String(file)));
      return (openSync as (...a: unknown[]) => number)(file, ...rest);
    };
    await withBuiltin('node:fs', 'openSync', spy, fn);
    return names.sort();
  }

  it('reads only what changed: an edit of the same size with its mtime put back, a file replaced, a shared file behind a symlink edited, a file added', async () => {
    const dir = tempDir({ '001_a.up.sql': 'SELECT 1;', '002_b.up.sql': 'SELECT 2;', '003_c.up.sql': 'SELECT 3;' });
    const shared = tempDir({ 'audit.sql': 'SELECT 5;' });
    symlinkSync(path.join(shared, 'audit.sql'), path.join(dir, '005_audit.up.sql'));
    const file = (name: string) => path.join(dir, name);
    // A file changed in the last 2 s is read again each time (timestamps are coarse): these are older.
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const all = ['001_a.up.sql', '002_b.up.sql', '003_c.up.sql', '005_audit.up.sql'];
    expect(await opened(() => readMigrationsDir(dir))).toEqual(all);
    expect(await opened(() => readMigrationsDir(dir))).toEqual([]);

    // The mtime put back to the nanosecond (touch: Node's utimes rounds it), as a coarse clock could leave it.
    const mtimeOf = (name: string) => fs.statSync(file(name), { bigint: true }).mtimeNs;
    const setMtime = (name: string, ns: bigint) =>
      execFileSync('touch', ['-m', '-d', `@${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`, file(name)]);
    const mtimeOfA = mtimeOf('001_a.up.sql');
    writeFileSync(file('001_a.up.sql'), 'SELECT 9;');
    setMtime('001_a.up.sql', mtimeOfA);
    expect(mtimeOf('001_a.up.sql')).toBe(mtimeOfA);
    writeFileSync(file('002_b.next'), 'SELECT 8;');
    setMtime('002_b.next', mtimeOf('002_b.up.sql'));
    fs.renameSync(file('002_b.next'), file('002_b.up.sql'));
    writeFileSync(file('004_d.up.sql'), 'SELECT 4;');
    writeFileSync(path.join(shared, 'audit.sql'), 'SELECT 6;');
    // Past the 2 s again: the stamps alone must tell these changes.
    await new Promise((resolve) => setTimeout(resolve, 2_100));

    let read: Awaited<ReturnType<typeof readMigrationsDir>> = [];
    expect(await opened(async () => (read = await readMigrationsDir(dir)))).toEqual([
      '001_a.up.sql',
      '002_b.up.sql',
      '004_d.up.sql',
      '005_audit.up.sql',
    ]);
    expect(read.map((m) => [m.version, m.upSql, m.checksum])).toEqual([
      ['001_a', 'SELECT 9;', sha256('SELECT 9;')],
      ['002_b', 'SELECT 8;', sha256('SELECT 8;')],
      ['003_c', 'SELECT 3;', sha256('SELECT 3;')],
      ['004_d', 'SELECT 4;', sha256('SELECT 4;')],
      ['005_audit', 'SELECT 6;', sha256('SELECT 6;')],
    ]);
  });

  it('still reads a down file each time its SQL is asked for', async () => {
    const dir = tempDir({ '001_a.up.sql': 'SELECT 1;', '001_a.down.sql': 'SELECT -1;' });
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    await readMigrationsDir(dir);
    writeFileSync(path.join(dir, '001_a.down.sql'), 'SELECT -2;');
    expect((await readMigrationsDir(dir))[0]!.downSql).toBe('SELECT -2;');
  });
});
