/**
 * A migration never stalls production on a lock: each statement waits at most lock_timeout
 * for a table lock, is rolled back and retried with backoff, and says who blocks it.
 */
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../support/cli.js';
import { sandbox, type Sandbox, sandboxArgs } from '../support/db.js';
import { migrationsDir } from '../support/files.js';

let box: Sandbox;
afterEach(async () => box?.cleanup());

function args(dir: string, extra: string[]): string[] {
  return ['up', '--dir', dir, ...sandboxArgs(box), ...extra];
}

/** An application transaction that has read the table and stays open: it holds ACCESS SHARE. */
async function openReader(): Promise<{ pid: number; client: pg.Client }> {
  const client = await box.connect();
  await client.query('BEGIN');
  await client.query('SELECT count(*) FROM accounts');
  return { pid: (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid, client };
}

describe('lock_timeout with retries', () => {
  it("the application's readers wait far less than the blocker holds the lock (lock_timeout lets them through); the migration applies once the holder lets go", async () => {
    box = await sandbox();
    await box.admin.query('CREATE TABLE accounts (id int); INSERT INTO accounts SELECT generate_series(1, 100)');
    const dir = migrationsDir({ '001_add_email.up.sql': 'ALTER TABLE accounts ADD COLUMN email text;\n' });
    const holder = await openReader();
    // The application keeps reading the table meanwhile, each query on its own connection. Stuck
    // behind the migration's lock for good (no lock_timeout), a query fails on this statement_timeout
    // instead of hanging the test; it is no measure of the wait, which the hold below is.
    const reader = await box.connect();
    await reader.query("SET statement_timeout = '60s'");
    const runStarted = performance.now();
    const run = startCli(args(dir, ['--lock-timeout', '0.3', '--lock-retries', '20']));

    // The blocker is named, in a retry line or in the watcher's line.
    const named = new RegExp(
      `(blocked by|waits for a lock held by) backend pid ${holder.pid}, idle in transaction for \\d+ s: SELECT pg_backend_pid\\(\\) AS pid`,
    );
    // The reads go on for 3 s and until the run has named the blocker (however long a loaded machine takes to).
    let slowest = 0;
    let held: number;
    const until = performance.now() + 3000;
    const deadline = performance.now() + 120_000;
    try {
      while ((performance.now() < until || !named.test(run.output())) && performance.now() < deadline) {
        const started = performance.now();
        await reader.query('SELECT count(*) FROM accounts');
        slowest = Math.max(slowest, performance.now() - started);
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      // How long the holder kept the migration from its lock: from the run's start to the COMMIT.
      held = performance.now() - runStarted;
      await holder.client.query('COMMIT');
    }
    const result = await run.done;

    // The slowest read waited far less than the holder held the lock: lock_timeout let the readers
    // through again and again. Without it, they would queue behind the migration for the whole hold.
    expect(held).toBeGreaterThanOrEqual(3000);
    expect(slowest).toBeLessThan(held / 2);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
    const retries = lines.filter((l) =>
      /^001_add_email could not get a lock within lock_timeout \(300 ms\)(, blocked by .*)?: rolled back, retrying in \d+\.\d s \(attempt \d+ of 21\)$/.test(
        l.msg,
      ),
    );
    expect(retries.length).toBeGreaterThan(0);
    expect(lines.some((l) => named.test(l.msg))).toBe(true);
    expect(
      (
        await box.admin.query(
          `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'accounts' ORDER BY ordinal_position`,
          [box.schema],
        )
      ).rows.map((r) => r.column_name),
    ).toEqual(['id', 'email']);
    // Time for a read stuck without lock_timeout to fail on its statement_timeout (60 s), and for the reads' deadline.
  }, 180_000);

  it('with retries exhausted it fails with exit 1 naming the blocker, and changes nothing', async () => {
    box = await sandbox();
    await box.admin.query('CREATE TABLE accounts (id int)');
    const dir = migrationsDir({ '001_add_email.up.sql': 'ALTER TABLE accounts ADD COLUMN email text;\n' });
    const holder = await openReader();
    try {
      // A lock_timeout long enough for the watcher to look while the statement waits, on a busy machine too.
      const result = await runCli(args(dir, ['--lock-timeout', '1.5', '--lock-retries', '1']));
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        new RegExp(
          `^slipway: migration 001_add_email \\(up\\) failed in .*001_add_email\\.up\\.sql: canceling statement due to lock timeout \\[55P03\\] \\(lock_timeout = 1500ms\\), blocked by backend pid ${holder.pid}, idle in transaction for \\d+ s: SELECT pg_backend_pid\\(\\) AS pid; gave up after 2 attempt\\(s\\); it was rolled back, nothing changed\\n$`,
        ),
      );
      expect((await box.admin.query(`SELECT count(*)::int AS n FROM ${box.table}`)).rows[0].n).toBe(0);
    } finally {
      await holder.client.query('COMMIT');
    }
  });

  it('outside a transaction too, the last attempt names the real lock_timeout and the blocker; the row stays in flight after the statement before', async () => {
    box = await sandbox();
    await box.admin.query('CREATE TABLE accounts (id int)');
    const dir = migrationsDir({ '001_add_email.up.sql': 'VACUUM accounts;\nALTER TABLE accounts ADD COLUMN email text;\n' });
    const holder = await openReader();
    try {
      // A lock_timeout long enough for the watcher to look while the statement waits, on a busy machine too.
      const result = await runCli(args(dir, ['--lock-timeout', '1.5', '--lock-retries', '1']));
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        new RegExp(
          `^slipway: migration 001_add_email \\(up\\) failed at .*001_add_email\\.up\\.sql:2: canceling statement due to lock timeout \\[55P03\\] \\(lock_timeout = 1500ms\\), blocked by backend pid ${holder.pid}, idle in transaction for \\d+ s: SELECT pg_backend_pid\\(\\) AS pid; gave up after 2 attempt\\(s\\); it runs outside a transaction \\(VACUUM\\); statement 2 of 2 failed, the 1 before it took effect, and it stays marked in flight: fix the cause and run slipway up again to resume it there\\n$`,
        ),
      );
      expect((await box.admin.query(`SELECT version, state, progress FROM ${box.table}`)).rows).toEqual([
        { version: '001_add_email', state: 'in_flight', progress: 1 },
      ]);
    } finally {
      await holder.client.query('COMMIT');
    }
  });
});
