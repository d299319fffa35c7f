/**
 * Real histories, as teams have them: comment-only and empty files, down files named unlike
 * their up files, files that manage their own transactions, pg_dump baselines, files that SET
 * things, encodings. Each shape runs unedited against a real PostgreSQL.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate, MigrationFailedError, SourceError, type MigrateOptions } from '../../src/index.js';
import { runCli, startCli } from '../support/cli.js';
import { captureLogger, sandbox, silentLogger, type Sandbox, migrateIn, sandboxArgs } from '../support/db.js';
import { rejection } from '../support/errors.js';
import { migrationsDir } from '../support/files.js';

let box: Sandbox;
afterEach(async () => box?.cleanup());

function run(direction: 'up' | 'down', dir: string, extra: Partial<MigrateOptions> = {}) {
  return migrateIn(box, direction, dir, extra);
}
async function ledger(): Promise<Array<{ version: string; state: string }>> {
  return (await box.admin.query(`SELECT version, state FROM ${box.table} ORDER BY version`)).rows;
}
async function schemaOf(table: string): Promise<string | null> {
  const { rows } = await box.admin.query(
    `SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = $1 AND c.relkind = 'r'`,
    [table],
  );
  return rows[0]?.nspname ?? null;
}

describe('comment-only and empty files', () => {
  const FILES = {
    '001_create_accounts.up.sql': 'CREATE TABLE accounts (id int PRIMARY KEY);\n',
    '001_create_accounts.down.sql': 'DROP TABLE accounts;\n',
    '002_add_fk.up.sql': 'ALTER TABLE accounts ADD COLUMN parent int REFERENCES accounts (id);\n',
    '002_add_fk.down.sql': '-- Deliberately do not restore the foreign key.\n',
    '003_nothing_yet.up.sql': '-- Kept for numbering: this change shipped in 002.\n',
    '003_nothing_yet.down.sql': '',
    '004_blank.up.sql': '\n\n',
  };

  it('apply and revert as no-ops: the row is written or removed, one line says there were no statements', async () => {
    box = await sandbox();
    const dir = migrationsDir(FILES);
    const { logger, lines } = captureLogger();
    const up = await run('up', dir, { logger });
    expect(up.executed.map((s) => s.version)).toEqual(['001_create_accounts', '002_add_fk', '003_nothing_yet', '004_blank']);
    expect(lines.filter((l) => String(l.msg).includes('no statements')).map((l) => l.version)).toEqual(['003_nothing_yet', '004_blank']);
    expect(await ledger()).toHaveLength(4);
  });

  it('down --all goes through comment-only down files', async () => {
    box = await sandbox();
    const { '004_blank.up.sql': _blank, ...files } = FILES;
    const dir = migrationsDir(files);
    await run('up', dir);
    const down = await run('down', dir, { all: true });
    expect(down.executed.map((s) => s.version)).toEqual(['003_nothing_yet', '002_add_fk', '001_create_accounts']);
    expect(await ledger()).toEqual([]);
    expect(await schemaOf('accounts')).toBeNull();
  });

  it('a file still as slipway new wrote it is refused as not written yet, before anything runs', async () => {
    box = await sandbox();
    const dir = migrationsDir({ '001_create_accounts.up.sql': FILES['001_create_accounts.up.sql'] });
    const created = await runCli(['new', 'add_email', '--dir', dir]);
    expect(created.code).toBe(0);
    const error = await rejection(run('up', dir), SourceError);
    expect(error.message).toBe(
      `${path.join(dir, '002_add_email.up.sql')} is not written yet (it is still what slipway new wrote): write the migration, or delete the file`,
    );
    expect(await ledger().catch(() => [])).toEqual([]);
    expect(await schemaOf('accounts')).toBeNull();

    // Written: it runs; its down file is still the template, and only a revert refuses it.
    writeFileSync(path.join(dir, '002_add_email.up.sql'), 'ALTER TABLE accounts ADD COLUMN email text;\n');
    expect((await run('up', dir)).executed).toHaveLength(2);
    await expect(run('down', dir)).rejects.toThrow(/002_add_email\.down\.sql is not written yet/);
    expect(await ledger()).toHaveLength(2);
  });
});

describe('down files named unlike their up files', () => {
  it('pairs them by number, warns once per run, and reverts with the down file', async () => {
    box = await sandbox();
    const dir = migrationsDir({
      '30_add_magic_metadata.up.sql': 'CREATE TABLE magic (id int);\n',
      '30_drop_magic_metadata.down.sql': 'DROP TABLE magic;\n',
    });
    const { logger, lines } = captureLogger();
    await run('up', dir, { logger });
    expect(lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual([
      'paired 1 down file(s) with the up file of the same number although their names differ: 30_drop_magic_metadata.down.sql with 30_add_magic_metadata.up.sql; renaming them to match silences this',
    ]);
    // A run with nothing to do repeats nothing.
    const quiet = captureLogger();
    await run('up', dir, { logger: quiet.logger });
    expect(quiet.lines.filter((l) => l.level === 40)).toEqual([]);
    expect((await run('down', dir)).executed.map((s) => s.version)).toEqual(['30_add_magic_metadata']);
    expect(await schemaOf('magic')).toBeNull();
  });
});

describe('files that manage their own transactions', () => {
  it("run as written, outside slipway's transaction, marked in flight first and recorded after the last statement", async () => {
    box = await sandbox();
    const dir = migrationsDir({
      '001_accounts.up.sql': 'BEGIN;\nCREATE TABLE accounts (id int);\nCOMMIT;\n\nBEGIN;\nINSERT INTO accounts VALUES (1), (2);\nCOMMIT;\n',
      '002_isolated.up.sql':
        "BEGIN ISOLATION LEVEL SERIALIZABLE;\nCREATE TABLE iso AS SELECT current_setting('transaction_isolation') AS level;\nSAVEPOINT s;\nINSERT INTO iso VALUES ('rolled back');\nROLLBACK TO SAVEPOINT s;\nCOMMIT;\n",
    });
    const result = await run('up', dir);
    expect(result.executed.map((s) => [s.version, s.transactional])).toEqual([
      ['001_accounts', false],
      ['002_isolated', true],
    ]);
    expect((await box.admin.query('SELECT id FROM accounts ORDER BY id')).rows).toEqual([{ id: 1 }, { id: 2 }]);
    expect((await box.admin.query('SELECT level FROM iso')).rows).toEqual([{ level: 'serializable' }]);
    expect(await ledger()).toEqual([
      { version: '001_accounts', state: 'applied' },
      { version: '002_isolated', state: 'applied' },
    ]);
  });

  it('a runtime error in a file wrapped in BEGIN … COMMIT names the line the file says', async () => {
    box = await sandbox();
    const dir = migrationsDir({
      '001_wrapped.up.sql':
        '-- Accounts.\nBEGIN;\n\nCREATE TABLE accounts (id int);\n\nINSERT INTO accounts\n  VALUES (no_such_column);\nCOMMIT;\n',
    });
    await expect(run('up', dir)).rejects.toThrow(
      /^migration 001_wrapped \(up\) failed at .*001_wrapped\.up\.sql:7: column "no_such_column" does not exist/,
    );
  });

  it('a failure inside its own transaction rolls that transaction back, keeps what it committed, and leaves the session usable', async () => {
    box = await sandbox();
    const client = await box.connect();
    const dir = migrationsDir({
      '001_accounts.up.sql':
        'BEGIN;\nCREATE TABLE accounts (id int);\nCOMMIT;\nBEGIN;\nINSERT INTO accounts VALUES (1);\nINSERT INTO accounts VALUES (1 / 0);\nCOMMIT;\n',
    });
    await expect(migrate({ client, dir, direction: 'up', table: box.table, lockKey: box.lockKey, logger: silentLogger })).rejects.toThrow(
      /failed at .*001_accounts\.up\.sql:6: division by zero \[22012\]; it runs outside a transaction \(it manages its own transactions \(BEGIN\/COMMIT inside the file\)\); statement 6 of 7 failed, the 5 before it took effect, and it stays marked in flight: fix the cause and run slipway up again to resume it there$/,
    );
    expect((await client.query('SELECT count(*)::int AS n FROM accounts')).rows).toEqual([{ n: 0 }]);
    expect(await ledger()).toEqual([{ version: '001_accounts', state: 'in_flight' }]);
  });
});

describe('session state stays with the file that set it', () => {
  const PG_DUMP_BASELINE = `--
-- PostgreSQL database dump
--

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

CREATE TABLE SCHEMA_NAME.users (
    id bigint NOT NULL,
    email text NOT NULL
);

CREATE SEQUENCE SCHEMA_NAME.users_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE SCHEMA_NAME.users_id_seq OWNED BY SCHEMA_NAME.users.id;

ALTER TABLE ONLY SCHEMA_NAME.users ALTER COLUMN id SET DEFAULT nextval('SCHEMA_NAME.users_id_seq'::regclass);

ALTER TABLE ONLY SCHEMA_NAME.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);

--
-- PostgreSQL database dump complete
--
`;

  it('a pg_dump baseline applies, and the next migration sees the session as the run started it', async () => {
    box = await sandbox();
    const dir = migrationsDir({
      '001_baseline.up.sql': PG_DUMP_BASELINE.replaceAll('SCHEMA_NAME', box.schema),
      '002_widgets.up.sql':
        "CREATE TABLE widgets (id int);\nCREATE TABLE checks AS SELECT current_setting('search_path') AS search_path, current_setting('statement_timeout') AS statement_timeout,\n  current_setting('check_function_bodies') AS check_function_bodies, current_setting('client_min_messages') AS client_min_messages;\n",
    });
    const result = await run('up', dir);
    expect(result.executed.map((s) => s.version)).toEqual(['001_baseline', '002_widgets']);
    expect(await schemaOf('users')).toBe(box.schema);
    expect(await schemaOf('widgets')).toBe(box.schema);
    expect((await box.admin.query('SELECT * FROM checks')).rows).toEqual([
      { search_path: box.schema, statement_timeout: '15s', check_function_bodies: 'on', client_min_messages: 'notice' },
    ]);
  });

  it('a search_path set by one migration does not move the next one, in one run or two', async () => {
    for (const runs of [1, 2]) {
      box = await sandbox();
      const dir = migrationsDir({
        '001_app_schema.up.sql': `CREATE SCHEMA ${box.schema}_app;\nSET search_path = ${box.schema}_app, public;\n`,
        '002_widgets.up.sql': 'CREATE TABLE widgets (id int);\n',
      });
      if (runs === 1) await run('up', dir);
      else {
        await run('up', dir, { steps: 1 });
        await run('up', dir);
      }
      expect(await schemaOf('widgets')).toBe(box.schema);
      await box.admin.query(`DROP SCHEMA ${box.schema}_app CASCADE`);
      await box.cleanup();
    }
  });

  it('SET ROLE in one migration does not make the next one create as that role', async () => {
    box = await sandbox();
    const role = `${box.schema}_owner`;
    await box.admin.query(`CREATE ROLE ${role}; GRANT ALL ON SCHEMA ${box.schema} TO ${role}`);
    try {
      const dir = migrationsDir({
        '001_as_owner.up.sql': `SET ROLE ${role};\nCREATE TABLE owned (id int);\n`,
        '002_as_runner.up.sql': 'CREATE TABLE mine (id int);\n',
      });
      await run('up', dir);
      const { rows } = await box.admin.query(
        `SELECT tablename, tableowner = current_user AS by_runner FROM pg_tables WHERE schemaname = $1 AND tablename IN ('owned', 'mine') ORDER BY 1`,
        [box.schema],
      );
      expect(rows).toEqual([
        { tablename: 'mine', by_runner: true },
        { tablename: 'owned', by_runner: false },
      ]);
    } finally {
      await box.admin.query(`DROP SCHEMA ${box.schema} CASCADE; DROP ROLE ${role}`);
    }
  });

  it("a migration's statement_timeout never reaches the caller's pooled connection; the caller's own settings stay", async () => {
    box = await sandbox();
    const pool = box.pool(1);
    await pool.query("SET lock_timeout = '7s'");
    const dir = migrationsDir({
      '001_fast.up.sql': "CREATE TABLE fast (id int);\nSET statement_timeout = '1ms';\n",
      '002_index.up.sql': "CREATE INDEX CONCURRENTLY fast_id ON fast (id);\nSET statement_timeout = '1ms';\n",
    });
    await migrate({ pool, dir, direction: 'up', table: box.table, lockKey: box.lockKey, logger: silentLogger });
    expect(
      (await pool.query('SELECT true AS slept, current_setting($1) AS lock_timeout FROM pg_sleep(0.05)', ['lock_timeout'])).rows,
    ).toEqual([{ slept: true, lock_timeout: '7s' }]);
    expect((await pool.query('SHOW statement_timeout')).rows[0].statement_timeout).not.toBe('1ms');
  });

  it('a statement cancelled by statement_timeout is reported as a timeout with the setting, not as stopped', async () => {
    box = await sandbox();
    const dir = migrationsDir({ '001_slow.up.sql': "SET statement_timeout = '50ms';\nSELECT pg_sleep(2);\n" });
    const error = await rejection(run('up', dir), MigrationFailedError);
    expect(error.message).toMatch(
      /^migration 001_slow \(up\) failed in .*001_slow\.up\.sql: canceling statement due to statement timeout \[57014\] \(statement_timeout = 50ms\); it was rolled back, nothing changed$/,
    );
  });
});

describe('encodings', () => {
  it('a Latin-1 file is refused naming file, line and byte, and nothing changes; a BOM is accepted', async () => {
    box = await sandbox();
    const dir = migrationsDir({ '001_accounts.up.sql': '\ufeffCREATE TABLE accounts (name text);\n' });
    writeFileSync(
      path.join(dir, '002_names.up.sql'),
      Buffer.concat([Buffer.from("INSERT INTO accounts VALUES ('Jos"), Buffer.from([0xe9]), Buffer.from("');\n")]),
    );
    const cli = await runCli(['up', '--database-url', box.url, '--dir', dir, '--table', box.table, '--lock-key', box.lockKey.toString()]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toBe(
      `slipway: ${path.join(dir, '002_names.up.sql')}:1: byte 34 (0xe9) is not valid UTF-8: convert the file to UTF-8, e.g. iconv -f LATIN1 -t UTF-8\n`,
    );
    expect(await schemaOf('accounts')).toBeNull();

    writeFileSync(path.join(dir, '002_names.up.sql'), "INSERT INTO accounts VALUES ('José');\n");
    expect((await run('up', dir)).executed).toHaveLength(2);
    expect((await box.admin.query('SELECT name FROM accounts')).rows).toEqual([{ name: 'José' }]);
  });
});

describe('large files', () => {
  it('a 10 MB data migration applies in pieces; SIGTERM while it is parsed stops at once, before the lock, changing nothing', async () => {
    box = await sandbox();
    const rows = Array.from(
      { length: 120_000 },
      (_, i) => `INSERT INTO big VALUES (${i}, 'row ${i}; with a semicolon and é', $$dollar ${i}$$);`,
    );
    const dir = migrationsDir({ '001_big.up.sql': `CREATE TABLE big (id int, a text, b text);\n${rows.join('\n')}\n` });
    const args = ['up', '--dir', dir, ...sandboxArgs(box)];

    // No parse cache: the stop must land while the file is parsed.
    const stopped = startCli(args, { env: { SLIPWAY_CACHE: 'off' } });
    for (let i = 0; ; i++) {
      // Connected and idle: it has read the bookkeeping table and is parsing (several seconds for 10 MB).
      const { rows: seen } = await box.admin.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'slipway' AND state = 'idle' AND datname = current_database()`,
      );
      if (seen[0].n > 0 || i > 500) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 300));
    stopped.child.kill('SIGTERM');
    const result = await stopped.done;
    expect(result.code).toBe(1);
    // Where the signal lands depends on the machine's load: between files or inside the parse, the run stops before the lock.
    expect([
      `slipway: stopped while parsing ${path.join(dir, '001_big.up.sql')}; nothing was changed\n`,
      'slipway: stopped while reading the migrations; nothing was changed\n',
    ]).toContain(result.stderr);
    expect(await schemaOf('big')).toBeNull();
    expect((await box.admin.query(`SELECT to_regclass($1) AS t`, [box.table])).rows[0].t).toBeNull();

    const applied = await runCli(args);
    expect(applied.code).toBe(0);
    expect((await box.admin.query('SELECT count(*)::int AS n, count(DISTINCT b)::int AS d FROM big')).rows).toEqual([
      { n: 120_000, d: 120_000 },
    ]);
  });
});
