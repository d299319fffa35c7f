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
  '002_index_and_log.up.sql':
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS events_note_idx ON events (note);\nINSERT INTO events VALUES ('002 ran');\n",
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
      expect(run.stderr).toMatch(
        /^slipway: .*(does not keep one server session|another client shares that server session).*use a direct or session-pooling connection/,
      );
      expect(run.stderr).toMatch(/nothing (was changed|of 001_create_events was run)/);
      // One line; a run stopped at its bookkeeping write says on a second which backend that write reached.
      const [first, ...detail] = run.stderr.trim().split('\n');
      expect(detail).toEqual(
        first!.endsWith('nothing of 001_create_events was run')
          ? [
              expect.stringMatching(
                /^the bookkeeping write for 001_create_events ran on another server backend than pid \d+, which holds the migration lock \(a pooler in transaction mode\?\)$/,
              ),
            ]
          : [],
      );
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
   * Runner 101 starts a migration and is held inside it (an outside transaction locks `events`,
   * which its file writes); runner 202 starts only once 101 is held there, and the hold ends once
   * 202 has had time to go for the bookkeeping. Returns both results, 101's first.
   */
  async function whileOneRuns(database: FreshDatabase, dir: string, args: string[], keys = ['101', '202']): Promise<CliResult[]> {
    const blocker = new pg.Client({ connectionString: database.url });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE public.events IN ACCESS EXCLUSIVE MODE');
    const run = (key: string) =>
      startCli([...args, '--database-url', database.url, '--dir', dir, '--lock-key', key, '--log-format', 'json']);
    const first = run(keys[0]!);
    let second: ReturnType<typeof run> | undefined;
    try {
      await waitFor(database, `wait_event_type = 'Lock'`, 1, () => first.output());
      second = run(keys[1]!);
      // The second runner has its key's lock, and goes no further than the run at work lets it.
      await waitFor(database, `state = 'idle'`, 1, () => second!.output());
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      await blocker.query('COMMIT');
      await blocker.end();
    }
    return Promise.all([first.done, second!.done]);
  }

  /** Waits until `n` slipway sessions other than the blocker match `where` in pg_stat_activity. */
  async function waitFor(database: FreshDatabase, where: string, n: number, output: () => string): Promise<void> {
    for (let i = 0; ; i++) {
      const { rows } = await database.admin.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'slipway' AND ${where}`,
      );
      if (rows[0]!.n >= n) return;
      if (i > 500) throw new Error(`no slipway session reached ${where}: ${output()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  function applied(result: CliResult): string[] {
    return result.stdout
      .split('\n')
      .filter((l) => /"msg":"(applied|reverted) /.test(l))
      .map((l) => JSON.parse(l).version);
  }

  it('up in a transaction: the second waits for the ledger, then finds nothing to do; the file ran once', async () => {
    db = await freshDatabase();
    const dir = migrationsDir({
      '001_create_events.up.sql': EVENTS['001_create_events.up.sql'],
      '002_log.up.sql': "INSERT INTO events VALUES ('002 ran');\n",
    });
    expect((await up(db.url, dir, ['--to', '001_create_events'])).code).toBe(0);
    const [first, second] = await whileOneRuns(db, dir, ['up']);
    expect([first!.code, first!.stderr, second!.code, second!.stderr]).toEqual([0, '', 0, '']);
    expect([applied(first!), applied(second!)]).toEqual([['002_log'], []]);
    expect(await notes(db)).toEqual(['002 ran']);
  });

  it('up outside a transaction: the second waits for the ledger and never runs the file', async () => {
    db = await freshDatabase();
    const dir = migrationsDir(EVENTS);
    expect((await up(db.url, dir, ['--to', '001_create_events'])).code).toBe(0);
    const [first, second] = await whileOneRuns(db, dir, ['up']);
    expect([first!.code, second!.code]).toEqual([0, 0]);
    expect([applied(first!), applied(second!)]).toEqual([['002_index_and_log'], []]);
    expect(await notes(db)).toEqual(['002 ran']);
    expect(await ledger(db)).toEqual([
      { version: '001_create_events', state: 'applied' },
      { version: '002_index_and_log', state: 'applied' },
    ]);
  });

  it('down outside a transaction: the step is reverted once, the second reverts the one before it', async () => {
    db = await freshDatabase();
    const dir = migrationsDir({ ...EVENTS, '001_create_events.down.sql': 'SELECT 1;\n' });
    expect((await up(db.url, dir)).code).toBe(0);
    const [first, second] = await whileOneRuns(db, dir, ['down']);
    expect([first!.code, second!.code]).toEqual([0, 0]);
    expect([applied(first!), applied(second!)]).toEqual([['002_index_and_log'], ['001_create_events']]);
    expect(await notes(db)).toEqual(['002 ran', '002 reverted']);
    expect(await ledger(db)).toEqual([]);
  });

  it('a migration that lets go of every lock: the next runner waits for its session, never runs it again', async () => {
    db = await freshDatabase();
    const dir = migrationsDir({
      '001_create_events.up.sql': EVENTS['001_create_events.up.sql'],
      '002_unlock.up.sql':
        "SELECT pg_advisory_unlock_all();\nINSERT INTO events VALUES ('002 ran');\nCREATE INDEX CONCURRENTLY events_note_idx ON events (note);\n",
    });
    expect((await up(db.url, dir, ['--to', '001_create_events'])).code).toBe(0);
    const [first, second] = await whileOneRuns(db, dir, ['up'], ['101', '101']);
    // The first run did the work, and says it was not protected to the end (it let go of its lock).
    expect(first!.code).toBe(1);
    expect(first!.stderr).toMatch(/no longer held the (ledger|migration) lock at the end of the run/);
    expect([second!.code, second!.stderr, applied(second!)]).toEqual([0, '', []]);
    expect(second!.stdout).toMatch(/waiting for a run that is still executing 002_unlock by server backend pid \d+/);
    expect(await notes(db)).toEqual(['002 ran']);
    expect(await ledger(db)).toEqual([
      { version: '001_create_events', state: 'applied' },
      { version: '002_unlock', state: 'applied' },
    ]);
  });
});

describe("the ledger's own claims, whatever the locks", () => {
  it("a mark in flight never overwrites another run's row: the second claim fails and the row keeps its writer", async () => {
    db = await freshDatabase();
    const { Ledger } = await import('../../src/migrations/ledger.js');
    const { ConflictError } = await import('../../src/errors.js');
    const ledgerTable = new Ledger({ schema: 'public', table: 'schema_migrations' });
    const [a, b] = [new pg.Client({ connectionString: db.url }), new pg.Client({ connectionString: db.url })];
    await Promise.all([a.connect(), b.connect()]);
    try {
      await ledgerTable.ensure(a);
      const pid = async (c: pg.Client) => (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const entry = { version: '002_index_and_log', checksum: 'x' };
      await ledgerTable.markInFlight(a, entry, await pid(a));
      await expect(ledgerTable.markInFlight(b, entry, await pid(b))).rejects.toBeInstanceOf(ConflictError);
      const { rows } = await db.admin.query(`SELECT state, split_part(run_by, '@', 1)::int AS writer FROM public.schema_migrations`);
      expect(rows).toEqual([{ state: 'in_flight', writer: await pid(a) }]);
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  });

  it("a mark sent ahead with the commit before it is written only on the lock's backend, and never over a row", async () => {
    db = await freshDatabase();
    const { Ledger } = await import('../../src/migrations/ledger.js');
    const ledgerTable = new Ledger({ schema: 'public', table: 'schema_migrations' });
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await ledgerTable.ensure(client);
      const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const entry = { version: '003_index', checksum: 'x' };
      await expect(client.query(ledgerTable.inFlightSql(entry, pid + 1))).rejects.toMatchObject({ code: 'SW001' });
      await client.query(ledgerTable.inFlightSql(entry, pid));
      await expect(client.query(ledgerTable.inFlightSql(entry, pid))).rejects.toMatchObject({ code: '23505' });
      const { rows } = await db.admin.query(
        `SELECT state, progress, split_part(run_by, '@', 1)::int AS writer FROM public.schema_migrations`,
      );
      expect(rows).toEqual([{ state: 'in_flight', progress: 0, writer: pid }]);
    } finally {
      await client.end();
    }
  });
});
