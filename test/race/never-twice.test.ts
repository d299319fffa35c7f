/**
 * Never twice: runners that do not exclude each other through the lock (a transaction
 * pooler, different lock keys) must still never run a migration twice, and a pooler that
 * cannot keep a session lock is refused before anything changes. Real processes, a real
 * PgBouncer. `npm run test:mutation-lock` also runs this file against a copy whose in-flight
 * mark can be taken over, and fails unless it goes red.
 */
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LOCK_KEY, lockHolder } from '../../src/index.js';
import { runCli, startCli, type CliResult } from '../support/cli.js';
import { freshDatabase, type FreshDatabase } from '../support/db.js';
import { migrationsDir } from '../support/files.js';
import { startPgbouncer, type Pooler } from '../support/pgbouncer.js';

const RUNNERS = 8;

/** The adversarial run's shape: a table, then a file that runs outside a transaction and writes a row. */
const EVENTS = {
  '001_create_events.up.sql': 'CREATE TABLE events (note text NOT NULL);\n',
  '001_create_events.down.sql': 'DROP TABLE events;\n',
  '002_index_and_log.up.sql': "CREATE INDEX CONCURRENTLY IF NOT EXISTS events_note_idx ON events (note);\nINSERT INTO events VALUES ('002 ran');\n",
  '002_index_and_log.down.sql': "DROP INDEX CONCURRENTLY IF EXISTS events_note_idx;\nINSERT INTO events VALUES ('002 reverted');\n",
};

let db: FreshDatabase | undefined;
let pooler: Pooler | undefined;
afterEach(async () => {
  await pooler?.stop();
  await db?.drop();
  pooler = undefined;
  db = undefined;
});

function up(url: string, dir: string, extra: string[] = []): Promise<CliResult> {
  return runCli(['up', '--database-url', url, '--dir', dir, '--log-format', 'json', ...extra]);
}

async function notes(database: FreshDatabase): Promise<string[]> {
  const exists = (await database.admin.query(`SELECT to_regclass('public.events') IS NOT NULL AS e`)).rows[0].e;
  if (!exists) return [];
  return (await database.admin.query<{ note: string }>('SELECT note FROM events ORDER BY note')).rows.map((r) => r.note);
}

async function ledger(database: FreshDatabase): Promise<Array<{ version: string; state: string }>> {
  const exists = (await database.admin.query(`SELECT to_regclass('public.schema_migrations') IS NOT NULL AS e`)).rows[0].e;
  if (!exists) return [];
  return (await database.admin.query('SELECT version, state FROM public.schema_migrations ORDER BY version')).rows;
}

describe('through PgBouncer in transaction mode', () => {
  it(`${RUNNERS} runners at once all refuse before changing anything, and leave no lock held`, async () => {
    db = await freshDatabase();
    pooler = await startPgbouncer(db.url, 'transaction', 4);
    const dir = migrationsDir(EVENTS);
    const runs = await Promise.all(Array.from({ length: RUNNERS }, () => up(pooler!.url, dir)));

    expect(runs.map((r) => r.code)).toEqual(Array(RUNNERS).fill(1));
    for (const run of runs) {
      expect(run.stderr).toMatch(/^slipway: .*(does not keep one server session|another client shares that server session).*use a direct or session-pooling connection/);
      expect(run.stderr).toMatch(/nothing (was changed|of 001_create_events was run)/);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(await notes(db)).toEqual([]);
    expect(await ledger(db)).toEqual([]);
    expect(await lockHolder(db.admin, DEFAULT_LOCK_KEY)).toBeNull();
  });

  it('one runner alone is refused too, and a direct run afterwards applies everything once', async () => {
    db = await freshDatabase();
    pooler = await startPgbouncer(db.url, 'transaction', 4);
    const dir = migrationsDir(EVENTS);
    const alone = await up(pooler.url, dir);
    expect(alone.code).toBe(1);
    expect(alone.stderr).toMatch(/does not keep one server session.*pooler in transaction or statement mode/);
    expect(await lockHolder(db.admin, DEFAULT_LOCK_KEY)).toBeNull();

    const direct = await up(db.url, dir);
    expect(direct.stderr).toBe('');
    expect(direct.code).toBe(0);
    expect(await notes(db)).toEqual(['002 ran']);
  });
});

describe('through PgBouncer in session mode', () => {
  it(`${RUNNERS} runners at once: one applies each migration, all exit 0`, async () => {
    db = await freshDatabase();
    pooler = await startPgbouncer(db.url, 'session', RUNNERS * 2 + 2);
    const dir = migrationsDir(EVENTS);
    const runs = await Promise.all(Array.from({ length: RUNNERS }, () => up(pooler!.url, dir)));

    expect(runs.filter((r) => r.code !== 0).map((r) => r.stderr)).toEqual([]);
    const applied = runs.flatMap((r) => r.stdout.split('\n').filter((l) => l.includes('"msg":"applied ')));
    expect(applied).toHaveLength(2);
    expect(await notes(db)).toEqual(['002 ran']);
    expect(await ledger(db)).toEqual([
      { version: '001_create_events', state: 'applied' },
      { version: '002_index_and_log', state: 'applied' },
    ]);
    expect(await lockHolder(db.admin, DEFAULT_LOCK_KEY)).toBeNull();
  });
});

describe('two runners with different lock keys', () => {
  /**
   * Both runners plan the same step and reach its bookkeeping write together: an outside
   * transaction holds the table in SHARE mode (reads pass, writes wait) until both wait on it.
   */
  async function raceToTheRow(database: FreshDatabase, dir: string, args: string[]): Promise<CliResult[]> {
    const blocker = new pg.Client({ connectionString: database.url });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE public.schema_migrations IN SHARE MODE');
    const runners = ['101', '202'].map((key) => startCli([...args, '--database-url', database.url, '--dir', dir, '--lock-key', key, '--log-format', 'json']));
    try {
      for (let i = 0; ; i++) {
        const { rows } = await database.admin.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'slipway' AND wait_event_type = 'Lock'`,
        );
        if (rows[0]!.n === 2) break;
        if (i > 300) throw new Error(`the runners never both waited for the bookkeeping table: ${runners.map((r) => r.output()).join('\n')}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await blocker.query('COMMIT');
      await blocker.end();
    }
    return Promise.all(runners.map((r) => r.done));
  }

  function expectOneWinner(results: CliResult[]): void {
    expect(results.map((r) => r.code).sort()).toEqual([0, 1]);
    const loser = results.find((r) => r.code === 1)!;
    expect(loser.stderr).toMatch(/^slipway: another runner (applied|reverted|is running) 002_index_and_log .*this run did not run it; every runner must use the same database, bookkeeping table and lock key/);
  }

  it('up, outside a transaction: the step runs once, the other runner fails clearly', async () => {
    db = await freshDatabase();
    const dir = migrationsDir(EVENTS);
    expect((await up(db.url, dir, ['--to', '001_create_events'])).code).toBe(0);
    expectOneWinner(await raceToTheRow(db, dir, ['up']));
    expect(await notes(db)).toEqual(['002 ran']);
    expect(await ledger(db)).toEqual([
      { version: '001_create_events', state: 'applied' },
      { version: '002_index_and_log', state: 'applied' },
    ]);
  });

  it('down, outside a transaction: the step is reverted once, the other runner fails clearly', async () => {
    db = await freshDatabase();
    const dir = migrationsDir(EVENTS);
    expect((await up(db.url, dir)).code).toBe(0);
    expectOneWinner(await raceToTheRow(db, dir, ['down']));
    expect(await notes(db)).toEqual(['002 ran', '002 reverted']);
    expect(await ledger(db)).toEqual([{ version: '001_create_events', state: 'applied' }]);
  });

  it('up in a transaction: the file runs once, the other runner stops at the row before the file', async () => {
    db = await freshDatabase();
    const dir = migrationsDir({
      '001_create_events.up.sql': EVENTS['001_create_events.up.sql'],
      '002_index_and_log.up.sql': "INSERT INTO events VALUES ('002 ran');\nSELECT pg_sleep(0.2);\n",
    });
    expect((await up(db.url, dir, ['--to', '001_create_events'])).code).toBe(0);
    expectOneWinner(await raceToTheRow(db, dir, ['up']));
    expect(await notes(db)).toEqual(['002 ran']);
  });
});
