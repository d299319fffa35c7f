import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { sandbox, type Sandbox, sandboxArgs } from '../support/db.js';
import { migrationsDir } from '../support/files.js';
import { buildExample, call, killServices, MIGRATIONS, serviceEnv, spawnService, startService, waitUntil } from './service.js';

const VERSIONS = readdirSync(MIGRATIONS)
  .filter((f) => f.endsWith('.up.sql'))
  .map((f) => f.replace('.up.sql', ''))
  .sort();
/** The post-deploy migrations: startup leaves them for `up --post-deploy`. */
const POST_DEPLOY = VERSIONS.filter((v) =>
  readFileSync(path.join(MIGRATIONS, `${v}.up.sql`), 'utf8').startsWith('-- slipway:post-deploy\n'),
);
/** What a replica applies at startup. */
const REGULAR = VERSIONS.filter((v) => !POST_DEPLOY.includes(v));

let box: Sandbox | undefined;
beforeAll(buildExample, 120_000);
afterEach(async () => {
  await killServices();
  await box?.cleanup();
  box = undefined;
});

describe('startup', () => {
  it('four replicas started at once: one applies the regular migrations, the others wait or find nothing to do; all serve', async () => {
    box = await sandbox();
    const replicas = Array.from({ length: 4 }, () => spawnService(serviceEnv(box!)));
    const urls = await Promise.all(replicas.map((r) => r.listening));

    for (const url of urls) {
      expect(await call(url, 'GET', '/readyz')).toMatchObject({ status: 200, body: { ready: true, migrations: VERSIONS.length } });
    }
    expect(POST_DEPLOY).toEqual(['008_drop_issues_description']);
    const { rows } = await box.admin.query(`SELECT version, state FROM ${box.table} ORDER BY version`);
    expect(rows).toEqual(REGULAR.map((version) => ({ version, state: 'applied' })));
    expect((await box.admin.query(`SELECT to_regclass('issues_assignee_idx') IS NOT NULL AS built`)).rows[0].built).toBe(true);

    // Each migration ran in exactly one replica, and all of them in the same one.
    const applied = replicas.map((r) =>
      r
        .lines()
        .filter((l) => l.msg.startsWith('applied '))
        .map((l) => l.version),
    );
    expect(applied.flat().sort()).toEqual(REGULAR);
    expect(applied.filter((versions) => versions.length > 0)).toHaveLength(1);
    for (const [i, replica] of replicas.entries()) {
      const summary = replica.lines().find((l) => l.msg.startsWith('migrations up to date: '));
      if (applied[i]!.length > 0) {
        expect(summary).toMatchObject({ applied: REGULAR, migrations: VERSIONS.length, postDeployPending: POST_DEPLOY });
      } else {
        expect(summary).toMatchObject({ applied: [], migrations: VERSIONS.length, postDeployPending: POST_DEPLOY });
        expect(
          replica.lines().some((l) => l.msg === 'nothing to apply' || l.msg.startsWith('nothing left to apply: another runner did it')),
        ).toBe(true);
      }
    }

    // Every replica serves the same data: four issues created at once, one per replica, get distinct numbers.
    expect((await call(urls[0]!, 'POST', '/workspaces', { slug: 'acme', name: 'Acme' })).status).toBe(201);
    const created = await Promise.all(urls.map((url, i) => call(url, 'POST', '/workspaces/acme/issues', { title: `from replica ${i}` })));
    expect(created.map((r) => r.status)).toEqual([201, 201, 201, 201]);
    expect(created.map((r) => r.body.number).sort()).toEqual([1, 2, 3, 4]);
    for (const url of urls) {
      const list = await call(url, 'GET', '/workspaces/acme/issues');
      expect(list.body.issues.map((issue: { title: string }) => issue.title).sort()).toEqual([
        'from replica 0',
        'from replica 1',
        'from replica 2',
        'from replica 3',
      ]);
    }
  });

  it('without DATABASE_URL, or with a bad PORT or LOG_LEVEL, it exits 2 with one line naming the setting', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [
        {},
        /^tracker: DATABASE_URL is not set: give the PostgreSQL connection string \(for the local one: node dist\/cli\/main\.js db start --database tracker prints it\)\n$/,
      ],
      [
        { DATABASE_URL: 'postgres://x@127.0.0.1:1/x', PORT: 'http' },
        /^tracker: PORT="http" is not a port: give a whole number from 0 to 65535\n$/,
      ],
      [
        { DATABASE_URL: 'postgres://x@127.0.0.1:1/x', LOG_LEVEL: 'loud' },
        /^tracker: LOG_LEVEL="loud" is not a level: use one of fatal, error, warn, info, debug, trace, silent\n$/,
      ],
    ];
    for (const [env, message] of cases) {
      const service = spawnService(env);
      expect(await service.exited).toBe(2);
      expect(service.stderr()).toMatch(message);
      expect(service.lines()).toEqual([]);
    }
  });

  it('a port in use: exit 1, with a line naming the port', async () => {
    box = await sandbox();
    const first = await startService(serviceEnv(box));
    const port = new URL(first.url).port;
    const second = spawnService(serviceEnv(box, { PORT: port }));
    expect(await second.exited).toBe(1);
    expect(second.lines().at(-1)!.msg).toBe(
      `cannot listen on 127.0.0.1:${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port}; set PORT to a free port`,
    );
    expect((await call(first.url, 'GET', '/readyz')).status).toBe(200);
  });

  it('a migration that fails stops the replica before it listens: exit 1, nothing recorded', async () => {
    box = await sandbox();
    const dir = migrationsDir({ '001_broken.up.sql': 'CREATE TABLE widgets (id int);\nINSERT INTO nowhere VALUES (1);\n' });
    const service = spawnService(serviceEnv(box, { SLIPWAY_DIR: dir }));
    expect(await service.exited).toBe(1);
    expect(service.lines().at(-1)!.msg).toMatch(
      /^migrations failed, not serving: migration 001_broken \(up\) failed at .*001_broken\.up\.sql:2: relation "nowhere" does not exist/,
    );
    expect(service.lines().some((l) => l.msg.startsWith('listening on'))).toBe(false);
    expect((await box.admin.query(`SELECT to_regclass('widgets') AS t, to_regclass('${box.table}') AS ledger`)).rows[0]).toEqual({
      t: null,
      ledger: expect.anything(),
    });
    expect((await box.admin.query(`SELECT count(*)::int AS n FROM ${box.table}`)).rows[0].n).toBe(0);
  });

  it('SIGTERM while migrating cancels the running migration (rolled back) and exits 1 without listening', async () => {
    box = await sandbox();
    const dir = migrationsDir({ '001_slow.up.sql': `-- ${box.schema}\nCREATE TABLE widgets (id int);\nSELECT pg_sleep(60);\n` });
    const service = spawnService(serviceEnv(box, { SLIPWAY_DIR: dir }));
    const sleeping = async () =>
      (await box!.admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE $1`, [`%${box!.schema}%pg_sleep%`])).rows[0]
        .n === 1;
    await waitUntil(sleeping, 'the migration to run');
    const sent = Date.now();
    service.child.kill('SIGTERM');
    expect(await service.exited).toBe(1);
    expect(Date.now() - sent).toBeLessThan(5000);
    expect(service.lines().map((l) => l.msg)).toEqual(
      expect.arrayContaining([
        'SIGTERM during startup: stopping the migrations',
        expect.stringMatching(/^migrations failed, not serving: stopped during 001_slow \(up\)/),
      ]),
    );
    expect(service.lines().some((l) => l.msg.startsWith('listening on'))).toBe(false);
    expect((await box.admin.query(`SELECT to_regclass('widgets') AS t`)).rows[0].t).toBeNull();
    expect((await box.admin.query(`SELECT count(*)::int AS n FROM ${box.table}`)).rows[0].n).toBe(0);
  });
});

describe('/readyz', () => {
  it('is 503 while any migration in the folder is pending, also one that sorts below the newest, and 200 after up', async () => {
    box = await sandbox();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tracker-migrations-'));
    try {
      cpSync(MIGRATIONS, dir, { recursive: true });
      const service = await startService(serviceEnv(box, { SLIPWAY_DIR: dir }));
      expect(await call(service.url, 'GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
      expect(await call(service.url, 'GET', '/readyz')).toMatchObject({ status: 200, body: { ready: true, migrations: VERSIONS.length } });

      // A merged branch's migration: it sorts below the newest applied one (006_…), so a
      // check of the newest version alone would still say ready.
      writeFileSync(path.join(dir, '005_add_issue_labels.up.sql'), "ALTER TABLE issues ADD COLUMN labels text[] NOT NULL DEFAULT '{}';\n");
      const pending = await call(service.url, 'GET', '/readyz');
      expect(pending).toMatchObject({
        status: 503,
        body: { ready: false, unapplied: [{ version: '005_add_issue_labels', state: 'pending' }] },
      });
      expect(await call(service.url, 'GET', '/healthz')).toMatchObject({ status: 200 });

      const up = await runCli(['up', '--dir', dir, ...sandboxArgs(box)]);
      expect(up.code).toBe(0);
      expect(up.stdout).toContain('applied 005_add_issue_labels');
      expect(await call(service.url, 'GET', '/readyz')).toMatchObject({
        status: 200,
        body: { ready: true, migrations: VERSIONS.length + 1 },
      });

      // Reverted by an operator: not ready again.
      expect(
        (await runCli(['down', '--database-url', box.url, '--dir', dir, '--table', box.table, '--lock-key', box.lockKey.toString()])).code,
      ).toBe(0);
      expect(await call(service.url, 'GET', '/readyz')).toMatchObject({
        status: 503,
        body: { unapplied: [{ version: REGULAR.at(-1), state: 'pending' }] },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('/readyz with a post-deploy migration pending', () => {
  it('is 200: the post-deploy phase runs once every replica is ready, so it cannot wait for it', async () => {
    box = await sandbox();
    const service = await startService(serviceEnv(box));
    expect(await call(service.url, 'GET', '/readyz')).toMatchObject({ status: 200, body: { ready: true, migrations: VERSIONS.length } });
    expect(
      service.lines().some((l) => /^left 1 post-deploy migration\(s\) pending \(008_drop_issues_description\)/.test(String(l.msg))),
    ).toBe(true);
    const post = await runCli(['up', '--post-deploy', '--dir', MIGRATIONS, ...sandboxArgs(box)]);
    expect(post.code).toBe(0);
    expect(post.stdout).toContain('applied 008_drop_issues_description');
    expect(await call(service.url, 'GET', '/readyz')).toMatchObject({ status: 200, body: { ready: true, migrations: VERSIONS.length } });
  });
});

describe('MIGRATE_ON_START=false (a migration Job migrates)', () => {
  it('serves without migrating, not ready; ready once the job applied the migrations', async () => {
    box = await sandbox();
    const service = await startService(serviceEnv(box, { MIGRATE_ON_START: 'false' }));
    expect(service.lines().some((l) => l.msg.startsWith('MIGRATE_ON_START=false: not migrating'))).toBe(true);
    expect((await box.admin.query(`SELECT to_regclass($1) AS t`, [box.table])).rows[0].t).toBeNull();
    expect(await call(service.url, 'GET', '/healthz')).toMatchObject({ status: 200 });
    expect(await call(service.url, 'GET', '/readyz')).toMatchObject({ status: 503, body: { ready: false } });

    // The Job: the CLI, as deploy/tracker/migration-job/job.yaml runs it.
    const job = await runCli([
      'up',
      '--database-url',
      box.url,
      '--dir',
      MIGRATIONS,
      '--table',
      box.table,
      '--lock-key',
      box.lockKey.toString(),
      '--wait',
      '60',
      '--log-format',
      'json',
    ]);
    expect(job.code).toBe(0);
    expect(await call(service.url, 'GET', '/readyz')).toMatchObject({ status: 200, body: { ready: true, migrations: VERSIONS.length } });
  });
});

describe('SIGTERM', () => {
  it('stops accepting connections, lets an in-flight request finish, closes the pool and exits 0', async () => {
    box = await sandbox();
    const service = await startService(serviceEnv(box));
    const port = Number(new URL(service.url).port);
    expect((await call(service.url, 'POST', '/workspaces', { slug: 'acme', name: 'Acme' })).status).toBe(201);

    // Hold the workspace's row: creating an issue bumps its counter, so that request waits on this lock.
    await box.admin.query('BEGIN');
    await box.admin.query(`SELECT 1 FROM workspaces WHERE slug = 'acme' FOR UPDATE`);
    const holder = (await box.admin.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    let settled = false;
    const slow = call(service.url, 'POST', '/workspaces/acme/issues', { title: 'written during shutdown' }).finally(() => (settled = true));
    const watcher = await box.connect();
    const waiting = async () =>
      (await watcher.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [holder])).rows[0].n ===
      1;
    await waitUntil(waiting, 'the request to wait for the row lock');

    service.child.kill('SIGTERM');
    await waitUntil(() => service.lines().some((l) => l.msg.startsWith('SIGTERM: no new connections')), 'the SIGTERM log line');
    const refused = () =>
      new Promise<boolean>((resolve) => {
        const socket = connect(port, '127.0.0.1');
        socket.once('connect', () => {
          socket.destroy();
          resolve(false);
        });
        socket.once('error', () => resolve(true));
      });
    await waitUntil(refused, 'new connections to be refused', 5000);
    expect(settled).toBe(false);
    expect(await waiting()).toBe(true);

    await box.admin.query('COMMIT');
    const reply = await slow;
    expect(reply).toMatchObject({ status: 201, body: { number: 1, title: 'written during shutdown' } });
    const exit = await Promise.race([service.exited, new Promise((resolve) => setTimeout(resolve, 5000, 'still running after 5 s'))]);
    expect(exit).toBe(0);
    expect((await box.admin.query('SELECT title FROM issues')).rows).toEqual([{ title: 'written during shutdown' }]);
    expect(
      service
        .lines()
        .map((l) => l.msg)
        .slice(-3),
    ).toEqual([
      'SIGTERM: no new connections; finishing in-flight requests, then closing the pool',
      expect.stringMatching(/^POST \/workspaces\/:workspace\/issues 201 \d+(\.\d)? ms$/),
      'stopped',
    ]);
  });
});
