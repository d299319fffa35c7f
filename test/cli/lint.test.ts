import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freshDatabase, sandbox, type Sandbox } from '../support/db.js';
import { migrationsDir, tempFolder } from '../support/files.js';
import { runCli } from '../support/cli.js';

let box: Sandbox | undefined;
afterEach(async () => {
  await box?.cleanup();
  box = undefined;
});

const CREATE = 'CREATE TABLE users (id bigint PRIMARY KEY, email text);\n';
const UNSAFE = '-- find users by email\nCREATE INDEX users_email_idx ON users (email);\n';

function dbArgs(b: Sandbox, dir: string): string[] {
  return ['--database-url', b.url, '--dir', dir, '--table', b.table, '--lock-key', b.lockKey.toString(), '--log-format', 'json'];
}

describe('slipway lint without a database', () => {
  it('files given by path are one run in the order given: the table of the first is new to the second', async () => {
    const dir = migrationsDir({ '001_users.up.sql': CREATE, '002_index.up.sql': UNSAFE });
    const [first, second] = [path.join(dir, '001_users.up.sql'), path.join(dir, '002_index.up.sql')];
    expect(await runCli(['lint', first, second])).toMatchObject({ code: 0, stdout: 'no findings in 2 files (rules for PostgreSQL 13)\n' });
    // Alone, the index file is about a table that exists: text output, exit 1.
    const alone = await runCli(['lint', second]);
    expect(alone.code).toBe(1);
    expect(alone.stdout).toBe(
      `${second}:2:33 require-concurrent-index-creation error: CREATE INDEX users_email_idx on existing table users blocks its writes for the whole build: use CREATE INDEX CONCURRENTLY\n` +
        '1 error, 0 warnings in 1 file (rules for PostgreSQL 13)\n',
    );
    // --dir lints every file as one run.
    expect(await runCli(['lint', '--dir', dir])).toMatchObject({ code: 0 });
  });

  it('--format json carries every finding with its fix, and ignored ones with their reason', async () => {
    const dir = migrationsDir({
      '002.up.sql': `${UNSAFE}-- slipway:ignore ban-drop-column nothing reads it since release 41\nALTER TABLE users DROP COLUMN legacy;\nCREATE TABLE t (id serial);\n`,
    });
    const result = await runCli(['lint', '--format', 'json', '--rules', 'prefer-identity', path.join(dir, '002.up.sql')]);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ errors: 1, warnings: 1, pgVersion: 13 });
    expect(report.findings.map((f: { rule: string }) => f.rule)).toEqual(['require-concurrent-index-creation', 'prefer-identity']);
    expect(report.findings[0]).toMatchObject({
      line: 2,
      column: 33,
      severity: 'error',
      fix: expect.stringMatching(/^CREATE INDEX CONCURRENTLY/),
    });
    expect(report.ignored).toEqual([
      expect.objectContaining({ rule: 'ban-drop-column', line: 4, reason: 'nothing reads it since release 41' }),
    ]);
  });

  it('--format github prints workflow annotations; warnings alone exit 0', async () => {
    const dir = migrationsDir({ '003.up.sql': 'ALTER TABLE users ALTER COLUMN email DROP NOT NULL;\n', '004.up.sql': UNSAFE });
    const warning = await runCli(['lint', '--format', 'github', path.join(dir, '003.up.sql')]);
    expect(warning.code).toBe(0);
    expect(warning.stdout.split('\n')[0]).toBe(
      `::warning file=${path.join(dir, '003.up.sql')},line=1,col=13,title=ban-drop-not-null::DROP NOT NULL on users.email: the code running now may not expect NULLs. Fix: Deploy code that handles NULL first, then drop the constraint.`,
    );
    const error = await runCli(['lint', '--format', 'github', path.join(dir, '004.up.sql')]);
    expect(error.code).toBe(1);
    expect(error.stdout).toMatch(/^::error file=.*004\.up\.sql,line=2,col=33,title=require-concurrent-index-creation::CREATE INDEX/);
  });

  it('--pg-version changes what is safe', async () => {
    const dir = migrationsDir({ '005.up.sql': "ALTER TABLE users ADD COLUMN plan text NOT NULL DEFAULT 'free';\n" });
    expect((await runCli(['lint', '--pg-version', '16', path.join(dir, '005.up.sql')])).code).toBe(0);
    expect(await runCli(['lint', '--pg-version', '10', path.join(dir, '005.up.sql')])).toMatchObject({
      code: 1,
      stdout: expect.stringContaining('adding-field-with-default'),
    });
  });

  it('bad input is one line naming file and line, exit 2, and nothing else', async () => {
    const dir = migrationsDir({
      'bad.up.sql': 'SELECT 1;\nCREATE TABLE (;\n',
      'ignore.up.sql': 'SELECT 1;\n-- slipway:ignore no-such-rule because\nDROP TABLE users;\n',
      'noreason.up.sql': '-- slipway:ignore ban-drop-table\nDROP TABLE users;\n',
    });
    const cases: Array<[string[], RegExp]> = [
      [[path.join(dir, 'bad.up.sql')], /^slipway: .*bad\.up\.sql:2: syntax error at or near "\(".*\n$/],
      [[path.join(dir, 'ignore.up.sql')], /^slipway: .*ignore\.up\.sql:2: unknown rule "no-such-rule" in slipway:ignore.*\n$/],
      [[path.join(dir, 'noreason.up.sql')], /^slipway: .*noreason\.up\.sql:1: slipway:ignore ban-drop-table needs a reason.*\n$/],
      [[path.join(dir, 'missing.up.sql')], /^slipway: .*missing\.up\.sql: no such file\n$/],
      [['--rules', 'no-such-rule', path.join(dir, 'bad.up.sql')], /^slipway: unknown lint rule "no-such-rule"/],
    ];
    for (const [args, stderr] of cases) {
      const result = await runCli(['lint', ...args]);
      expect(result, args.join(' ')).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr).toMatch(stderr);
      expect(result.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    }
  });

  it('--list-rules prints every rule with its reason and fix', async () => {
    const result = await runCli(['lint', '--list-rules']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^require-concurrent-index-creation {2}error\n {2}why: CREATE INDEX without CONCURRENTLY/);
    expect(result.stdout).toContain('prefer-identity  warning (off by default)');
  });
});

describe('with a database', () => {
  it('lints what up would apply, after the applied migrations; up and plan refuse an error-level finding, --no-lint runs it', async () => {
    box = await sandbox();
    const dir = migrationsDir({ '001_users.up.sql': CREATE });
    expect((await runCli(['up', ...dbArgs(box, dir)])).code).toBe(0);
    writeFileSync(path.join(dir, '002_index.up.sql'), UNSAFE);

    // Now 001 is history: users exists, and the index would block its writes.
    const linted = await runCli(['lint', '--database-url', box.url, '--table', box.table, '--dir', dir, '--format', 'json']);
    expect(linted.code).toBe(1);
    expect(JSON.parse(linted.stdout)).toMatchObject({
      files: [path.join(dir, '002_index.up.sql')],
      errors: 1,
      pgVersion: expect.any(Number),
    });

    for (const command of [['up'], ['plan']]) {
      const refused = await runCli([...command, ...dbArgs(box, dir)]);
      expect(refused.code, command[0]).toBe(1);
      expect(refused.stderr).toMatch(
        /slipway: refused to run: the pending migrations have 1 error-level lint finding: fix it, silence it in a lint config file, or run with --no-lint \(lint: false\); nothing was run\n.*002_index\.up\.sql:2:33 require-concurrent-index-creation: .*\nslipway lint --write-baseline adds every current finding to the lint config file; see docs\/lint\.md\n/,
      );
      expect(refused.stdout + refused.stderr).toContain('"rule":"require-concurrent-index-creation"');
    }
    const { rows } = await box.admin.query(`SELECT version FROM ${box.table} ORDER BY version`);
    expect(rows.map((r) => r.version)).toEqual(['001_users']);

    const forced = await runCli(['up', '--no-lint', ...dbArgs(box, dir)]);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain('not linting the pending migrations (--no-lint)');
    const after = await box.admin.query(`SELECT version FROM ${box.table} ORDER BY version`);
    expect(after.rows.map((r) => r.version)).toEqual(['001_users', '002_index']);
  });

  it('a table created in the same pending run needs no CONCURRENTLY: up runs both', async () => {
    box = await sandbox();
    const dir = migrationsDir({ '001_users.up.sql': CREATE, '002_index.up.sql': UNSAFE });
    const result = await runCli(['up', ...dbArgs(box, dir)]);
    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain('"level":50');
  });
});

describe('lint over tenants, and silenced outside the files', () => {
  it('up --tenants and plan --tenants lint each tenant against its own catalog', async () => {
    const db = await freshDatabase();
    try {
      await db.admin.query(
        "CREATE SCHEMA lt_busy; CREATE SCHEMA lt_new; CREATE TABLE lt_busy.issues (id bigint PRIMARY KEY, title text); INSERT INTO lt_busy.issues VALUES (1, 'a')",
      );
      const dir = migrationsDir({
        '001_issues.up.sql':
          'CREATE TABLE IF NOT EXISTS issues (id bigint PRIMARY KEY, title text);\nCREATE INDEX issues_title_idx ON issues (title);\n',
      });
      const args = ['--tenants', 'schema:lt\\_%', '--database-url', db.url, '--dir', dir, '--json'];
      const tenants = (stdout: string) =>
        stdout
          .split('\n')
          .filter((l) => l.startsWith('{"tenant"'))
          .map((l) => JSON.parse(l))
          .sort((a, b) => a.tenant.localeCompare(b.tenant));

      const plan = await runCli(['plan', ...args]);
      expect(plan.code).toBe(1);
      expect(tenants(plan.stdout).map((t) => [t.tenant, t.outcome, t.error?.code ?? null])).toEqual([
        ['lt_busy', 'failed', 'LINT'],
        ['lt_new', 'pending', null],
      ]);

      const up = await runCli(['up', ...args]);
      expect(up.code).toBe(1);
      const results = tenants(up.stdout);
      expect(results.map((t) => [t.tenant, t.outcome])).toEqual([
        ['lt_busy', 'failed'],
        ['lt_new', 'changed'],
      ]);
      expect(results[0].error.message).toMatch(/require-concurrent-index-creation: CREATE INDEX issues_title_idx on existing table issues/);
      const indexes = await db.admin.query(`SELECT schemaname FROM pg_indexes WHERE indexname = 'issues_title_idx' ORDER BY 1`);
      expect(indexes.rows.map((r) => r.schemaname)).toEqual(['lt_new']);

      expect((await runCli(['up', ...args, '--no-lint'])).code).toBe(0);
      expect((await db.admin.query(`SELECT count(*)::int AS n FROM pg_indexes WHERE indexname = 'issues_title_idx'`)).rows[0].n).toBe(2);
    } finally {
      await db.drop();
    }
  });

  it('--write-baseline records the findings in the lint config; lint, up and plan read it (by default from the current folder)', async () => {
    box = await sandbox();
    const dir = migrationsDir({ '001_users.up.sql': CREATE });
    expect((await runCli(['up', ...dbArgs(box, dir)])).code).toBe(0);
    writeFileSync(path.join(dir, '002_index.up.sql'), UNSAFE);
    const cwd = tempFolder({});
    const config = path.join(cwd, 'slipway-lint.json');
    const lintArgs = ['lint', '--database-url', box.url, '--table', box.table, '--dir', dir];

    const written = await runCli([...lintArgs, '--write-baseline', '--lint-config', config]);
    expect(written).toMatchObject({ code: 0, stdout: `1 finding recorded in ${config}: only new ones fail from now on\n` });
    const entries = JSON.parse(readFileSync(config, 'utf8')).ignore;
    expect(entries).toEqual([
      expect.objectContaining({
        file: '002_index.up.sql',
        rule: 'require-concurrent-index-creation',
        statement: expect.stringMatching(/^[0-9a-f]{16}$/),
      }),
    ]);

    expect(await runCli([...lintArgs, '--lint-config', config])).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^no findings, 1 ignored in 1 file/),
    });
    // Without --lint-config, slipway-lint.json in the current folder is read; elsewhere, up refuses.
    expect((await runCli(['plan', ...dbArgs(box, dir)])).code).toBe(1);
    expect((await runCli(['plan', ...dbArgs(box, dir)], { cwd })).code).toBe(0);
    expect((await runCli(['up', ...dbArgs(box, dir)], { cwd })).code).toBe(0);
    const { rows } = await box.admin.query(`SELECT version FROM ${box.table} ORDER BY version`);
    expect(rows.map((r) => r.version)).toEqual(['001_users', '002_index']);

    writeFileSync(config, '{"ignore": [{"file": "002_index.up.sql", "rule": "no-such-rule", "reason": "x"}]}');
    const bad = await runCli([...lintArgs, '--lint-config', config]);
    expect(bad).toMatchObject({ code: 2, stdout: '' });
    expect(bad.stderr).toMatch(/^slipway: lint config .*slipway-lint\.json: ignore\[0\]: unknown rule "no-such-rule"/);
  });
});
