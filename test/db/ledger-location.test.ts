/**
 * One ledger per database, found the same way by everyone: an unqualified table name means
 * the one table of that name wherever it is, never a second one because a role's
 * search_path differs. Each test has a database of its own (the default table name is
 * database-wide).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { IntegrityError, migrate, status } from '../../src/index.js';
import { runCli } from '../support/cli.js';
import { databaseUrl, freshDatabase, silentLogger, type FreshDatabase } from '../support/db.js';
import { rejection } from '../support/errors.js';
import { migrationsDir } from '../support/files.js';

let db: FreshDatabase | undefined;
const roles: string[] = [];
afterEach(async () => {
  await db?.drop();
  db = undefined;
  // Roles belong to the cluster: dropped once the database that held their objects is gone.
  const server = new pg.Client({ connectionString: databaseUrl() });
  await server.connect();
  for (const role of roles.splice(0)) await server.query(`DROP ROLE IF EXISTS ${role}`);
  await server.end();
});

/** Writes a row each time it runs: applied twice means two rows. */
const AUDITED = {
  '001_create_audit.up.sql': "CREATE TABLE public.audit (note text);\nINSERT INTO public.audit VALUES ('001 ran');\n",
  '002_audit_again.up.sql': "INSERT INTO public.audit VALUES ('002 ran');\n",
};

async function ledgers(database: FreshDatabase): Promise<string[]> {
  const { rows } = await database.admin.query<{ name: string }>(
    `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'schema_migrations' ORDER BY 1`,
  );
  return rows.map((r) => r.name);
}

/** A login role that owns a schema named after itself, so its default search_path ("$user", public) starts there. */
async function roleWithOwnSchema(database: FreshDatabase): Promise<{ name: string; url: string }> {
  const name = `app_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(8).toString('hex');
  roles.push(name);
  await database.admin.query(`CREATE ROLE ${name} LOGIN PASSWORD '${password}'`);
  await database.admin.query(`CREATE SCHEMA ${name} AUTHORIZATION ${name}; GRANT CREATE, USAGE ON SCHEMA public TO ${name}`);
  return { name, url: database.urlAs(name, password) };
}

describe('the default bookkeeping table', () => {
  it('two roles with different search paths share one ledger: nothing is applied twice', async () => {
    db = await freshDatabase();
    const app = await roleWithOwnSchema(db);
    const dir = migrationsDir(AUDITED);

    const first = await runCli(['up', '--database-url', app.url, '--dir', dir, '--to', '001_create_audit', '--log-format', 'json']);
    expect(first.stderr).toBe('');
    expect(await ledgers(db)).toEqual([`${app.name}.schema_migrations`]);

    // The superuser's search_path resolves schema_migrations to public: it must find the app's ledger instead.
    const second = await runCli(['up', '--database-url', db.url, '--dir', dir, '--log-format', 'json']);
    expect(second.stderr).toBe('');
    expect(second.code).toBe(0);
    expect(await ledgers(db)).toEqual([`${app.name}.schema_migrations`]);
    expect((await db.admin.query('SELECT note FROM public.audit ORDER BY note')).rows).toEqual([{ note: '001 ran' }, { note: '002 ran' }]);

    const report = await status({ databaseUrl: db.url, dir, logger: silentLogger });
    expect(report.table).toBe(`"${app.name}"."schema_migrations"`);
    expect(report.migrations.map((m) => m.state)).toEqual(['applied', 'applied']);
  });

  it('is created once, in current_schema(), and every later run writes to it qualified', async () => {
    db = await freshDatabase();
    const dir = migrationsDir(AUDITED);
    await migrate({ databaseUrl: db.url, dir, direction: 'up', logger: silentLogger });
    expect(await ledgers(db)).toEqual(['public.schema_migrations']);
  });

  it('two tables of that name: every command refuses, naming both, and nothing changes', async () => {
    db = await freshDatabase();
    await db.admin.query('CREATE SCHEMA a; CREATE SCHEMA b');
    const dir = migrationsDir(AUDITED);
    for (const table of ['a.schema_migrations', 'b.schema_migrations']) {
      await migrate({ databaseUrl: db.url, dir, direction: 'up', table, steps: 1, logger: silentLogger }).catch(() => {});
    }

    for (const command of [['up'], ['down'], ['status'], ['plan']]) {
      const result = await runCli([...command, '--database-url', db.url, '--dir', dir]);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        'slipway: 2 bookkeeping tables named schema_migrations in this database ("a"."schema_migrations", "b"."schema_migrations"): pass the one these migrations use as the table, e.g. --table a.schema_migrations\n',
      );
    }
    expect(await ledgers(db)).toEqual(['a.schema_migrations', 'b.schema_migrations']);
    expect((await db.admin.query('SELECT note FROM public.audit')).rows).toEqual([{ note: '001 ran' }]);

    const error = await rejection(migrate({ databaseUrl: db.url, dir, direction: 'up', logger: silentLogger }), IntegrityError);
    expect(error.kind).toBe('ambiguous-ledger');
    // Naming one of them settles it.
    const result = await migrate({ databaseUrl: db.url, dir, direction: 'up', table: 'a.schema_migrations', logger: silentLogger });
    expect(result.executed.map((s) => s.version)).toEqual(['002_audit_again']);
  });
});
