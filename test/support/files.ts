import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

const made: string[] = [];
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Writes `{ 'name': 'content' }` into a new temp folder, removed after the test file. */
export function tempFolder(files: Record<string, string>, prefix = 'slipway-files-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
  return dir;
}

/** A migrations folder: `{ '001_x.up.sql': 'sql' }`. */
export const migrationsDir = (files: Record<string, string>) => tempFolder(files, 'slipway-migrations-');

/**
 * Six deliberately non-idempotent migrations: bare CREATE TABLE and ADD COLUMN, a
 * CREATE INDEX CONCURRENTLY in the middle, and a first one slow enough that every
 * other runner is waiting for the lock when the index is built.
 */
export const RACE_MIGRATIONS: Record<string, string> = {
  '001_create_items.up.sql': 'SELECT pg_sleep(0.3);\nCREATE TABLE items (id integer PRIMARY KEY);\n',
  '001_create_items.down.sql': 'DROP TABLE items;\n',
  '002_add_item_name.up.sql': 'ALTER TABLE items ADD COLUMN name text;\n',
  '002_add_item_name.down.sql': 'ALTER TABLE items DROP COLUMN name;\n',
  '003_index_item_name.up.sql': 'CREATE INDEX CONCURRENTLY items_name_idx ON items (name);\n',
  '003_index_item_name.down.sql': 'DROP INDEX CONCURRENTLY items_name_idx;\n',
  '004_create_tags.up.sql': 'CREATE TABLE tags (id integer);\n',
  '004_create_tags.down.sql': 'DROP TABLE tags;\n',
  '005_add_tag_label.up.sql': 'ALTER TABLE tags ADD COLUMN label text;\n',
  '005_add_tag_label.down.sql': 'ALTER TABLE tags DROP COLUMN label;\n',
  '006_insert_first_item.up.sql': "INSERT INTO items (id, name) VALUES (1, 'first');\n",
  '006_insert_first_item.down.sql': 'DELETE FROM items WHERE id = 1;\n',
};
export const RACE_VERSIONS = Object.keys(RACE_MIGRATIONS)
  .filter((f) => f.endsWith('.up.sql'))
  .map((f) => f.replace('.up.sql', ''));
