/**
 * The concurrency guarantees. `npm run test:mutation-lock` runs this folder against a
 * copy whose lock is (a) gone and (b) blocking, and fails unless these tests go red.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate, type MigrateOptions } from '../../src/index.js';
import { sandbox, silentLogger, type Sandbox } from '../support/db.js';
import { migrationsDir, RACE_MIGRATIONS, RACE_VERSIONS } from '../support/files.js';

const RUNNERS = 16;
let box: Sandbox;
afterEach(async () => box?.cleanup());

async function expectRaceOutcome(b: Sandbox, table = b.table): Promise<void> {
  const { rows } = await b.admin.query<{ version: string; n: number; state: string }>(
    `SELECT version, count(*)::int AS n, min(state) AS state FROM ${table} GROUP BY version ORDER BY version`,
  );
  expect(rows).toEqual(RACE_VERSIONS.map((version) => ({ version, n: 1, state: 'applied' })));
  const columns = await b.admin.query(
    `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position`,
    [b.schema],
  );
  expect(columns.rows.filter((r) => r.table_name !== 'schema_migrations')).toEqual([
    { table_name: 'items', column_name: 'id' },
    { table_name: 'items', column_name: 'name' },
    { table_name: 'tags', column_name: 'id' },
    { table_name: 'tags', column_name: 'label' },
  ]);
  const index = await b.admin.query(
    `SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relname = 'items_name_idx' AND n.nspname = $1`,
    [b.schema],
  );
  expect(index.rows).toEqual([{ indisvalid: true }]);
  expect((await b.admin.query('SELECT id, name FROM items')).rows).toEqual([{ id: 1, name: 'first' }]);
}

function baseOptions(b: Sandbox, dir: string): Omit<MigrateOptions, 'client' | 'pool' | 'databaseUrl'> {
  return { dir, direction: 'up', table: b.table, lockKey: b.lockKey, logger: silentLogger };
}

/** Settles every runner and reports the failures' messages, so a red test says why. */
async function runAll<T>(runs: Array<Promise<T>>): Promise<T[]> {
  const settled = await Promise.allSettled(runs);
  const failures = settled.flatMap((s) => (s.status === 'rejected' ? [String((s.reason as Error).message)] : []));
  expect(failures).toEqual([]);
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

describe('16 concurrent runners', () => {
  it('apply pending migrations (one with CREATE INDEX CONCURRENTLY) exactly once, each runner on its own client', async () => {
    box = await sandbox();
    const dir = migrationsDir(RACE_MIGRATIONS);
    const clients = await Promise.all(Array.from({ length: RUNNERS }, () => box.connect()));
    const results = await runAll(clients.map((client) => migrate({ ...baseOptions(box, dir), client })));
    await expectRaceOutcome(box);
    // Exactly one runner applied each migration; the rest found nothing left.
    expect(results.flatMap((r) => r.executed.map((s) => s.version)).sort()).toEqual(RACE_VERSIONS);
  });

  it('change nothing when everything is already applied', async () => {
    box = await sandbox();
    const dir = migrationsDir(RACE_MIGRATIONS);
    await migrate({ ...baseOptions(box, dir), databaseUrl: box.url });
    const before = (await box.admin.query(`SELECT version, applied_at, checksum FROM ${box.table} ORDER BY version`)).rows;
    const clients = await Promise.all(Array.from({ length: RUNNERS }, () => box.connect()));
    const results = await runAll(clients.map((client) => migrate({ ...baseOptions(box, dir), client })));
    expect(results.every((r) => r.executed.length === 0 && r.lockWaitMs === null)).toBe(true);
    expect((await box.admin.query(`SELECT version, applied_at, checksum FROM ${box.table} ORDER BY version`)).rows).toEqual(before);
    await expectRaceOutcome(box);
  });

  it('wait while an outside connection holds the lock, then finish once it is released', async () => {
    box = await sandbox();
    const dir = migrationsDir(RACE_MIGRATIONS);
    const holder = await box.connect();
    await holder.query('SELECT pg_advisory_lock($1::bigint)', [box.lockKey.toString()]);
    const clients = await Promise.all(Array.from({ length: RUNNERS }, () => box.connect()));
    let finished = 0;
    const runs = clients.map((client) => migrate({ ...baseOptions(box, dir), client }));
    for (const run of runs)
      run.then(
        () => finished++,
        () => finished++,
      );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(finished).toBe(0);
    expect((await box.admin.query(`SELECT to_regclass('items') AS t`)).rows[0].t).toBeNull();
    await holder.query('SELECT pg_advisory_unlock($1::bigint)', [box.lockKey.toString()]);
    await runAll(runs);
    await expectRaceOutcome(box);
  });

  it('share a pool of half as many connections (checkout contention on top of lock contention)', async () => {
    box = await sandbox();
    const dir = migrationsDir(RACE_MIGRATIONS);
    const pool = box.pool(RUNNERS / 2);
    await runAll(Array.from({ length: RUNNERS }, () => migrate({ ...baseOptions(box, dir), pool })));
    await expectRaceOutcome(box);
  });

  it('create a schema-qualified bookkeeping table whose schema does not exist yet', async () => {
    box = await sandbox();
    const dir = migrationsDir(RACE_MIGRATIONS);
    const ledgerSchema = `${box.schema}_ops`;
    const table = `${ledgerSchema}.schema_migrations`;
    try {
      const clients = await Promise.all(Array.from({ length: RUNNERS }, () => box.connect()));
      await runAll(clients.map((client) => migrate({ ...baseOptions(box, dir), table, client })));
      await expectRaceOutcome(box, table);
    } finally {
      await box.admin.query(`DROP SCHEMA IF EXISTS ${ledgerSchema} CASCADE`);
    }
  });
});

describe('16 OS processes', () => {
  it('apply pending migrations exactly once across processes', async () => {
    box = await sandbox();
    const dir = migrationsDir(RACE_MIGRATIONS);
    const script = path.resolve('test/support/migrate-process.mjs');
    const env = {
      ...process.env,
      SLIPWAY_TEST_URL: box.url,
      SLIPWAY_TEST_DIR: dir,
      SLIPWAY_TEST_TABLE: box.table,
      SLIPWAY_TEST_LOCK_KEY: box.lockKey.toString(),
    };
    const outcomes = await Promise.all(
      Array.from({ length: RUNNERS }, () => {
        const child = spawn(process.execPath, [script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
          child.on('close', (code) => resolve({ code, stdout, stderr })),
        );
      }),
    );
    expect(outcomes.filter((o) => o.code !== 0).map((o) => o.stderr)).toEqual([]);
    const executed = outcomes.flatMap((o) => (JSON.parse(o.stdout) as { executed: string[] }).executed);
    expect(executed.sort()).toEqual(RACE_VERSIONS);
    await expectRaceOutcome(box);
  });
});
