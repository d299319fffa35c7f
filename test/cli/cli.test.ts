import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sandbox, type Sandbox } from '../support/db.js';
import { migrationsDir, RACE_MIGRATIONS, RACE_VERSIONS, tempFolder } from '../support/files.js';
import { runCli, startCli } from '../support/cli.js';

let box: Sandbox;
afterEach(async () => box?.cleanup());

const TWO = {
  '001_create_users.up.sql': 'CREATE TABLE users (id int);',
  '001_create_users.down.sql': 'DROP TABLE users;',
  '002_index_users.up.sql': 'CREATE INDEX CONCURRENTLY users_id_idx ON users (id);',
  '002_index_users.down.sql': 'DROP INDEX CONCURRENTLY users_id_idx;',
};

function dbArgs(b: Sandbox, dir: string): string[] {
  return ['--database-url', b.url, '--dir', dir, '--table', b.table, '--lock-key', b.lockKey.toString(), '--log-format', 'json'];
}
function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

describe('usage', () => {
  it('prints the version and help for every command, exit 0', async () => {
    const version = await runCli(['--version']);
    expect(version).toMatchObject({ code: 0, stdout: '0.1.0\n' });
    for (const command of [[], ['up'], ['down'], ['status'], ['plan'], ['new'], ['db'], ['db', 'start']]) {
      const help = await runCli([...command, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/^Usage: slipway/);
    }
  });

  it.each([
    [['frobnicate'], /unknown command 'frobnicate'; commands: up, down, status, redo, plan, seed, new, db/],
    [['down', '--steps', 'two'], /option '--steps <n>' argument 'two' is invalid\. give a whole number/],
    [['down', '--steps', '2', '--all'], /option '--steps <n>' cannot be used with option '--all'/],
    [['plan', 'sideways'], /'sideways' is invalid for argument 'direction'\. Allowed choices are up, down/],
    [['up', '--table', 'a.b.c'], /option '--table <name>' argument 'a\.b\.c' is invalid\. use "table" or "schema\.table"/],
    [['up', '--lock-key', 'abc'], /option '--lock-key <n>' argument 'abc' is invalid/],
    [['up', '--wait', 'soon'], /option '--wait <seconds>' argument 'soon' is invalid/],
    [['up', '--log-level', 'loud'], /option '--log-level <level>' argument 'loud' is invalid\. Allowed choices are trace, debug/],
    [['up', '--frob'], /unknown option '--frob'/],
    [['new', 'Create-Users'], /invalid migration name "Create-Users": use lowercase letters, digits, _ and -/],
    [['plan', 'up', '--all'], /--all applies to plan down only/],
  ])('%j is a usage error: one line, exit 2', async (args, message) => {
    const result = await runCli(args as string[], { cwd: tempFolder({}) });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stdout).toBe('');
  });
});

describe('commands against a real database', () => {
  it('up, status, plan and down print what happened, and --json prints one document', async () => {
    box = await sandbox();
    const dir = migrationsDir(TWO);
    const plan = await runCli(['plan', ...dbArgs(box, dir)]);
    // On an empty ledger the index of a table created in the same batch is built in it.
    const note = "in its table's transaction: CONCURRENTLY not needed";
    expect(plan).toMatchObject({ code: 0, stdout: `apply 001_create_users\napply 002_index_users  (${note})\n` });

    const up = await runCli(['up', ...dbArgs(box, dir)]);
    expect(up.code).toBe(0);
    expect(
      jsonLines(up.stdout)
        .filter((l) => l.version)
        .map((l) => [l.version, l.direction, l.transactional]),
    ).toEqual([
      ['001_create_users', 'up', true],
      ['002_index_users', 'up', true],
    ]);
    expect(jsonLines(up.stdout).map((l) => String(l.msg))).toEqual([
      expect.stringMatching(/^applied 001_create_users \(\d+ ms\)$/),
      `applied 002_index_users (${jsonLines(up.stdout)[1]!.durationMs} ms, ${note})`,
      expect.stringMatching(/^up: 2 applied in \d+ ms$/),
    ]);

    const status = await runCli(['status', ...dbArgs(box, dir)]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(
      /^VERSION\s+STATE\s+APPLIED AT\s+DURATION\n001_create_users\s+applied\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+\d+ ms\n002_index_users\s+applied/,
    );
    expect(status.stdout).toMatch(/2 applied \(table "t_[0-9a-f]+"\."schema_migrations"\)\nmigration lock: free\n$/);

    const statusJson = await runCli(['status', '--json', ...dbArgs(box, dir)]);
    const report = JSON.parse(statusJson.stdout);
    expect(report.migrations.map((m: { version: string; state: string }) => [m.version, m.state])).toEqual([
      ['001_create_users', 'applied'],
      ['002_index_users', 'applied'],
    ]);
    expect(report.lock).toBeNull();

    const planDown = await runCli(['plan', 'down', '--json', ...dbArgs(box, dir)]);
    expect(JSON.parse(planDown.stdout)).toEqual({
      direction: 'down',
      steps: [
        { version: '002_index_users', direction: 'down', transactional: false, phase: 'regular', sql: TWO['002_index_users.down.sql'] },
      ],
      warnings: [],
      deferred: [],
    });

    const down = await runCli(['down', '--json', ...dbArgs(box, dir)]);
    expect(down.code).toBe(0);
    const result = JSON.parse(down.stdout);
    expect(result.executed.map((s: { version: string }) => s.version)).toEqual(['002_index_users']);
    expect(result.migrations).toEqual([
      { version: '001_create_users', state: 'applied', phase: 'regular' },
      { version: '002_index_users', state: 'pending', phase: 'regular' },
    ]);
    expect(jsonLines(down.stderr).some((l) => String(l.msg).startsWith('reverted 002_index_users ('))).toBe(true);
  });

  it('--log-format pretty prints readable lines, no JSON', async () => {
    box = await sandbox();
    const result = await runCli(['up', ...dbArgs(box, migrationsDir(TWO)), '--log-format', 'pretty']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^\[\d\d:\d\d:\d\d\] INFO: applied 001_create_users \(\d+ ms\)$/m);
    expect(result.stdout).not.toContain('{');
  });

  it('status shows who holds the migration lock', async () => {
    box = await sandbox();
    const dir = migrationsDir(TWO);
    const holder = await box.connect();
    await holder.query("SET application_name = 'deploy-job'");
    await holder.query('SELECT pg_advisory_lock($1::bigint)', [box.lockKey.toString()]);
    const pid = (await holder.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    const status = await runCli(['status', ...dbArgs(box, dir)]);
    expect(status.stdout).toMatch(
      new RegExp(`migration lock: held by backend pid ${pid} \\(application deploy-job, from 127\\.0\\.0\\.1\\), connected since`),
    );
    const json = JSON.parse((await runCli(['status', '--json', ...dbArgs(box, dir)])).stdout);
    expect(json.lock).toMatchObject({ pid, applicationName: 'deploy-job', clientAddress: '127.0.0.1' });
  });

  it('a failing migration exits 1 with the message on stderr and a JSON error document with --json', async () => {
    box = await sandbox();
    const dir = migrationsDir({ '001_broken.up.sql': 'INSERT INTO nowhere VALUES (1);' });
    const result = await runCli(['up', '--json', ...dbArgs(box, dir)]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /slipway: migration 001_broken \(up\) failed at .*001_broken\.up\.sql:1: relation "nowhere" does not exist/,
    );
    expect(JSON.parse(result.stdout)).toMatchObject({ error: { code: 'MIGRATION_FAILED' } });
  });

  it('flags win over environment variables', async () => {
    box = await sandbox();
    const dir = migrationsDir(TWO);
    const env = { DATABASE_URL: box.url, SLIPWAY_DIR: '/nonexistent', SLIPWAY_TABLE: box.table, SLIPWAY_LOCK_KEY: box.lockKey.toString() };
    const fromEnv = await runCli(['up', '--log-format', 'json'], { env });
    expect(fromEnv.code).toBe(1);
    expect(fromEnv.stderr).toMatch(/migrations folder \/nonexistent does not exist/);
    const withFlag = await runCli(['up', '--log-format', 'json', '--dir', dir], { env });
    expect(withFlag.code).toBe(0);
    expect((await box.admin.query(`SELECT count(*)::int AS n FROM ${box.table}`)).rows[0].n).toBe(2);
  });

  it('never prints the password of the connection string, on success or failure', async () => {
    box = await sandbox();
    const dir = migrationsDir(TWO);
    const url = new URL(box.url);
    const password = decodeURIComponent(url.password);
    expect(password.length).toBeGreaterThan(0);
    const ok = await runCli(['up', ...dbArgs(box, dir), '--log-level', 'trace']);
    expect(ok.code).toBe(0);
    const wrong = new URL(box.url);
    wrong.password = 'Wr0ngSecretPassw0rd';
    const denied = await runCli(['status', '--database-url', wrong.toString(), '--dir', dir, '--json']);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/password authentication failed/);
    const refused = await runCli([
      'up',
      '--database-url',
      'postgres://app:Sup3rSecret@127.0.0.1:1/app',
      '--dir',
      dir,
      '--log-level',
      'trace',
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^slipway: cannot connect to PostgreSQL at 127\.0\.0\.1:1: connection refused: is the server running/);
    for (const output of [ok.stdout + ok.stderr, denied.stdout + denied.stderr, refused.stdout + refused.stderr]) {
      expect(output).not.toContain(password);
      expect(output).not.toContain('Wr0ngSecretPassw0rd');
      expect(output).not.toContain('Sup3rSecret');
    }
  });
});

describe('before any database', () => {
  it('an empty DATABASE_URL, or none where CI is set, is a usage error (exit 2) in one line: no local server is started', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'slipway-cwd-'));
    try {
      mkdirSync(path.join(cwd, 'migrations'));
      writeFileSync(path.join(cwd, 'migrations', '001_a.up.sql'), 'SELECT 1;');
      for (const command of [['up'], ['status'], ['plan'], ['down']]) {
        expect(await runCli(command, { cwd, env: { DATABASE_URL: '' } })).toMatchObject({
          code: 2,
          stdout: '',
          stderr:
            'slipway: DATABASE_URL (or --database-url) is set but empty: set it to the database to use, or unset it for the local PostgreSQL in .slipway/postgres\n',
        });
        expect(await runCli(command, { cwd, env: { CI: 'true' } })).toMatchObject({
          code: 2,
          stdout: '',
          stderr:
            'slipway: no DATABASE_URL and CI is set: set DATABASE_URL (or --database-url) to the database to use, or pass --local for a local PostgreSQL in .slipway/postgres\n',
        });
      }
      expect(readdirSync(cwd)).toEqual(['migrations']);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('the local server lives in the project root, found from a subfolder (the nearest .slipway or package.json)', async () => {
    const { defaultRoot } = await import('../../src/db/embedded.js');
    const project = mkdtempSync(path.join(os.tmpdir(), 'slipway-project-'));
    const previous = process.env.SLIPWAY_HOME;
    delete process.env.SLIPWAY_HOME;
    try {
      mkdirSync(path.join(project, 'services/api'), { recursive: true });
      expect(defaultRoot(path.join(project, 'services/api'))).toBe(path.join(project, 'services/api/.slipway'));
      writeFileSync(path.join(project, 'package.json'), '{}');
      expect(defaultRoot(path.join(project, 'services/api'))).toBe(path.join(project, '.slipway'));
      mkdirSync(path.join(project, 'services/.slipway'));
      expect(defaultRoot(path.join(project, 'services/api'))).toBe(path.join(project, 'services/.slipway'));
    } finally {
      if (previous !== undefined) process.env.SLIPWAY_HOME = previous;
      rmSync(project, { recursive: true, force: true });
    }
  });

  it('up, status, plan, adopt and seed check their folder before starting a local PostgreSQL: nothing is left running', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'slipway-cwd-'));
    try {
      for (const command of [['up'], ['status'], ['plan'], ['down'], ['adopt']]) {
        const result = await runCli(command, { cwd });
        expect(result).toMatchObject({
          code: 1,
          stdout: '',
          stderr: 'slipway: migrations folder ./migrations does not exist: create it or pass another folder\n',
        });
      }
      mkdirSync(path.join(cwd, 'migrations'));
      writeFileSync(path.join(cwd, 'migrations', 'create_users.sql'), 'SELECT 1;');
      expect((await runCli(['up'], { cwd })).stderr).toMatch(/^slipway: .*create_users\.sql/);
      expect(await runCli(['seed'], { cwd })).toMatchObject({
        code: 1,
        stderr: 'slipway: seeds folder ./seeds does not exist: create it or pass another folder\n',
      });
      expect(readdirSync(cwd)).toEqual(['migrations']);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('a keyword=value connection string is a usage error at once (exit 2), never retried; --lock-key takes the hex its help shows', async () => {
    const started = Date.now();
    const result = await runCli(['up', '--lock-key', '0x736c6970776179', '--wait', '120', '--dir', migrationsDir(TWO)], {
      env: { DATABASE_URL: 'host=localhost dbname=app user=app password=Sup3rSecret' },
    });
    // A retrying run would keep going for the whole --wait; a loaded machine may take seconds to start one.
    expect(Date.now() - started).toBeLessThan(45_000);
    expect(result).toMatchObject({
      code: 2,
      stderr:
        'slipway: the connection string is in keyword=value form, which slipway does not read: give it as a URL, postgres://app:***@localhost/app (with the password, %-encoded, for ***)\n',
    });
    const help = await runCli(['up', '--help']);
    expect(help.stdout).toMatch(/default\s+32488822435963257 = 0x736c6970776179/);
  });

  it('connection failures are one line and a CONNECTION error with --json', async () => {
    const result = await runCli([
      'status',
      '--json',
      '--dir',
      migrationsDir(TWO),
      '--database-url',
      'postgres://app:Sup3rSecret@127.0.0.1:1/app',
    ]);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toEqual({
      error: { code: 'CONNECTION', message: expect.stringMatching(/^cannot connect to PostgreSQL at 127\.0\.0\.1:1: connection refused/) },
    });
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stdout + result.stderr).not.toContain('Sup3rSecret');
  });
});

describe('output to a pipe', () => {
  it('reaches a reader that falls behind whole, however long: the process waits for the pipe before it exits', async () => {
    // One finding per statement: some 600 KB of JSON, ten times what a pipe holds.
    const statements = Array.from({ length: 2000 }, (_, i) => `CREATE TABLE t${i} (id serial PRIMARY KEY);`);
    const file = path.join(tempFolder({ '001_many.up.sql': statements.join('\n') }), '001_many.up.sql');
    const { child, done } = startCli(['lint', '--format', 'json', '--rules', 'prefer-identity', file]);
    // The reader stops reading: the pipe fills, and a process that dropped what it could not write would exit meanwhile.
    child.stdout!.pause();
    const exited = await Promise.race([
      new Promise<boolean>((resolve) => child.once('exit', () => resolve(true))),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2000)),
    ]);
    child.stdout!.resume();
    const result = await done;
    expect(exited).toBe(false);
    expect(result.stdout.length).toBeGreaterThan(10 * 65536);
    expect(JSON.parse(result.stdout).findings).toHaveLength(2000);
  });
});

describe('--lock-key in hex', () => {
  it('names the same lock as its decimal form, negative keys too', async () => {
    box = await sandbox();
    const holder = await box.connect();
    await holder.query('SELECT pg_advisory_lock($1::bigint)', [box.lockKey.toString()]);
    const hex = `${box.lockKey < 0n ? '-' : ''}0x${(box.lockKey < 0n ? -box.lockKey : box.lockKey).toString(16)}`;
    const args = ['status', '--database-url', box.url, '--dir', migrationsDir(TWO), '--table', box.table, '--log-format', 'json'];
    expect((await runCli([...args, '--lock-key', hex])).stdout).toMatch(/migration lock: held by backend pid/);
    expect((await runCli([...args, '--lock-key', '0x1'])).stdout).toMatch(/migration lock: free/);
  });
});

describe('--wait', () => {
  it('retries only transient connection errors: a rejected password fails at once', async () => {
    box = await sandbox();
    const wrong = new URL(box.url);
    wrong.password = 'not-the-password';
    const started = Date.now();
    const result = await runCli([
      'status',
      '--database-url',
      wrong.toString(),
      '--dir',
      migrationsDir(TWO),
      '--wait',
      '30',
      '--log-format',
      'json',
    ]);
    expect(result.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(result.stderr).toMatch(/password authentication failed/);
    expect(result.stdout + result.stderr).not.toMatch(/database not reachable/);
  });
});

describe('signals', () => {
  it('SIGTERM during a migration cancels and rolls it back, releases the lock, exits 1', async () => {
    box = await sandbox();
    const dir = migrationsDir({
      '001_create_users.up.sql': 'CREATE TABLE users (id int);',
      '002_slow.up.sql': 'CREATE TABLE posts (id int);\nSELECT pg_sleep(60);',
      '003_create_tags.up.sql': 'CREATE TABLE tags (id int);',
    });
    // --no-batch: 001 commits on its own before 002 starts (an empty ledger would run them in one transaction).
    const run = startCli(['up', '--no-batch', ...dbArgs(box, dir)]);
    const deadline = Date.now() + 15_000;
    while (!run.output().includes('applied 001_create_users') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    await new Promise((r) => setTimeout(r, 300));
    const sent = Date.now();
    run.child.kill('SIGTERM');
    const result = await run.done;
    expect(Date.now() - sent).toBeLessThan(5000);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/stopped during 002_slow/);
    expect((await box.admin.query(`SELECT version FROM ${box.table} ORDER BY 1`)).rows).toEqual([{ version: '001_create_users' }]);
    expect((await box.admin.query(`SELECT to_regclass('posts') AS t`)).rows[0].t).toBeNull();
    expect((await box.admin.query('SELECT pg_try_advisory_lock($1::bigint) AS ok', [box.lockKey.toString()])).rows[0].ok).toBe(true);
  });
});

describe('16 concurrent slipway up processes', () => {
  it('apply each pending migration exactly once and all exit 0', async () => {
    box = await sandbox();
    const dir = migrationsDir(RACE_MIGRATIONS);
    const results = await Promise.all(Array.from({ length: 16 }, () => runCli(['up', ...dbArgs(box, dir)])));
    expect(results.filter((r) => r.code !== 0).map((r) => r.stderr)).toEqual([]);
    const applied = results.flatMap((r) =>
      jsonLines(r.stdout)
        .filter((l) => String(l.msg).startsWith('applied '))
        .map((l) => l.version),
    );
    expect(applied.sort()).toEqual(RACE_VERSIONS);
    const { rows } = await box.admin.query(`SELECT version FROM ${box.table} ORDER BY version`);
    expect(rows.map((r) => r.version)).toEqual(RACE_VERSIONS);
  });
});

describe('new', () => {
  it('follows the folder numbering: sequence from 001, zero-padded, or 14-digit timestamps', async () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), 'slipway-new-'));
    const dir = path.join(empty, 'migrations');
    const first = await runCli(['new', 'create_users', '--dir', dir]);
    expect(first.code).toBe(0);
    expect(first.stdout).toBe(`created ${dir}/001_create_users.up.sql\ncreated ${dir}/001_create_users.down.sql\n`);
    writeFileSync(path.join(dir, '007_x.up.sql'), 'SELECT 1;');
    await runCli(['new', 'add_email', '--dir', dir]);
    const stamped = mkdtempSync(path.join(os.tmpdir(), 'slipway-new-'));
    writeFileSync(path.join(stamped, '20240101120000_init.up.sql'), 'SELECT 1;');
    await runCli(['new', 'add_index', '--dir', stamped]);
    expect(readdirSync(dir).sort()).toEqual([
      '001_create_users.down.sql',
      '001_create_users.up.sql',
      '007_x.up.sql',
      '008_add_email.down.sql',
      '008_add_email.up.sql',
    ]);
    const created = readdirSync(stamped).filter((f) => f.includes('add_index'));
    expect(created).toHaveLength(2);
    const stamp = created[0]!.slice(0, 14);
    expect(stamp).toMatch(/^\d{14}$/);
    expect(
      Math.abs(
        Date.parse(
          `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(8, 10)}:${stamp.slice(10, 12)}:${stamp.slice(12, 14)}Z`,
        ) - Date.now(),
      ),
    ).toBeLessThan(60_000);
    rmSync(empty, { recursive: true });
    rmSync(stamped, { recursive: true });
  });
});

describe('the local PostgreSQL', () => {
  it('--wait retries until the server starts; db start/status/stop manage it on a fresh folder', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'slipway-home-'));
    chmodSync(home, 0o755); // as root, the postgres user must reach the data folder
    const env = { SLIPWAY_HOME: home };
    try {
      const before = await runCli(['db', 'status'], { env });
      expect(before).toMatchObject({ code: 1, stdout: 'not created yet: slipway db start creates it\n' });

      // Fix the port the local server will take, and start waiting on it before it exists.
      const port = 20000 + Math.floor(Math.random() * 20000);
      writeFileSync(path.join(home, 'postgres.json'), JSON.stringify({ port }));
      const dir = migrationsDir(TWO);
      const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
      const waiting = startCli(['up', '--database-url', url, '--dir', dir, '--wait', '60', '--log-format', 'json']);
      const deadline = Date.now() + 15_000;
      while (!waiting.output().includes('database not reachable (attempt 2)') && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 25));

      const start = await runCli(['db', 'start'], { env });
      expect(start).toMatchObject({ code: 0, stdout: `${url}\n` });
      expect(start.stderr).toMatch(/^started: local PostgreSQL in /);
      const waited = await waiting.done;
      expect(waited.stderr).toBe('');
      expect(waited.code).toBe(0);
      const retries = jsonLines(waited.stdout).filter((l) => String(l.msg).startsWith('database not reachable'));
      expect(retries.length).toBeGreaterThanOrEqual(2);
      expect(retries[0]).toMatchObject({ attempt: 1 });
      expect(typeof retries[0]!.nextDelayMs).toBe('number');

      const again = await runCli(['db', 'start'], { env });
      expect(again).toMatchObject({ code: 0, stdout: `${url}\n` });
      expect(again.stderr).toMatch(/^already running/);
      expect(await runCli(['db', 'status'], { env })).toMatchObject({
        code: 0,
        stdout: expect.stringMatching(/^running: postgres:\/\/postgres@127\.0\.0\.1/),
      });

      // Without a database URL, commands use the local server and say so in one line.
      const status = await runCli(['status', '--dir', dir, '--log-format', 'json'], { env });
      expect(status.code).toBe(0);
      expect(status.stdout).toMatch(/001_create_users\s+applied/);
      expect(jsonLines(status.stderr).filter((l) => String(l.msg).includes('using the local PostgreSQL'))).toHaveLength(1);

      expect(await runCli(['db', 'stop'], { env })).toMatchObject({ code: 0, stdout: 'stopped the local PostgreSQL\n' });
      expect(await runCli(['db', 'status'], { env })).toMatchObject({ code: 1, stdout: expect.stringMatching(/^stopped/) });

      // Data persists: `up` starts the server again and finds everything applied.
      const upAgain = await runCli(['up', '--dir', dir, '--log-format', 'json'], { env });
      expect(upAgain.code).toBe(0);
      expect(jsonLines(upAgain.stdout).some((l) => l.msg === 'nothing to apply')).toBe(true);
    } finally {
      await runCli(['db', 'stop'], { env });
      rmSync(home, { recursive: true, force: true });
    }
  });
});
