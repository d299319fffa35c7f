import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rejection, thrown } from '../support/errors.js';
import { SourceError } from '../../src/errors.js';
import { checksumOf, defineMigrations, readMigrationsDir, readMigrationsFolder } from '../../src/migrations/source.js';

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
    expect(migrations.map((m) => m.version)).toEqual([
      '20231231235959_first',
      '20240102000000_second',
      '20240102000001_third',
    ]);
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
    const dir = tempDir({ '020_a.up.sql': 'SELECT 1;', '020_a.down.sql': 'SELECT 2;', '020_b.up.sql': 'SELECT 3;', '020_c.down.sql': 'SELECT 4;' });
    const error = await sourceError(readMigrationsDir(dir));
    expect(error.message).toContain(`${path.join(dir, '020_c.down.sql')} matches no up file by name and its number has 2 up files (020_a.up.sql, 020_b.up.sql): rename it to the one it undoes`);
  });

  it.each(['create_users.sql', '001.up.sql', '001_x.sql', '001_x.UP.sql', 'V1__init.sql'])(
    'refuses the misnamed file %s, naming it',
    async (name) => {
      const dir = tempDir({ '001_ok.up.sql': 'SELECT 1;', [name]: 'SELECT 1;' });
      const error = await sourceError(readMigrationsDir(dir));
      expect(error.message).toContain(path.join(dir, name));
      expect(error.message).toContain('<digits>_<name>.up.sql');
    },
  );

  it('names every misnamed file', async () => {
    const dir = tempDir({ 'create_users.sql': 'SELECT 1;', '001.up.sql': 'SELECT 1;' });
    const error = await sourceError(readMigrationsDir(dir));
    expect(error.message).toContain(path.join(dir, 'create_users.sql'));
    expect(error.message).toContain(path.join(dir, '001.up.sql'));
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
    writeFileSync(path.join(dir, '002_latin1.up.sql'), Buffer.concat([Buffer.from("-- ok\nINSERT INTO t VALUES ('caf"), Buffer.from([0xe9]), Buffer.from("');\n")]));
    const error = await sourceError(readMigrationsDir(dir));
    expect(error.message).toBe(`${path.join(dir, '002_latin1.up.sql')} (line 2, byte 33) is not valid UTF-8 (byte 0xe9): convert the file to UTF-8, e.g. iconv -f LATIN1 -t UTF-8`);
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

  it.each(['create_users', '001', '001_', '_a', 'a_001', '', '001_a/b', ' 001_a', '001.up'])(
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
