import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drift, dump, load, migrate } from '../../src/index.js';
import { freshDatabase, freshDatabasePerTest, silentLogger } from '../support/db.js';
import { migrationsDir } from '../support/files.js';
import { startSystemServer, type SystemServer } from '../support/system-server.js';
import { EVERY_KIND } from './fixture.js';

/**
 * pg_dump as the reference, never as a run-time dependency: the embedded server (18) has no
 * pg_dump, and a pg_dump refuses a server newer than itself, so these tests start the system's
 * PostgreSQL (Debian's, 15 on Debian 12), installed by the helper when missing, and use its
 * pg_dump. They also run dump, load and drift on a second major.
 */
let server: SystemServer;
beforeAll(async () => {
  server = await startSystemServer();
}, 300_000);
afterAll(async () => {
  await server?.stop();
});

const database = freshDatabasePerTest();

/**
 * pg_dump's text without what legitimately differs: the key of its `\restrict` and `\unrestrict`
 * lines, random per run (pg_dump 15.14, 16.10, 17.6 and later, against CVE-2025-8714), and user
 * mappings, which slipway does not write (they hold credentials: the password of the fixture's
 * is no schema's). Its header and `-- Name: …` comments name the server's version and the
 * objects, the same on both sides, so they stay. No rows are compared: -s has none.
 */
const comparable = (text: string) =>
  text
    .replace(/^\\(un)?restrict \S+$/gm, '\\$1restrict <random key>')
    .replace(/^--\n-- Name: USER MAPPING [^\n]*\n--\n\nCREATE USER MAPPING [\s\S]*?\n\);\n\n\n/gm, '');

const history = [{ version: '001_every_kind', up: EVERY_KIND }];

describe("dump and load, with the system PostgreSQL's pg_dump -s as the reference", () => {
  it('pg_dump -s of a database loaded from a dump equals pg_dump -s of the original', async () => {
    const original = await database(server.url);
    await migrate({ databaseUrl: original.url, migrations: history, direction: 'up', logger: silentLogger });
    const first = await dump({ databaseUrl: original.url, logger: silentLogger });
    const copy = await database(server.url);
    await load({ databaseUrl: copy.url, sql: first.sql, logger: silentLogger });

    const ofOriginal = await server.pgDumpSchema(original.url);
    expect(ofOriginal).toContain("CREATE USER MAPPING FOR public SERVER archive OPTIONS (\n    password 'not-in-the-dump',");
    expect(first.sql).not.toContain('not-in-the-dump');
    const reference = comparable(ofOriginal);
    expect(reference).toContain(`-- Dumped from database version ${server.major}.`);
    expect(reference).toContain('CREATE TABLE app.issues (');
    expect(reference).not.toContain('USER MAPPING');
    expect(comparable(await server.pgDumpSchema(copy.url))).toBe(reference);
    // slipway's own round trip on this major, and a loaded database that is up to date.
    expect((await dump({ databaseUrl: copy.url, logger: silentLogger })).sql).toBe(first.sql);
    const again = await migrate({ databaseUrl: copy.url, migrations: history, direction: 'up', logger: silentLogger });
    expect(again.executed).toEqual([]);

    // The same schema on the tests' server (18, or the matrix's): the same text but for what the
    // server itself writes differently across majors (16 stopped qualifying a view's columns) and
    // the rows' times.
    const other = await freshDatabase();
    try {
      await migrate({ databaseUrl: other.url, migrations: history, direction: 'up', logger: silentLogger });
      const blocks = (sql: string) => new Set(sql.split('\n\n-- ').filter((b) => !b.startsWith('bookkeeping rows')));
      const here = blocks(first.sql);
      const there = [...blocks((await dump({ databaseUrl: other.url, logger: silentLogger })).sql)];
      const views = ['materialized view app.issue_counts', 'view app.open_issues', 'view app.z_first', 'view app.a_second'];
      const { rows } = await other.admin.query("SELECT current_setting('server_version_num')::int / 10000 AS major");
      const acrossSixteen = rows[0].major >= 16 !== server.major >= 16;
      expect(there.filter((b) => !here.has(b)).map((b) => b.split('\n')[0])).toEqual(acrossSixteen ? views : []);
    } finally {
      await other.drop();
    }
  });

  it('drift on this major: none after up, and a hand-made index and default are named', async () => {
    const db = await database(server.url);
    const dir = migrationsDir({ '001_every_kind.up.sql': EVERY_KIND });
    await migrate({ databaseUrl: db.url, dir, direction: 'up', logger: silentLogger });
    expect(await drift({ databaseUrl: db.url, dir, logger: silentLogger })).toMatchObject({ drifted: false, diff: '' });
    await db.admin.query(`CREATE INDEX users_name_idx ON app.users (name);
      ALTER TABLE app.issues ALTER COLUMN title SET DEFAULT 'untitled'`);
    const report = await drift({ databaseUrl: db.url, dir, logger: silentLogger });
    expect(report.differences.map((d) => [d.object, d.change])).toEqual([
      ['table app.issues', 'changed'],
      ['index app.users_name_idx', 'extra'],
    ]);
  });
});
