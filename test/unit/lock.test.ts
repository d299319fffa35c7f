import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/db/backoff.js';
import { ownStatement, toLockKey } from '../../src/db/lock.js';
import { UsageError } from '../../src/errors.js';

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

describe('what a backend runs, in log lines', () => {
  it("leaves out slipway's own wrapper around a migration: the file's statement is what shows", () => {
    const wrapped =
      "BEGIN; SET LOCAL lock_timeout = '5000ms'; DO $slipway$BEGIN IF pg_backend_pid() <> 12 THEN RAISE EXCEPTION 'x'; END IF; INSERT INTO t VALUES ('1'); END$slipway$; ALTER TABLE accounts ADD COLUMN email text\n;\nUPDATE t SET x = 1";
    expect(ownStatement(wrapped)).toMatch(/^ALTER TABLE accounts ADD COLUMN email text ;/);
    expect(ownStatement("SET LOCAL lock_timeout = '400ms'; VACUUM accounts")).toBe('VACUUM accounts');
    expect(ownStatement('SELECT 1')).toBe('SELECT 1');
  });
});

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

describe('backoffDelay', () => {
  it('doubles from the first delay up to the cap, with jitter between half and all of it', () => {
    expect([0, 1, 2, 3, 10].map((n) => backoffDelay(n, 100, 500, () => 1))).toEqual([100, 200, 400, 500, 500]);
    expect([0, 1, 2, 3, 10].map((n) => backoffDelay(n, 100, 500, () => 0))).toEqual([50, 100, 200, 250, 250]);
    expect(backoffDelay(1000, 1, 30_000, () => 1)).toBe(30_000);
  });
});
