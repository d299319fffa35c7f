/**
 * The watcher behind long statements: who blocks a migration, and how far an index build has
 * got, read from a second connection while the statement runs (real server, real index build).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openSession } from '../../src/db/session.js';
import { watched, type Blocker } from '../../src/migrations/watch.js';
import { captureLogger, sandbox, type Sandbox } from '../support/db.js';

let box: Sandbox;
afterEach(async () => box?.cleanup());

describe('watched', () => {
  it('logs the progress of a long CREATE INDEX CONCURRENTLY from pg_stat_progress_create_index: phase and percent', async () => {
    box = await sandbox();
    await box.admin.query('CREATE TABLE big (id int, v int); INSERT INTO big SELECT g, g % 997 FROM generate_series(1, 1500000) AS g');
    const session = await openSession({ databaseUrl: box.url });
    try {
      const pid = (await session.client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      const { logger, lines } = captureLogger();
      const seen: { blockers: Blocker[] } = { blockers: [] };
      const build = async () => {
        await session.client.query(`SET maintenance_work_mem = '1MB'`);
        await session.client.query('CREATE INDEX CONCURRENTLY big_v ON big (v, id)');
      };
      await watched(session, pid, '007_index_big', logger, build, seen, { after: 50, every: 50, progressEvery: 100 });
      const progress = lines.filter((l) => String(l.msg).startsWith('007_index_big: CREATE INDEX CONCURRENTLY, '));
      expect(progress.length).toBeGreaterThan(0);
      expect(progress[0]).toMatchObject({ migration: '007_index_big', command: 'CREATE INDEX CONCURRENTLY', phase: expect.any(String) });
      expect(progress.some((l) => /, \d+%( \((blocks|tuples) \d+ of \d+\))?$/.test(String(l.msg)))).toBe(true);
      expect(seen.blockers).toEqual([]);
    } finally {
      await session.close();
    }
  });

  it('names the backend that blocks the statement, with its state and statement', async () => {
    box = await sandbox();
    await box.admin.query('CREATE TABLE accounts (id int)');
    const holder = await box.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT count(*) FROM accounts');
    const holderPid = (await holder.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
    const session = await openSession({ databaseUrl: box.url });
    try {
      const pid = (await session.client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      const { logger, lines } = captureLogger();
      const seen: { blockers: Blocker[] } = { blockers: [] };
      setTimeout(() => void holder.query('COMMIT'), 800);
      await watched(session, pid, '008_add_email', logger, () => session.client.query('ALTER TABLE accounts ADD COLUMN email text'), seen, {
        after: 50,
        every: 50,
      });
      expect(lines.map((l) => l.msg)).toContainEqual(
        expect.stringMatching(
          new RegExp(
            `^008_add_email waits for a lock held by backend pid ${holderPid}, idle in transaction for \\d+ s: SELECT pg_backend_pid\\(\\) AS pid$`,
          ),
        ),
      );
    } finally {
      await session.close();
    }
  });

  it('closes its second connection when the work ends while that connection is still being opened', async () => {
    box = await sandbox();
    const session = await openSession({ databaseUrl: box.url });
    try {
      const pid = (await session.client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      let opened: Promise<import('pg').Client> | null = null;
      // A connect that outlasts the work: the watcher looks at 10 ms, the work ends at 50 ms, the connection at 300 ms.
      const slow = {
        ...session,
        openSide: () =>
          (opened = session.openSide().then(async (c) => {
            await new Promise((r) => setTimeout(r, 300));
            return c;
          })),
      };
      const { logger } = captureLogger();
      await watched(slow, pid, '009_quick', logger, () => session.client.query('SELECT pg_sleep(0.05)'), { blockers: [] }, { after: 10 });
      expect(opened).not.toBeNull();
      const side = await opened!;
      await expect(side.query('SELECT 1')).rejects.toThrow(/not queryable|closed|ended/i);
    } finally {
      await session.close();
    }
  });
});
