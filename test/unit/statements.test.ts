import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { rejection } from '../support/errors.js';
import { SourceError } from '../../src/errors.js';
import {
  cutIntoPieces,
  hasNoTransactionMarker,
  hasPostDeployMarker,
  MARKED_NO_TRANSACTION,
  NO_TRANSACTION_MARKER,
  namedObjects,
  needsServerVersion,
  noTransactionReason,
  OWN_TRANSACTIONS,
  POST_DEPLOY_MARKER,
  ParseMemo,
  parserCalls,
  parseSql,
  parseStatements,
  sharedObjects,
} from '../../src/sql/parse.js';
import { useParseCache } from '../../src/sql/parse-cache.js';

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
    expect(parsed.begin).toBe('BEGIN');
    expect(parsed.parts).toEqual([{ text: sql, line: 1 }]);
    expect(parsed.statements.every((s) => s.noTransactionReason === null)).toBe(true);
  });

  it.each([
    ['CREATE INDEX i ON t (a);', 'IndexStmt'],
    ['ANALYZE t;', 'VacuumStmt'],
    ['REINDEX INDEX i;', 'ReindexStmt'],
    ['REINDEX TABLE t;', 'ReindexStmt'],
    ['DROP INDEX i;', 'DropStmt'],
    ['CLUSTER t USING i;', 'ClusterStmt'],
    ['REINDEX (VERBOSE) INDEX i;', 'ReindexStmt'],
    ['REINDEX (CONCURRENTLY false) INDEX i;', 'ReindexStmt'],
    ['REINDEX (CONCURRENTLY FALSE) TABLE t;', 'ReindexStmt'],
    ["REINDEX (CONCURRENTLY 'False') TABLE t;", 'ReindexStmt'],
    ['REINDEX (CONCURRENTLY off) INDEX i;', 'ReindexStmt'],
    ['REINDEX (CONCURRENTLY 0) INDEX i;', 'ReindexStmt'],
    ['ALTER TABLE measurements DETACH PARTITION measurements_2020;', 'AlterTableStmt'],
    ['ALTER TABLE measurements ADD COLUMN note text;', 'AlterTableStmt'],
    ['DROP TABLE t;', 'DropStmt'],
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
    ['REINDEX DATABASE app;', 'REINDEX DATABASE/SYSTEM'],
    ['REINDEX SYSTEM;', 'REINDEX DATABASE/SYSTEM'],
    ['REINDEX SCHEMA CONCURRENTLY app;', 'REINDEX CONCURRENTLY'],
    ['REINDEX (VERBOSE, CONCURRENTLY) TABLE t;', 'REINDEX CONCURRENTLY'],
    ['REINDEX (CONCURRENTLY true) INDEX i;', 'REINDEX CONCURRENTLY'],
    ['REINDEX (CONCURRENTLY on) INDEX i;', 'REINDEX CONCURRENTLY'],
    ['REINDEX (CONCURRENTLY 1) INDEX i;', 'REINDEX CONCURRENTLY'],
    // Not a Boolean: Postgres refuses the option; slipway does not take it for false.
    ['REINDEX (CONCURRENTLY 1.5) INDEX i;', 'REINDEX CONCURRENTLY'],
    ["REINDEX (CONCURRENTLY '') INDEX i;", 'REINDEX CONCURRENTLY'],
    ['CLUSTER;', 'CLUSTER without a table'],
    ["CREATE TABLESPACE fast LOCATION '/ssd';", 'CREATE TABLESPACE'],
    ['DROP TABLESPACE fast;', 'DROP TABLESPACE'],
    ["CREATE SUBSCRIPTION s CONNECTION 'dbname=src' PUBLICATION p;", 'a subscription command'],
    ['ALTER SUBSCRIPTION s REFRESH PUBLICATION;', 'a subscription command'],
    ['DROP SUBSCRIPTION s;', 'a subscription command'],
    ['ALTER TABLE measurements DETACH PARTITION measurements_2020 CONCURRENTLY;', 'ALTER TABLE ... DETACH PARTITION CONCURRENTLY'],
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

  it('needs the server version for a file with ALTER TYPE ... ADD VALUE among other statements', async () => {
    expect(needsServerVersion(await parseSql(`CREATE TABLE t (a int);\n${sql}`, 'e.up.sql'))).toBe(true);
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
    const fn = "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $body$ SELECT 'x;y' $body$";
    const parsed = await parseSql(`${fn};\nSELECT ';';`, 'fn.up.sql');
    expect(parsed.statements.map((s) => s.sql)).toEqual([fn, "SELECT ';'"]);
  });

  it('cuts exact statement text after multi-byte unicode', async () => {
    const sql = '-- données, ✓, 表, 🎉\nINSERT INTO t VALUES (\'é🎉\');\nSELECT \'ü\' AS "ça";\nCREATE TABLE "表" (id int);';
    const parsed = await parseSql(sql, 'u.up.sql');
    expect(parsed.statements.map((s) => s.sql)).toEqual([
      "INSERT INTO t VALUES ('é🎉')",
      'SELECT \'ü\' AS "ça"',
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
    expect((await parseSql('SELECT 1;\nSELECT 2\n\n  ', 'x.up.sql')).statements.map((s) => s.sql)).toEqual(['SELECT 1', 'SELECT 2']);
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
  ])("runs a file that manages its own transactions as written, outside slipway's (%j)", async (sql) => {
    const parsed = await parseSql(sql, '007_own.up.sql');
    expect(parsed.transactional).toBe(false);
    expect(parsed.statements.map((s) => s.sql)).toEqual(sql.split(';\n').map((s) => s.replace(/;$/, '')));
    expect(
      parsed.statements.filter((s) => /^(BEGIN|COMMIT|ROLLBACK)/.test(s.sql)).every((s) => s.noTransactionReason === OWN_TRANSACTIONS),
    ).toBe(true);
  });

  it("says why a transaction control statement runs outside slipway's transaction", async () => {
    const parsed = await parseSql('CREATE TABLE a (id int);\nCOMMIT;', '007_own.up.sql');
    expect(parsed.statements[1]!.noTransactionReason).toBe('it manages its own transactions (BEGIN/COMMIT inside the file)');
  });

  it('refuses a file that opens a transaction and never ends it, naming the line', async () => {
    const error = await sourceError(parseSql('CREATE TABLE a (id int);\nCOMMIT;\nBEGIN;\nCREATE TABLE b (id int);', '007_bad.up.sql'));
    expect(error.message).toBe('007_bad.up.sql:3: BEGIN opens a transaction that the file never ends: add COMMIT after its last statement');
  });

  it("keeps SAVEPOINT, RELEASE and ROLLBACK TO inside slipway's transaction", async () => {
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
    expect(error.message).toContain(':3:');
    expect(error.message).toContain('SELEC');
  });

  it('reports line 1 for a syntax error on the first line', async () => {
    const error = await sourceError(parseSql('CREAT TABLE a (id int);', 'typo.up.sql'));
    expect(error.message).toContain('typo.up.sql:1:');
  });

  it.each(['-- just a comment\n', '/* block */\n-- and a line\n', '   \n\n', ';;', ''])(
    'reads a file with no statement (%j) as a no-op',
    async (sql) => {
      expect(await parseSql(sql, '010_comments.up.sql')).toEqual({
        statements: [],
        transactional: true,
        body: '',
        parts: [],
        begin: 'BEGIN',
      });
    },
  );

  it('gives no statement for an empty text to every caller of the parser front end (lint too), where the parser itself refuses it', async () => {
    expect(await parseStatements('')).toEqual([]);
    expect(await parseStatements('', new ParseMemo())).toEqual([]);
  });
});

describe('parseSql: edge cases', () => {
  it('reports the right line for a syntax error after multi-byte characters', async () => {
    const error = await sourceError(parseSql("-- é✓🎉\n\nSELECT 'éééé';\nSELEC 2;", '009_x.up.sql'));
    expect(error.message).toContain('009_x.up.sql:4:');
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
    'CREATE TABLE t (id int, note text);',
    "INSERT INTO t VALUES (1, 'a; b'), (2, E'it\\'s; here'), (3, 'say ''hi''; twice');",
    '-- a comment; with a semicolon\nINSERT INTO t VALUES (4, $$dollar; quoted$$);',
    'CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN PERFORM 1; RETURN 2; END $body$;',
    '/* block; /* nested; */ still */ INSERT INTO t VALUES (5, "x".y);'.replace('"x".y', "'q'"),
    'CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2);',
    'CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;',
    "INSERT INTO t VALUES (6, 'é✓🎉; unicode');",
  ];

  it('cuts only between statements and gives the same statements, lines and classification as one parse', async () => {
    const sql = `${Array.from({ length: 20 }, () => TRICKY.join('\n')).join('\n')}\n`;
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
    expect(error.message).toMatch(/^big\.up\.sql:251:15: syntax error at or near "VALUSE"/);
  });

  it('stops between pieces when its signal aborts', async () => {
    const controller = new AbortController();
    controller.abort();
    const sql = Array.from({ length: 300 }, (_, i) => `INSERT INTO t VALUES (${i});`).join('\n');
    await expect(parseSql(sql, 'big.up.sql', { pieceChars: 500, signal: controller.signal })).rejects.toThrow(
      'stopped while parsing big.up.sql; nothing was changed',
    );
  });
});

describe('parseSql: what a concurrent index statement works on', () => {
  const concurrentOf = async (sql: string) => (await parseSql(sql, 'x.up.sql')).statements[0]!.concurrent;

  it("names the index and the table of CREATE INDEX CONCURRENTLY, the index in the table's schema", async () => {
    expect(await concurrentOf('CREATE INDEX CONCURRENTLY users_email ON app.users (email);')).toEqual({
      action: 'create-index',
      index: { schema: 'app', name: 'users_email' },
      table: { schema: 'app', name: 'users' },
    });
    expect(await concurrentOf('CREATE UNIQUE INDEX CONCURRENTLY users_email ON users (email);')).toEqual({
      action: 'create-index',
      index: { schema: null, name: 'users_email' },
      table: { schema: null, name: 'users' },
    });
  });

  it('names no index for CREATE INDEX CONCURRENTLY without a name (Postgres picks it)', async () => {
    expect(await concurrentOf('CREATE INDEX CONCURRENTLY ON app.users (email);')).toEqual({
      action: 'create-index',
      index: null,
      table: { schema: 'app', name: 'users' },
    });
  });

  it('names the index of DROP INDEX CONCURRENTLY, qualified or not', async () => {
    expect(await concurrentOf('DROP INDEX CONCURRENTLY app.users_email;')).toEqual({
      action: 'drop-index',
      indexes: [{ schema: 'app', name: 'users_email' }],
    });
    expect(await concurrentOf('DROP INDEX CONCURRENTLY IF EXISTS users_email;')).toEqual({
      action: 'drop-index',
      indexes: [{ schema: null, name: 'users_email' }],
    });
  });

  it('names the index or table of REINDEX … CONCURRENTLY, and no relation for a schema', async () => {
    expect(await concurrentOf('REINDEX INDEX CONCURRENTLY app.users_email;')).toEqual({
      action: 'reindex',
      kind: 'index',
      relation: { schema: 'app', name: 'users_email' },
    });
    expect(await concurrentOf('REINDEX (CONCURRENTLY) TABLE users;')).toEqual({
      action: 'reindex',
      kind: 'table',
      relation: { schema: null, name: 'users' },
    });
    expect(await concurrentOf('REINDEX SCHEMA CONCURRENTLY app;')).toEqual({ action: 'reindex', kind: 'other', relation: null });
  });

  it('names the table and the partition of DETACH PARTITION … CONCURRENTLY, as written', async () => {
    expect(await concurrentOf('ALTER TABLE app.events DETACH PARTITION events_2024 CONCURRENTLY;')).toEqual({
      action: 'detach-partition',
      table: { schema: 'app', name: 'events' },
      partition: { schema: null, name: 'events_2024' },
    });
  });

  it.each([
    'CREATE INDEX users_email ON users (email);',
    'DROP INDEX users_email;',
    'REINDEX INDEX users_email;',
    'VACUUM users;',
    'CREATE TABLE t (a int);',
    'ALTER TABLE events DETACH PARTITION events_2024;',
  ])('gives no concurrent target for %s', async (sql) => {
    expect((await parseSql(sql, 'x.up.sql')).statements[0]).not.toHaveProperty('concurrent');
  });
});

describe('noTransactionReason', () => {
  it('refuses ALTER TYPE … ADD VALUE before PostgreSQL 12 only when the version is known', () => {
    const addValue = { newVal: 'meh' };
    expect(noTransactionReason('AlterEnumStmt', addValue, { serverVersionNum: 110022 })).toBe(
      'ALTER TYPE ... ADD VALUE before PostgreSQL 12',
    );
    expect(noTransactionReason('AlterEnumStmt', addValue, { serverVersionNum: 119999 })).toBe(
      'ALTER TYPE ... ADD VALUE before PostgreSQL 12',
    );
    expect(noTransactionReason('AlterEnumStmt', addValue, { serverVersionNum: 120000 })).toBeNull();
    expect(noTransactionReason('AlterEnumStmt', addValue)).toBeNull();
    expect(noTransactionReason('AlterEnumStmt', { newVal: 'b', oldVal: 'a' }, { serverVersionNum: 110022 })).toBeNull();
  });

  it('reads a REINDEX CONCURRENTLY option given as a boolean', () => {
    const reindex = (arg: unknown) =>
      noTransactionReason('ReindexStmt', { kind: 'REINDEX_OBJECT_INDEX', params: [{ DefElem: { defname: 'concurrently', arg } }] });
    expect(reindex({ Boolean: { boolval: true } })).toBe('REINDEX CONCURRENTLY');
    expect(reindex({ Boolean: {} })).toBeNull();
    expect(reindex(undefined)).toBe('REINDEX CONCURRENTLY');
  });

  it('returns null for a statement Postgres runs in a transaction', () => {
    expect(noTransactionReason('SelectStmt', {})).toBeNull();
    expect(noTransactionReason('IndexStmt', { concurrent: false })).toBeNull();
    expect(noTransactionReason('VacuumStmt', { is_vacuumcmd: false })).toBeNull();
  });
});

describe('parseSql: transaction control, more', () => {
  it('keeps a whole-file wrapper with savepoints inside as one transaction', async () => {
    const sql = 'BEGIN;\nSAVEPOINT a;\nINSERT INTO t VALUES (1);\nRELEASE a;\nCOMMIT;';
    const parsed = await parseSql(sql, 'x.up.sql');
    expect(parsed.transactional).toBe(true);
    expect(parsed.statements.map((s) => [s.sql, s.line])).toEqual([
      ['SAVEPOINT a', 2],
      ['INSERT INTO t VALUES (1)', 3],
      ['RELEASE a', 4],
    ]);
    expect(parsed.body).toBe('     ;\nSAVEPOINT a;\nINSERT INTO t VALUES (1);\nRELEASE a;\n      ;');
    expect(parsed.begin).toBe('BEGIN');
  });

  it('runs a whole-file wrapper around CREATE INDEX CONCURRENTLY outside a transaction, without the wrapper', async () => {
    const parsed = await parseSql('BEGIN;\nCREATE INDEX CONCURRENTLY i ON t (a);\nCOMMIT;', 'x.up.sql');
    expect(parsed.transactional).toBe(false);
    expect(parsed.statements.map((s) => [s.sql, s.noTransactionReason])).toEqual([
      ['CREATE INDEX CONCURRENTLY i ON t (a)', 'CREATE INDEX CONCURRENTLY'],
    ]);
  });

  it('marks only the transaction control of a file that manages its own transactions, keeping other reasons', async () => {
    const parsed = await parseSql('BEGIN;\nSAVEPOINT a;\nINSERT INTO t VALUES (1);\nCOMMIT;\nVACUUM t;', 'x.up.sql');
    expect(parsed).toMatchObject({ transactional: false, begin: 'BEGIN' });
    expect(parsed.statements.map((s) => s.noTransactionReason)).toEqual([OWN_TRANSACTIONS, null, null, OWN_TRANSACTIONS, 'VACUUM']);
    expect(parsed.body).toBe('BEGIN;\nSAVEPOINT a;\nINSERT INTO t VALUES (1);\nCOMMIT;\nVACUUM t;');
    expect(parsed.parts).toEqual([{ text: parsed.body, line: 1 }]);
  });

  it('does not take BEGIN … ROLLBACK as a wrapper', async () => {
    const parsed = await parseSql('BEGIN;\nINSERT INTO t VALUES (1);\nROLLBACK;', 'x.up.sql');
    expect(parsed.transactional).toBe(false);
    expect(parsed.statements.map((s) => s.sql)).toEqual(['BEGIN', 'INSERT INTO t VALUES (1)', 'ROLLBACK']);
  });

  it('does not take a file with a COMMIT in the middle as one wrapper', async () => {
    const parsed = await parseSql('BEGIN;\nSELECT 1;\nCOMMIT AND CHAIN;\nSELECT 2;\nCOMMIT;', 'x.up.sql');
    expect(parsed.transactional).toBe(false);
    expect(parsed.statements).toHaveLength(5);
  });

  it.each([
    ['CREATE TABLE a (id int);\nCOMMIT AND CHAIN;\nCREATE TABLE b (id int);', 2, 'COMMIT'],
    ['BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\nROLLBACK AND CHAIN;\nSELECT 1;', 4, 'ROLLBACK'],
    ['START TRANSACTION;\nCREATE TABLE a (id int);', 1, 'START'],
    ['BEGIN;\nSELECT 1;\nBEGIN;\nSELECT 2;', 1, 'BEGIN'],
  ])('refuses a transaction left open (%j), naming where it opens', async (sql, line, word) => {
    const error = await sourceError(parseSql(sql, '007_open.up.sql'));
    expect(error.message).toBe(
      `007_open.up.sql:${line}: ${word} opens a transaction that the file never ends: add COMMIT after its last statement`,
    );
  });

  it.each([
    ['BEGIN;\nCREATE TABLE a (id int);\nCOMMIT AND CHAIN;\nCREATE TABLE b (id int);\nCOMMIT;'],
    ["BEGIN;\nINSERT INTO t VALUES (1);\nPREPARE TRANSACTION 'x';"],
    ["COMMIT PREPARED 'x';"],
    ["ROLLBACK PREPARED 'x';\nSELECT 1;"],
  ])('accepts a file whose transactions all end (%j)', async (sql) => {
    const parsed = await parseSql(sql, 'x.up.sql');
    expect(parsed.transactional).toBe(false);
    expect(parsed.statements.filter((s) => s.kind === 'TransactionStmt').every((s) => s.noTransactionReason === OWN_TRANSACTIONS)).toBe(
      true,
    );
  });
});

describe('parseSql: lines and errors, more', () => {
  it('counts lines across blank lines and statements spanning several lines', async () => {
    const sql = '\n\nCREATE TABLE a (\n  id int\n);\n\n  SELECT 1; SELECT 2;\n-- end\nSELECT\n3';
    const parsed = await parseSql(sql, 'x.up.sql');
    expect(parsed.statements.map((s) => [s.sql, s.line])).toEqual([
      ['CREATE TABLE a (\n  id int\n)', 3],
      ['SELECT 1', 7],
      ['SELECT 2', 7],
      ['SELECT\n3', 9],
    ]);
  });

  it('reports the line of a syntax error counted in characters, after many astral characters', async () => {
    const error = await sourceError(parseSql(`SELECT '${'🎉'.repeat(12)}';\nSELEC 1;`, 'x.up.sql'));
    expect(error.message).toMatch(/^x\.up\.sql:2:1: syntax error at or near "SELEC"; fix the SQL before running it$/);
  });

  it('reports the line of a syntax error at the start of a line after astral characters', async () => {
    const error = await sourceError(parseSql(`SELECT '🎉';\n\n\nSELEC 1;`, 'x.up.sql'));
    expect(error.message).toContain('x.up.sql:4:');
  });
});

describe('parseSql: large files, more', () => {
  it('joins a piece cut inside BEGIN ATOMIC … END with the next one', async () => {
    const fn = 'CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END';
    const sql = `${fn};\n${Array.from({ length: 20 }, (_, i) => `SELECT ${i};\n`).join('')}`;
    expect(cutIntoPieces(sql, 60)[0]!.end).toBe(sql.indexOf('SELECT 1;') + 'SELECT 1;'.length);
    const parsed = await parseSql(sql, 'x.up.sql', { pieceChars: 60 });
    expect(parsed.statements.map((s) => [s.sql, s.line])).toEqual([
      [fn, 1],
      ...Array.from({ length: 20 }, (_, i) => [`SELECT ${i}`, i + 2]),
    ]);
    expect(parsed.parts.length).toBeGreaterThan(2);
    expect(parsed.parts.map((p) => p.text).join('')).toBe(sql);
    expect(parsed.parts[0]!.text.startsWith(`${fn};\nSELECT 0;`)).toBe(true);
    expect(parsed.parts[1]!.line).toBe(parsed.parts[0]!.text.split('\n').length);
  });

  it('reports the line of a syntax error in a later piece counted from that piece, after astral characters in an earlier one', async () => {
    const sql = `--${'🎉'.repeat(60)}\nSELECT 1;\n${' '.repeat(30)}SELEC\n\n\n\n\n\n\n\n\n\n\n\n 2;`;
    expect(cutIntoPieces(sql, 60).length).toBe(2);
    const error = await sourceError(parseSql(sql, 'big.up.sql', { pieceChars: 60 }));
    expect(error.message).toMatch(/^big\.up\.sql:3:31: syntax error at or near "SELEC"/);
  });

  it('refuses a syntax error in the last piece', async () => {
    const sql = `${'SELECT 1;\n'.repeat(30)}SELEC 2;`;
    const error = await sourceError(parseSql(sql, 'big.up.sql', { pieceChars: 50 }));
    expect(error.message).toMatch(/^big\.up\.sql:31:1: syntax error at or near "SELEC"/);
  });

  it('parses a file of at most twice the piece size in one piece', async () => {
    const sql = 'SELECT 1;\nSELECT 2;\n';
    expect((await parseSql(sql, 'x.up.sql', { pieceChars: sql.length / 2 })).parts).toEqual([{ text: sql, line: 1 }]);
    expect((await parseSql(sql, 'x.up.sql', { pieceChars: sql.length / 2 - 1 })).parts).toEqual([
      { text: 'SELECT 1;', line: 1 },
      { text: '\nSELECT 2;', line: 1 },
      { text: '\n', line: 2 },
    ]);
  });

  it('sends a wrapped file in pieces of the blanked body', async () => {
    const sql = `BEGIN;\n${'SELECT 1;\n'.repeat(10)}COMMIT;\n`;
    const parsed = await parseSql(sql, 'x.up.sql', { pieceChars: 30 });
    expect(parsed.parts.length).toBeGreaterThan(1);
    expect(parsed.parts.map((p) => p.text).join('')).toBe(parsed.body);
    expect(parsed.body.startsWith('     ;\nSELECT 1;')).toBe(true);
  });

  it('stops when its signal aborts while it parses', async () => {
    const controller = new AbortController();
    const sql = Array.from({ length: 300 }, (_, i) => `INSERT INTO t VALUES (${i});`).join('\n');
    setImmediate(() => controller.abort());
    await expect(parseSql(sql, 'big.up.sql', { pieceChars: 100, signal: controller.signal })).rejects.toThrow(
      'stopped while parsing big.up.sql; nothing was changed',
    );
  });
});

describe('cutIntoPieces', () => {
  const cuts = (sql: string, pieceChars = 1) => cutIntoPieces(sql, pieceChars).map((p) => sql.slice(p.start, p.end));

  it('cuts after each semicolon once a piece is long enough, and keeps a last statement without one', () => {
    expect(cuts('SELECT 1;SELECT 2;SELECT 3')).toEqual(['SELECT 1;', 'SELECT 2;', 'SELECT 3']);
    expect(cuts('SELECT 1;SELECT 2;SELECT 3;', 10)).toEqual(['SELECT 1;SELECT 2;', 'SELECT 3;']);
    expect(cuts('SELECT 1;SELECT 2;', 9)).toEqual(['SELECT 1;', 'SELECT 2;']);
    expect(cutIntoPieces('SELECT 1;SELECT 2;', 9)).toEqual([
      { start: 0, end: 9 },
      { start: 9, end: 18 },
    ]);
    expect(cuts('')).toEqual([]);
  });

  it('does not cut inside string literals, doubled quotes included', () => {
    expect(cuts("SELECT 'a;b';SELECT 'it''s;';SELECT 3;")).toEqual(["SELECT 'a;b';", "SELECT 'it''s;';", 'SELECT 3;']);
  });

  it('knows backslash escapes in E strings only', () => {
    expect(cuts("SELECT E'\\';';SELECT 2;")).toEqual(["SELECT E'\\';';", 'SELECT 2;']);
    expect(cuts("SELECT e'\\\\';SELECT 2;")).toEqual(["SELECT e'\\\\';", 'SELECT 2;']);
    expect(cuts("SELECT 'a\\';SELECT 2;")).toEqual(["SELECT 'a\\';", 'SELECT 2;']);
    expect(cuts("SELECT date'a\\';SELECT 2;")).toEqual(["SELECT date'a\\';", 'SELECT 2;']);
    expect(cuts("E'\\';';SELECT 2;")).toEqual(["E'\\';';", 'SELECT 2;']);
    expect(cuts("(E'\\';');SELECT 2;")).toEqual(["(E'\\';');", 'SELECT 2;']);
    expect(cuts("SELECT e'\\';';SELECT 2;")).toEqual(["SELECT e'\\';';", 'SELECT 2;']);
    expect(cuts("SELECT 1, 'a\\';SELECT 2;")).toEqual(["SELECT 1, 'a\\';", 'SELECT 2;']);
    expect(cuts(", 'e\\';SELECT 2;")).toEqual([", 'e\\';", 'SELECT 2;']);
  });

  it.each(['0', '9', 'A', 'Z', 'a', 'z', '_', '$', '\u0080', 'é', '表'])(
    'takes %j then e and a quote as a word and a plain string',
    (before) => {
      expect(cuts(`${before}e'\\';SELECT 2;';SELECT 3;`)).toEqual([`${before}e'\\';`, 'SELECT 2;', "';SELECT 3;"]);
    },
  );

  it.each([' ', '/', ':', '@', '[', '`', '{', ',', '\u007f'])('takes %j then e and a quote as an E string', (before) => {
    expect(cuts(`${before}e'\\';SELECT 2;';SELECT 3;`)).toEqual([`${before}e'\\';SELECT 2;';`, 'SELECT 3;']);
  });

  it('ends an empty string literal at its second quote', () => {
    expect(cuts("SELECT '';SELECT 2;")).toEqual(["SELECT '';", 'SELECT 2;']);
  });

  it('does not cut inside quoted identifiers', () => {
    expect(cuts('SELECT 1 AS "a;""b;";SELECT 2;')).toEqual(['SELECT 1 AS "a;""b;";', 'SELECT 2;']);
    expect(cuts('SELECT 1 AS "a;')).toEqual(['SELECT 1 AS "a;']);
    expect(cuts('"a;')).toEqual(['"a;']);
    expect(cuts('SELECT 1 AS "a""";SELECT 2;')).toEqual(['SELECT 1 AS "a""";', 'SELECT 2;']);
  });

  it('does not cut inside comments, nested block comments included', () => {
    expect(cuts('-- a;b\nSELECT 1;SELECT 2;')).toEqual(['-- a;b\nSELECT 1;', 'SELECT 2;']);
    expect(cuts('SELECT 1 - -2;SELECT 2;')).toEqual(['SELECT 1 - -2;', 'SELECT 2;']);
    expect(cuts('SELECT 1; -- x;')).toEqual(['SELECT 1;', ' -- x;']);
    expect(cuts('/* a; /* b; */ c; */SELECT 1;SELECT 2;')).toEqual(['/* a; /* b; */ c; */SELECT 1;', 'SELECT 2;']);
    expect(cuts('SELECT 4 / 2;SELECT 2 * 3;')).toEqual(['SELECT 4 / 2;', 'SELECT 2 * 3;']);
    expect(cuts('/* a; */SELECT 1;/* b;')).toEqual(['/* a; */SELECT 1;', '/* b;']);
    expect(cuts('-- a;\nSELECT 1;SELECT 2;')).toEqual(['-- a;\nSELECT 1;', 'SELECT 2;']);
    expect(cuts('SELECT 2 * 3;SELECT 4;')).toEqual(['SELECT 2 * 3;', 'SELECT 4;']);
    expect(cuts('/* a/b; */SELECT 1;SELECT 2;')).toEqual(['/* a/b; */SELECT 1;', 'SELECT 2;']);
    expect(cuts('/* a * b; */SELECT 1;SELECT 2;')).toEqual(['/* a * b; */SELECT 1;', 'SELECT 2;']);
  });

  it('does not cut inside dollar quotes, tagged or not', () => {
    expect(cuts('SELECT $$a;b$$;SELECT $x$a;$$;$x$;SELECT 3;')).toEqual(['SELECT $$a;b$$;', 'SELECT $x$a;$$;$x$;', 'SELECT 3;']);
    expect(cuts('SELECT $é_1$;$é_1$;SELECT 2;')).toEqual(['SELECT $é_1$;$é_1$;', 'SELECT 2;']);
    expect(cuts('$$a;$$;SELECT 2;')).toEqual(['$$a;$$;', 'SELECT 2;']);
    expect(cuts('SELECT $$a;')).toEqual(['SELECT $$a;']);
    expect(cuts('SELECT $1, $$a;b$$;SELECT 2;')).toEqual(['SELECT $1, $$a;b$$;', 'SELECT 2;']);
  });

  it('takes a $ inside a word or before a number as no quote', () => {
    expect(cuts('SELECT a$b;SELECT $1;SELECT 2;')).toEqual(['SELECT a$b;', 'SELECT $1;', 'SELECT 2;']);
    expect(cuts('SELECT a$$;SELECT 2;$$;')).toEqual(['SELECT a$$;', 'SELECT 2;', '$$;']);
  });

  it('does not cut inside parentheses, and a stray closing one does not stop cutting', () => {
    expect(cuts('CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; (SELECT 2;));SELECT 3;')).toEqual([
      'CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; (SELECT 2;));',
      'SELECT 3;',
    ]);
    expect(cuts('SELECT 1);SELECT 2;')).toEqual(['SELECT 1);', 'SELECT 2;']);
    expect(cuts('(SELECT (1); SELECT 2);SELECT 3;')).toEqual(['(SELECT (1); SELECT 2);', 'SELECT 3;']);
  });
});

describe('ParseMemo: one parse per file and run, within a budget', () => {
  it('gives the same statements for the same text, parsed once; another text is parsed on its own', async () => {
    const memo = new ParseMemo();
    const first = await parseStatements('CREATE TABLE a (id int); SELECT 1;', memo);
    expect(first.map((s) => Object.keys(s.stmt)[0])).toEqual(['CreateStmt', 'SelectStmt']);
    expect(await parseStatements('CREATE TABLE a (id int); SELECT 1;', memo)).toBe(first);
    const other = await parseStatements('DROP TABLE a;', memo);
    expect(other).not.toBe(first);
    expect(other.map((s) => Object.keys(s.stmt)[0])).toEqual(['DropStmt']);
  });

  it('keeps no more SQL than its budget: a text past it is parsed again each time, the ones before stay kept', async () => {
    const memo = new ParseMemo(30);
    const kept = await parseStatements('SELECT 1;', memo); // 9 characters: kept
    const big = 'SELECT 2, 3, 4, 5, 6, 7, 8, 9, 10;'; // 34 characters: over the budget
    const once = await parseStatements(big, memo);
    const again = await parseStatements(big, memo);
    expect(again).not.toBe(once);
    expect(again).toEqual(once);
    expect(await parseStatements('SELECT 1;', memo)).toBe(kept);
  });

  it('parseSql through a memo classifies exactly as without one', async () => {
    const memo = new ParseMemo();
    const sql = 'SET lock_timeout = 1000;\nCREATE INDEX CONCURRENTLY i ON t (a);\n';
    const withMemo = await parseSql(sql, 'x.up.sql', { memo });
    expect(withMemo).toEqual(await parseSql(sql, 'x.up.sql'));
    expect(await parseSql(sql, 'x.up.sql', { memo })).toEqual(withMemo);
  });
});

describe('parse: edges the mutants found', () => {
  it('reads DETACH … CONCURRENTLY among other subcommands, and no other subcommand or an empty list as one', () => {
    const cmd = (subtype: string, concurrent: boolean) => ({ AlterTableCmd: { subtype, def: { PartitionCmd: { concurrent } } } });
    const reason = 'ALTER TABLE ... DETACH PARTITION CONCURRENTLY';
    expect(noTransactionReason('AlterTableStmt', { cmds: [cmd('AT_AddColumn', false), cmd('AT_DetachPartition', true)] })).toBe(reason);
    expect(noTransactionReason('AlterTableStmt', { cmds: [cmd('AT_AttachPartition', true)] })).toBeNull();
    expect(noTransactionReason('AlterTableStmt', { cmds: [] })).toBeNull();
    expect(noTransactionReason('AlterTableStmt', {})).toBeNull();
  });

  it('refuses only ADD VALUE before PostgreSQL 12, not an AlterEnumStmt without a new value', () => {
    expect(noTransactionReason('AlterEnumStmt', {}, { serverVersionNum: 110000 })).toBeNull();
  });

  it('takes a REINDEX CONCURRENTLY option given as a string node without a value for on', () => {
    const params = [{ DefElem: { defname: 'concurrently', arg: { String: {} } } }];
    expect(noTransactionReason('ReindexStmt', { kind: 'REINDEX_OBJECT_INDEX', params })).toBe('REINDEX CONCURRENTLY');
  });

  it('reads a marker only as a whole comment line, and on the last line of a file without a newline', () => {
    expect(hasPostDeployMarker('-- see -- slipway:post-deploy\nDROP TABLE t;')).toBe(false);
    expect(hasNoTransactionMarker('-- see -- slipway:no-transaction\nSELECT 1;')).toBe(false);
    expect(hasNoTransactionMarker('-- slipway:no-transaction\nSELECT 1;')).toBe(true);
    expect(hasPostDeployMarker('-- slipway:post-deploy')).toBe(true);
    expect(hasPostDeployMarker('-- a note only')).toBe(false);
    expect(hasPostDeployMarker(`${POST_DEPLOY_MARKER}\r\nDROP TABLE t;\r\n`)).toBe(true);
    expect(hasNoTransactionMarker(`\uFEFF${NO_TRANSACTION_MARKER}\nSELECT 1;`)).toBe(true);
    expect(MARKED_NO_TRANSACTION).toBe('marked -- slipway:no-transaction');
  });

  it('names what other statements name: nothing for a renamed function or a dropped schema', async () => {
    const named = async (sql: string) => [...(await namedObjects(sql))].sort();
    expect(await named('ALTER FUNCTION f() RENAME TO g;')).toEqual([]);
    expect(await named('DROP SCHEMA legacy;')).toEqual([]);
    expect(await named('DROP FUNCTION f();')).toEqual([]);
    expect(await named('DROP INDEX CONCURRENTLY app.users_email, users_name;')).toEqual(['users_email', 'users_name']);
  });

  it('names the columns of ALTER TABLE subcommands, and the tables a constraint refers to, not those of a column', async () => {
    const named = async (sql: string) => [...(await namedObjects(sql))].sort();
    expect(await named('ALTER TABLE users ENABLE ROW LEVEL SECURITY;')).toEqual(['users']);
    expect(await named('ALTER TABLE users ADD COLUMN team_id int REFERENCES teams (id);')).toEqual(['users.team_id']);
    expect(await named('ALTER TABLE users ADD CONSTRAINT fk FOREIGN KEY (team_id) REFERENCES teams (id);')).toEqual(['teams', 'users']);
  });

  it('names the indexed columns, the table for an expression, and the index by its name', async () => {
    const named = async (sql: string) => [...(await namedObjects(sql))].sort();
    expect(await named('CREATE INDEX CONCURRENTLY users_email ON users (email, lower(name)) WHERE deleted_at IS NULL;')).toEqual([
      'users',
      'users.email',
      'users_email',
    ]);
    expect(await named('CREATE INDEX ON users (email);')).toEqual(['users.email']);
    expect(await named('CREATE INDEX i ON app.events ((payload ->> $$kind$$));')).toEqual(['events', 'i']);
  });

  it('shares a column with itself, and lists what is shared in order', () => {
    expect(sharedObjects(new Set(['users.a']), new Set(['users.a']))).toEqual(['users.a']);
    expect(sharedObjects(new Set(['users']), new Set(['users.b', 'users.a']))).toEqual(['users.a', 'users.b']);
  });

  it('keeps a whole file of comments with CRLF line ends as no statement', async () => {
    expect(await parseSql('-- nothing yet\r\n/* later */\r\n', 'x.up.sql')).toEqual({
      statements: [],
      transactional: true,
      body: '',
      parts: [],
      begin: 'BEGIN',
    });
  });

  it('keeps the parse of a whole file in the memo: the same file is not parsed again', async () => {
    const memo = new ParseMemo();
    const sql = `-- ${Math.random()}\nCREATE INDEX CONCURRENTLY i ON t (a);\n`;
    const before = parserCalls.count;
    await parseSql(sql, 'x.up.sql', { memo });
    await parseStatements(sql, memo);
    await parseSql(sql, 'x.up.sql', { memo });
    expect(Number.isInteger(before)).toBe(true);
    expect(parserCalls.count).toBe(before + 1);
  });

  it('keeps a text exactly as long as what is left of the budget', async () => {
    const memo = new ParseMemo(9);
    const first = await parseStatements('SELECT 1;', memo);
    expect(await parseStatements('SELECT 1;', memo)).toBe(first);
  });

  it('reads a parse from the disk cache when it is on: the parser is not called for a text it knows', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-parse-cache-'));
    const saved = process.env.SLIPWAY_CACHE;
    delete process.env.SLIPWAY_CACHE;
    useParseCache(dir, () => 'unit test');
    try {
      const sql = `SELECT ${Math.random()};`;
      const before = parserCalls.count;
      const first = await parseStatements(sql);
      expect(parserCalls.count).toBe(before + 1);
      expect(await parseStatements(sql)).toEqual(first);
      expect(parserCalls.count).toBe(before + 1);
    } finally {
      useParseCache(null, () => '');
      if (saved !== undefined) process.env.SLIPWAY_CACHE = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('places a syntax error at a one-character token that ends its line', async () => {
    expect((await sourceError(parseSql('SELECT 1 2\nFROM t;', 'x.up.sql'))).message).toBe(
      'x.up.sql:1:10: syntax error at or near "2"; fix the SQL before running it',
    );
  });

  it('places a syntax error at the end of the input just past the last character', async () => {
    expect((await sourceError(parseSql('SELECT (', 'x.up.sql'))).message).toBe(
      'x.up.sql:1:9: syntax error at end of input; fix the SQL before running it',
    );
  });

  it('counts a column after U+FFFF as one character in a syntax error', async () => {
    const error = await sourceError(parseSql("SELECT '\uFFFF' AS a b;", 'x.up.sql'));
    expect(error.message).toBe('x.up.sql:1:17: syntax error at or near "b"; fix the SQL before running it');
  });

  it('does not cut inside an E string after a doubled quote and an escaped one', () => {
    const sql = "SELECT E'a''\\';x';SELECT 2;";
    expect(cutIntoPieces(sql, 1).map((p) => sql.slice(p.start, p.end))).toEqual(["SELECT E'a''\\';x';", 'SELECT 2;']);
  });
});
