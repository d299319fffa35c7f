import path from 'node:path';
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import {
  IntegrityError,
  lint,
  migrate,
  migrateTenants,
  preview,
  previewTenants,
  status,
  tenantsStatus,
  type MigrateOptions,
} from '../../src/index.js';
import { captureLogger, freshDatabase, sandbox, silentLogger, type Sandbox, migrateIn } from '../support/db.js';
import { describeOutcome } from '../../src/commands/fleet.js';
import { migrationsDir } from '../support/files.js';
import { runCli } from '../support/cli.js';

let box: Sandbox;
afterEach(async () => box?.cleanup());

function up(dir: string, extra: Partial<MigrateOptions> = {}) {
  return migrateIn(box, 'up', dir, extra);
}
async function ledger(): Promise<string[]> {
  return (await box.admin.query(`SELECT version FROM ${box.table} ORDER BY applied_at, version`)).rows.map((r) => r.version);
}
async function columns(table: string): Promise<string[]> {
  const { rows } = await box.admin.query(
    'SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
    [box.schema, table],
  );
  return rows.map((r) => r.column_name);
}
const cliArgs = (dir: string) => ['--database-url', box.url, '--dir', dir, '--table', box.table, '--lock-key', box.lockKey.toString()];

/** Release N+1 of a service: the new column (regular), the old one dropped once the old code is gone (post-deploy), and an unrelated table. */
const RELEASE = {
  '001_create_users.up.sql': 'CREATE TABLE users (id int PRIMARY KEY, legacy_name text);\n',
  '002_add_display_name.up.sql': 'ALTER TABLE users ADD COLUMN display_name text;\n',
  '003_drop_legacy_name.up.sql':
    '-- slipway:post-deploy\n-- the code of release N reads legacy_name: drop it once no replica runs it\nALTER TABLE users DROP COLUMN legacy_name;\n',
  '004_create_posts.up.sql': 'CREATE TABLE posts (id int PRIMARY KEY, title text);\n',
  '005_drop_posts_title.up.sql': '-- slipway:post-deploy\nALTER TABLE posts DROP COLUMN title;\n',
};

describe('post-deploy migrations', () => {
  it('are skipped by the startup migrate(), which says how many it left, and applied in order by postDeploy', async () => {
    box = await sandbox();
    const dir = migrationsDir(RELEASE);
    const { logger, lines } = captureLogger();
    const startup = await up(dir, { logger });
    expect(startup.executed.map((s) => s.version)).toEqual(['001_create_users', '002_add_display_name', '004_create_posts']);
    expect(startup.deferred).toEqual(['003_drop_legacy_name', '005_drop_posts_title']);
    expect(startup.migrations.filter((m) => m.state === 'pending').map((m) => [m.version, m.phase])).toEqual([
      ['003_drop_legacy_name', 'post-deploy'],
      ['005_drop_posts_title', 'post-deploy'],
    ]);
    expect(await columns('users')).toEqual(['id', 'legacy_name', 'display_name']);
    const said = lines.find((l) => l.postDeployPending !== undefined);
    expect(said).toMatchObject({
      level: 40,
      postDeployPending: 2,
      msg: 'left 2 post-deploy migration(s) pending (003_drop_legacy_name, 005_drop_posts_title): run slipway up --post-deploy once every replica runs this release',
    });

    const cli = await runCli(['up', '--post-deploy', '--log-format', 'json', ...cliArgs(dir)]);
    expect(cli.code).toBe(0);
    expect(await ledger()).toEqual([
      '001_create_users',
      '002_add_display_name',
      '004_create_posts',
      '003_drop_legacy_name',
      '005_drop_posts_title',
    ]);
    expect(await columns('users')).toEqual(['id', 'display_name']);
    expect(await columns('posts')).toEqual(['id']);
    // Applied in their own order, and not called out of order although they sort below 004.
    const applying = cli.stdout
      .split('\n')
      .filter((l) => l.includes('"version"'))
      .map((l) => JSON.parse(l) as { version?: string; msg: string });
    expect(applying.filter((l) => /^applied/.test(l.msg)).map((l) => l.version)).toEqual(['003_drop_legacy_name', '005_drop_posts_title']);
    expect(cli.stdout).not.toContain('out of order');
  });

  it('leave an up with only them pending a no-op: no lock, one query (the ledger digest still answers)', async () => {
    box = await sandbox();
    const dir = migrationsDir(RELEASE);
    await up(dir, { postDeploy: true });
    // The next release: one regular migration and one post-deploy one.
    const next = migrationsDir({
      ...RELEASE,
      '006_add_bio.up.sql': 'ALTER TABLE users ADD COLUMN bio text;\n',
      '007_drop_posts.up.sql': '-- slipway:post-deploy\nDROP TABLE posts;\n',
    });
    expect((await up(next)).executed.map((s) => s.version)).toEqual(['006_add_bio']);

    const client = await box.connect();
    const sent: string[] = [];
    const original = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      sent.push(typeof args[0] === 'string' ? args[0] : (args[0] as pg.QueryConfig).text);
      return original(...args);
    };
    const again = await migrate({ client, dir: next, direction: 'up', table: box.table, lockKey: box.lockKey, logger: silentLogger });
    expect(again.executed).toEqual([]);
    expect(again.lockWaitMs).toBeNull();
    expect(again.deferred).toEqual(['007_drop_posts']);
    expect(sent).toHaveLength(1);
    expect(sent.join('\n')).not.toMatch(/advisory/);
  });

  it('refuse a regular migration that overtakes a pending post-deploy one touching the same column, naming both', async () => {
    box = await sandbox();
    const dir = migrationsDir({
      ...RELEASE,
      '006_backfill_legacy.up.sql': "UPDATE users SET legacy_name = 'x' WHERE legacy_name IS NULL;\n",
    });
    const error = await up(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IntegrityError);
    expect((error as Error).message).toBe(
      'regular migration 006_backfill_legacy comes after post-deploy migration 003_drop_legacy_name, still pending, and both touch users.legacy_name: run slipway up --post-deploy first, or mark 006_backfill_legacy -- slipway:post-deploy too',
    );
    // Refused before anything ran: not even the migrations before it.
    expect((await box.admin.query(`SELECT to_regclass('${box.schema}.users') AS t`)).rows[0].t).toBeNull();
    const planned = await runCli(['plan', ...cliArgs(dir)]);
    expect(planned.code).not.toBe(0);
    expect(planned.stderr).toContain('regular migration 006_backfill_legacy comes after post-deploy migration 003_drop_legacy_name');
  });

  it('are linted with the pending ones, before their phase comes', async () => {
    box = await sandbox();
    const dir = migrationsDir({
      ...RELEASE,
      '006_index_display_name.up.sql': '-- slipway:post-deploy\nCREATE INDEX users_display_name ON users (display_name);\n',
    });
    await up(dir);
    const report = await lint({ databaseUrl: box.url, dir, table: box.table });
    expect(report.findings.map((f) => [path.basename(f.file), f.rule])).toEqual([
      ['006_index_display_name.up.sql', 'require-concurrent-index-creation'],
    ]);
  });

  it('show in status and plan, each pending one with its phase', async () => {
    box = await sandbox();
    const dir = migrationsDir(RELEASE);
    await up(dir);
    const report = await status({ databaseUrl: box.url, dir, table: box.table, lockKey: box.lockKey, logger: silentLogger });
    expect(report.migrations.map((m) => [m.version, m.state, m.phase])).toEqual([
      ['001_create_users', 'applied', 'regular'],
      ['002_add_display_name', 'applied', 'regular'],
      ['003_drop_legacy_name', 'pending', 'post-deploy'],
      ['004_create_posts', 'applied', 'regular'],
      ['005_drop_posts_title', 'pending', 'post-deploy'],
    ]);
    const text = await runCli(['status', ...cliArgs(dir)]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^003_drop_legacy_name +pending post-deploy +- +-$/m);
    expect(text.stdout).toMatch(/^004_create_posts +applied +\d{4}-/m);
    expect(text.stdout).toContain('3 applied, 2 pending post-deploy (table');
    const json = JSON.parse((await runCli(['status', '--json', ...cliArgs(dir)])).stdout) as {
      migrations: Array<{ version: string; phase: string }>;
    };
    expect(json.migrations.map((m) => m.phase)).toEqual(['regular', 'regular', 'post-deploy', 'regular', 'post-deploy']);

    const planned = await runCli(['plan', ...cliArgs(dir)]);
    expect(planned.stdout.trim().split('\n')).toEqual([
      'nothing to apply',
      'leave 003_drop_legacy_name  (post-deploy: slipway up --post-deploy, once every replica runs this release)',
      'leave 005_drop_posts_title  (post-deploy: slipway up --post-deploy, once every replica runs this release)',
    ]);
    const all = await runCli(['plan', '--post-deploy', ...cliArgs(dir)]);
    expect(all.stdout.trim().split('\n')).toEqual([
      'apply 003_drop_legacy_name  (post-deploy)',
      'apply 005_drop_posts_title  (post-deploy)',
    ]);
    const p = await preview({ databaseUrl: box.url, dir, table: box.table, lockKey: box.lockKey, logger: silentLogger, direction: 'up' });
    expect(p.deferred).toEqual(['003_drop_legacy_name', '005_drop_posts_title']);
    expect(p.steps).toEqual([]);
  });
});

describe('post-deploy migrations over a fleet', () => {
  it('are left pending by up, named per tenant by up, plan and status, and applied by postDeploy', async () => {
    const db = await freshDatabase();
    try {
      await db.admin.query('CREATE SCHEMA shop_1; CREATE SCHEMA shop_2');
      const dir = migrationsDir(RELEASE);
      const base = { databaseUrl: db.url, tenants: 'schema:shop\\_%', dir, logger: silentLogger };
      const first = await migrateTenants({ ...base, direction: 'up' });
      expect(first.tenants.map((t) => [t.tenant, t.executed, t.postDeploy])).toEqual([
        ['shop_1', ['001_create_users', '002_add_display_name', '004_create_posts'], ['003_drop_legacy_name', '005_drop_posts_title']],
        ['shop_2', ['001_create_users', '002_add_display_name', '004_create_posts'], ['003_drop_legacy_name', '005_drop_posts_title']],
      ]);
      const again = await migrateTenants({ ...base, direction: 'up' });
      expect(again.tenants.map((t) => [t.outcome, t.postDeploy])).toEqual([
        ['up-to-date', ['003_drop_legacy_name', '005_drop_posts_title']],
        ['up-to-date', ['003_drop_legacy_name', '005_drop_posts_title']],
      ]);
      const report = await tenantsStatus(base);
      expect(report.tenants[0]!.postDeploy).toEqual(['003_drop_legacy_name', '005_drop_posts_title']);
      expect(describeOutcome('status', report.tenants[0]!)).toBe(
        '2 pending: 003_drop_legacy_name, 005_drop_posts_title (2 post-deploy: 003_drop_legacy_name, 005_drop_posts_title)',
      );
      const planned = await previewTenants({ ...base, direction: 'up', postDeploy: true });
      expect(planned.tenants.map((t) => t.steps)).toEqual([
        ['003_drop_legacy_name', '005_drop_posts_title'],
        ['003_drop_legacy_name', '005_drop_posts_title'],
      ]);
      const post = await migrateTenants({ ...base, direction: 'up', postDeploy: true });
      expect(post.tenants.map((t) => [t.executed, t.postDeploy])).toEqual([
        [['003_drop_legacy_name', '005_drop_posts_title'], undefined],
        [['003_drop_legacy_name', '005_drop_posts_title'], undefined],
      ]);
      const { rows } = await db.admin.query(
        `SELECT count(*)::int AS n FROM information_schema.columns WHERE table_schema LIKE 'shop%' AND column_name = 'legacy_name'`,
      );
      expect(rows[0].n).toBe(0);
    } finally {
      await db.drop();
    }
  });
});
