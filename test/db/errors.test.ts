import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConnectionError,
  DatabaseError,
  migrate,
  passwordsOf,
  scrubSecrets,
  seed,
  status,
  UsageError,
  type ConnectionProblem,
} from '../../src/index.js';
import { captureLogger, databaseUrl, freshDatabase, sandbox, silentLogger, type FreshDatabase, type Sandbox } from '../support/db.js';
import { rejection } from '../support/errors.js';

let box: Sandbox | undefined;
let fresh: FreshDatabase | undefined;
afterEach(async () => {
  await box?.cleanup();
  await fresh?.drop();
  box = fresh = undefined;
});

const ONE = [{ version: '001_create_widgets', up: 'CREATE TABLE widgets (id int);', down: 'DROP TABLE widgets;' }];

/** migrate() against `url`, expecting a ConnectionError about `problem`: one line, the password nowhere. */
async function connectionFailure(url: string, problem: ConnectionProblem, password?: string): Promise<ConnectionError> {
  const error = await rejection(migrate({ databaseUrl: url, migrations: ONE, direction: 'up', logger: silentLogger }), ConnectionError);
  expect(error).toMatchObject({ code: 'CONNECTION', problem });
  expect(error.message.split('\n')).toHaveLength(1);
  expect(error.cause).toBeInstanceOf(Error);
  if (password !== undefined) expect(error.message).not.toContain(password);
  return error;
}

function withPath(url: string, change: (u: URL) => void): string {
  const u = new URL(url);
  change(u);
  return u.toString();
}

describe('connection errors say what failed and what to do, in one line, with no password', () => {
  it('refused: names host and port, asks whether the server runs', async () => {
    const error = await connectionFailure('postgres://app:Sup3rSecret@127.0.0.1:1/app', 'refused', 'Sup3rSecret');
    expect(error.message).toBe(
      'cannot connect to PostgreSQL at 127.0.0.1:1: connection refused: is the server running, and listening on that host and port? (slipway db start runs a local one)',
    );
  });

  it('unknown host: names it', async () => {
    const error = await connectionFailure('postgres://app:Sup3rSecret@no-such-host.invalid:5432/app', 'unknown-host', 'Sup3rSecret');
    expect(error.message).toBe(
      'cannot connect to PostgreSQL: unknown host "no-such-host.invalid" (no DNS entry): check the host name in the connection string',
    );
  });

  it('authentication failed: names the user, fails at once even with connectWait', async () => {
    const wrong = withPath(databaseUrl(), (u) => (u.password = 'Wr0ngSecret'));
    const user = decodeURIComponent(new URL(wrong).username);
    const started = Date.now();
    const error = await rejection(
      migrate({ databaseUrl: wrong, migrations: ONE, direction: 'up', connectWait: 30_000, logger: silentLogger }),
      ConnectionError,
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(error.problem).toBe('authentication');
    expect(error.message).toMatch(
      new RegExp(`^password authentication failed for user "${user}" at 127\\.0\\.0\\.1:\\d+: check the user name and password`),
    );
    expect(error.message).not.toContain('Wr0ngSecret');
    expect(error.message).not.toContain(new URL(databaseUrl()).password);
  });

  it('no such database: names it and says how to create it', async () => {
    const url = withPath(databaseUrl(), (u) => (u.pathname = '/no_such_db_here'));
    const error = await connectionFailure(url, 'no-database', decodeURIComponent(new URL(url).password));
    expect(error.message).toMatch(
      /^database "no_such_db_here" does not exist on the server at 127\.0\.0\.1:\d+: create it \(createdb -h 127\.0\.0\.1 -p \d+ -U \w+ no_such_db_here, or CREATE DATABASE "no_such_db_here"\)/,
    );
  });

  it('TLS/SSL: ssl=true against a server without SSL', async () => {
    const url = withPath(databaseUrl(), (u) => u.searchParams.set('ssl', 'true'));
    const error = await connectionFailure(url, 'tls', decodeURIComponent(new URL(url).password));
    expect(error.message).toMatch(/^the server at 127\.0\.0\.1:\d+ does not accept TLS\/SSL connections: remove sslmode=require/);
  });

  it('a pool that cannot connect gives the same error as a connection string', async () => {
    const pool = new pg.Pool({ connectionString: 'postgres://app:Sup3rSecret@127.0.0.1:1/app' });
    try {
      const error = await rejection(status({ pool, migrations: ONE, logger: silentLogger }), ConnectionError);
      expect(error).toMatchObject({
        problem: 'refused',
        message: expect.stringMatching(/^cannot connect to PostgreSQL at 127\.0\.0\.1:1: connection refused/),
      });
    } finally {
      await pool.end();
    }
  });

  it('a keyword=value string is refused before any connection, never retried, with the URL to give instead', async () => {
    const started = Date.now();
    for (const run of [
      () =>
        migrate({
          databaseUrl: "host=db.internal port=6543 dbname=app user=deploy password='Sup3r Secret' sslmode=require",
          migrations: ONE,
          direction: 'up',
          connectWait: 30_000,
          logger: silentLogger,
        }),
      () =>
        seed({
          databaseUrl: 'host=db.internal dbname=app user=deploy password=Sup3rSecret',
          dir: '/nonexistent',
          connectWait: 30_000,
          logger: silentLogger,
        }),
    ]) {
      const error = await rejection(run(), UsageError);
      expect(error.message).toMatch(
        /^the connection string is in keyword=value form, which slipway does not read: give it as a URL, postgres:\/\/deploy:\*\*\*@db\.internal(:6543)?\/app/,
      );
      expect(error.message).not.toMatch(/Sup3r/);
    }
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('what the library owes every caller', () => {
  it('a run that changed something ends with its summary line, up and down', async () => {
    box = await sandbox();
    const { logger, lines } = captureLogger();
    const options = { databaseUrl: box.url, migrations: ONE, table: box.table, lockKey: box.lockKey, logger };
    await migrate({ ...options, direction: 'up' });
    expect(lines.at(-1)).toMatchObject({ msg: expect.stringMatching(/^up: 1 applied in \d+ ms$/), executed: 1, direction: 'up' });
    await migrate({ ...options, direction: 'up' });
    expect(lines.at(-1)).toMatchObject({ msg: 'nothing to apply' });
    await migrate({ ...options, direction: 'down' });
    expect(lines.at(-1)).toMatchObject({ msg: expect.stringMatching(/^down: 1 reverted in \d+ ms$/), executed: 1, direction: 'down' });
  });

  it("a statement slipway sends that the server refuses is a DatabaseError with its SQLSTATE, not the driver's error", async () => {
    fresh = await freshDatabase();
    await fresh.admin.query("CREATE ROLE slipway_readonly_role LOGIN PASSWORD 'R0lePassword'");
    await fresh.admin.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
    try {
      const url = fresh.urlAs('slipway_readonly_role', 'R0lePassword');
      const error = await rejection(migrate({ databaseUrl: url, migrations: ONE, direction: 'up', logger: silentLogger }), DatabaseError);
      expect(error).toMatchObject({ code: 'DATABASE', sqlState: '42501' });
      expect(error.cause).toBeInstanceOf(pg.DatabaseError);
      expect(error.message).toMatch(
        /^the database at 127\.0\.0\.1:\d+ refused a statement slipway sent: permission denied for schema public.*\(SQLSTATE 42501\)$/,
      );
      expect(error.message).not.toContain('R0lePassword');
    } finally {
      await fresh.drop();
      fresh = undefined;
      const server = new pg.Client({ connectionString: databaseUrl() });
      await server.connect();
      await server.query('DROP ROLE IF EXISTS slipway_readonly_role').finally(() => server.end());
    }
  });
});

describe('a role that may read the bookkeeping table but not write it', () => {
  it('is told so, with the table and the GRANT, not that its migration failed; nothing changes, in or outside a transaction', async () => {
    box = await sandbox();
    const sandboxed = box;
    const role = `slipway_reader_${sandboxed.schema}`;
    const first = { version: '001_create_a', up: 'CREATE TABLE a (id int);' };
    await migrate({
      databaseUrl: sandboxed.url,
      migrations: [first],
      table: sandboxed.table,
      lockKey: sandboxed.lockKey,
      direction: 'up',
      logger: silentLogger,
    });
    await sandboxed.admin.query(
      `CREATE ROLE ${role} LOGIN PASSWORD 'R0lePassword'; GRANT USAGE, CREATE ON SCHEMA ${sandboxed.schema} TO ${role}; GRANT SELECT ON ${sandboxed.table} TO ${role}`,
    );
    try {
      const url = new URL(sandboxed.url);
      url.username = role;
      url.password = 'R0lePassword';
      const asRole = (second: { version: string; up: string }) =>
        rejection(
          migrate({
            databaseUrl: url.toString(),
            migrations: [first, second],
            table: sandboxed.table,
            lockKey: sandboxed.lockKey,
            direction: 'up',
            logger: silentLogger,
          }),
          DatabaseError,
        );
      const table = `"${sandboxed.schema}"."schema_migrations"`;
      const advice = `role ${role} cannot write the bookkeeping table ${table} (permission denied): grant it INSERT, UPDATE, DELETE or run slipway as the table's owner`;
      const grant = `the grant: GRANT INSERT, UPDATE, DELETE ON ${table} TO "${role}"`;

      const inTransaction = await asRole({ version: '002_create_b', up: 'CREATE TABLE b (id int);' });
      expect(inTransaction).toMatchObject({
        sqlState: '42501',
        message: `${advice}; 002_create_b (up) was not recorded: it was rolled back, nothing changed\n${grant}`,
      });
      const outside = await asRole({ version: '002_index_a', up: 'CREATE INDEX CONCURRENTLY a_id ON a (id);' });
      expect(outside).toMatchObject({
        sqlState: '42501',
        message: `${advice}; 002_index_a (up) was not recorded: nothing of it ran\n${grant}`,
      });

      const { rows } = await sandboxed.admin.query(
        `SELECT to_regclass('b') AS b, to_regclass('a_id') AS a_id, (SELECT array_agg(version) FROM ${sandboxed.table}) AS versions`,
      );
      expect(rows).toEqual([{ b: null, a_id: null, versions: ['001_create_a'] }]);
    } finally {
      await sandboxed.admin.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
    }
  });
});

describe('passwordsOf and scrubSecrets', () => {
  it('find the password of a URL or a keyword string in its spellings, and replace each anywhere in a text', () => {
    expect(passwordsOf('postgres://app:s%40cret@db/app').sort()).toEqual(['s%40cret', 's@cret'].sort());
    expect(passwordsOf("host=db password='se cret' user=u")).toContain('se cret');
    expect(passwordsOf('postgres://app@db/app')).toEqual([]);
    expect(passwordsOf(undefined)).toEqual([]);
    expect(scrubSecrets('login app/s@cret failed; postgres://app:s%40cret@db/app', passwordsOf('postgres://app:s%40cret@db/app'))).toBe(
      'login app/*** failed; postgres://app:***@db/app',
    );
  });
});
