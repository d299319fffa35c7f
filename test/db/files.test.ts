/**
 * Files as they come, through a real `slipway up`: a file Postgres would read only in part is
 * refused before anything runs, an empty one is a no-op, and a folder entry that cannot be read
 * as a migration is refused by name (never taken for a connection failure, never skipped).
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { sandbox, type Sandbox, sandboxArgs } from '../support/db.js';
import { migrationsDir } from '../support/files.js';

let box: Sandbox;
afterEach(async () => box?.cleanup());

function args(dir: string): string[] {
  return ['up', '--dir', dir, ...sandboxArgs(box)];
}

async function tables(): Promise<string[]> {
  const { rows } = await box.admin.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
    [box.schema],
  );
  return rows.map((r) => r.name);
}

describe('a NUL byte', () => {
  it('in a migration that runs outside a transaction: refused naming the file and byte, before any statement runs or is recorded', async () => {
    box = await sandbox();
    const dir = migrationsDir({ '001_create_a.up.sql': 'CREATE TABLE a (x int);\n' });
    // Postgres reads a query up to its first NUL: the statements after it would never run, and the row would say applied.
    writeFileSync(path.join(dir, '002_index.up.sql'), Buffer.from('CREATE INDEX CONCURRENTLY a_x ON a (x);\n\0CREATE TABLE b (x int);\n'));
    const result = await runCli(args(dir));
    expect(result.stderr).toBe(
      `slipway: ${path.join(dir, '002_index.up.sql')}:2: byte 41 is a NUL byte (0x00), which would cut the SQL short there: remove it\n`,
    );
    expect(result.code).toBe(1);
    expect(await tables()).toEqual([]);
  });
});

describe('an empty file', () => {
  it('of 0 bytes is a no-op, linted and recorded applied like a file of comments', async () => {
    box = await sandbox();
    const dir = migrationsDir({
      '001_empty.up.sql': '',
      '002_comments.up.sql': '-- nothing yet\n',
      '003_create_a.up.sql': 'CREATE TABLE a (x int);\n',
    });
    const result = await runCli(args(dir));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(await tables()).toEqual(['a', 'schema_migrations']);
    expect((await box.admin.query(`SELECT version, state FROM ${box.table} ORDER BY version`)).rows).toEqual([
      { version: '001_empty', state: 'applied' },
      { version: '002_comments', state: 'applied' },
      { version: '003_create_a', state: 'applied' },
    ]);
  });
});

describe('folder entries that are not migration files', () => {
  it('a symlink that loops is a source error naming it, not a connection failure', async () => {
    box = await sandbox();
    const dir = migrationsDir({ '001_create_a.up.sql': 'CREATE TABLE a (x int);\n' });
    symlinkSync('002_loop.up.sql', path.join(dir, '002_loop.up.sql'));
    const result = await runCli(args(dir));
    expect(result.stderr).toBe(
      `slipway: ${path.join(dir, '002_loop.up.sql')} cannot be read: it is a symlink that loops (ELOOP): fix or remove it\n`,
    );
    expect(result.code).toBe(1);
    expect(await tables()).toEqual([]);
  });

  it('a folder named like a migration is refused by name, not skipped', async () => {
    box = await sandbox();
    const dir = migrationsDir({ '001_create_a.up.sql': 'CREATE TABLE a (x int);\n' });
    mkdirSync(path.join(dir, '002_create_b.up.sql'));
    const result = await runCli(args(dir));
    expect(result.stderr).toBe(
      `slipway: ${path.join(dir, '002_create_b.up.sql')} is a folder, not a file: a migration must be a file (or a symlink to one); rename or remove it\n`,
    );
    expect(result.code).toBe(1);
    expect(await tables()).toEqual([]);
  });
});
