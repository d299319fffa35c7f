import { createHash } from 'node:crypto';
import { writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AbortedError,
  IntegrityError,
  LockTimeoutError,
  migrate,
  MigrationFailedError,
  readMigrationsDir,
  SourceError,
  type MigrateOptions,
} from '../../src/index.js';
import { captureLogger, sandbox, silentLogger, type Sandbox, migrateIn } from '../support/db.js';
import { migrationsDir } from '../support/files.js';

let box: Sandbox;
afterEach(async () => box?.cleanup());

function up(dir: string, extra: Partial<MigrateOptions> = {}) {
  return migrateIn(box, 'up', dir, extra);
}
function down(dir: string, extra: Partial<MigrateOptions> = {}) {
  return migrateIn(box, 'down', dir, extra);
}
async function ledger(table = box.table): Promise<Array<{ version: string; state: string }>> {
  return (await box.admin.query(`SELECT version, state FROM ${table} ORDER BY version`)).rows;
}
async function tables(): Promise<string[]> {
  const { rows } = await box.admin.query(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name <> 'schema_migrations' ORDER BY 1`,
    [box.schema],
  );
  return rows.map((r) => r.table_name);
}
async function lockIsFree(): Promise<boolean> {
  const { rows } = await box.admin.query('SELECT pg_try_advisory_lock($1::bigint) AS ok', [box.lockKey.toString()]);
  if (rows[0].ok) await box.admin.query('SELECT pg_advisory_unlock($1::bigint)', [box.lockKey.toString()]);
  return rows[0].ok;
}

const THREE = {
  '001_create_users.up.sql': 'CREATE TABLE users (id int);',
  '001_create_users.down.sql': 'DROP TABLE users;',
  '002_create_posts.up.sql': 'CREATE TABLE posts (id int);',
  '002_create_posts.down.sql': 'DROP TABLE posts;',
  '003_create_tags.up.sql': 'CREATE TABLE tags (id int);',
  '003_create_tags.down.sql': 'DROP TABLE tags;',
};

describe('up and down', () => {
  it('applies every pending migration and records version, checksum, duration and state', async () => {
    box = await sandbox();
    const dir = migrationsDir(THREE);
    const result = await up(dir);
    expect(result.executed.map((s) => [s.version, s.direction, s.transactional])).toEqual([
      ['001_create_users', 'up', true],
      ['002_create_posts', 'up', true],
      ['003_create_tags', 'up', true],
    ]);
    expect(result.migrations.every((m) => m.state === 'applied')).toBe(true);
    expect(await tables()).toEqual(['posts', 'tags', 'users']);
    const { rows } = await box.admin.query(`SELECT version, checksum, duration_ms, state, applied_at FROM ${box.table} ORDER BY version`);
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      expect(row.checksum).toMatch(/^[0-9a-f]{64}$/);
      expect(row.duration_ms).toBeGreaterThanOrEqual(0);
      expect(row.state).toBe('applied');
      expect(row.applied_at).toBeInstanceOf(Date);
    }
    const again = await up(dir);
    expect(again.executed).toEqual([]);
    expect(again.lockWaitMs).toBeNull();
  });

  it('stops at a target, then down reverts one by default, n with steps, back to a target, everything with all', async () => {
    box = await sandbox();
    const dir = migrationsDir({
      ...THREE,
      '004_create_likes.up.sql': 'CREATE TABLE likes (id int);',
      '004_create_likes.down.sql': 'DROP TABLE likes;',
    });
    await up(dir, { target: '002_create_posts' });
    expect(await tables()).toEqual(['posts', 'users']);
    await up(dir);
    expect(await tables()).toEqual(['likes', 'posts', 'tags', 'users']);

    const one = await down(dir);
    expect(one.executed.map((s) => s.version)).toEqual(['004_create_likes']);
    expect(await tables()).toEqual(['posts', 'tags', 'users']);

    await down(dir, { steps: 2 });
    expect(await tables()).toEqual(['users']);
    expect((await ledger()).map((r) => r.version)).toEqual(['001_create_users']);

    await up(dir);
    await down(dir, { target: '002_create_posts' });
    expect(await tables()).toEqual(['posts', 'users']);

    const all = await down(dir, { all: true });
    expect(all.executed.map((s) => s.version)).toEqual(['002_create_posts', '001_create_users']);
    expect(await tables()).toEqual([]);
    expect(await ledger()).toEqual([]);
  });

  it('refuses a down whose migration has no down file, before reverting anything', async () => {
    box = await sandbox();
    const { '003_create_tags.down.sql': _withoutDown, ...files } = THREE;
    const dir = migrationsDir(files);
    await up(dir);
    await expect(down(dir, { steps: 2 })).rejects.toThrow(/cannot revert 003_create_tags: no down file/);
    expect(await tables()).toEqual(['posts', 'tags', 'users']);
    expect(await ledger()).toHaveLength(3);
  });

  it('logs one line per migration with version, direction and duration', async () => {
    box = await sandbox();
    const { logger, lines } = captureLogger();
    await up(migrationsDir(THREE), { logger });
    const perMigration = lines.filter((l) => typeof l.version === 'string');
    expect(perMigration.map((l) => [l.version, l.direction, typeof l.durationMs])).toEqual([
      ['001_create_users', 'up', 'number'],
      ['002_create_posts', 'up', 'number'],
      ['003_create_tags', 'up', 'number'],
    ]);
  });
});

describe('the session after a run', () => {
  it('is left with synchronous_commit as it found it, after success and after a failure', async () => {
    box = await sandbox();
    const client = await box.connect();
    const options = { client, direction: 'up' as const, table: box.table, lockKey: box.lockKey, logger: silentLogger };
    await migrate({ ...options, dir: migrationsDir(THREE) });
    expect((await client.query('SHOW synchronous_commit')).rows).toEqual([{ synchronous_commit: 'on' }]);
    // Fails on the first of three steps: before the last step restores the setting itself.
    const failing = migrationsDir({
      ...THREE,
      '004_broken.up.sql': 'INSERT INTO nowhere VALUES (1);',
      '005_a.up.sql': 'CREATE TABLE a (id int);',
      '006_b.up.sql': 'CREATE TABLE b (id int);',
    });
    await expect(migrate({ ...options, dir: failing })).rejects.toThrow(/004_broken/);
    expect((await client.query('SHOW synchronous_commit')).rows).toEqual([{ synchronous_commit: 'on' }]);
    expect((await ledger()).map((r) => r.version)).toEqual(['001_create_users', '002_create_posts', '003_create_tags']);
  });
});

describe('atomicity', () => {
  it('rolls back a failing migration with its bookkeeping row and names the file and line', async () => {
    box = await sandbox();
    const dir = migrationsDir({
      '001_create_users.up.sql': 'CREATE TABLE users (id int);',
      '002_broken.up.sql': 'CREATE TABLE posts (id int);\nINSERT INTO nowhere VALUES (1);\n',
      '003_create_tags.up.sql': 'CREATE TABLE tags (id int);',
    });
    const error = await up(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationFailedError);
    expect((error as Error).message).toMatch(
      /migration 002_broken \(up\) failed at .*002_broken\.up\.sql:2: relation "nowhere" does not exist/,
    );
    expect((error as Error).message).toMatch(/rolled back/);
    expect(await tables()).toEqual(['users']);
    expect(await ledger()).toEqual([{ version: '001_create_users', state: 'applied' }]);
    expect(await lockIsFree()).toBe(true);
  });

  it('parses every pending migration before running any: a syntax error in the last stops the first', async () => {
    box = await sandbox();
    const dir = migrationsDir({
      '001_create_users.up.sql': 'CREATE TABLE users (id int);',
      '002_typo.up.sql': 'CREATE TABLE posts (id int);\nCREATE TABL tags (id int);\n',
    });
    await expect(up(dir)).rejects.toThrow(SourceError);
    await expect(up(dir)).rejects.toThrow(/002_typo\.up\.sql:2:8: syntax error at or near "TABL"/);
    expect(await tables()).toEqual([]);
    expect((await box.admin.query('SELECT to_regclass($1) AS t', [box.table])).rows[0].t).toBeNull();
  });

  it("runs an author's own BEGIN ... COMMIT file inside slipway's transaction", async () => {
    box = await sandbox();
    const dir = migrationsDir({ '001_wrapped.up.sql': 'BEGIN;\nCREATE TABLE users (id int);\nCOMMIT;\n' });
    await up(dir);
    expect(await tables()).toEqual(['users']);
  });
});

describe('migrations Postgres refuses in a transaction', () => {
  it('runs CREATE INDEX CONCURRENTLY statement by statement and records it applied', async () => {
    box = await sandbox();
    const dir = migrationsDir({
      '001_create_users.up.sql': 'CREATE TABLE users (id int, email text);',
      '002_index_email.up.sql':
        'CREATE INDEX CONCURRENTLY users_email_idx ON users (email);\nCREATE INDEX CONCURRENTLY users_id_idx ON users (id);\n',
      '002_index_email.down.sql': 'DROP INDEX CONCURRENTLY users_email_idx;\nDROP INDEX CONCURRENTLY users_id_idx;\n',
    });
    // Not batched: in an empty ledger's batch the index of a table created in it is built in the batch (test/db/batch.test.ts).
    const result = await up(dir, { batch: false });
    expect(result.executed.map((s) => s.transactional)).toEqual([true, false]);
    const { rows } = await box.admin.query(
      `SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 ORDER BY 1`,
      [box.schema],
    );
    expect(rows.filter((r) => r.relname.startsWith('users_'))).toEqual([
      { relname: 'users_email_idx', indisvalid: true },
      { relname: 'users_id_idx', indisvalid: true },
    ]);
    expect(await ledger()).toEqual([
      { version: '001_create_users', state: 'applied' },
      { version: '002_index_email', state: 'applied' },
    ]);
    await down(dir);
    expect(await ledger()).toEqual([{ version: '001_create_users', state: 'applied' }]);
  });

  it('leaves a failed one marked in flight with its progress; the next run resumes at the statement that failed', async () => {
    box = await sandbox();
    const dir = migrationsDir({
      '001_create_users.up.sql': 'CREATE TABLE users (id int, email text);',
      '002_index_email.up.sql':
        'CREATE INDEX CONCURRENTLY users_email_idx ON users (email);\nCREATE INDEX CONCURRENTLY users_x_idx ON users (no_such_column);\n',
      '003_create_tags.up.sql': 'CREATE TABLE tags (id int);',
    });
    await expect(up(dir)).rejects.toThrow(
      /002_index_email \(up\) failed at .*002_index_email\.up\.sql:2: .*statement 2 of 2 failed.*marked in flight/,
    );
    expect((await box.admin.query(`SELECT version, state, progress FROM ${box.table} ORDER BY version`)).rows).toEqual([
      { version: '001_create_users', state: 'applied', progress: null },
      { version: '002_index_email', state: 'in_flight', progress: 1 },
    ]);
    const { logger, lines } = captureLogger();
    const next = await up(dir, { logger }).catch((e: unknown) => e);
    expect(next).toBeInstanceOf(MigrationFailedError);
    expect((next as Error).message).toMatch(/column "no_such_column" does not exist/);
    expect(lines.map((l) => l.msg)).toContain(
      `resuming 002_index_email (up) at statement 2 of 2 (${path.join(dir, '002_index_email.up.sql')}:2: CREATE INDEX CONCURRENTLY users_x_idx ON users (no_such_column)): index users_x_idx does not exist`,
    );
    expect(await tables()).toEqual(['users']);
  });
});

describe('integrity', () => {
  it('stops on an edited migration, naming the version and both checksums, changing nothing', async () => {
    box = await sandbox();
    const dir = migrationsDir(THREE);
    await up(dir, { target: '002_create_posts' });
    const { rows } = await box.admin.query(`SELECT checksum FROM ${box.table} WHERE version = '001_create_users'`);
    writeFileSync(path.join(dir, '001_create_users.up.sql'), 'CREATE TABLE users (id bigint);');
    const error = await up(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IntegrityError);
    expect((error as Error).message).toContain('001_create_users');
    expect((error as Error).message).toContain(rows[0].checksum);
    expect((error as Error).message).toMatch(/file checksum [0-9a-f]{64}/);
    expect(await tables()).toEqual(['posts', 'users']);
  });

  it('stops when an applied migration has no file any more', async () => {
    box = await sandbox();
    const dir = migrationsDir(THREE);
    await up(dir, { target: '002_create_posts' });
    rmSync(path.join(dir, '001_create_users.up.sql'));
    rmSync(path.join(dir, '001_create_users.down.sql'));
    await expect(up(dir)).rejects.toThrow(
      /migration 001_create_users is applied .* but its file is missing: restore it, or run slipway resolve 001_create_users --pending/,
    );
    expect(await tables()).toEqual(['posts', 'users']);
  });
});

describe('ordering and history', () => {
  it('applies repeated numbers by number, then name', async () => {
    box = await sandbox();
    const dir = migrationsDir({
      '000_log.up.sql': 'CREATE TABLE applied_order (seq serial, version text);',
      '021_c.up.sql': "INSERT INTO applied_order (version) VALUES ('021_c');",
      '020_b.up.sql': "INSERT INTO applied_order (version) VALUES ('020_b');",
      '020_a.up.sql': "INSERT INTO applied_order (version) VALUES ('020_a');",
      '1000_d.up.sql': "INSERT INTO applied_order (version) VALUES ('1000_d');",
      '999_e.up.sql': "INSERT INTO applied_order (version) VALUES ('999_e');",
    });
    await up(dir);
    const { rows } = await box.admin.query('SELECT version FROM applied_order ORDER BY seq');
    expect(rows.map((r) => r.version)).toEqual(['020_a', '020_b', '021_c', '999_e', '1000_d']);
  });

  it('applies a merged branch migration that sorts below the newest applied, with a warning naming it', async () => {
    box = await sandbox();
    const dir = migrationsDir({
      '001_create_users.up.sql': THREE['001_create_users.up.sql'],
      '003_create_tags.up.sql': THREE['003_create_tags.up.sql'],
    });
    await up(dir);
    writeFileSync(path.join(dir, '002_create_posts.up.sql'), THREE['002_create_posts.up.sql']);
    const { logger, lines } = captureLogger();
    const result = await up(dir, { logger });
    expect(result.executed.map((s) => s.version)).toEqual(['002_create_posts']);
    expect(result.warnings.join()).toMatch(/002_create_posts out of order.*003_create_tags/);
    expect(lines.some((l) => l.level === 40 && String(l.msg).includes('002_create_posts'))).toBe(true);
  });

  it('adopts a two-column bookkeeping table without re-running its migrations, recording their checksums', async () => {
    box = await sandbox();
    await box.admin.query(`CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    await box.admin.query(`CREATE TABLE users (id int); CREATE TABLE posts (id int)`);
    await box.admin.query(`INSERT INTO schema_migrations (version) VALUES ('001_create_users'), ('002_create_posts')`);
    const dir = migrationsDir(THREE);
    const result = await up(dir);
    expect(result.executed.map((s) => s.version)).toEqual(['003_create_tags']);
    const { rows } = await box.admin.query(
      `SELECT version, checksum IS NOT NULL AS has_checksum, state FROM ${box.table} ORDER BY version`,
    );
    expect(rows).toEqual([
      { version: '001_create_users', has_checksum: true, state: 'applied' },
      { version: '002_create_posts', has_checksum: true, state: 'applied' },
      { version: '003_create_tags', has_checksum: true, state: 'applied' },
    ]);
  });

  it('records checksums of an adopted table even when nothing is pending', async () => {
    box = await sandbox();
    await box.admin.query(`CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    await box.admin.query(`INSERT INTO schema_migrations (version) VALUES ('001_create_users')`);
    const dir = migrationsDir({ '001_create_users.up.sql': THREE['001_create_users.up.sql'] });
    expect((await up(dir)).executed).toEqual([]);
    const { rows } = await box.admin.query(`SELECT checksum FROM ${box.table}`);
    expect(rows[0].checksum).toMatch(/^[0-9a-f]{64}$/);
    // The recorded checksum now guards the file.
    writeFileSync(path.join(dir, '001_create_users.up.sql'), 'CREATE TABLE users (id bigint);');
    await expect(up(dir)).rejects.toThrow(/001_create_users was edited/);
  });
});

describe('bookkeeping table names', () => {
  it.each([['x"; DROP TABLE victim; --'], ['Mïgrations ✓'], ['semi;colon'], ['with"quote']])(
    'keeps the hostile name %j intact',
    async (name) => {
      box = await sandbox();
      await box.admin.query('CREATE TABLE victim (id int)');
      const table = `${box.schema}.${name}`;
      await up(migrationsDir(THREE), { table });
      const { rows } = await box.admin.query(
        `SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND relkind = 'r' ORDER BY 1`,
        [box.schema],
      );
      expect(rows.map((r) => r.relname).sort()).toEqual([name, 'posts', 'tags', 'users', 'victim'].sort());
      expect((await up(migrationsDir(THREE), { table })).executed).toEqual([]);
    },
  );
});

describe('round trips', () => {
  it('a no-op run with 500 applied migrations sends one statement', async () => {
    box = await sandbox();
    const files: Record<string, string> = {};
    for (let i = 1; i <= 500; i++) files[`${String(i).padStart(3, '0')}_step.up.sql`] = `SELECT ${i};`;
    const dir = migrationsDir(files);
    await up(dir);
    const client = await box.connect();
    const sent: string[] = [];
    const original = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      sent.push(typeof args[0] === 'string' ? args[0] : (args[0] as pg.QueryConfig).text);
      return original(...args);
    };
    const result = await migrate({ client, dir, direction: 'up', table: box.table, lockKey: box.lockKey, logger: silentLogger });
    expect(result.executed).toEqual([]);
    expect(result.migrations).toHaveLength(500);
    // The catalog query and the ledger's digest, in one message: no row is sent.
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(/^WITH found AS[\s\S]*;\nSELECT count\(\*\)::int AS count,[\s\S]* FROM "[^"]+"\."[^"]+"$/);

    // An unqualified name (found through the search path) is read in one message too.
    await client.query(`SET search_path TO ${box.schema}`);
    const unqualified = box.table.split('.').at(-1)!;
    sent.length = 0;
    expect(
      (await migrate({ client, dir, direction: 'up', table: unqualified, lockKey: box.lockKey, logger: silentLogger })).executed,
    ).toEqual([]);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(/FROM "[^".]+"$/);

    // A temporary table of that name shadows the ledger on the search path: its digest is not
    // trusted, the ledger is read where the catalog found it, and nothing runs again.
    await client.query(
      `CREATE TEMP TABLE ${unqualified} (version text, checksum text, state text, applied_at timestamptz, duration_ms int, progress int)`,
    );
    sent.length = 0;
    expect(
      (await migrate({ client, dir, direction: 'up', table: unqualified, lockKey: box.lockKey, logger: silentLogger })).executed,
    ).toEqual([]);
    expect(sent).toHaveLength(2);
    await client.query(`DROP TABLE pg_temp.${unqualified}; RESET search_path`);
  });
});

describe('the lock', () => {
  it('logs how long it has waited and which backend holds the lock, and gives up at lockWaitTimeout', async () => {
    box = await sandbox();
    const holder = await box.connect();
    await holder.query('SELECT pg_advisory_lock($1::bigint)', [box.lockKey.toString()]);
    const holderPid = (await holder.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    const { logger, lines } = captureLogger();
    const error = await up(migrationsDir(THREE), { logger, lockWaitTimeout: 1500 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockTimeoutError);
    expect((error as Error).message).toContain(`held by backend pid ${holderPid}`);
    const waiting = lines.find(
      (l) =>
        /^waited \d+\.\d s for the migration lock, held by backend pid (\d+), idle for \d+ s: SELECT pg_backend_pid\(\) AS pid$/.exec(
          String(l.msg),
        )?.[1] === String(holderPid),
    );
    expect(waiting).toMatchObject({ holderPid });
    expect(waiting!.waitedMs as number).toBeGreaterThanOrEqual(1000);
    expect(await tables()).toEqual([]);
  });

  it('waits instead of failing when it reads an in-flight row while another runner holds the lock', async () => {
    box = await sandbox();
    const dir = migrationsDir({
      '001_create_users.up.sql': 'CREATE TABLE users (id int, email text);',
      '002_index.up.sql': 'CREATE INDEX CONCURRENTLY users_email_idx ON users (email);',
    });
    await up(dir, { target: '001_create_users' });
    // Another runner holds the lock and has marked 002 in flight: it is building the index right now.
    const holder = await box.connect();
    await holder.query('SELECT pg_advisory_lock($1::bigint)', [box.lockKey.toString()]);
    const checksum = (await readMigrationsDir(dir))[1]!.checksum;
    await holder.query(`INSERT INTO ${box.table} (version, checksum, state) VALUES ('002_index', $1, 'in_flight')`, [checksum]);
    let settled = false;
    const run = up(dir);
    run.then(
      () => (settled = true),
      () => (settled = true),
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toBe(false);
    await holder.query('CREATE INDEX CONCURRENTLY users_email_idx ON users (email)');
    await holder.query(`UPDATE ${box.table} SET state = 'applied' WHERE version = '002_index'`);
    await holder.query('SELECT pg_advisory_unlock($1::bigint)', [box.lockKey.toString()]);
    const result = await run;
    expect(result.executed).toEqual([]);
    expect(await ledger()).toEqual([
      { version: '001_create_users', state: 'applied' },
      { version: '002_index', state: 'applied' },
    ]);
  });

  it('an abort during a transactional migration cancels it, rolls it back and releases the lock', async () => {
    box = await sandbox();
    const dir = migrationsDir({
      '001_create_users.up.sql': 'CREATE TABLE users (id int);',
      '002_slow.up.sql': 'CREATE TABLE posts (id int);\nSELECT pg_sleep(30);\n',
      '003_create_tags.up.sql': 'CREATE TABLE tags (id int);',
    });
    const controller = new AbortController();
    const { logger, lines } = captureLogger();
    const run = up(dir, { signal: controller.signal, logger });
    while (!lines.some((l) => l.version === '001_create_users')) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    controller.abort();
    const error = await run.catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(error).toBeInstanceOf(AbortedError);
    expect((error as Error).message).toMatch(/stopped during 002_slow/);
    expect(await tables()).toEqual(['users']);
    expect(await ledger()).toEqual([{ version: '001_create_users', state: 'applied' }]);
    expect(await lockIsFree()).toBe(true);
  });
});

describe('rows slipway did not write', () => {
  it('refuses a state it never writes instead of reading it as applied', async () => {
    box = await sandbox();
    await box.admin.query(
      `CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now(), checksum text, duration_ms integer, state text NOT NULL)`,
    );
    await box.admin.query(
      `INSERT INTO schema_migrations (version, state) VALUES ('001_create_users', 'applied'), ('002_create_posts', 'done')`,
    );
    const dir = migrationsDir(THREE);
    const error = await up(dir).then(
      () => null,
      (e: unknown) => e as IntegrityError,
    );
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error!.kind).toBe('unknown-state');
    expect(error!.message).toMatch(
      /^migration 002_create_posts has state "done" in "t_[0-9a-f]+"\."schema_migrations", which slipway never writes/,
    );
    expect(await tables()).toEqual([]);
  });

  it('never fills a missing checksum on its own table: an edited file is not blessed, the original is not refused', async () => {
    box = await sandbox();
    const dir = migrationsDir({ '001_create_users.up.sql': THREE['001_create_users.up.sql'] });
    await up(dir);
    await box.admin.query(`UPDATE ${box.table} SET checksum = NULL`);
    writeFileSync(path.join(dir, '001_create_users.up.sql'), 'CREATE TABLE users (id bigint);');
    writeFileSync(path.join(dir, '002_create_posts.up.sql'), THREE['002_create_posts.up.sql']);
    expect((await up(dir)).executed.map((s) => s.version)).toEqual(['002_create_posts']);
    expect((await box.admin.query(`SELECT checksum FROM ${box.table} WHERE version = '001_create_users'`)).rows).toEqual([
      { checksum: null },
    ]);
    writeFileSync(path.join(dir, '001_create_users.up.sql'), THREE['001_create_users.up.sql']);
    expect((await up(dir)).executed).toEqual([]);
  });

  it("widens an older table's state check so a revert outside a transaction can mark its row", async () => {
    box = await sandbox();
    await box.admin.query(
      `CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now(), checksum text, duration_ms integer,
         state text NOT NULL DEFAULT 'applied' CHECK (state IN ('applied', 'in_flight')))`,
    );
    const dir = migrationsDir({
      '001_index.up.sql': 'CREATE TABLE users (id int);\nCREATE INDEX CONCURRENTLY users_id ON users (id);',
      '001_index.down.sql': 'DROP INDEX CONCURRENTLY users_id;\nDROP TABLE users;',
    });
    await up(dir);
    expect((await down(dir)).executed.map((s) => s.version)).toEqual(['001_index']);
    expect(await ledger()).toEqual([]);
    const { rows } = await box.admin.query(
      `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'c'`,
      [box.table],
    );
    expect(rows).toEqual([{ def: expect.stringContaining('reverting') }]);
  });
});

describe('the lock, checked at the end', () => {
  it('a migration that releases the lock makes the run fail: it was not protected', async () => {
    box = await sandbox();
    const dir = migrationsDir({ '001_unlock.up.sql': 'SELECT pg_advisory_unlock_all();\nCREATE TABLE users (id int);' });
    await expect(up(dir)).rejects.toThrow(
      /^server backend pid \d+ no longer held the ledger lock at the end of the run: the run was not protected against other runners$/,
    );
    expect(await lockIsFree()).toBe(true);
  });
});

describe('the no-op digest', () => {
  it('is what the server computes for the same rows, names in any script included, and only for exactly those rows', async () => {
    box = await sandbox();
    const { ledgerDigest, ledgerDigestOf } = await import('../../src/migrations/ledger.js');
    const { parseTableName } = await import('../../src/db/identifier.js');
    const files = {
      '001_café.up.sql': `SET statement_timeout = 0;\nSET search_path = ${box.schema};\nCREATE TABLE digest_t (id int);\n`,
      '002_日本語.up.sql': 'SELECT 2;',
      '003_emoji_😀.up.sql': '-- only a comment: a deliberate no-op\n',
      "004_quote's.up.sql": '\ufeffSELECT 4;\n',
      '005_empty.up.sql': '',
    };
    const dir = migrationsDir(files);
    const migrations = await readMigrationsDir(dir);
    await migrate({ databaseUrl: box.url, dir, direction: 'up', table: box.table, lockKey: box.lockKey, logger: silentLogger });
    const client = await box.connect();
    const digestNow = async () => (await ledgerDigest(client, parseTableName(box.table))).digest;
    expect(await digestNow()).toEqual(ledgerDigestOf(migrations));

    // Any difference in a version, a checksum or a state, or a row more or less, changes it.
    const changes = [
      `UPDATE ${box.table} SET checksum = repeat('0', 64) WHERE version = '002_日本語'`,
      `UPDATE ${box.table} SET state = 'in_flight' WHERE version = '003_emoji_😀'`,
      `UPDATE ${box.table} SET version = '004_quotes' WHERE version = '004_quote''s'`,
      `DELETE FROM ${box.table} WHERE version = '001_café'`,
    ];
    for (const change of changes) {
      await client.query('BEGIN');
      await client.query(change);
      expect(await digestNow(), change).not.toEqual(ledgerDigestOf(migrations));
      await client.query('ROLLBACK');
    }
    expect(await digestNow()).toEqual(ledgerDigestOf(migrations));
    expect(ledgerDigestOf(migrations.slice(1))).not.toEqual(ledgerDigestOf(migrations));
    expect(ledgerDigestOf([])).toEqual({ count: 0, hash: createHash('sha256').update('').digest('hex') });

    // An edited file is refused as before: its digest is not the ledger's, so the rows are read.
    writeFileSync(path.join(dir, '002_日本語.up.sql'), 'SELECT 22;');
    await expect(migrate({ client, dir, direction: 'up', table: box.table, lockKey: box.lockKey, logger: silentLogger })).rejects.toThrow(
      /002_日本語/,
    );
  });
});
