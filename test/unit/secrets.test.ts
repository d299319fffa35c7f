import { describe, expect, it } from 'vitest';
import { migrate, passwordsOf, scrubSecrets, status, TenantError, UsageError } from '../../src/index.js';
import { readTenants } from '../../src/tenants/source.js';
import { connectionTarget } from '../../src/db/session.js';
import { rejection } from '../support/errors.js';
import { redactConnectionString } from '../../src/log.js';

const PASSWORD = 'Pw9-s3cret';
/** Connection strings meant as URLs that are not well formed, each holding the password. */
const MALFORMED = [
  `postgres//app:${PASSWORD}@db.internal/app`,
  `app:${PASSWORD}@db.internal/app`,
  `postgresql:/app:${PASSWORD}@db.internal/app`,
];

describe('passwordsOf a connection string that is not a well-formed URL', () => {
  it.each(MALFORMED)('finds the password of %s, and scrubSecrets hides it', (url) => {
    expect(passwordsOf(url)).toContain(PASSWORD);
    expect(scrubSecrets(`cannot use ${url}`, passwordsOf(url))).toBe(`cannot use ${url.replace(PASSWORD, '***')}`);
  });

  it('finds a password that holds @, / and :, and one in a URL whose port is no number', () => {
    expect(passwordsOf('postgres//app:p@s/s:w@db/app')).toContain('p@s/s:w');
    expect(passwordsOf(`postgres://app:${PASSWORD}@db:port/app`)).toContain(PASSWORD);
  });

  it('finds nothing where there is no password', () => {
    expect(passwordsOf('postgres//app@db/app')).toEqual([]);
    expect(passwordsOf('host=db user=app@corp dbname=app')).toEqual([]);
    expect(passwordsOf('postgres://db:5432/app')).toEqual([]);
  });

  it.each(MALFORMED)('names no host, user or database read from the password of %s', (url) => {
    const { secrets, ...named } = connectionTarget({ databaseUrl: url });
    expect(secrets).toContain(PASSWORD);
    expect(JSON.stringify(named)).not.toContain(PASSWORD);
  });
});

describe('library errors about a malformed connection string', () => {
  const migrations = [{ version: '001_a', up: 'CREATE TABLE a (id int);', down: 'DROP TABLE a;' }];

  it.each(MALFORMED)('migrate, status and readTenants refuse %s without its password', async (url) => {
    for (const run of [
      () => migrate({ databaseUrl: url, migrations, direction: 'up' }),
      () => status({ databaseUrl: url, migrations }),
      () => readTenants('schema:tenant_%', { databaseUrl: url }),
    ]) {
      const error = await rejection(run(), UsageError);
      expect(error.message).toMatch(/^the connection string ".*:\*\*\*@db.internal\/app" is not a URL: give postgres:\/\//);
      expect(error.message).not.toContain(PASSWORD);
    }
  });

  it.each([`postgres://app:${PASSWORD}@db.internal:port/app`, `postgres://app:${PASSWORD}/x@db.internal/app`])(
    'a postgres:// URL that does not parse (%s) is refused with what to fix, without its password',
    async (url) => {
      const error = await rejection(migrate({ databaseUrl: url, migrations, direction: 'up' }), UsageError);
      expect(error.message).toMatch(
        /^the connection string "postgres:\/\/app:\*\*\*@db\.internal.*" is not a valid URL: %-encode any : \/ \? # @ in the user name and password/,
      );
      expect(error.message).not.toContain(PASSWORD);
    },
  );

  it('a database URL given where the tenants file goes is named without its password', async () => {
    for (const url of MALFORMED) {
      const error = await rejection(readTenants(url), TenantError);
      expect(error.message).toMatch(/^tenants file .* does not exist/);
      expect(error.message).not.toContain(PASSWORD);
    }
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

  it('hides the whole password up to the last @ (a password containing @) of the authority', () => {
    expect(redactConnectionString('postgres://u:p@ss@h/d')).toBe('postgres://u:***@h/d');
  });
});
