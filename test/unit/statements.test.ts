import { describe, expect, it } from 'vitest';
import { rejection } from '../support/errors.js';
import { SourceError } from '../../src/errors.js';
import { needsServerVersion, OWN_TRANSACTIONS, parseSql } from '../../src/migrations/statements.js';

const sourceError = (promise: Promise<unknown>) => rejection(promise, SourceError);

describe('parseSql: transactional files', () => {
  it('keeps a plain file transactional, with the file itself as body', async () => {
    const sql = 'CREATE TABLE users (id int PRIMARY KEY);\nALTER TABLE users ADD COLUMN email text;\n';
    const parsed = await parseSql(sql, '001_users.up.sql');
    expect(parsed.transactional).toBe(true);
    expect(parsed.body).toBe(sql);
    expect(parsed.statements.map((s) => s.sql)).toEqual([
      'CREATE TABLE users (id int PRIMARY KEY)',
      'ALTER TABLE users ADD COLUMN email text',
    ]);
    expect(parsed.statements.map((s) => s.kind)).toEqual(['CreateStmt', 'AlterTableStmt']);
    expect(parsed.statements.map((s) => s.line)).toEqual([1, 2]);
    expect(parsed.statements.every((s) => s.noTransactionReason === null)).toBe(true);
  });

  it.each([
    ['CREATE INDEX i ON t (a);', 'IndexStmt'],
    ['ANALYZE t;', 'VacuumStmt'],
    ['REINDEX INDEX i;', 'ReindexStmt'],
    ['REINDEX TABLE t;', 'ReindexStmt'],
    ['DROP INDEX i;', 'DropStmt'],
    ['CLUSTER t USING i;', 'ClusterStmt'],
  ])('keeps %s transactional', async (sql, kind) => {
    const parsed = await parseSql(sql, 'x.up.sql');
    expect(parsed.transactional).toBe(true);
    expect(parsed.statements).toHaveLength(1);
    expect(parsed.statements[0]!.kind).toBe(kind);
    expect(parsed.statements[0]!.noTransactionReason).toBeNull();
    expect(parsed.body).toBe(sql);
  });
});

describe('parseSql: non-transactional statements', () => {
  it.each([
    ['CREATE INDEX CONCURRENTLY i ON t (a);', 'CREATE INDEX CONCURRENTLY'],
    ['CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);', 'CREATE INDEX CONCURRENTLY'],
    ['DROP INDEX CONCURRENTLY i;', 'DROP INDEX CONCURRENTLY'],
    ['DROP INDEX CONCURRENTLY IF EXISTS i;', 'DROP INDEX CONCURRENTLY'],
    ['REINDEX INDEX CONCURRENTLY i;', 'REINDEX CONCURRENTLY'],
    ['REINDEX TABLE CONCURRENTLY t;', 'REINDEX CONCURRENTLY'],
    ['REINDEX (CONCURRENTLY) INDEX i;', 'REINDEX CONCURRENTLY'],
    ['VACUUM t;', 'VACUUM'],
    ['VACUUM (ANALYZE) t;', 'VACUUM'],
    ['ALTER SYSTEM SET work_mem = 1024;', 'ALTER SYSTEM'],
    ['CREATE DATABASE other;', 'CREATE DATABASE'],
    ['DROP DATABASE other;', 'DROP DATABASE'],
  ])('%s makes the file non-transactional', async (sql, reason) => {
    const parsed = await parseSql(sql, 'x.up.sql');
    expect(parsed.transactional).toBe(false);
    expect(parsed.statements).toHaveLength(1);
    expect(parsed.statements[0]!.noTransactionReason).toBe(reason);
  });

  it('marks only the offending statement in a mixed file', async () => {
    const sql = 'CREATE TABLE t (a int);\nCREATE INDEX CONCURRENTLY t_a ON t (a);\nINSERT INTO t VALUES (1);\n';
    const parsed = await parseSql(sql, '003_index.up.sql');
    expect(parsed.transactional).toBe(false);
    expect(parsed.statements.map((s) => s.noTransactionReason)).toEqual([null, 'CREATE INDEX CONCURRENTLY', null]);
    expect(parsed.statements.map((s) => s.sql)).toEqual([
      'CREATE TABLE t (a int)',
      'CREATE INDEX CONCURRENTLY t_a ON t (a)',
      'INSERT INTO t VALUES (1)',
    ]);
    expect(parsed.statements.map((s) => s.line)).toEqual([1, 2, 3]);
  });
});

describe('parseSql: ALTER TYPE ... ADD VALUE', () => {
  const sql = "ALTER TYPE mood ADD VALUE 'meh';";

  it('is transactional when the server version is unknown', async () => {
    const parsed = await parseSql(sql, 'e.up.sql');
    expect(parsed.transactional).toBe(true);
    expect(parsed.statements[0]!.kind).toBe('AlterEnumStmt');
    expect(needsServerVersion(parsed)).toBe(true);
  });

  it('is transactional on PostgreSQL 17', async () => {
    const parsed = await parseSql(sql, 'e.up.sql', { serverVersionNum: 170000 });
    expect(parsed.transactional).toBe(true);
    expect(parsed.statements[0]!.noTransactionReason).toBeNull();
  });

  it('is transactional on PostgreSQL 12 exactly', async () => {
    expect((await parseSql(sql, 'e.up.sql', { serverVersionNum: 120000 })).transactional).toBe(true);
  });

  it('is not transactional on PostgreSQL 11', async () => {
    const parsed = await parseSql(sql, 'e.up.sql', { serverVersionNum: 110000 });
    expect(parsed.transactional).toBe(false);
    expect(parsed.statements[0]!.noTransactionReason).toContain('ADD VALUE');
  });

  it('does not need the server version for a file without ALTER TYPE ... ADD VALUE', async () => {
    expect(needsServerVersion(await parseSql('SELECT 1;', 'x.up.sql'))).toBe(false);
  });
});

describe('parseSql: splitting', () => {
  it('keeps a DO $$ ... $$ block with semicolons as one statement', async () => {
    const block = "DO $$\nBEGIN\n  PERFORM 1;\n  RAISE NOTICE 'a; b';\nEND\n$$";
    const sql = `${block};\nSELECT 2;\n`;
    const parsed = await parseSql(sql, 'do.up.sql');
    expect(parsed.statements).toHaveLength(2);
    expect(parsed.statements[0]!.kind).toBe('DoStmt');
    expect(parsed.statements[0]!.sql).toBe(block);
    expect(parsed.statements[1]!.sql).toBe('SELECT 2');
    expect(parsed.statements[1]!.line).toBe(7);
    expect(parsed.transactional).toBe(true);
  });

  it('keeps semicolons inside string literals and tagged dollar quotes', async () => {
    const fn = 'CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $body$ SELECT \'x;y\' $body$';
    const parsed = await parseSql(`${fn};\nSELECT ';';`, 'fn.up.sql');
    expect(parsed.statements.map((s) => s.sql)).toEqual([fn, "SELECT ';'"]);
  });

  it('cuts exact statement text after multi-byte unicode', async () => {
    const sql = "-- données, ✓, 表, 🎉\nINSERT INTO t VALUES ('é🎉');\nSELECT 'ü' AS \"ça\";\nCREATE TABLE \"表\" (id int);";
    const parsed = await parseSql(sql, 'u.up.sql');
    expect(parsed.statements.map((s) => s.sql)).toEqual([
      "INSERT INTO t VALUES ('é🎉')",
      "SELECT 'ü' AS \"ça\"",
      'CREATE TABLE "表" (id int)',
    ]);
    expect(parsed.statements.map((s) => s.line)).toEqual([2, 3, 4]);
    expect(parsed.body).toBe(sql);
  });

  it('cuts exact statement text when unicode is on the same line', async () => {
    const sql = "SELECT '🎉🎉🎉'; SELECT 'ok';";
    const parsed = await parseSql(sql, 'u.up.sql');
    expect(parsed.statements.map((s) => s.sql)).toEqual(["SELECT '🎉🎉🎉'", "SELECT 'ok'"]);
  });

  it('takes a last statement without a semicolon', async () => {
    const parsed = await parseSql('SELECT 1;\nSELECT 2', 'x.up.sql');
    expect(parsed.statements.map((s) => s.sql)).toEqual(['SELECT 1', 'SELECT 2']);
  });
});

describe('parseSql: transaction control', () => {
  it('drops a leading BEGIN and trailing COMMIT', async () => {
    const sql = 'BEGIN;\nCREATE TABLE a (id int);\nCREATE TABLE b (id int);\nCOMMIT;\n';
    const parsed = await parseSql(sql, 'wrapped.up.sql');
    expect(parsed.statements.map((s) => s.sql)).toEqual(['CREATE TABLE a (id int)', 'CREATE TABLE b (id int)']);
    expect(parsed.body).not.toMatch(/BEGIN/i);
    expect(parsed.body).not.toMatch(/COMMIT/i);
    expect(parsed.body).toContain('CREATE TABLE a (id int)');
    expect(parsed.body).toContain('CREATE TABLE b (id int)');
    expect(parsed.transactional).toBe(true);
  });

  it('drops START TRANSACTION ... END as well', async () => {
    const parsed = await parseSql('START TRANSACTION;\nSELECT 1;\nEND;', 'x.up.sql');
    expect(parsed.statements.map((s) => s.sql)).toEqual(['SELECT 1']);
    expect(parsed.body).toBe('                 ;\nSELECT 1;\n   ;');
  });

  it('keeps every line of a wrapped file where it was, so error positions point at the file', async () => {
    const sql = '-- header\nBEGIN;\n\nCREATE TABLE a (id int);\nCOMMIT;\n';
    const parsed = await parseSql(sql, 'wrapped.up.sql');
    expect(parsed.body.split('\n').map((l) => l.trim())).toEqual(['-- header', ';', '', 'CREATE TABLE a (id int);', ';', '']);
    expect(parsed.body).toHaveLength(sql.length);
    expect(parsed.parts).toEqual([{ text: parsed.body, line: 1 }]);
  });

  it.each([
    ['CREATE TABLE a (id int);\nROLLBACK;\nCREATE TABLE b (id int);'],
    ['CREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE b (id int);'],
    ['BEGIN;\nCREATE TABLE a (id int);\nROLLBACK;\nCREATE TABLE b (id int);\nCOMMIT;'],
    ['CREATE TABLE a (id int);\nCOMMIT;'],
    ['BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\nBEGIN;\nCREATE TABLE b (id int);\nCOMMIT;'],
  ])('runs a file that manages its own transactions as written, outside slipway\'s (%j)', async (sql) => {
    const parsed = await parseSql(sql, '007_own.up.sql');
    expect(parsed.transactional).toBe(false);
    expect(parsed.statements.map((s) => s.sql)).toEqual(sql.split(';\n').map((s) => s.replace(/;$/, '')));
    expect(parsed.statements.filter((s) => /^(BEGIN|COMMIT|ROLLBACK)/.test(s.sql)).every((s) => s.noTransactionReason === OWN_TRANSACTIONS)).toBe(true);
  });

  it('refuses a file that opens a transaction and never ends it, naming the line', async () => {
    const error = await sourceError(parseSql('CREATE TABLE a (id int);\nCOMMIT;\nBEGIN;\nCREATE TABLE b (id int);', '007_bad.up.sql'));
    expect(error.message).toBe('007_bad.up.sql (line 3): BEGIN opens a transaction that the file never ends: add COMMIT after its last statement');
  });

  it('keeps SAVEPOINT, RELEASE and ROLLBACK TO inside slipway\'s transaction', async () => {
    const sql = 'SELECT 1;\nSAVEPOINT s;\nSELECT 2;\nROLLBACK TO SAVEPOINT s;\nRELEASE s;';
    const parsed = await parseSql(sql, 'x.up.sql');
    expect(parsed.transactional).toBe(true);
    expect(parsed.body).toBe(sql);
  });

  it('keeps the isolation level of a whole-file BEGIN … COMMIT wrapper', async () => {
    const parsed = await parseSql('BEGIN ISOLATION LEVEL SERIALIZABLE;\nUPDATE t SET a = 1;\nCOMMIT;', 'x.up.sql');
    expect(parsed).toMatchObject({ transactional: true, begin: 'BEGIN ISOLATION LEVEL SERIALIZABLE' });
    expect(parsed.body.trim()).toMatch(/^;\nUPDATE t SET a = 1;\n\s*;$/);
  });

  it('takes BEGIN; COMMIT; with nothing between as a no-op', async () => {
    expect(await parseSql('BEGIN;\nCOMMIT;', '008_empty.up.sql')).toMatchObject({ statements: [], transactional: true });
  });
});

describe('parseSql: bad files', () => {
  it('refuses a syntax error, naming the source and the line', async () => {
    const error = await sourceError(parseSql('CREATE TABLE a (id int);\n\nSELEC 1;\n', '009_typo.up.sql'));
    expect(error.message).toContain('009_typo.up.sql');
    expect(error.message).toContain('(line 3)');
    expect(error.message).toContain('SELEC');
  });

  it('reports line 1 for a syntax error on the first line', async () => {
    const error = await sourceError(parseSql('CREAT TABLE a (id int);', 'typo.up.sql'));
    expect(error.message).toContain('typo.up.sql (line 1)');
  });

  it.each(['-- just a comment\n', '/* block */\n-- and a line\n', '   \n\n', ';;', ''])(
    'reads a file with no statement (%j) as a no-op',
    async (sql) => {
      expect(await parseSql(sql, '010_comments.up.sql')).toEqual({ statements: [], transactional: true, body: '', parts: [], begin: 'BEGIN' });
    },
  );
});

describe('parseSql: edge cases', () => {
  it('reports the right line for a syntax error after multi-byte characters', async () => {
    const error = await sourceError(parseSql("-- é✓🎉\n\nSELECT 'éééé';\nSELEC 2;", '009_x.up.sql'));
    expect(error.message).toContain('009_x.up.sql (line 4)');
  });

  it('keeps ALTER TYPE ... RENAME VALUE transactional before PG 12 (only ADD VALUE is refused)', async () => {
    const parsed = await parseSql("ALTER TYPE mood RENAME VALUE 'a' TO 'b';", '010_x.up.sql', { serverVersionNum: 110000 });
    expect(parsed.transactional).toBe(true);
  });

  it('keeps a statement that ends in a comment runnable after dropping BEGIN/COMMIT', async () => {
    const parsed = await parseSql('BEGIN;\nCREATE TABLE a (id int) -- first table\n;\nCREATE TABLE b (id int);\nCOMMIT;', '011_x.up.sql');
    const again = await parseSql(parsed.body, 'body');
    expect(again.statements.map((s) => s.kind)).toEqual(['CreateStmt', 'CreateStmt']);
  });
});

describe('parseSql: large files, in pieces', () => {
  const TRICKY = [
    "CREATE TABLE t (id int, note text);",
    "INSERT INTO t VALUES (1, 'a; b'), (2, E'it\\'s; here'), (3, 'say ''hi''; twice');",
    "-- a comment; with a semicolon\nINSERT INTO t VALUES (4, $$dollar; quoted$$);",
    "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN PERFORM 1; RETURN 2; END $body$;",
    "/* block; /* nested; */ still */ INSERT INTO t VALUES (5, \"x\".y);".replace('"x".y', "'q'"),
    "CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2);",
    "CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;",
    "INSERT INTO t VALUES (6, 'é✓🎉; unicode');",
  ];

  it('cuts only between statements and gives the same statements, lines and classification as one parse', async () => {
    const sql = Array.from({ length: 20 }, () => TRICKY.join('\n')).join('\n') + '\n';
    const whole = await parseSql(sql, 'big.up.sql');
    const pieces = await parseSql(sql, 'big.up.sql', { pieceChars: 200 });
    expect(pieces.parts.length).toBeGreaterThan(10);
    expect(pieces.parts.map((p) => p.text).join('')).toBe(sql);
    expect(pieces.statements).toEqual(whole.statements);
    expect(pieces.transactional).toBe(true);
    let offset = 0;
    for (const part of pieces.parts) {
      expect(part.line).toBe(sql.slice(0, offset).split('\n').length);
      offset += part.text.length;
    }
    expect(whole.parts).toEqual([{ text: sql, line: 1 }]);
  });

  it('reports a syntax error in a later piece with its line in the file', async () => {
    const lines = Array.from({ length: 300 }, (_, i) => `INSERT INTO t VALUES (${i});`);
    lines[250] = 'INSERT INTO t VALUSE (250);';
    const error = await sourceError(parseSql(lines.join('\n'), 'big.up.sql', { pieceChars: 500 }));
    expect(error.message).toMatch(/^big\.up\.sql \(line 251\): syntax error at or near "VALUSE"/);
  });

  it('stops between pieces when its signal aborts', async () => {
    const controller = new AbortController();
    controller.abort();
    const sql = Array.from({ length: 300 }, (_, i) => `INSERT INTO t VALUES (${i});`).join('\n');
    await expect(parseSql(sql, 'big.up.sql', { pieceChars: 500, signal: controller.signal })).rejects.toThrow('stopped while parsing big.up.sql; nothing was changed');
  });
});
