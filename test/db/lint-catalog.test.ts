/**
 * The lint gate against a real PostgreSQL: existence comes from the live catalog, so the lock
 * rules fire only for what production has before the run (on an empty database, none does),
 * and no name trick (IF NOT EXISTS, another schema, a TEMP table) exempts a table in use.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LintError, lint, migrate, type MigrateOptions } from '../../src/index.js';
import { sandbox, silentLogger, type Sandbox } from '../support/db.js';
import { rejection } from '../support/errors.js';
import { migrationsDir } from '../support/files.js';

let box: Sandbox;
afterEach(async () => box?.cleanup());

function up(dir: string, extra: Partial<MigrateOptions> = {}) {
  return migrate({
    databaseUrl: box.url,
    dir,
    direction: 'up',
    table: box.table,
    lockKey: box.lockKey,
    logger: silentLogger,
    lint: true,
    ...extra,
  } as MigrateOptions);
}
async function applied(): Promise<string[]> {
  return (await box.admin.query(`SELECT version FROM ${box.table} ORDER BY version`)).rows.map((r) => r.version);
}

/** A history in the shapes public ones have, every file of which today's rules found fault with. */
const HISTORY = {
  '001_accounts.up.sql': `CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'accounts_email_idx') THEN
    CREATE INDEX accounts_email_idx ON accounts (email);
  END IF;
END
$$;
`,
  '002_sessions.up.sql': `DROP TABLE IF EXISTS sessions;
CREATE TABLE sessions (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts (id), token text NOT NULL);
`,
  '003_email_lower.up.sql': `DROP INDEX accounts_email_idx;
CREATE UNIQUE INDEX accounts_email_lower_idx ON accounts (lower(email));
ALTER TABLE accounts ADD COLUMN plan text NOT NULL DEFAULT 'free', ADD CONSTRAINT accounts_plan_known CHECK (plan IN ('free', 'paid'));
`,
  '004_backfill.up.sql': `CREATE TEMP TABLE plan_import (account_id bigint, plan text);
CREATE INDEX plan_import_account_idx ON plan_import (account_id);
UPDATE accounts SET plan = i.plan FROM plan_import i WHERE i.account_id = accounts.id;
DROP TABLE plan_import;
`,
  '005_partitions.up.sql': `DO $$
BEGIN
  EXECUTE 'CREATE TABLE events_2026 (id bigint, at timestamptz)';
END
$$;
CREATE INDEX events_2026_at_idx ON events_2026 (at);
ALTER TABLE events_2026 ALTER COLUMN at SET NOT NULL;
ALTER TABLE sessions RENAME COLUMN token TO token_hash;
`,
};

describe('on an empty database no lock rule fires', () => {
  it('up with lint runs a whole history in the shapes real ones have', async () => {
    box = await sandbox();
    const dir = migrationsDir(HISTORY);
    const result = await up(dir);
    expect(result.executed.map((s) => s.version)).toEqual([
      '001_accounts',
      '002_sessions',
      '003_email_lower',
      '004_backfill',
      '005_partitions',
    ]);
    const { rows } = await box.admin.query(
      `SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename IN ('accounts', 'events_2026') ORDER BY 1`,
      [box.schema],
    );
    expect(rows.map((r) => r.indexname)).toEqual(['accounts_email_lower_idx', 'accounts_pkey', 'events_2026_at_idx']);
  });

  it('lint with the database says the same; without it, the rules assume every table is in use', async () => {
    box = await sandbox();
    const dir = migrationsDir(HISTORY);
    const online = await lint({ dir, databaseUrl: box.url, table: box.table });
    expect(online.findings).toEqual([]);
    const offline = await lint({ dir });
    // Without a database, the sessions that 002 drops if it exists may be a table in use: the run cannot tell.
    expect(offline.findings.map((f) => [f.file.slice(-19), f.rule])).toEqual([['002_sessions.up.sql', 'ban-drop-table']]);
  });

  it('once applied, the same changes to those tables are findings: they are in use now', async () => {
    box = await sandbox();
    const dir = migrationsDir({ '001_accounts.up.sql': HISTORY['001_accounts.up.sql'] });
    await up(dir);
    const report = await lint({
      files: [`${migrationsDir({ 'x.up.sql': 'DROP INDEX accounts_email_idx;\nDROP TABLE IF EXISTS sessions;\n' })}/x.up.sql`],
      databaseUrl: box.url,
    });
    // DROP … IF EXISTS of what is not there is not a finding.
    expect(report.findings.map((f) => f.rule)).toEqual(['require-concurrent-index-deletion']);
  });
});

describe('a table in use is not exempted by a name', () => {
  /** `issues` with rows, applied as 001; `change` is 002, linted by up before it runs. */
  async function refused(change: string): Promise<string[]> {
    box = await sandbox();
    const dir = migrationsDir({
      '001_issues.up.sql':
        "CREATE TABLE issues (id bigint PRIMARY KEY, title text, body text);\nINSERT INTO issues SELECT g, 't' || g, 'b' FROM generate_series(1, 100) g;\n",
    });
    await up(dir);
    const next = migrationsDir({
      '001_issues.up.sql':
        "CREATE TABLE issues (id bigint PRIMARY KEY, title text, body text);\nINSERT INTO issues SELECT g, 't' || g, 'b' FROM generate_series(1, 100) g;\n",
      '002_change.up.sql': change,
    });
    const error = await rejection(up(next), LintError);
    expect(await applied()).toEqual(['001_issues']);
    return error.findings.map((f) => f.rule);
  }

  it('CREATE TABLE IF NOT EXISTS of the existing table', async () => {
    const rules = await refused(`CREATE TABLE IF NOT EXISTS issues (id bigint PRIMARY KEY, title text, body text);
CREATE INDEX issues_title_idx ON issues (title);
ALTER TABLE issues ADD COLUMN token uuid DEFAULT gen_random_uuid();
ALTER TABLE issues ALTER COLUMN title SET NOT NULL;
ALTER TABLE issues RENAME COLUMN body TO description;
`);
    expect(rules).toEqual([
      'require-concurrent-index-creation',
      'adding-field-with-default',
      'adding-not-nullable-field',
      'renaming-column',
    ]);
  });

  it('a table of the same name in another schema', async () => {
    const rules = await refused(`CREATE SCHEMA IF NOT EXISTS lint_archive_${process.pid};
CREATE TABLE lint_archive_${process.pid}.issues (id bigint);
CREATE INDEX issues_title_idx ON issues (title);
`);
    await box.admin.query(`DROP SCHEMA IF EXISTS lint_archive_${process.pid} CASCADE`);
    expect(rules).toEqual(['require-concurrent-index-creation']);
  });

  it('a TEMP table of the same name, when the real one is named with its schema', async () => {
    box = await sandbox();
    const rules = await (async () => {
      const dir = migrationsDir({ '001_issues.up.sql': 'CREATE TABLE issues (id bigint PRIMARY KEY, title text);\n' });
      await up(dir);
      const next = migrationsDir({
        '001_issues.up.sql': 'CREATE TABLE issues (id bigint PRIMARY KEY, title text);\n',
        '002_change.up.sql': `CREATE TEMP TABLE issues (id bigint, title text);\nCREATE INDEX issues_tmp_idx ON issues (title);\nCREATE INDEX issues_title_idx ON ${box.schema}.issues (title);\n`,
      });
      return (await rejection(up(next), LintError)).findings.map((f) => [f.rule, f.line]);
    })();
    // The unqualified index is on the TEMP table (the server resolves it there): only the qualified one is found.
    expect(rules).toEqual([['require-concurrent-index-creation', 3]]);
  });
});

describe('changes that scan or rewrite a table in use, reported now', () => {
  async function findingsOn(change: string, setup = ''): Promise<{ rules: string[]; dir: string }> {
    box = await sandbox();
    const first = {
      '001_issues.up.sql': `${setup}CREATE TABLE issues (id bigint PRIMARY KEY, title text);\nINSERT INTO issues SELECT g, 't' || g FROM generate_series(1, 100) g;\n`,
    };
    await up(migrationsDir(first));
    const dir = migrationsDir({ ...first, '002_change.up.sql': change });
    const error = await rejection(up(dir), LintError);
    return { rules: error.findings.map((f) => f.rule), dir };
  }
  const filenode = async () => (await box.admin.query(`SELECT pg_relation_filenode('issues') AS f`)).rows[0].f as number;

  it('ADD COLUMN … CHECK (…)', async () => {
    const { rules, dir } = await findingsOn('ALTER TABLE issues ADD COLUMN priority bigint CHECK (priority > 0);\n');
    expect(rules).toEqual(['constraint-missing-not-valid']);
    // What it says is so: the column's CHECK is checked against every row (a row breaking it fails the ADD).
    await box.admin.query('ALTER TABLE issues ADD COLUMN probe bigint DEFAULT 1 CHECK (probe > 1)').then(
      () => expect.unreachable('the CHECK was not checked against the existing rows'),
      (error: Error) => expect(error.message).toMatch(/is violated by some row/),
    );
    expect((await up(dir, { lint: false })).executed.map((s) => s.version)).toEqual(['002_change']);
  });

  it('ADD COLUMN of a domain with a CHECK: the table is rewritten', async () => {
    const { rules, dir } = await findingsOn(
      'ALTER TABLE issues ADD COLUMN rank positive_rank;\n',
      'CREATE DOMAIN positive_rank AS bigint CHECK (VALUE > 0);\n',
    );
    expect(rules).toEqual(['adding-field-with-default']);
    const before = await filenode();
    await up(dir, { lint: false });
    expect(await filenode()).not.toBe(before);
  });

  it('ADD CONSTRAINT … EXCLUDE', async () => {
    const { rules } = await findingsOn('ALTER TABLE issues ADD CONSTRAINT issues_one_title EXCLUDE USING btree (title WITH =);\n');
    expect(rules).toEqual(['adding-exclusion-constraint']);
  });
});

describe('the history still declares column types', () => {
  it('varchar(50) to text is no rewrite, to varchar(20) is, for a table the catalog has', async () => {
    box = await sandbox();
    const first = { '001_users.up.sql': 'CREATE TABLE IF NOT EXISTS users (id bigint PRIMARY KEY, name varchar(50));\n' };
    await up(migrationsDir(first));
    const widen = await lint({
      dir: migrationsDir({ ...first, '002_widen.up.sql': 'ALTER TABLE users ALTER COLUMN name TYPE text;\n' }),
      databaseUrl: box.url,
      table: box.table,
    });
    expect(widen.findings).toEqual([]);
    const narrow = await lint({
      dir: migrationsDir({ ...first, '002_narrow.up.sql': 'ALTER TABLE users ALTER COLUMN name TYPE varchar(20);\n' }),
      databaseUrl: box.url,
      table: box.table,
    });
    expect(narrow.findings.map((f) => f.message)).toEqual([expect.stringContaining('from varchar(50) to varchar(20)')]);
  });
});
