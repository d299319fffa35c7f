/**
 * A migration interrupted while it ran outside a transaction is finished by the next plain
 * `slipway up`, from what the catalog shows: real processes, a table of 1M rows, the runner
 * killed or its backend terminated in the middle of CREATE INDEX CONCURRENTLY.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, startCli, type CliResult } from '../support/cli.js';
import { sandbox, type Sandbox, sandboxArgs } from '../support/db.js';
import { migrationsDir } from '../support/files.js';

let box: Sandbox;
afterEach(async () => box?.cleanup());

const FILES = {
  '001_create_events.up.sql': 'CREATE TABLE events (note text NOT NULL);\n',
  '002_index_big.up.sql':
    "SET maintenance_work_mem = '64MB';\nCREATE INDEX CONCURRENTLY big_v_idx ON big (v, id);\nINSERT INTO events VALUES ('002 ran');\n",
};

function args(dir: string): string[] {
  return ['up', '--dir', dir, ...sandboxArgs(box)];
}

async function bigTable(): Promise<void> {
  await box.admin.query('CREATE TABLE big (id int, v int); INSERT INTO big SELECT g, g % 1000 FROM generate_series(1, 1000000) AS g');
}

/** Waits until the runner's backend is building the index; returns its pid. */
async function whileBuildingIndex(run: { output: () => string }): Promise<number> {
  for (let i = 0; i < 1000; i++) {
    const { rows } = await box.admin.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE 'CREATE INDEX CONCURRENTLY big_v_idx%'`,
    );
    if (rows[0] !== undefined) return rows[0].pid;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`the runner never started building the index:\n${run.output()}`);
}

async function expectFinished(next: CliResult): Promise<void> {
  expect(next.stderr).toBe('');
  expect(next.code).toBe(0);
  const { rows } = await box.admin.query(`SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass('big_v_idx')`);
  expect(rows).toEqual([{ indisvalid: true }]);
  expect((await box.admin.query('SELECT note FROM events')).rows).toEqual([{ note: '002 ran' }]);
  expect((await box.admin.query(`SELECT version, state, progress FROM ${box.table} ORDER BY version`)).rows).toEqual([
    { version: '001_create_events', state: 'applied', progress: null },
    { version: '002_index_big', state: 'applied', progress: null },
  ]);
}

function messages(result: CliResult): string[] {
  return result.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => String(JSON.parse(l).msg));
}

describe('an interrupted CREATE INDEX CONCURRENTLY on 1M rows', () => {
  it('runner SIGKILLed: its backend finishes the index; the next up waits for it, skips the index and goes on', async () => {
    box = await sandbox();
    await bigTable();
    const dir = migrationsDir(FILES);
    const first = startCli(args(dir));
    await whileBuildingIndex(first);
    first.child.kill('SIGKILL');
    await first.done;

    const next = await runCli(args(dir));
    await expectFinished(next);
    expect(messages(next)).toContain(
      `resuming 002_index_big (up) at statement 2 of 3 (${path.join(dir, '002_index_big.up.sql')}:2: CREATE INDEX CONCURRENTLY big_v_idx ON big (v, id)): index "${box.schema}"."big_v_idx" was built and is valid, going on from the next one`,
    );
  });

  it('backend terminated: the INVALID index is dropped and built again, the rest runs once', async () => {
    box = await sandbox();
    await bigTable();
    const dir = migrationsDir(FILES);
    const first = startCli(args(dir));
    const pid = await whileBuildingIndex(first);
    await box.admin.query('SELECT pg_terminate_backend($1)', [pid]);
    const stopped = await first.done;
    expect(stopped.code).toBe(1);
    expect((await box.admin.query(`SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('big_v_idx')`)).rows).toEqual([
      { indisvalid: false },
    ]);

    const next = await runCli(args(dir));
    await expectFinished(next);
    expect(messages(next)).toContain(
      `resuming 002_index_big (up) at statement 2 of 3 (${path.join(dir, '002_index_big.up.sql')}:2: CREATE INDEX CONCURRENTLY big_v_idx ON big (v, id)): index "${box.schema}"."big_v_idx" was left INVALID, dropped it, running the statement again`,
    );
  });
});

describe('what the catalog cannot decide', () => {
  it('stops naming the statement and the command that settles it; resolve --applied settles it', async () => {
    box = await sandbox();
    const dir = migrationsDir({ '001_unnamed_index.up.sql': 'CREATE TABLE t (a int);\nCREATE INDEX CONCURRENTLY ON t (a);\n' });
    const first = await runCli(args(dir));
    expect(first.code).toBe(0);
    // As a stop between the index and its progress would leave it.
    await box.admin.query(`UPDATE ${box.table} SET state = 'in_flight', progress = 1`);

    const next = await runCli(args(dir));
    expect(next.code).toBe(1);
    expect(next.stderr).toBe(
      `slipway: migration 001_unnamed_index (up) was interrupted at statement 2 of 2 (${path.join(dir, '001_unnamed_index.up.sql')}:2: CREATE INDEX CONCURRENTLY ON t (a)), which runs outside a transaction: the index has no name, so the catalog cannot tell whether it was built, and the 1 before it took effect; check it, then run slipway resolve 001_unnamed_index --applied if it took effect (finish the rest by hand) or --pending if nothing of the migration remains\n`,
    );
    const resolved = await runCli(['resolve', '001_unnamed_index', '--applied', ...args(dir).slice(1)]);
    expect(resolved.stderr).toBe('');
    expect(resolved.code).toBe(0);
    expect((await box.admin.query(`SELECT state, progress FROM ${box.table}`)).rows).toEqual([{ state: 'applied', progress: null }]);
    expect((await runCli(args(dir))).code).toBe(0);
  });
});

describe('an edit to an interrupted migration', () => {
  it('resolve --accept-edit refuses it: the progress counts statements of the file before the edit; the row is left as it was', async () => {
    box = await sandbox();
    const dir = migrationsDir({ '001_index_t.up.sql': 'CREATE TABLE t (a int);\nCREATE INDEX CONCURRENTLY t_a ON t (a);\n' });
    expect((await runCli(args(dir))).code).toBe(0);
    // As a stop after the table, before the index, would leave it.
    await box.admin.query(`DROP INDEX t_a; UPDATE ${box.table} SET state = 'in_flight', progress = 1`);
    const before = (await box.admin.query(`SELECT version, checksum, state, progress FROM ${box.table}`)).rows;
    // A statement added before the index: resumed at "statement 2", the edited file would skip the index.
    writeFileSync(
      path.join(dir, '001_index_t.up.sql'),
      "CREATE TABLE t (a int);\nCOMMENT ON TABLE t IS 'events';\nCREATE INDEX CONCURRENTLY t_a ON t (a);\n",
    );

    const accepted = await runCli(['resolve', '001_index_t', '--accept-edit', ...args(dir).slice(1)]);
    expect(accepted.stderr).toBe(
      `slipway: 001_index_t was interrupted (in_flight in "${box.schema}"."schema_migrations") and its progress counts statements of the file before the edit: resolve it --applied or --pending first, then accept the edit\n`,
    );
    expect(accepted.code).toBe(1);
    expect((await box.admin.query(`SELECT version, checksum, state, progress FROM ${box.table}`)).rows).toEqual(before);
  });
});

const DETACH = {
  '001_detach_2024.up.sql': "ALTER TABLE events DETACH PARTITION events_2024 CONCURRENTLY;\nINSERT INTO log VALUES ('001 ran');\n",
};

/** A partitioned table, and an application transaction that has read it: a concurrent detach's second phase waits for it to end. */
async function partitionsWithReader(): Promise<pg.Client> {
  await box.admin.query(`CREATE TABLE events (at date NOT NULL, note text) PARTITION BY RANGE (at);
    CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    CREATE TABLE log (note text NOT NULL)`);
  const reader = await box.connect();
  await reader.query('BEGIN');
  await reader.query('SELECT count(*) FROM events');
  return reader;
}

/** Waits until the runner's detach has marked the partition pending and waits for the reader; returns its backend's pid. */
async function whileDetachWaits(run: { output: () => string }): Promise<number> {
  for (let i = 0; i < 1000; i++) {
    const { rows } = await box.admin.query<{ pid: number }>(
      `SELECT a.pid FROM pg_stat_activity a, pg_inherits i
        WHERE a.datname = current_database() AND a.state = 'active' AND a.query LIKE 'ALTER TABLE events DETACH%'
          AND i.inhrelid = 'events_2024'::regclass AND i.inhdetachpending`,
    );
    if (rows[0] !== undefined) return rows[0].pid;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`the detach never got to wait:\n${run.output()}`);
}

async function expectDetached(next: CliResult): Promise<void> {
  expect(next.stderr).toBe('');
  expect(next.code).toBe(0);
  const { rows } = await box.admin.query(
    `SELECT c.relispartition, (SELECT count(*)::int FROM pg_inherits WHERE inhrelid = c.oid) AS parents FROM pg_class c WHERE c.oid = 'events_2024'::regclass`,
  );
  expect(rows).toEqual([{ relispartition: false, parents: 0 }]);
  expect((await box.admin.query('SELECT note FROM log')).rows).toEqual([{ note: '001 ran' }]);
  expect((await box.admin.query(`SELECT state, progress FROM ${box.table}`)).rows).toEqual([{ state: 'applied', progress: null }]);
}

describe('an interrupted ALTER TABLE … DETACH PARTITION … CONCURRENTLY', () => {
  it('backend terminated while the detach waits for a reader: the partition is left pending detach, the next up finishes it with FINALIZE', async () => {
    box = await sandbox();
    const reader = await partitionsWithReader();
    const dir = migrationsDir(DETACH);
    const first = startCli(args(dir));
    await box.admin.query('SELECT pg_terminate_backend($1)', [await whileDetachWaits(first)]);
    expect((await first.done).code).toBe(1);
    await reader.query('COMMIT');
    expect((await box.admin.query(`SELECT state, progress FROM ${box.table}`)).rows).toEqual([{ state: 'in_flight', progress: 0 }]);
    expect((await box.admin.query(`SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = 'events_2024'::regclass`)).rows).toEqual([
      { inhdetachpending: true },
    ]);

    const next = await runCli(args(dir));
    await expectDetached(next);
    expect(messages(next)).toContain(
      `resuming 001_detach_2024 (up) at statement 1 of 2 (${path.join(dir, '001_detach_2024.up.sql')}:1: ALTER TABLE events DETACH PARTITION events_2024 CONCURRENTLY): "${box.schema}"."events_2024" was left pending detach from "${box.schema}"."events", finished it with ALTER TABLE "${box.schema}"."events" DETACH PARTITION "${box.schema}"."events_2024" FINALIZE, going on from the next one`,
    );
  });

  it('runner SIGKILLed: its backend finishes the detach once the reader ends; the next up skips it and goes on', async () => {
    box = await sandbox();
    const reader = await partitionsWithReader();
    const dir = migrationsDir(DETACH);
    const first = startCli(args(dir));
    await whileDetachWaits(first);
    first.child.kill('SIGKILL');
    await first.done;
    await reader.query('COMMIT');

    const next = await runCli(args(dir));
    await expectDetached(next);
    expect(messages(next)).toContain(
      `resuming 001_detach_2024 (up) at statement 1 of 2 (${path.join(dir, '001_detach_2024.up.sql')}:1: ALTER TABLE events DETACH PARTITION events_2024 CONCURRENTLY): "${box.schema}"."events_2024" is no longer a partition of "${box.schema}"."events": the detach finished, going on from the next one`,
    );
  });
});
