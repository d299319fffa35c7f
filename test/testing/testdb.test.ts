import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { closeTestDatabases, dropTestDatabase, pruneTestDatabases, testDatabase } from '../../src/testing/index.js';
import { templateDigest, templateNames } from '../../src/testing/template.js';
import { ConnectionError, DatabaseError, MigrationFailedError, UsageError } from '../../src/errors.js';
import { migrate } from '../../src/api.js';
import { runCli } from '../support/cli.js';
import { databaseUrl, silentLogger } from '../support/db.js';
import { rejection } from '../support/errors.js';
import { tempFolder } from '../support/files.js';

const WORKER = path.resolve('test/support/testdb-process.mjs');

interface WorkerResult {
  name?: string;
  template?: string;
  templateBuilt?: boolean;
  rows?: Array<Record<string, unknown>>;
  error?: { name: string; message: string };
}

function startWorker(
  dir: string,
  query?: string,
): { pid: number; kill: () => void; done: Promise<WorkerResult & { code: number | null }> } {
  const env = { ...process.env, SLIPWAY_TEST_URL: databaseUrl(), SLIPWAY_TEST_DIR: dir, ...(query && { SLIPWAY_TEST_QUERY: query }) };
  const child = spawn(process.execPath, [WORKER], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const done = new Promise<WorkerResult & { code: number | null }>((resolve) =>
    child.on('close', (code) => resolve({ code, ...(out.trim() ? (JSON.parse(out.trim().split('\n').pop()!) as WorkerResult) : {}) })),
  );
  return { pid: child.pid!, kill: () => child.kill('SIGKILL'), done };
}

let admin: pg.Client | undefined;
async function server(): Promise<pg.Client> {
  if (admin === undefined) {
    admin = new pg.Client({ connectionString: databaseUrl() });
    await admin.connect();
  }
  return admin;
}

/** The databases of the server whose name starts with `prefix`, with what pg_database says of them. */
async function databases(
  prefix: string,
): Promise<Array<{ name: string; is_template: boolean; allow_conn: boolean; marker: Record<string, unknown> | null }>> {
  const { rows } = await (await server()).query(
    `SELECT datname AS name, datistemplate AS is_template, datallowconn AS allow_conn, shobj_description(oid, 'pg_database') AS comment
       FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname`,
    [prefix],
  );
  return rows.map((r: { name: string; is_template: boolean; allow_conn: boolean; comment: string | null }) => ({
    name: r.name,
    is_template: r.is_template,
    allow_conn: r.allow_conn,
    marker: r.comment?.startsWith('{') ? (JSON.parse(r.comment) as Record<string, unknown>) : null,
  }));
}

async function queryIn(url: string, sql: string): Promise<pg.QueryResultRow[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

/** A migrations folder whose digest no other test shares. */
function migrations(files: Record<string, string>): string {
  const unique = `-- ${randomBytes(6).toString('hex')}\n`;
  return tempFolder(
    Object.fromEntries(Object.entries(files).map(([name, sql], i) => [name, i === 0 ? unique + sql : sql])),
    'slipway-testdb-',
  );
}

async function namesFor(dir: string, seeds?: string) {
  const major = Math.floor(Number((await (await server()).query('SHOW server_version_num')).rows[0].server_version_num) / 10000);
  return templateNames(templateDigest({ dir, seeds }, major));
}

const pendingDrops: string[] = [];
afterEach(async () => {
  await closeTestDatabases();
  for (const name of pendingDrops.splice(0)) await (await server()).query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
});
afterAll(async () => {
  await admin?.end();
});

/** Drops every database of one digest afterwards (templates first made ordinary). */
async function dropAllOf(prefix: string): Promise<void> {
  for (const db of await databases(prefix)) {
    if (db.is_template) await (await server()).query(`ALTER DATABASE ${db.name} WITH IS_TEMPLATE false`);
    pendingDrops.push(db.name);
  }
}

describe('testDatabase', () => {
  it('gives each caller its own migrated, seeded database, and drops it', async () => {
    const dir = migrations({ '001_workspaces.up.sql': 'CREATE TABLE workspaces (id serial PRIMARY KEY, slug text NOT NULL UNIQUE);\n' });
    const seeds = tempFolder({ '01_workspaces.yaml': 'table: workspaces\nkey: slug\nrows:\n  - slug: acme\n  - slug: globex\n' });
    const a = await testDatabase({ databaseUrl: databaseUrl(), dir, seeds, logger: silentLogger });
    const b = await testDatabase({ databaseUrl: databaseUrl(), dir, seeds, logger: silentLogger });
    expect(a.name).not.toBe(b.name);
    expect(a.template).toBe(b.template);
    expect((await a.pool().query('SELECT slug FROM workspaces ORDER BY slug')).rows).toEqual([{ slug: 'acme' }, { slug: 'globex' }]);
    await a.pool().query("INSERT INTO workspaces (slug) VALUES ('only-in-a')");
    expect((await b.pool().query('SELECT count(*)::int AS n FROM workspaces')).rows[0].n).toBe(2);
    expect((await b.pool().query('SELECT version FROM schema_migrations')).rows.map((r) => r.version)).toEqual(['001_workspaces']);

    await a[Symbol.asyncDispose]();
    await b.drop();
    await b.drop();
    expect((await databases(a.name)).length + (await databases(b.name)).length).toBe(0);
    const template = (await databases(a.template))[0]!;
    expect(template).toMatchObject({ is_template: true, allow_conn: false, marker: { slipway: 'test-db', kind: 'template' } });
    await dropAllOf(`slipway_test_${a.template.slice('slipway_tpl_'.length, 'slipway_tpl_'.length + 8)}`);
    await dropAllOf(a.template);
  });

  it('builds ONE template when 16 processes ask at the same moment; each gets its own clone', async () => {
    const dir = migrations({
      '001_items.up.sql': 'CREATE TABLE items (id int PRIMARY KEY);\nSELECT pg_sleep(1);\n',
      '002_rows.up.sql': 'INSERT INTO items SELECT generate_series(1, 3);\n',
    });
    const names = await namesFor(dir);
    const results = await Promise.all(Array.from({ length: 16 }, () => startWorker(dir, 'SELECT count(*)::int AS n FROM items').done));
    expect(results.map((r) => r.error ?? null)).toEqual(Array(16).fill(null));
    expect(results.map((r) => r.rows)).toEqual(Array(16).fill([{ n: 3 }]));
    expect(results.filter((r) => r.templateBuilt).length).toBe(1);
    expect(new Set(results.map((r) => r.template))).toEqual(new Set([names.template]));
    expect(new Set(results.map((r) => r.name)).size).toBe(16);
    const left = await databases(names.template);
    expect(left.map((d) => [d.name, d.marker?.kind])).toEqual([[names.template, 'template']]);
    await dropAllOf(`slipway_test_${names.digest.slice(0, 8)}`);
    await dropAllOf(names.template);
  });

  it('builds a new template when a migration or a seed file is edited, and reuses it otherwise', async () => {
    const dir = migrations({ '001_t.up.sql': 'CREATE TABLE t (id int PRIMARY KEY, label text);\n' });
    const seeds = tempFolder({ '01_t.yaml': 'table: t\nkey: id\nrows:\n  - { id: 1, label: first }\n' });
    const options = { databaseUrl: databaseUrl(), dir, seeds, logger: silentLogger, warm: 0 };
    const first = await testDatabase(options);
    expect(first.templateBuilt).toBe(true);
    await closeTestDatabases();
    const again = await testDatabase(options);
    expect([again.templateBuilt, again.template]).toEqual([false, first.template]);

    writeFileSync(path.join(dir, '001_t.up.sql'), 'CREATE TABLE t (id int PRIMARY KEY, label text, extra int DEFAULT 7);\n');
    await closeTestDatabases();
    const edited = await testDatabase(options);
    expect(edited.templateBuilt).toBe(true);
    expect(edited.template).not.toBe(first.template);
    expect((await edited.pool().query('SELECT extra FROM t')).rows).toEqual([{ extra: 7 }]);

    writeFileSync(path.join(seeds, '01_t.yaml'), 'table: t\nkey: id\nrows:\n  - { id: 1, label: first }\n  - { id: 2, label: second }\n');
    await closeTestDatabases();
    const reseeded = await testDatabase(options);
    expect(reseeded.templateBuilt).toBe(true);
    expect(new Set([first.template, edited.template, reseeded.template]).size).toBe(3);
    expect((await reseeded.pool().query('SELECT count(*)::int AS n FROM t')).rows[0].n).toBe(2);
    for (const db of [first, again, edited, reseeded]) await db.drop();
    for (const t of [first.template, edited.template, reseeded.template]) await dropAllOf(t);
  });

  it('fails every waiting process with the file and line of a failing migration, builds it once, and leaves nothing to clone', async () => {
    const role = `slipway_probe_${randomBytes(4).toString('hex')}`;
    // 001 commits a role (cluster-wide): a second build would fail on it, with another message.
    const dir = migrations({
      '001_role.up.sql': `CREATE ROLE ${role};\n`,
      '002_broken.up.sql': 'SELECT pg_sleep(1);\nCREATE TABLE b (id int);\nSELECT missing_column FROM b;\n',
    });
    const names = await namesFor(dir);
    try {
      const results = await Promise.all(Array.from({ length: 8 }, () => startWorker(dir).done));
      for (const r of results) {
        expect(r.code).toBe(1);
        expect(r.error?.name).toBe('MigrationFailedError');
        expect(r.error?.message).toMatch(
          /migration 002_broken \(up\) failed at .*002_broken\.up\.sql:3: column "missing_column" does not exist/,
        );
        expect(r.error?.message.split('\n')).toHaveLength(1);
      }
      // Nothing under the template's name or the build's: only the record of the failure, which takes no connection.
      const left = await databases(names.template);
      expect(left.map((d) => [d.name, d.is_template, d.allow_conn, d.marker?.kind])).toEqual([[names.failed, false, false, 'failed']]);
      // In this process too: the recorded failure, not a second build.
      const error = await rejection(testDatabase({ databaseUrl: databaseUrl(), dir, logger: silentLogger }), MigrationFailedError);
      expect(error.message).toMatch(/002_broken\.up\.sql/);
    } finally {
      await (await server()).query(`DROP ROLE IF EXISTS ${role}`);
      await dropAllOf(names.template);
    }
  });

  it('never clones what a build killed half-way left; the next run drops it and builds anew', async () => {
    const dir = migrations({
      '001_a.up.sql': 'CREATE TABLE a (id int);\n',
      '002_slow.up.sql': 'SELECT pg_sleep(2);\nCREATE TABLE b (id int);\n',
      '003_c.up.sql': 'CREATE TABLE c (id int);\n',
    });
    const names = await namesFor(dir);
    const worker = startWorker(dir);
    // Kill it while it runs 002 in the build database.
    for (;;) {
      const { rows } = await (await server()).query("SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%pg_sleep(2)%'", [
        names.build,
      ]);
      if (rows.length > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    worker.kill();
    expect((await worker.done).code).toBe(null);
    expect((await databases(names.template)).map((d) => [d.name, d.is_template])).toEqual([[names.build, false]]);

    const db = await testDatabase({ databaseUrl: databaseUrl(), dir, logger: silentLogger, warm: 0 });
    expect(db.templateBuilt).toBe(true);
    expect(
      (await db.pool().query("SELECT string_agg(tablename, ',' ORDER BY tablename) AS t FROM pg_tables WHERE schemaname = 'public'"))
        .rows[0].t,
    ).toBe('a,b,c,schema_migrations');
    expect((await databases(names.template)).map((d) => d.name)).toEqual([names.template]);
    await db.drop();
    await dropAllOf(names.template);
  });

  it('says which privilege a role without CREATEDB lacks, and reports an unreachable server as up does', async () => {
    const dir = migrations({ '001_a.up.sql': 'CREATE TABLE a (id int);\n' });
    const role = `slipway_nocreate_${randomBytes(4).toString('hex')}`;
    await (await server()).query(`CREATE ROLE ${role} LOGIN PASSWORD 'nocreate-password' NOCREATEDB`);
    try {
      const url = new URL(databaseUrl());
      url.username = role;
      url.password = 'nocreate-password';
      const error = await rejection(testDatabase({ databaseUrl: url.toString(), dir, logger: silentLogger }), DatabaseError);
      expect(error.message).toBe(
        `role "${role}" may not create databases: test databases need the CREATEDB privilege (ALTER ROLE "${role}" CREATEDB), or a databaseUrl whose role has it`,
      );
    } finally {
      await closeTestDatabases();
      await (await server()).query(`DROP ROLE ${role}`);
    }
    const closed = new URL(databaseUrl());
    closed.port = '1';
    const fromTesting = await rejection(testDatabase({ databaseUrl: closed.toString(), dir }), ConnectionError);
    const fromUp = await rejection(
      migrate({ databaseUrl: closed.toString(), dir, direction: 'up', logger: silentLogger }),
      ConnectionError,
    );
    expect(fromTesting.message).toBe(fromUp.message);
    const saved = process.env.DATABASE_URL;
    delete process.env.DATABASE_URL;
    try {
      expect((await rejection(testDatabase({ dir }), UsageError)).message).toBe(
        'no server for test databases: pass databaseUrl or set DATABASE_URL (slipway db start prints a local one)',
      );
    } finally {
      process.env.DATABASE_URL = saved;
    }
  });
});

describe('pruneTestDatabases and dropTestDatabase', () => {
  it("drop only what slipway marked: old ones, and warm clones of this host's exited processes", async () => {
    const s = await server();
    const id = randomBytes(4).toString('hex');
    const marker = (extra: Record<string, unknown>) =>
      JSON.stringify({ slipway: 'test-db', kind: 'clone', digest: `d${id}`, createdAt: new Date().toISOString(), ...extra });
    const exited = spawn(process.execPath, ['-e', '0']);
    const deadPid = await new Promise<number>((resolve) => exited.on('close', () => resolve(exited.pid!)));
    const made = {
      old: marker({ createdAt: new Date(Date.now() - 2 * 3600_000).toISOString() }),
      fresh: marker({}),
      orphan: marker({ host: (await import('node:os')).hostname(), pid: deadPid }),
      unmarked: null,
      foreign: JSON.stringify({ slipway: 'something-else', createdAt: '2000-01-01T00:00:00Z' }),
    };
    for (const [what, comment] of Object.entries(made)) {
      await s.query(`CREATE DATABASE slipway_test_${id}_${what}`);
      if (comment !== null) await s.query(`COMMENT ON DATABASE slipway_test_${id}_${what} IS ${pg.escapeLiteral(comment)}`);
      pendingDrops.push(`slipway_test_${id}_${what}`);
    }
    const dropped = await pruneTestDatabases({ databaseUrl: databaseUrl(), olderThan: 3600_000 });
    expect(dropped.filter((n) => n.includes(id)).sort()).toEqual([`slipway_test_${id}_old`, `slipway_test_${id}_orphan`]);
    expect((await databases(`slipway_test_${id}`)).map((d) => d.name)).toEqual([
      `slipway_test_${id}_foreign`,
      `slipway_test_${id}_fresh`,
      `slipway_test_${id}_unmarked`,
    ]);

    const refused = await rejection(dropTestDatabase(`slipway_test_${id}_unmarked`, { databaseUrl: databaseUrl() }), UsageError);
    expect(refused.message).toBe(
      `database "slipway_test_${id}_unmarked" is not a test database slipway cloned (no slipway marker in its comment): not dropped`,
    );
    await dropTestDatabase(`${databaseUrl().replace(/\/[^/?]*(\?|$)/, `/slipway_test_${id}_fresh$1`)}`, { databaseUrl: databaseUrl() });
    expect((await databases(`slipway_test_${id}`)).map((d) => d.name)).toEqual([
      `slipway_test_${id}_foreign`,
      `slipway_test_${id}_unmarked`,
    ]);
  });
});

describe('slipway test-db', () => {
  it('prints a fresh database, drops it, refuses to drop another, prunes by age', async () => {
    const dir = migrations({ '001_a.up.sql': 'CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n' });
    const env = { DATABASE_URL: databaseUrl() };
    const made = await runCli(['test-db', '--dir', dir], { env });
    expect(made.code).toBe(0);
    const url = made.stdout.trim();
    expect(url).toMatch(/^postgres:\/\/.*\/slipway_test_[0-9a-f]{8}_[0-9a-f]{12}$/);
    expect(await queryIn(url, 'SELECT id FROM a')).toEqual([{ id: 1 }]);
    const name = new URL(url).pathname.slice(1);
    const digest = (await databases(name))[0]!.marker?.digest;
    const template = (await databases('slipway_tpl_')).find((d) => d.marker?.digest === digest)!.name;

    const refused = await runCli(['test-db', 'drop', 'postgres'], { env });
    expect([refused.code, refused.stderr.trim()]).toEqual([
      2,
      'slipway: database "postgres" is not a test database slipway cloned (no slipway marker in its comment): not dropped',
    ]);
    const dropped = await runCli(['test-db', 'drop', url], { env });
    expect(dropped.code).toBe(0);
    expect(await databases(name)).toEqual([]);

    await (await server()).query(
      `COMMENT ON DATABASE ${template} IS ${pg.escapeLiteral(JSON.stringify({ ...(await databases(template))[0]!.marker, createdAt: '2020-01-01T00:00:00Z' }))}`,
    );
    const pruned = await runCli(['test-db', 'prune', '--older-than', '60'], { env });
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toContain(template);
    expect(await databases(template)).toEqual([]);
  });
});
