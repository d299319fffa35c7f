import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { closeTestDatabases, dropTestDatabase, prepareTemplate, pruneTestDatabases, testDatabase } from '../../src/testing/index.js';
import { Clones, readyPrefix } from '../../src/testing/clones.js';
import { serverOf } from '../../src/testing/server.js';
import { templateDigest, templateNames, type TemplateNames } from '../../src/testing/template.js';
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
  extra: Record<string, string> = {},
): {
  pid: number;
  kill: () => void;
  done: Promise<WorkerResult & { code: number | null }>;
  /** Its first line (with SLIPWAY_TEST_HOLD it then waits for `release`). */
  line: Promise<WorkerResult>;
  release: () => void;
} {
  const env = {
    ...process.env,
    SLIPWAY_TEST_URL: databaseUrl(),
    SLIPWAY_TEST_DIR: dir,
    ...(query && { SLIPWAY_TEST_QUERY: query }),
    ...extra,
  };
  const child = spawn(process.execPath, [WORKER], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let firstLine: (r: WorkerResult) => void = () => {};
  const line = new Promise<WorkerResult>((resolve) => (firstLine = resolve));
  child.stdout.on('data', (d) => {
    out += d;
    if (out.includes('\n')) firstLine(JSON.parse(out.slice(0, out.indexOf('\n'))) as WorkerResult);
  });
  if (extra.SLIPWAY_TEST_HOLD === undefined) child.stdin.end();
  const done = new Promise<WorkerResult & { code: number | null }>((resolve) =>
    child.on('close', (code) => resolve({ code, ...(out.trim() ? (JSON.parse(out.trim().split('\n').pop()!) as WorkerResult) : {}) })),
  );
  return { pid: child.pid!, kill: () => child.kill('SIGKILL'), done, line, release: () => child.stdin.end() };
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

/** The ready clones of one template on the server (by marker), with their oids: a rename keeps a database's oid. */
async function readyClones(names: TemplateNames): Promise<Array<{ name: string; oid: number; allow_conn: boolean }>> {
  const { rows } = await (await server()).query(
    `SELECT datname AS name, oid::int AS oid, datallowconn AS allow_conn, shobj_description(oid, 'pg_database') AS comment
       FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname`,
    [readyPrefix(names.digest)],
  );
  return rows
    .filter((r: { comment: string | null }) => {
      const m = r.comment === null ? null : (JSON.parse(r.comment) as Record<string, unknown>);
      return m?.kind === 'ready' && m.digest === names.digest;
    })
    .map((r: { name: string; oid: number; allow_conn: boolean }) => ({ name: r.name, oid: r.oid, allow_conn: r.allow_conn }));
}

/** Each name's oid (undefined: no such database), in order. */
async function oidsOf(names: readonly string[]): Promise<Array<number | undefined>> {
  const { rows } = await (await server()).query('SELECT datname, oid::int AS oid FROM pg_database WHERE datname = ANY ($1)', [names]);
  return names.map((n) => rows.find((r: { datname: string }) => r.datname === n)?.oid);
}

/** A Clones of `names` on its own admin pool (a URL of its own), as another process would have. */
async function clonesOf(names: TemplateNames, ready: number, pool: string): Promise<Clones> {
  const url = new URL(databaseUrl());
  url.searchParams.set('application_name', `slipway-claim-${pool}`);
  const s = serverOf(url.toString());
  const { major } = await s.facts();
  return new Clones({ server: s, names, major, strategy: 'wal_log', warm: 0, ready, ownedByProcess: true });
}

describe('the shared pool of ready clones', () => {
  it('16 processes at once each claim a different ready clone, fresh: a row one writes is in its database only', async () => {
    const dir = migrations({ '001_marks.up.sql': 'CREATE TABLE marks (pid int NOT NULL);\n' });
    const names = await namesFor(dir);
    const prepared = await prepareTemplate({ databaseUrl: databaseUrl(), dir, ready: 16, logger: silentLogger });
    expect(prepared.template).toBe(names.template);
    const before = await readyClones(names);
    expect(before).toHaveLength(16);
    expect(before.every((d) => !d.allow_conn)).toBe(true);

    // Each holds its database until all have looked (a process's clone goes once it has exited).
    const workers = Array.from({ length: 16 }, () =>
      startWorker(dir, 'INSERT INTO marks VALUES (pg_backend_pid()) RETURNING pid, current_database() AS db', {
        SLIPWAY_TEST_READY: '16',
        SLIPWAY_TEST_HOLD: '1',
      }),
    );
    const results = await Promise.all(workers.map((w) => w.line));
    expect(results.map((r) => r.error ?? null)).toEqual(Array(16).fill(null));
    const handedOut = results.map((r) => r.name!);
    expect(new Set(handedOut).size).toBe(16);
    const oids = await oidsOf(handedOut);
    expect(new Set(oids).size).toBe(16);
    // Each database holds exactly the row its own process wrote: no two processes shared one.
    for (const [i, r] of results.entries()) {
      expect(r.rows).toEqual([{ pid: expect.any(Number), db: handedOut[i] }]);
      expect(await queryIn(urlOf(handedOut[i]!), 'SELECT pid FROM marks')).toEqual([{ pid: r.rows![0]!.pid }]);
    }
    // What they got came from the pool (a rename keeps the oid): each clone that was ready is now
    // one process's database or still ready under its name, never both, never two processes'.
    for (const w of workers) w.release();
    expect((await Promise.all(workers.map((w) => w.done))).map((r) => r.code)).toEqual(Array(16).fill(0));
    const after = await readyClones(names);
    const claimed = before.filter((d) => oids.includes(d.oid));
    expect(claimed.length).toBeGreaterThan(0);
    for (const d of before) expect(Number(oids.includes(d.oid)) + after.filter((a) => a.oid === d.oid).length).toBe(1);
    // And the pool is topped up again to 16, by one process at a time.
    expect(after).toHaveLength(16);
    for (const name of handedOut) pendingDrops.push(name);
    await dropAllOf(readyPrefix(names.digest));
    await dropAllOf(names.template);
  });

  it('hands a ready clone out once however many claim at the same moment, and fills the pool back', async () => {
    const dir = migrations({ '001_a.up.sql': 'CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n' });
    const names = await namesFor(dir);
    await prepareTemplate({ databaseUrl: databaseUrl(), dir, ready: 6, logger: silentLogger });
    const before = await readyClones(names);
    expect(before).toHaveLength(6);
    // 8 admin pools of 4 connections: 24 claims at once for 6 clones.
    const claimants = await Promise.all(Array.from({ length: 8 }, (_, i) => clonesOf(names, 6, `c${i}`)));
    const outcomes = await Promise.all(claimants.flatMap((c) => [c.claim(), c.claim(), c.claim()]));
    const got = outcomes.filter((n): n is string => n !== undefined);
    expect(got).toHaveLength(6);
    expect(new Set(got).size).toBe(6);
    expect(new Set(await oidsOf(got))).toEqual(new Set(before.map((d) => d.oid)));
    expect(await readyClones(names)).toEqual([]);
    for (const name of got) {
      const [db] = await databases(name);
      expect(db).toMatchObject({ allow_conn: true, marker: { kind: 'clone', digest: names.digest, pid: process.pid } });
      expect(await queryIn(urlOf(name), 'SELECT id FROM a')).toEqual([{ id: 1 }]);
      pendingDrops.push(name);
    }
    expect(await claimants[0]!.claim()).toBeUndefined();

    // Two fill at once: one takes the fill lock, the other finds it taken; the pool ends at 6, not 12.
    await Promise.all([claimants[1]!.fill(), claimants[2]!.fill()]);
    expect(await readyClones(names)).toHaveLength(6);
    await claimants[3]!.fill();
    expect(await readyClones(names)).toHaveLength(6);
    await Promise.all(claimants.map((c) => c.close()));
    await dropAllOf(readyPrefix(names.digest));
    await dropAllOf(names.template);
  });

  it("an edited migration never gets the old digest's clones; prune drops ready clones whose template is stale", async () => {
    const dir = migrations({ '001_t.up.sql': 'CREATE TABLE t (id int);\n' });
    const oldNames = await namesFor(dir);
    await prepareTemplate({ databaseUrl: databaseUrl(), dir, ready: 3, logger: silentLogger });
    expect(await readyClones(oldNames)).toHaveLength(3);
    // The old pool waited 20 minutes: building the next template drops it (the old template, a day's grace, stays).
    for (const d of await readyClones(oldNames)) {
      await (await server()).query(
        `COMMENT ON DATABASE ${d.name} IS ${pg.escapeLiteral(JSON.stringify({ ...(await databases(d.name))[0]!.marker, createdAt: new Date(Date.now() - 20 * 60_000).toISOString() }))}`,
      );
    }
    const original = readFileSync(path.join(dir, '001_t.up.sql'), 'utf8');
    writeFileSync(path.join(dir, '001_t.up.sql'), 'CREATE TABLE t (id int, edited int DEFAULT 1);\n');
    const newNames = await namesFor(dir);
    const db = await testDatabase({ databaseUrl: databaseUrl(), dir, ready: 2, logger: silentLogger });
    expect([db.templateBuilt, db.template]).toEqual([true, newNames.template]);
    expect((await db.pool().query('SELECT edited FROM t')).rows).toEqual([]);
    expect((await databases(oldNames.template)).map((d) => d.name)).toEqual([oldNames.template]);
    expect(await readyClones(oldNames)).toEqual([]);
    await db.drop();
    await closeTestDatabases();

    // Ready clones of the old digest made now (its template still there): never claimed for the new one.
    writeFileSync(path.join(dir, '001_t.up.sql'), original);
    expect((await prepareTemplate({ databaseUrl: databaseUrl(), dir, ready: 2, logger: silentLogger })).template).toBe(oldNames.template);
    await closeTestDatabases();
    const stale = await readyClones(oldNames);
    expect(stale).toHaveLength(2);
    const fresh = await clonesOf(newNames, 0, 'edited');
    const claims: string[] = [];
    for (let name = await fresh.claim(); name !== undefined; name = await fresh.claim()) claims.push(name);
    expect(claims.length).toBeGreaterThan(0);
    for (const name of claims) expect((await databases(name))[0]!.marker?.digest).toBe(newNames.digest);
    expect(await readyClones(oldNames)).toEqual(stale);
    for (const name of claims) pendingDrops.push(name);

    // Its template gone, its ready clones go at the next prune, whatever their age; the new digest's stay.
    await (await server()).query(`ALTER DATABASE ${oldNames.template} WITH IS_TEMPLATE false`);
    await (await server()).query(`DROP DATABASE ${oldNames.template}`);
    const newReady = await readyClones(newNames);
    const dropped = await pruneTestDatabases({ databaseUrl: databaseUrl(), olderThan: 3600_000 });
    expect(dropped.filter((n) => n.startsWith(readyPrefix(oldNames.digest))).sort()).toEqual(stale.map((d) => d.name).sort());
    expect(await readyClones(oldNames)).toEqual([]);
    expect(await readyClones(newNames)).toEqual(newReady);
    await dropAllOf(readyPrefix(newNames.digest));
    await dropAllOf(newNames.template);
  });

  it('a template pruned takes its ready clones with it; one left over is never taken for a sign the template exists', async () => {
    const dir = migrations({ '001_t.up.sql': 'CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n' });
    const names = await namesFor(dir);
    await prepareTemplate({ databaseUrl: databaseUrl(), dir, ready: 2, logger: silentLogger });
    await closeTestDatabases();
    expect(await readyClones(names)).toHaveLength(2);
    // The template two hours old, its ready clones just made: a prune by age drops all three.
    const [template] = await databases(names.template);
    const aged = { ...template!.marker, createdAt: new Date(Date.now() - 2 * 3600_000).toISOString() };
    await (await server()).query(`COMMENT ON DATABASE ${names.template} IS ${pg.escapeLiteral(JSON.stringify(aged))}`);
    const dropped = await pruneTestDatabases({ databaseUrl: databaseUrl(), olderThan: 3600_000 });
    expect(dropped.filter((n) => n.includes(names.digest.slice(0, 8))).length).toBe(3);
    expect([...(await databases(names.template)), ...(await readyClones(names))]).toEqual([]);

    // The template dropped by hand, two ready clones left: the first test builds the template
    // again rather than claim one, and the clones it makes next come from it.
    await prepareTemplate({ databaseUrl: databaseUrl(), dir, ready: 2, logger: silentLogger });
    await closeTestDatabases();
    await (await server()).query(`ALTER DATABASE ${names.template} WITH IS_TEMPLATE false`);
    await (await server()).query(`DROP DATABASE ${names.template}`);
    expect(await readyClones(names)).toHaveLength(2);
    const first = await testDatabase({ databaseUrl: databaseUrl(), dir, ready: 2, warm: 1, logger: silentLogger });
    expect(first.templateBuilt).toBe(true);
    const second = await testDatabase({ databaseUrl: databaseUrl(), dir, ready: 2, warm: 1, logger: silentLogger });
    for (const db of [first, second]) expect((await db.pool().query('SELECT id FROM t')).rows).toEqual([{ id: 1 }]);
    await first.drop();
    await second.drop();
    await closeTestDatabases();
    await dropAllOf(readyPrefix(names.digest));
    await dropAllOf(names.template);
  });

  it('a process killed while it fills the pool leaves nothing that is later handed out half-made', async () => {
    const dir = migrations({
      '001_a.up.sql': 'CREATE TABLE a (id int);\n',
      '002_rows.up.sql': 'INSERT INTO a SELECT generate_series(1, 1000);\n',
    });
    const names = await namesFor(dir);
    await prepareTemplate({ databaseUrl: databaseUrl(), dir, ready: 0, logger: silentLogger });
    const filler = startWorker(dir, undefined, { SLIPWAY_TEST_PREPARE: '1', SLIPWAY_TEST_READY: '200' });
    // Kill it while one of its CREATE DATABASE … TEMPLATE runs, after it made a few.
    for (;;) {
      const { rows } = await (await server()).query(
        `SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND starts_with(query, 'CREATE DATABASE "${readyPrefix(names.digest)}')`,
      );
      if (rows.length > 0 && (await readyClones(names)).length >= 3) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    filler.kill();
    expect((await filler.done).code).toBe(null);
    // Its server sessions end (a CREATE under way is cancelled, or finishes) before we look.
    for (;;) {
      const { rows } = await (await server()).query(
        `SELECT 1 FROM pg_stat_activity WHERE starts_with(query, 'CREATE DATABASE "${readyPrefix(names.digest)}') AND state = 'active'`,
      );
      if (rows.length === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const ready = await readyClones(names);
    expect(ready.length).toBeGreaterThanOrEqual(3);
    // Everything a claim hands out is a whole copy: every ready one, and nothing else.
    const clones = await clonesOf(names, 0, 'after-kill');
    const got: string[] = [];
    for (let name = await clones.claim(); name !== undefined; name = await clones.claim()) got.push(name);
    expect(got).toHaveLength(ready.length);
    for (const name of got) {
      expect(await queryIn(urlOf(name), 'SELECT count(*)::int AS n FROM a')).toEqual([{ n: 1000 }]);
      pendingDrops.push(name);
    }
    await dropAllOf(readyPrefix(names.digest));
    await dropAllOf(names.template);
  });
});

function urlOf(name: string): string {
  const u = new URL(databaseUrl());
  u.pathname = `/${name}`;
  return u.toString();
}
