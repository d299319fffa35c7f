import { describe, expect, it } from 'vitest';
import { checkDatabaseName, parseTableName, quoteIdentifier, quoteTableName } from '../../src/db/identifier.js';
import { UsageError } from '../../src/errors.js';

describe('parseTableName', () => {
  it('parses a plain name with no schema', () => {
    expect(parseTableName('schema_migrations')).toEqual({ schema: null, table: 'schema_migrations' });
  });

  it('parses a schema-qualified name', () => {
    expect(parseTableName('ops.schema_migrations')).toEqual({ schema: 'ops', table: 'schema_migrations' });
  });

  it('keeps hostile characters as they are (no dots)', () => {
    expect(parseTableName('x"; DROP TABLE y; --')).toEqual({ schema: null, table: 'x"; DROP TABLE y; --' });
    expect(parseTableName('sché"ma.tàble;')).toEqual({ schema: 'sché"ma', table: 'tàble;' });
  });

  it.each(['', '.', 'a.', '.b', 'a.b.c', 'a..b'])('refuses %j with a UsageError naming it', (name) => {
    let caught: unknown;
    try {
      parseTableName(name);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as UsageError).code).toBe('USAGE');
    expect((caught as Error).message).toContain(`invalid table name ${JSON.stringify(name)}`);
  });

  it('refuses a NUL byte', () => {
    expect(() => parseTableName('a\0b')).toThrow(UsageError);
    expect(() => parseTableName('a\0b')).toThrow(/NUL/);
  });
});

describe('quoteTableName', () => {
  it('quotes a plain name', () => {
    expect(quoteTableName('schema_migrations')).toBe('"schema_migrations"');
  });

  it('quotes each part of a schema-qualified name', () => {
    expect(quoteTableName('ops.schema_migrations')).toBe('"ops"."schema_migrations"');
  });

  it('accepts an already parsed name', () => {
    expect(quoteTableName({ schema: 'ops', table: 'log' })).toBe('"ops"."log"');
    expect(quoteTableName({ schema: null, table: 'log' })).toBe('"log"');
  });

  it('doubles embedded double quotes and wraps the whole part', () => {
    expect(quoteTableName('a"b')).toBe('"a""b"');
    expect(quoteTableName('""')).toBe('""""""');
    expect(quoteTableName('s"x.t"y')).toBe('"s""x"."t""y"');
  });

  it('neutralises an injection attempt', () => {
    expect(quoteTableName('x"; DROP TABLE y; --')).toBe('"x""; DROP TABLE y; --"');
  });

  it('keeps semicolons, spaces and upper case inside the quotes', () => {
    expect(quoteTableName('My Table;')).toBe('"My Table;"');
    expect(quoteTableName('Ops.My;Table')).toBe('"Ops"."My;Table"');
  });

  it('keeps unicode unchanged', () => {
    expect(quoteTableName('données.migrations_✓')).toBe('"données"."migrations_✓"');
    expect(quoteTableName('表')).toBe('"表"');
  });

  it.each(['', '.', 'a.', '.b', 'a.b.c', 'a..b'])('refuses %j with a UsageError', (name) => {
    expect(() => quoteTableName(name)).toThrow(UsageError);
  });

  it('quoteIdentifier only doubles quotes', () => {
    expect(quoteIdentifier('a.b')).toBe('"a.b"');
    expect(quoteIdentifier('x"y"z')).toBe('"x""y""z"');
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
