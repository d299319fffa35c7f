import { describe, expect, it } from 'vitest';
import { ownStatement } from '../../src/db/lock.js';

describe('what a backend runs, in log lines', () => {
  it("leaves out slipway's own wrapper around a migration: the file's statement is what shows", () => {
    const wrapped =
      "BEGIN; SET LOCAL lock_timeout = '5000ms'; DO $slipway$BEGIN IF pg_backend_pid() <> 12 THEN RAISE EXCEPTION 'x'; END IF; INSERT INTO t VALUES ('1'); END$slipway$; ALTER TABLE accounts ADD COLUMN email text\n;\nUPDATE t SET x = 1";
    expect(ownStatement(wrapped)).toMatch(/^ALTER TABLE accounts ADD COLUMN email text ;/);
    expect(ownStatement("SET LOCAL lock_timeout = '400ms'; VACUUM accounts")).toBe('VACUUM accounts');
    expect(ownStatement('SELECT 1')).toBe('SELECT 1');
  });
});
