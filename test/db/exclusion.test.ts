/**
 * Which runs exclude each other, and what they may do to a row another run is at: the ledger's
 * own lock (whatever key a run was given), `status` and `resolve` while a run is at work, a
 * revert finished as the step asked for, and a pooler that refuses the check's second connection.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConflictError,
  DEFAULT_LOCK_KEY,
  IntegrityError,
  lockHolder,
  migrate,
  preview,
  resolve,
  SessionError,
  status,
  type MigrateOptions,
} from '../../src/index.js';
import { freshDatabase, sandbox, silentLogger, type FreshDatabase, type Sandbox, migrateIn } from '../support/db.js';
import { migrationsDir } from '../support/files.js';
import { startPgbouncer, type Pooler } from '../support/pgbouncer.js';

let box: Sandbox | undefined;
let db: FreshDatabase | undefined;
let pooler: Pooler | undefined;
afterEach(async () => {
  await pooler?.stop();
  await db?.drop();
  await box?.cleanup();
  [box, db, pooler] = [undefined, undefined, undefined];
});

function run(direction: 'up' | 'down', dir: string, extra: Partial<MigrateOptions> = {}) {
  return migrateIn(box!, direction, dir, extra);
}
async function ledger(): Promise<Array<{ version: string; state: string }>> {
  return (await box!.admin.query(`SELECT version, state FROM ${box!.table} ORDER BY version`)).rows;
}

/** A gate the migrations below pass only when it is open: lets a test stop a run where it wants. */
const GATED = {
  '001_create_events.up.sql':
    'CREATE TABLE gate (open boolean NOT NULL);\nINSERT INTO gate VALUES (false);\nCREATE TABLE events (note text);\n',
  '001_create_events.down.sql': 'DROP TABLE events;\nDROP TABLE gate;\n',
  '002_index.up.sql': 'CREATE INDEX CONCURRENTLY events_note_idx ON events (note);\n',
  '002_index.down.sql': 'DROP INDEX CONCURRENTLY events_note_idx;\nSELECT 1 / (CASE WHEN open THEN 1 ELSE 0 END) FROM gate;\n',
};

describe('down after an interrupted revert', () => {
  it('finishing the revert is the step asked for: nothing more is reverted, and plan down shows it', async () => {
    box = await sandbox();
    const dir = migrationsDir(GATED);
    await run('up', dir);
    await expect(run('down', dir)).rejects.toThrow(/division by zero.*statement 2 of 2.*stays marked reverting/);
    expect(await ledger()).toEqual([
      { version: '001_create_events', state: 'applied' },
      { version: '002_index', state: 'reverting' },
    ]);
    await box.admin.query('UPDATE gate SET open = true');

    const planned = await preview({ databaseUrl: box.url, dir, direction: 'down', table: box.table, logger: silentLogger });
    expect(planned.steps).toEqual([
      { version: '002_index', direction: 'down', transactional: false, phase: 'regular', resumed: true, sql: GATED['002_index.down.sql'] },
    ]);
    const result = await run('down', dir);
    expect(result.executed.map((s) => [s.version, s.direction])).toEqual([['002_index', 'down']]);
    expect(await ledger()).toEqual([{ version: '001_create_events', state: 'applied' }]);
    expect((await box.admin.query(`SELECT to_regclass('events') IS NOT NULL AS e`)).rows).toEqual([{ e: true }]);
  });

  it('--steps 2 counts the finished revert as one of the two', async () => {
    box = await sandbox();
    const dir = migrationsDir({ ...GATED, '000_base.up.sql': 'SELECT 1;\n', '000_base.down.sql': 'SELECT 1;\n' });
    await run('up', dir);
    await expect(run('down', dir)).rejects.toThrow(/division by zero/);
    await box.admin.query('UPDATE gate SET open = true');
    const result = await run('down', dir, { steps: 2 });
    expect(result.executed.map((s) => s.version)).toEqual(['002_index', '001_create_events']);
    expect(await ledger()).toEqual([{ version: '000_base', state: 'applied' }]);
  });
});

/** Starts an `up` of `dir` whose migration 002 writes `events`, held there by a lock on it until `release` is called. */
async function runHeldInside(dir: string, lockKey: bigint) {
  const blocker = await box!.connect();
  await blocker.query('BEGIN');
  await blocker.query(`LOCK TABLE ${box!.schema}.events IN ACCESS EXCLUSIVE MODE`);
  const running = run('up', dir, { lockKey, lockTimeout: 0 });
  running.catch(() => {});
  for (let i = 0; ; i++) {
    const { rows } = await box!.admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO events%'`,
    );
    if (rows[0]!.n > 0) break;
    if (i > 500) throw new Error('the run never reached its migration');
    await new Promise((r) => setTimeout(r, 20));
  }
  return { running, release: () => blocker.query('COMMIT') };
}

const HELD = {
  '001_create_events.up.sql': 'CREATE TABLE events (note text);\n',
  '002_log.up.sql': "INSERT INTO events VALUES ('002 ran');\nCREATE INDEX CONCURRENTLY events_note_idx ON events (note);\n",
};

describe('while a run with another lock key is at work', () => {
  it('status shows the lock held, by the run at work', async () => {
    box = await sandbox();
    const dir = migrationsDir(HELD);
    await run('up', dir, { target: '001_create_events' });
    const held = await runHeldInside(dir, 101n);
    try {
      const report = await status({ databaseUrl: box.url, dir, table: box.table, logger: silentLogger });
      expect(report.lock).not.toBeNull();
      expect(report.migrations.map((m) => m.state)).toEqual(['applied', 'in-flight']);
    } finally {
      await held.release();
    }
    await held.running;
  });

  it('resolve waits, then refuses: the row it was asked about is no longer in that state; the ledger keeps it applied', async () => {
    box = await sandbox();
    const dir = migrationsDir(HELD);
    await run('up', dir, { target: '001_create_events' });
    const held = await runHeldInside(dir, 101n);
    const resolving = resolve({ databaseUrl: box.url, dir, table: box.table, version: '002_log', as: 'pending', logger: silentLogger });
    resolving.catch(() => {});
    await new Promise((r) => setTimeout(r, 300));
    await held.release();
    await held.running;
    await expect(resolving).rejects.toThrow(ConflictError);
    await expect(resolving).rejects.toThrow(
      /^002_log changed from in_flight to applied in .* while resolve waited for the lock.*nothing was changed/,
    );
    expect(await ledger()).toEqual([
      { version: '001_create_events', state: 'applied' },
      { version: '002_log', state: 'applied' },
    ]);
    expect((await box.admin.query('SELECT note FROM events')).rows).toEqual([{ note: '002 ran' }]);
  });
});

describe('resolve', () => {
  it('a version that is neither a file nor a row fails, naming it', async () => {
    box = await sandbox();
    const dir = migrationsDir(HELD);
    await run('up', dir);
    await expect(
      resolve({ databaseUrl: box.url, dir, table: box.table, version: '999_nope', as: 'pending', logger: silentLogger }),
    ).rejects.toThrow(IntegrityError);
    await expect(
      resolve({ databaseUrl: box.url, dir, table: box.table, version: '999_nope', as: 'pending', logger: silentLogger }),
    ).rejects.toThrow(/^999_nope is neither a migration in the folder nor recorded in the ledger/);
    expect(await ledger()).toHaveLength(2);
  });
});

describe('a pooler that refuses the check of the session', () => {
  it('the lock is released at once, and the run fails before changing anything', async () => {
    db = await freshDatabase();
    pooler = await startPgbouncer(db.url, 'transaction', 2, { maxClientConn: 1 });
    const dir = migrationsDir(HELD);
    const run = migrate({ databaseUrl: pooler.url, dir, direction: 'up', logger: silentLogger });
    await expect(run).rejects.toThrow(SessionError);
    await expect(run).rejects.toThrow(/could not check that the connection keeps one server session.*was released.*nothing was changed/);
    expect(await lockHolder(db.admin, DEFAULT_LOCK_KEY)).toBeNull();
    const { rows } = await db.admin.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'`);
    expect(rows).toEqual([{ n: 0 }]);
    expect((await db.admin.query(`SELECT to_regclass('public.events') AS t`)).rows).toEqual([{ t: null }]);
  });
});
