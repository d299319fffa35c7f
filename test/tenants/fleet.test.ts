import { writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortedError,
  migrateTenants,
  previewTenants,
  tenantsStatus,
  TenantError,
  type MigrationInput,
  type TenantResult,
} from '../../src/index.js';
import { tenantLockKey, readTenants } from '../../src/tenants/source.js';
import { readSchemaLedgers } from '../../src/migrations/ledger.js';
import { captureLogger, freshDatabase, silentLogger, type FreshDatabase } from '../support/db.js';
import { rejection } from '../support/errors.js';
import { tempFolder } from '../support/files.js';

/** Unqualified names throughout: each lands in the tenant's schema only through search_path. */
const MIGRATIONS: MigrationInput[] = [
  { version: '001_create_items', up: 'CREATE TABLE items (id integer PRIMARY KEY, name text);', down: 'DROP TABLE items;' },
  {
    version: '002_index_items',
    up: 'CREATE INDEX CONCURRENTLY items_name_idx ON items (name);',
    down: 'DROP INDEX CONCURRENTLY items_name_idx;',
  },
  {
    version: '003_count_items',
    up: 'CREATE FUNCTION count_items() RETURNS bigint LANGUAGE sql SET search_path FROM CURRENT AS $$ SELECT count(*) FROM items $$;\nINSERT INTO items VALUES (1, current_schema());',
    down: 'DELETE FROM items;\nDROP FUNCTION count_items();',
  },
];
const VERSIONS = MIGRATIONS.map((m) => m.version);
const TENANTS = 30;
const schemaName = (i: number) => `tenant_${String(i).padStart(2, '0')}`;

let db: FreshDatabase;
beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => db?.drop());

async function createTenants(n = TENANTS): Promise<void> {
  const schemas = Array.from({ length: n }, (_, i) => schemaName(i + 1));
  await db.admin.query(
    `DROP SCHEMA IF EXISTS ${Array.from({ length: 40 }, (_, i) => schemaName(i + 1)).join(', ')} CASCADE; ${schemas.map((s) => `CREATE SCHEMA ${s};`).join(' ')}`,
  );
}

const byTenant = (results: readonly TenantResult[]) => new Map(results.map((r) => [r.tenant, r]));
const base = () => ({ databaseUrl: db.url, tenants: 'schema:tenant\\_%', migrations: MIGRATIONS, logger: silentLogger });

describe('schema tenants', () => {
  it('migrates 30 schemas, each with its search_path and its own ledger; the next run touches only the tenant with something pending', async () => {
    await createTenants();
    const first = await migrateTenants({ ...base(), direction: 'up' });
    expect(first.summary).toMatchObject({ total: TENANTS, changed: TENANTS, failed: 0, executed: TENANTS * 3 });
    expect(first.tenants.map((t) => t.tenant)).toEqual(Array.from({ length: TENANTS }, (_, i) => schemaName(i + 1)));
    expect(first.tenants.every((t) => t.outcome === 'changed' && t.executed.join() === VERSIONS.join())).toBe(true);

    // Every schema holds its tables, index, function and ledger; nothing landed in public.
    const { rows } = await db.admin.query(
      `SELECT n.nspname AS schema, array_agg(c.relname::text ORDER BY c.relname) AS objects
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname LIKE 'tenant\\_%' OR n.nspname = 'public' GROUP BY 1 ORDER BY 1`,
    );
    expect(rows).toHaveLength(TENANTS);
    for (const row of rows)
      expect(row.objects).toEqual(['items', 'items_name_idx', 'items_pkey', 'schema_migrations', 'schema_migrations_pkey']);
    const counted = await db.admin.query(`SELECT tenant_07.count_items() AS n, (SELECT name FROM tenant_07.items) AS name`);
    expect(counted.rows[0]).toEqual({ n: '1', name: 'tenant_07' });

    // One tenant behind: only it gets a run; the runner never starts for the others.
    await db.admin.query(
      `DROP FUNCTION tenant_12.count_items(); DELETE FROM tenant_12.items; DELETE FROM tenant_12.schema_migrations WHERE version = '003_count_items'`,
    );
    const { logger, lines } = captureLogger();
    const second = await migrateTenants({ ...base(), direction: 'up', logger });
    expect(second.summary).toMatchObject({ changed: 1, upToDate: TENANTS - 1, failed: 0, executed: 1 });
    expect(byTenant(second.tenants).get('tenant_12')).toMatchObject({ outcome: 'changed', executed: ['003_count_items'] });
    const runnerLines = lines.filter((l) => typeof l.tenant === 'string' && l.version !== undefined);
    expect(new Set(runnerLines.map((l) => l.tenant))).toEqual(new Set(['tenant_12']));
    expect(lines.filter((l) => l.msg === 'nothing to apply')).toHaveLength(0);
  });

  it('reads the ledgers of every schema tenant in two queries', async () => {
    await createTenants();
    await migrateTenants({ ...base(), direction: 'up', migrations: MIGRATIONS.slice(0, 1) });
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const sent: string[] = [];
      const query = client.query.bind(client);
      (client as { query: unknown }).query = (...args: Parameters<typeof query>) => (sent.push(String(args[0])), query(...args));
      const schemas = [...Array.from({ length: TENANTS }, (_, i) => schemaName(i + 1)), 'no_such_schema'];
      const { database, ledgers } = await readSchemaLedgers(client, schemas, 'schema_migrations');
      expect(sent).toHaveLength(2);
      expect(database).toBe(db.name);
      expect(ledgers.get('tenant_30')).toMatchObject({
        schemaExists: true,
        rows: [expect.objectContaining({ version: '001_create_items', state: 'applied' })],
      });
      expect(ledgers.get('no_such_schema')).toEqual({ schemaExists: false, rows: [], adopting: false });
    } finally {
      await client.end();
    }
  });

  it('two deploys at once: every migration of every tenant runs exactly once', async () => {
    await createTenants();
    const [a, b] = await Promise.all([
      migrateTenants({ ...base(), direction: 'up', concurrency: 4 }),
      migrateTenants({ ...base(), direction: 'up', concurrency: 4 }),
    ]);
    expect(a.summary.failed + b.summary.failed).toBe(0);
    expect(a.summary.executed + b.summary.executed).toBe(TENANTS * 3);
    const { rows } = await db.admin.query(
      `SELECT count(*)::int AS n FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid WHERE n.nspname LIKE 'tenant\\_%' AND c.relname = 'items_name_idx'`,
    );
    expect(rows[0].n).toBe(TENANTS);
  });

  it("a tenant's own lock key: a run holding tenant_03's lock holds back tenant_03 only", async () => {
    await createTenants(5);
    const key = tenantLockKey(db.name, 'tenant_03');
    expect(key).toBe(tenantLockKey(db.name, 'tenant_03'));
    expect(key).not.toBe(tenantLockKey(db.name, 'tenant_04'));
    expect(key).not.toBe(tenantLockKey('other_db', 'tenant_03'));
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1::bigint)', [key.toString()]);
      const result = await migrateTenants({ ...base(), direction: 'up', lockWaitTimeout: 300 });
      const t = byTenant(result.tenants);
      expect(t.get('tenant_03')).toMatchObject({ outcome: 'failed', error: { code: 'LOCK_TIMEOUT' } });
      expect([...t.values()].filter((r) => r.outcome === 'changed').map((r) => r.tenant)).toEqual([
        'tenant_01',
        'tenant_02',
        'tenant_04',
        'tenant_05',
      ]);
    } finally {
      await holder.end();
    }
  });

  it('a failing tenant fails alone with one line; fixed, the next run migrates it and nothing else', async () => {
    await createTenants(10);
    await db.admin.query('CREATE TABLE tenant_05.items (other text)');
    const result = await migrateTenants({ ...base(), direction: 'up' });
    const failed = result.tenants.filter((t) => t.outcome === 'failed');
    expect(failed).toEqual([
      expect.objectContaining({
        tenant: 'tenant_05',
        error: {
          code: 'MIGRATION_FAILED',
          message: expect.stringMatching(/^migration 001_create_items \(up\) failed.*relation "items" already exists/),
        },
      }),
    ]);
    expect(failed[0]!.error!.message).not.toContain('\n');
    expect(result.summary).toMatchObject({ changed: 9, failed: 1 });

    await db.admin.query('DROP TABLE tenant_05.items');
    const again = await migrateTenants({ ...base(), direction: 'up' });
    expect(again.tenants.filter((t) => t.outcome === 'changed').map((t) => t.tenant)).toEqual(['tenant_05']);
    expect(again.summary).toMatchObject({ changed: 1, upToDate: 9, failed: 0 });
  });

  it('fail-fast: after the first failure no tenant is started; they are reported skipped', async () => {
    await createTenants(6);
    await db.admin.query('CREATE TABLE tenant_02.items (other text)');
    const result = await migrateTenants({ ...base(), direction: 'up', concurrency: 1, failFast: true });
    expect(result.tenants.map((t) => t.outcome)).toEqual(['changed', 'failed', 'skipped', 'skipped', 'skipped', 'skipped']);
    expect(result.tenants[2]!.error?.message).toBe('not started: --fail-fast after tenant_02 failed');
    const { rows } = await db.admin.query(
      `SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'items' AND schemaname LIKE 'tenant\\_%'`,
    );
    expect(rows[0].n).toBe(2);
  });

  it('status and plan read the fleet and change nothing; down reverts it', async () => {
    await createTenants(4);
    await migrateTenants({ ...base(), direction: 'up', migrations: MIGRATIONS.slice(0, 2) });
    await migrateTenants({ ...base(), direction: 'up', tenants: [{ id: 'tenant_02', databaseUrl: db.url, schema: 'tenant_02' }] });

    const status = await tenantsStatus(base());
    expect(status.tenants.map((t) => [t.tenant, t.outcome, t.steps, t.states])).toEqual([
      ['tenant_01', 'pending', ['003_count_items'], { applied: 2, pending: 1 }],
      ['tenant_02', 'up-to-date', [], { applied: 3 }],
      ['tenant_03', 'pending', ['003_count_items'], { applied: 2, pending: 1 }],
      ['tenant_04', 'pending', ['003_count_items'], { applied: 2, pending: 1 }],
    ]);
    const plan = await previewTenants({ ...base(), direction: 'down', steps: 2 });
    expect(plan.tenants.map((t) => t.steps)).toEqual([
      ['002_index_items', '001_create_items'],
      ['003_count_items', '002_index_items'],
      ['002_index_items', '001_create_items'],
      ['002_index_items', '001_create_items'],
    ]);
    expect((await tenantsStatus(base())).summary).toMatchObject({ pending: 3, upToDate: 1 });

    const down = await migrateTenants({ ...base(), direction: 'down', all: true });
    expect(down.summary).toMatchObject({ changed: 4, failed: 0, executed: 3 * 2 + 3 });
    const { rows } = await db.admin.query(
      `SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'items' AND schemaname LIKE 'tenant\\_%'`,
    );
    expect(rows[0].n).toBe(0);
  });
});

describe('a tenant that fails part-way', () => {
  it('reports the migrations it applied before the failure, as its ledger holds them', async () => {
    await createTenants(3);
    await db.admin.query(`CREATE FUNCTION tenant_02.count_items() RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint'`);
    const result = await migrateTenants({ ...base(), direction: 'up' });
    expect(result.tenants[1]).toMatchObject({
      tenant: 'tenant_02',
      outcome: 'failed',
      executed: ['001_create_items', '002_index_items'],
      error: { code: 'MIGRATION_FAILED' },
    });
    expect(result.summary).toMatchObject({ changed: 2, failed: 1, executed: 3 + 3 + 2 });
    const { rows } = await db.admin.query(`SELECT array_agg(version ORDER BY version) AS v FROM tenant_02.schema_migrations`);
    expect(rows[0].v).toEqual(['001_create_items', '002_index_items']);
  });

  it('stopped while a migration runs: reports what it applied before, and the running one is rolled back', async () => {
    await createTenants(1);
    const slow: MigrationInput[] = [
      MIGRATIONS[0]!,
      { version: '002_slow', up: 'SELECT pg_sleep(1000); CREATE TABLE slow (id int);', down: 'DROP TABLE slow;' },
    ];
    const controller = new AbortController();
    // batch: false: 001 commits on its own before 002 starts (an empty ledger would run them in one transaction).
    const running = migrateTenants({ ...base(), migrations: slow, direction: 'up', signal: controller.signal, batch: false });
    await waitForQuery(db.admin, 'pg_sleep(1000)');
    controller.abort();
    const result = await running;
    expect(result.tenants).toEqual([expect.objectContaining({ tenant: 'tenant_01', outcome: 'failed', executed: ['001_create_items'] })]);
    expect(result.tenants[0]!.error!.message).toMatch(/^stopped during 002_slow \(up\): the statement was cancelled; it was rolled back/);
    expect(result.summary).toMatchObject({ failed: 1, executed: 1 });
    const { rows } = await db.admin.query(
      `SELECT array_agg(version ORDER BY version) AS v, to_regclass('tenant_01.slow') AS slow FROM tenant_01.schema_migrations`,
    );
    expect(rows[0]).toEqual({ v: ['001_create_items'], slow: null });
  });
});

describe('a ledger that cannot be read', () => {
  it('one of another shape, or one the role may not read, fails its own tenant only, with a message that names it', async () => {
    await createTenants(6);
    await migrateTenants({ ...base(), direction: 'up', migrations: MIGRATIONS.slice(0, 1) });
    await db.admin.query('DROP TABLE tenant_02.schema_migrations; CREATE TABLE tenant_02.schema_migrations (id integer)');

    const status = await tenantsStatus(base());
    expect(status.tenants.map((t) => [t.tenant, t.outcome])).toEqual([
      ['tenant_01', 'pending'],
      ['tenant_02', 'failed'],
      ['tenant_03', 'pending'],
      ['tenant_04', 'pending'],
      ['tenant_05', 'pending'],
      ['tenant_06', 'pending'],
    ]);
    expect(status.tenants[1]!.error).toEqual({
      code: 'DATABASE',
      message: expect.stringMatching(
        /^cannot read the ledger "tenant_02"\."schema_migrations": the database at .* refused a statement slipway sent: column m\.version does not exist \(SQLSTATE 42703\)$/,
      ),
    });

    // A role that may read every ledger but tenant_04's.
    const role = `fleet_reader_${db.name.slice(-6)}`;
    const schemas = Array.from({ length: 6 }, (_, i) => schemaName(i + 1)).join(', ');
    await db.admin.query(
      `CREATE ROLE ${role} LOGIN PASSWORD 'reader'; GRANT CONNECT ON DATABASE ${db.name} TO ${role}; GRANT USAGE ON SCHEMA ${schemas} TO ${role};
       GRANT SELECT ON ALL TABLES IN SCHEMA ${schemas} TO ${role}; REVOKE SELECT ON tenant_04.schema_migrations FROM ${role}`,
    );
    try {
      const asReader = await tenantsStatus({ ...base(), databaseUrl: db.urlAs(role, 'reader') });
      expect(asReader.tenants.map((t) => [t.tenant, t.outcome, t.steps])).toEqual([
        ['tenant_01', 'pending', VERSIONS.slice(1)],
        ['tenant_02', 'failed', []],
        ['tenant_03', 'pending', VERSIONS.slice(1)],
        ['tenant_04', 'failed', []],
        ['tenant_05', 'pending', VERSIONS.slice(1)],
        ['tenant_06', 'pending', VERSIONS.slice(1)],
      ]);
      expect(asReader.tenants[3]!.error!.message).toMatch(
        /^cannot read the ledger "tenant_04"\."schema_migrations": .*permission denied for table schema_migrations \(SQLSTATE 42501\)$/,
      );
    } finally {
      await db.admin.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
    }

    // up: the others are migrated; the odd one is left as it is.
    const up = await migrateTenants({ ...base(), direction: 'up' });
    expect(up.summary).toMatchObject({ changed: 5, failed: 1 });
    expect(up.tenants[1]).toMatchObject({ tenant: 'tenant_02', outcome: 'failed', executed: [] });
    expect(
      (
        await db.admin.query(
          `SELECT to_regclass('tenant_02.items_name_idx') IS NULL AND to_regclass('tenant_05.items_name_idx') IS NOT NULL AS untouched`,
        )
      ).rows[0].untouched,
    ).toBe(true);
  });
});

describe('bad input', () => {
  it('an empty source is one clear error; a listed schema that does not exist fails alone', async () => {
    await createTenants(3);
    const empty = await rejection(migrateTenants({ ...base(), tenants: 'schema:nobody\\_%', direction: 'up' }), TenantError);
    expect(empty).toMatchObject({
      problem: 'empty-source',
      message: 'no schema matches "nobody\\\\_%" in the database: no tenants to run',
    });
    const emptyQuery = await rejection(
      migrateTenants({ ...base(), tenants: 'query:SELECT nspname FROM pg_namespace WHERE false', direction: 'up' }),
      TenantError,
    );
    expect(emptyQuery.problem).toBe('empty-source');

    const result = await migrateTenants({
      ...base(),
      tenants: `query:SELECT unnest(ARRAY['tenant_01', 'tenant_gone', 'tenant_03'])`,
      direction: 'up',
    });
    expect(result.tenants.map((t) => [t.tenant, t.outcome, t.error?.message])).toEqual([
      ['tenant_01', 'changed', undefined],
      ['tenant_gone', 'failed', `schema "tenant_gone" does not exist in database ${db.name}`],
      ['tenant_03', 'changed', undefined],
    ]);
    const badQuery = await rejection(readTenants('query:SELECT 1', { databaseUrl: db.url }), TenantError);
    expect(badQuery.message).toBe("the tenants query's row 1 has 1 in its first column: it must return schema names (text)");
    const writing = await rejection(readTenants('query:CREATE SCHEMA sneaky RETURNING 1', { databaseUrl: db.url }), TenantError);
    expect(writing.message).toBe('the tenants query is not valid SQL: syntax error at or near "RETURNING"');
    await db.admin.query('CREATE SEQUENCE IF NOT EXISTS public.fleet_seq');
    const readOnly = await rejection(
      readTenants(`query:SELECT 'tenant_01' FROM (SELECT nextval('public.fleet_seq')) AS s`, { databaseUrl: db.url }),
      TenantError,
    );
    expect(readOnly.message).toBe('the tenants query failed: cannot execute nextval() in a read-only transaction');
    await db.admin.query('DROP SEQUENCE public.fleet_seq');
  });
});

describe('the query: source reads, and only reads', () => {
  it('several statements are refused before any runs: a COMMIT cannot end the read-only transaction and drop a table', async () => {
    await createTenants(2);
    await db.admin.query('DROP TABLE IF EXISTS public.victim; CREATE TABLE public.victim (id int); INSERT INTO public.victim VALUES (1)');
    const drop = `query:COMMIT; DROP TABLE public.victim; SELECT 'tenant_01'`;
    const refused = await rejection(readTenants(drop, { databaseUrl: db.url }), TenantError);
    expect(refused).toMatchObject({
      problem: 'bad-source',
      message: 'the tenants query must be one SELECT statement; it has 3 (COMMIT, DROP, SELECT)',
    });
    const fleet = await rejection(migrateTenants({ ...base(), tenants: drop, direction: 'up' }), TenantError);
    expect(fleet.code).toBe('TENANT');
    expect(
      await rejection(readTenants(`query:SELECT 'tenant_01'; SELECT 'tenant_02'`, { databaseUrl: db.url }), TenantError),
    ).toMatchObject({
      message: 'the tenants query must be one SELECT statement; it has 2 (SELECT, SELECT)',
    });
    for (const [statement, word] of [
      ['COMMIT', 'COMMIT'],
      ['/* first */ SET TRANSACTION READ WRITE', 'SET'],
      ['DROP TABLE public.victim', 'DROP'],
    ]) {
      const one = await rejection(readTenants(`query:${statement}`, { databaseUrl: db.url }), TenantError);
      expect(one.message).toBe(`the tenants query must be a SELECT (or VALUES, TABLE, WITH … SELECT), not ${word}: tenants are only read`);
    }
    // A data-modifying CTE is a SELECT to the parser: the read-only transaction refuses it.
    const cte = await rejection(
      readTenants(`query:WITH gone AS (DELETE FROM public.victim RETURNING 'tenant_01'::text) SELECT * FROM gone`, { databaseUrl: db.url }),
      TenantError,
    );
    expect(cte.message).toBe('the tenants query failed: cannot execute SELECT in a read-only transaction');
    expect((await db.admin.query('SELECT id FROM public.victim')).rows).toEqual([{ id: 1 }]);
    // VALUES, TABLE and WITH … SELECT are queries too.
    expect((await readTenants(`query:VALUES ('tenant_02'), ('tenant_01')`, { databaseUrl: db.url })).map((t) => t.schema)).toEqual([
      'tenant_02',
      'tenant_01',
    ]);
    expect((await readTenants(`query:-- the active ones\nSELECT 'tenant_01';`, { databaseUrl: db.url })).map((t) => t.schema)).toEqual([
      'tenant_01',
    ]);
    await db.admin.query('DROP TABLE public.victim');
  });

  it('aborting cancels a running tenants query on the server', async () => {
    const controller = new AbortController();
    const reading = readTenants('query:SELECT pg_sleep(1000)::text', { databaseUrl: db.url, signal: controller.signal }).then(
      () => new Error('expected a rejection'),
      (error: unknown) => error,
    );
    await waitForQuery(db.admin, 'pg_sleep(1000)');
    controller.abort();
    const error = await reading;
    expect(error).toBeInstanceOf(AbortedError);
    expect((error as Error).message).toBe('stopped while reading the tenants; nothing was changed');
    await waitForQuery(db.admin, 'pg_sleep(1000)', false);
  });
});

/** Waits until a session of the test server runs (or, with `running` false, no longer runs) a query containing `text`. */
async function waitForQuery(admin: pg.Client, text: string, running = true): Promise<void> {
  for (;;) {
    const { rows } = await admin.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()`,
      [text],
    );
    if (rows[0].n > 0 === running) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('database tenants', () => {
  let other: FreshDatabase;
  beforeAll(async () => {
    other = await freshDatabase();
  });
  afterAll(async () => other?.drop());

  it('a file of URLs: each database migrated; a URL that does not connect and a line that is no URL fail alone, one line each', async () => {
    // A database holding schema tenants has a ledger per schema: as a database tenant it would be ambiguous.
    await createTenants(0);
    const dead = new URL(db.url);
    dead.port = '1';
    dead.password = 'hunter2';
    const file = path.join(tempFolder({}), 'tenants.txt');
    writeFileSync(file, `# the fleet\n${db.url}\n\n${other.url}   # the second one\n${dead}\nhost=db dbname=app\n`);
    const result = await migrateTenants({ tenants: file, migrations: MIGRATIONS, direction: 'up', logger: silentLogger });
    expect(result.tenants.map((t) => [t.tenant, t.outcome])).toEqual([
      [`127.0.0.1:${new URL(db.url).port}/${db.name}`, 'changed'],
      [other.name, 'changed'],
      [`127.0.0.1:1/${db.name}`, 'failed'],
      [`${file}:6`, 'failed'],
    ]);
    expect(result.tenants[0]!.tenant).not.toBe(result.tenants[2]!.tenant);
    const [, , refused, notUrl] = result.tenants;
    expect(refused!.error).toMatchObject({
      code: 'CONNECTION',
      message: expect.stringMatching(/^cannot connect to PostgreSQL at 127\.0\.0\.1:1: connection refused/),
    });
    expect(JSON.stringify(result)).not.toContain('hunter2');
    expect(notUrl!.error).toMatchObject({
      code: 'TENANT',
      message: expect.stringMatching(
        new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:6: the connection string is in keyword=value form`),
      ),
    });
    for (const d of [db, other]) {
      const { rows } = await d.admin.query(`SELECT array_agg(version ORDER BY version) AS v FROM public.schema_migrations`);
      expect(rows[0].v).toEqual(VERSIONS);
    }
    // Again: the two up to date, each with its one-query read.
    const again = await migrateTenants({ tenants: file, migrations: MIGRATIONS, direction: 'up', logger: silentLogger });
    expect(again.tenants.map((t) => t.outcome)).toEqual(['up-to-date', 'up-to-date', 'failed', 'failed']);
    await db.admin.query('DROP TABLE public.items, public.schema_migrations; DROP FUNCTION public.count_items()');
  });

  it('a line meant as a URL but malformed fails alone, and no result or log line holds its password', async () => {
    const password = 'Pw9-s3cret';
    const malformed = [
      `postgres//app:${password}@db.internal/app`,
      `app:${password}@db.internal/app`,
      `postgresql:/app:${password}@db.internal/app`,
    ];
    const good = await freshDatabase();
    const file = path.join(tempFolder({}), 'tenants.txt');
    writeFileSync(file, [good.url, ...malformed].join('\n'));
    const { logger, lines } = captureLogger();
    const result = await migrateTenants({ tenants: file, migrations: MIGRATIONS.slice(0, 1), direction: 'up', logger });
    await good.drop();
    expect(result.tenants.map((t) => [t.tenant, t.outcome, t.error?.code])).toEqual([
      [good.name, 'changed', undefined],
      [`${file}:2`, 'failed', 'TENANT'],
      [`${file}:3`, 'failed', 'TENANT'],
      [`${file}:4`, 'failed', 'TENANT'],
    ]);
    expect(
      result.tenants[3]!.error!.message.startsWith(
        `${file}:4: the connection string "postgresql:/app:***@db.internal/app" is not a URL: give postgres://`,
      ),
    ).toBe(true);
    expect(JSON.stringify(result)).not.toContain(password);
    expect(JSON.stringify(lines)).not.toContain(password);
  });

  it('an empty file, and a missing one, are one clear error each', async () => {
    const dir = tempFolder({ 'empty.txt': '# nothing yet\n\n' });
    const empty = await rejection(
      migrateTenants({ tenants: path.join(dir, 'empty.txt'), migrations: MIGRATIONS, direction: 'up', logger: silentLogger }),
      TenantError,
    );
    expect(empty.message).toBe(`tenants file ${path.join(dir, 'empty.txt')} names no database: write one PostgreSQL URL per line`);
    const missing = await rejection(
      migrateTenants({ tenants: `file:${path.join(dir, 'nope.txt')}`, migrations: MIGRATIONS, direction: 'up', logger: silentLogger }),
      TenantError,
    );
    expect(missing.message).toMatch(/nope\.txt does not exist: give schema:<pattern>, query:<SQL> or a file of database URLs/);
  });
});
