import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrate, UsageError, type MigrateOptions } from '../../src/index.js';
import { redactConnectionString } from '../../src/log.js';
import { toLockKey } from '../../src/db/lock.js';
import { checkDatabaseName } from '../../src/db/identifier.js';

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

describe('toLockKey', () => {
  it.each<[bigint | number | string, bigint]>([
    [42n, 42n],
    [0n, 0n],
    [-7n, -7n],
    [42, 42n],
    [-42, -42n],
    [Number.MAX_SAFE_INTEGER, BigInt(Number.MAX_SAFE_INTEGER)],
    [Number.MIN_SAFE_INTEGER, BigInt(Number.MIN_SAFE_INTEGER)],
    ['123456789012345678', 123456789012345678n],
    ['-5', -5n],
    [' 17 ', 17n],
    [INT64_MAX, INT64_MAX],
    [INT64_MIN, INT64_MIN],
    ['9223372036854775807', INT64_MAX],
    ['-9223372036854775808', INT64_MIN],
  ])('accepts %s', (input, expected) => {
    expect(toLockKey(input)).toBe(expected);
  });

  it.each<bigint | number | string>([
    2n ** 63n,
    -(2n ** 63n) - 1n,
    2n ** 64n,
    '9223372036854775808',
    '-9223372036854775809',
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    2 ** 53,
    'abc',
    '',
    '  ',
    '1.5',
    '0x10',
    '1e3',
  ])('refuses %s with a UsageError', (input) => {
    let caught: unknown;
    try {
      toLockKey(input);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as Error).message).toContain('invalid lock key');
    expect((caught as Error).message).toContain('9223372036854775807');
  });
});

describe('redactConnectionString', () => {
  it('hides the password of a postgres URL', () => {
    expect(redactConnectionString('postgres://user:pass@host/db')).toBe('postgres://user:***@host/db');
  });

  it('hides an encoded password and keeps port and query', () => {
    const redacted = redactConnectionString('postgresql://u:p%40ss@h:5432/d?sslmode=require');
    expect(redacted).toBe('postgresql://u:***@h:5432/d?sslmode=require');
    expect(redacted).not.toContain('p%40ss');
  });

  it('hides a password= keyword and keeps the rest', () => {
    expect(redactConnectionString('password=secret host=x')).toBe('password=*** host=x');
    expect(redactConnectionString('host=x password=secret dbname=d')).toBe('host=x password=*** dbname=d');
  });

  it('hides a quoted password= value', () => {
    const redacted = redactConnectionString("host=x password='se cret' user=u");
    expect(redacted).toBe('host=x password=*** user=u');
    expect(redacted).not.toContain('cret');
  });

  it('hides a password query parameter', () => {
    expect(redactConnectionString('postgres://h/d?password=secret&sslmode=require')).toBe('postgres://h/d?password=***&sslmode=require');
  });

  it('redacts a URL inside a longer message', () => {
    const redacted = redactConnectionString('could not connect to postgres://app:s3cret@db:5432/app: timeout');
    expect(redacted).toBe('could not connect to postgres://app:***@db:5432/app: timeout');
    expect(redacted).not.toContain('s3cret');
  });

  it('leaves a string without a password unchanged', () => {
    expect(redactConnectionString('postgres://user@host/db')).toBe('postgres://user@host/db');
    expect(redactConnectionString('postgres://host:5432/db')).toBe('postgres://host:5432/db');
    expect(redactConnectionString('host=x user=u')).toBe('host=x user=u');
  });
});

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

describe('redactConnectionString: passwords containing @', () => {
  it('hides the whole password up to the last @ of the authority', () => {
    expect(redactConnectionString('postgres://u:p@ss@h/d')).toBe('postgres://u:***@h/d');
  });
});

describe('backoffDelay', () => {
  it('doubles from the first delay up to the cap, with jitter between half and all of it', async () => {
    const { backoffDelay } = await import('../../src/db/backoff.js');
    expect([0, 1, 2, 3, 10].map((n) => backoffDelay(n, 100, 500, () => 1))).toEqual([100, 200, 400, 500, 500]);
    expect([0, 1, 2, 3, 10].map((n) => backoffDelay(n, 100, 500, () => 0))).toEqual([50, 100, 200, 250, 250]);
    expect(backoffDelay(1000, 1, 30_000, () => 1)).toBe(30_000);
  });
});

describe('the terminal log: progress on one line', () => {
  it('rewrites a progress line in place on a terminal, and the next line takes its place; off a terminal every line stays', async () => {
    const { openSync, readFileSync, closeSync } = await import('node:fs');
    const { tempFolder } = await import('../support/files.js');
    const { progressAware } = await import('../../src/cli/logger.js');
    const record = (msg: string, progressLine = false) => `${JSON.stringify({ msg, ...(progressLine && { progressLine }) })}\n`;
    const run = (isTTY: boolean) => {
      const file = `${tempFolder({})}/log`;
      const fd = openSync(file, 'w');
      const out = progressAware(fd, isTTY, (r) => `${String(r.msg)}\n`);
      for (const line of [record('applied 001'), record('002: 10%', true), record('002: 55%', true), record('applied 002')])
        out.write(line);
      closeSync(fd);
      return readFileSync(file, 'utf8');
    };
    expect(run(true)).toBe('applied 001\n\r\x1b[2K002: 10%\r\x1b[2K002: 55%\r\x1b[2Kapplied 002\n');
    expect(run(false)).toBe('applied 001\n002: 10%\n002: 55%\napplied 002\n');
  });
});

describe('checkDatabaseName (slipway db start --database)', () => {
  it.each(['tracker', '_x', 'a1_b2', 'a'.repeat(63)])('accepts %s', (name) => {
    expect(checkDatabaseName(name)).toBe(name);
  });
  it.each(['Tracker', '1db', 'my-db', 'a'.repeat(64), '', 'db;drop'])('refuses %j, saying what a name may hold', (name) => {
    expect(() => checkDatabaseName(name)).toThrow(
      `invalid database name ${JSON.stringify(name)}: use lowercase letters, digits and underscores, starting with a letter`,
    );
  });
});
