/**
 * Cancellation that cannot leak: whenever a run is stopped through its signal, the caller's
 * client or pooled connection comes back without the advisory lock and with the settings it
 * had, or is closed; it is never handed back holding the lock.
 */
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { AbortedError, migrate, type MigrateOptions } from '../../src/index.js';
import { sandbox, silentLogger, type Sandbox } from '../support/db.js';
import { migrationsDir } from '../support/files.js';

let box: Sandbox;
afterEach(async () => box?.cleanup());

const FILES = {
  '001_create_items.up.sql': 'CREATE TABLE items (id int);\n',
  '002_slow.up.sql': 'SELECT pg_sleep(0.3);\nINSERT INTO items VALUES (2);\n',
  '003_index.up.sql': "SET lock_timeout = '1ms';\nCREATE INDEX CONCURRENTLY items_id ON items (id);\nSELECT pg_sleep(0.3);\n",
  '004_more.up.sql': 'INSERT INTO items VALUES (4);\n',
};

/** The caller's connection after a run: gone, or usable without the lock and with its settings. */
async function expectClean(client: pg.ClientBase, backendPid: number): Promise<'closed' | 'clean'> {
  const state = await client
    .query<{ lock_timeout: string; search_path: string }>(
      `SELECT current_setting('lock_timeout') AS lock_timeout, current_setting('search_path') AS search_path`,
    )
    .then(
      (r) => r.rows[0]!,
      () => null,
    );
  const { rows } = await box.admin.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = $1`, [backendPid]);
  if (state === null) {
    // Closed: its session is gone, and the lock with it.
    expect(rows[0].n).toBe(0);
    return 'closed';
  }
  expect(state).toEqual({ lock_timeout: '7s', search_path: box.schema });
  expect(rows[0].n).toBe(0);
  return 'clean';
}

function options(dir: string, extra: Partial<MigrateOptions>): MigrateOptions {
  return { dir, direction: 'up', table: box.table, lockKey: box.lockKey, logger: silentLogger, ...extra } as MigrateOptions;
}

describe('a run stopped through its signal', () => {
  it('at every moment of a run, a caller client comes back clean or closed', async () => {
    box = await sandbox();
    const outcomes = new Set<string>();
    for (const delay of [0, 5, 20, 60, 150, 250, 400, 550, 700, 900]) {
      await box.admin.query(`DROP TABLE IF EXISTS items; DROP TABLE IF EXISTS ${box.table}`);
      const client = await box.connect();
      await client.query(`SET lock_timeout = '7s'`);
      const pid = (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      const controller = new AbortController();
      setTimeout(() => controller.abort(), delay);
      const result = await migrate(options(migrationsDir(FILES), { client, signal: controller.signal })).then(
        () => 'finished',
        (error: unknown) => {
          expect(error).toBeInstanceOf(AbortedError);
          return 'stopped';
        },
      );
      outcomes.add(`${result}/${await expectClean(client, pid)}`);
    }
    expect(outcomes.has('stopped/clean')).toBe(true);
  });

  it('through a pool, the pooled connection comes back clean or is destroyed, at every moment', async () => {
    box = await sandbox();
    const pool = box.pool(1);
    pool.on('connect', (client) => void client.query(`SET lock_timeout = '7s'`));
    for (const delay of [0, 20, 150, 400, 700]) {
      await box.admin.query(`DROP TABLE IF EXISTS items; DROP TABLE IF EXISTS ${box.table}`);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), delay);
      await migrate(options(migrationsDir(FILES), { pool, signal: controller.signal })).catch((error: unknown) =>
        expect(error).toBeInstanceOf(AbortedError),
      );
      const client = await pool.connect();
      try {
        const pid = (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
        expect(await expectClean(client, pid)).toBe('clean');
      } finally {
        client.release();
      }
    }
  });
});
