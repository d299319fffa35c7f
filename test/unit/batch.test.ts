import { describe, expect, it } from 'vitest';
import { batchesOf } from '../../src/migrations/batch.js';
import { withoutConcurrently } from '../../src/sql/concurrently.js';
import { parseSql } from '../../src/sql/parse.js';

/** The batches of these files: per file, folded or not, and the SQL it sends. */
async function batchesFor(...files: string[]) {
  const parsed = await Promise.all(files.map((sql, i) => parseSql(sql, `${i + 1}.up.sql`)));
  return batchesOf(parsed, true).map((batch) => batch.map((entry) => ({ folded: entry.folded, text: entry.sql.parts[0]?.text ?? '' })));
}

/** The first batch of these files. */
async function batchOf(...files: string[]) {
  return (await batchesFor(...files))[0]!;
}

describe('withoutConcurrently', () => {
  it('blanks the keyword and keeps every other character in its place', () => {
    expect(withoutConcurrently('CREATE INDEX CONCURRENTLY i ON t (a)')).toBe('CREATE INDEX              i ON t (a)');
    expect(withoutConcurrently('create unique index concurrently if not exists i on t (a)')).toBe(
      'create unique index              if not exists i on t (a)',
    );
  });

  it('reads past comments and line breaks between the words, as the server does', () => {
    const sql = '-- the index\nCREATE /* a /* nested */ note */ UNIQUE\n\tINDEX -- why\n  CONCURRENTLY "i" ON t (a)';
    const plain = withoutConcurrently(sql)!;
    expect(plain.length).toBe(sql.length);
    expect(plain).not.toMatch(/CONCURRENTLY/);
    expect(plain.replace(/\s+/g, ' ')).toBe('-- the index CREATE /* a /* nested */ note */ UNIQUE INDEX -- why "i" ON t (a)');
  });

  it('refuses any other text', () => {
    expect(withoutConcurrently('CREATE INDEX i ON t (a)')).toBeNull();
    expect(withoutConcurrently('CREATE INDEX concurrentlyish ON t (a)')).toBeNull();
    expect(withoutConcurrently('DROP INDEX CONCURRENTLY i')).toBeNull();
    expect(withoutConcurrently('REINDEX INDEX CONCURRENTLY i')).toBeNull();
    expect(withoutConcurrently('CREATE UNIQUE UNIQUE INDEX CONCURRENTLY i ON t (a)')).toBeNull();
    expect(withoutConcurrently('/* unclosed')).toBeNull();
  });
});

describe('batchesOf', () => {
  const create = 'CREATE TABLE t (id int, a int)';
  const index = 'CREATE INDEX CONCURRENTLY t_a ON t (a)';

  it('folds a file of CREATE INDEX CONCURRENTLY on a table the batch creates, guarded, and goes on past it', async () => {
    const batch = await batchOf(create, index, 'ALTER TABLE t ADD COLUMN b int', index.replace(/t_a/, 't_b'));
    expect(batch.map((b) => b.folded)).toEqual([false, true, false, true]);
    expect(batch[1]!.text).not.toMatch(/CONCURRENTLY/);
    expect(batch[1]!.text).toMatch(/CREATE INDEX\s+t_a ON t \(a\)$/);
    // The check runs first, on the name as the index resolves it.
    expect(batch[1]!.text).toMatch(/to_regclass\('"t"'\).*mode = 'AccessExclusiveLock'.*CREATE INDEX/s);
  });

  it('takes quoted names as the server does: a Prisma table is the same table, and checked by its quoted name', async () => {
    const batch = await batchOf(
      'CREATE TABLE "TaskRun" ("id" TEXT NOT NULL)',
      'CREATE INDEX CONCURRENTLY "TaskRun_id_idx" ON "TaskRun" ("id")',
    );
    expect(batch.map((b) => b.folded)).toEqual([false, true]);
    expect(batch[1]!.text).toMatch(/to_regclass\('"TaskRun"'\)/);
    expect(await batchOf('CREATE TABLE "TaskRun" (id int)', 'CREATE INDEX CONCURRENTLY i ON TaskRun (id)')).toHaveLength(1);
  });

  it('matches a schema-qualified table only under the same name', async () => {
    expect((await batchOf('CREATE TABLE app.t (a int)', 'CREATE INDEX CONCURRENTLY i ON app.t (a)')).map((b) => b.folded)).toEqual([
      false,
      true,
    ]);
    expect(await batchOf('CREATE TABLE app.t (a int)', index)).toHaveLength(1);
    expect(await batchOf(create, 'CREATE INDEX CONCURRENTLY i ON app.t (a)')).toHaveLength(1);
    expect((await batchOf('CREATE TABLE t AS SELECT 1 AS a', index)).map((b) => b.folded)).toEqual([false, true]);
  });

  it('does not fold where the table may not be new, or the index may not build concurrently', async () => {
    const ends = async (...files: string[]) => expect(await batchOf(...files)).toHaveLength(files.length - 1);
    await ends(create.replace('TABLE', 'TABLE IF NOT EXISTS'), index); // may have been there
    await ends(create.replace('TABLE', 'TEMPORARY TABLE'), index); // another namespace, looked up first
    await ends(`${create} PARTITION BY RANGE (id)`, index); // no concurrent build on a partitioned table
    await ends(`SET search_path = app; ${create}`, index); // created where the path says
    await ends(`SELECT set_config('search_path', 'app', false); ${create}`, index);
    await ends('CREATE TABLE pg_t (a int)', 'CREATE INDEX CONCURRENTLY i ON pg_t (a)'); // the catalog is searched first
    await ends('CREATE TABLE "t$x" (a int)', 'CREATE INDEX CONCURRENTLY i ON "t$x" (a)');
    await ends(create, `${index}; COMMENT ON INDEX t_a IS 'x'`); // only index builds fold
    await ends(create, 'CREATE INDEX CONCURRENTLY i ON other (a)');
    await ends(create, 'DROP INDEX CONCURRENTLY t_a');
    await ends(create, 'REINDEX TABLE CONCURRENTLY t');
    await ends(create, 'BEGIN; CREATE INDEX i ON t (a); COMMIT; CREATE INDEX CONCURRENTLY j ON t (a)');
  });

  it('ends a batch after a file that adds an enum value, which starts one', async () => {
    const add = "ALTER TYPE mood ADD VALUE 'meh'";
    expect(await batchOf(add, "SELECT 'meh'::mood")).toHaveLength(1);
    expect(await batchOf('SELECT 1', add)).toHaveLength(1);
  });

  it('never starts a batch with a folded file, nor takes a table from before the batch', async () => {
    const only = await batchOf(index, create);
    expect(only.map((b) => b.folded)).toEqual([false]);
    expect(only[0]!.text).toMatch(/CONCURRENTLY/);
    // t was committed with the first batch: its index runs as written.
    expect(await batchesFor(create, 'VACUUM t', 'SELECT 1', index)).toEqual([
      [{ folded: false, text: create }],
      [{ folded: false, text: 'VACUUM t' }],
      [{ folded: false, text: 'SELECT 1' }],
      [{ folded: false, text: index }],
    ]);
  });

  it('keeps one file a batch when batching is off', async () => {
    const parsed = await Promise.all([create, 'SELECT 1'].map((sql) => parseSql(sql, 'x.up.sql')));
    expect(batchesOf(parsed, false).map((b) => b.length)).toEqual([1, 1]);
  });
});
