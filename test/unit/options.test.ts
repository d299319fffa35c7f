// The library's options are checked before any connection is made: a fake pool records whether
// one was asked for (no database behaviour is imitated: it only ever refuses).
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrate, UsageError, type MigrateOptions } from '../../src/index.js';

describe('migrate() validates before connecting', () => {
  function recordingPool(): { pool: pg.Pool; calls: number[] } {
    const calls: number[] = [];
    const pool = {
      connect: async () => {
        calls.push(Date.now());
        throw new Error('connect was called');
      },
      options: {},
    } as unknown as pg.Pool;
    return { pool, calls };
  }

  const migrations = [{ version: '001_a', up: 'CREATE TABLE a (id int);', down: 'DROP TABLE a;' }];

  it('reaches the pool when the options are valid (so the fake pool is wired)', async () => {
    const { pool, calls } = recordingPool();
    await expect(migrate({ direction: 'up', pool, migrations })).rejects.toThrow('connect was called');
    expect(calls).toHaveLength(1);
  });

  it.each(['', 'UP', 'rollback', ' up ', 'DOWN'])('rejects direction %j with a UsageError without connecting', async (direction) => {
    const { pool, calls } = recordingPool();
    const options = { direction, pool, migrations } as unknown as MigrateOptions;
    const error = await migrate(options).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toContain('invalid direction');
    expect(calls).toHaveLength(0);
  });

  it('rejects a missing direction without connecting', async () => {
    const { pool, calls } = recordingPool();
    await expect(migrate({ pool, migrations } as unknown as MigrateOptions)).rejects.toBeInstanceOf(UsageError);
    expect(calls).toHaveLength(0);
  });

  it.each(['a.b.c', '', 'a.', '.b'])('rejects the table name %j with a UsageError without connecting', async (table) => {
    const { pool, calls } = recordingPool();
    const error = await migrate({ direction: 'up', pool, migrations, table }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toContain(`invalid table name ${JSON.stringify(table)}`);
    expect(calls).toHaveLength(0);
  });

  it('rejects a bad lock key without connecting', async () => {
    const { pool, calls } = recordingPool();
    await expect(migrate({ direction: 'up', pool, migrations, lockKey: 'abc' })).rejects.toBeInstanceOf(UsageError);
    expect(calls).toHaveLength(0);
  });

  it('rejects bad steps without connecting', async () => {
    const { pool, calls } = recordingPool();
    await expect(migrate({ direction: 'down', pool, migrations, steps: 0 })).rejects.toBeInstanceOf(UsageError);
    expect(calls).toHaveLength(0);
  });
});
