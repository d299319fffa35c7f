import { describe, expect, it } from 'vitest';
import { thrown } from '../support/errors.js';
import { IntegrityError, UsageError } from '../../src/errors.js';
import { phaseOverlapsToCheck, plan, refusePhaseOverlaps, validateRequest, type AppliedRow } from '../../src/migrations/plan.js';
import { defineMigrations, readMigrationsDir, type Migration } from '../../src/migrations/source.js';
import { openMigrationsFolder } from '../../src/migrations/formats/index.js';
import { hasPostDeployMarker, namedObjects, sharedObjects } from '../../src/sql/parse.js';
import { migrationsDir } from '../support/files.js';
import { lintSources } from '../../src/lint/lint.js';

const POST = '-- slipway:post-deploy\n';

function applied(...migrations: Migration[]): AppliedRow[] {
  return migrations.map((m) => ({ version: m.version, checksum: m.checksum, state: 'applied', appliedAt: null, durationMs: null }));
}
const versions = (list: readonly Migration[]) => list.map((m) => m.version);

describe('the post-deploy marker', () => {
  it('is read from the leading comments only, in any case and spacing', () => {
    expect(hasPostDeployMarker(`${POST}ALTER TABLE t DROP COLUMN c;`)).toBe(true);
    expect(hasPostDeployMarker('-- drop the old name\n\n--SLIPWAY:POST-DEPLOY\nDROP TABLE t;')).toBe(true);
    expect(hasPostDeployMarker('DROP TABLE t;\n-- slipway:post-deploy\n')).toBe(false);
    expect(hasPostDeployMarker('-- slipway:post-deploy please\nDROP TABLE t;')).toBe(false);
  });

  it('gives a migration its phase, from memory and from a folder (without decoding the rest of the file)', async () => {
    const [regular, post] = defineMigrations([
      { version: '001_add', up: 'ALTER TABLE t ADD COLUMN b int;' },
      { version: '002_drop', up: `${POST}ALTER TABLE t DROP COLUMN a;` },
    ]);
    expect([regular!.phase, post!.phase]).toEqual(['regular', 'post-deploy']);
    const dir = migrationsDir({
      '001_add.up.sql': '\uFEFF-- note\nALTER TABLE t ADD COLUMN b int;',
      '002_drop.up.sql': `\uFEFF${POST}ALTER TABLE t DROP COLUMN a;`,
    });
    expect((await readMigrationsDir(dir)).map((m) => m.phase)).toEqual(['regular', 'post-deploy']);
  });

  it('survives the one-file layouts, written under their up marker', () => {
    const dbmate = migrationsDir({
      '20240101000000_add.sql': '-- migrate:up\nALTER TABLE t ADD COLUMN b int;\n-- migrate:down\nALTER TABLE t DROP COLUMN b;\n',
      '20240102000000_drop.sql': `-- migrate:up\n${POST}ALTER TABLE t DROP COLUMN a;\n-- migrate:down\n`,
    });
    expect(
      openMigrationsFolder(dbmate)
        .readMigrations()
        .map((m) => [m.version, m.phase]),
    ).toEqual([
      ['20240101000000_add', 'regular'],
      ['20240102000000_drop', 'post-deploy'],
    ]);
    const goose = migrationsDir({ '00002_drop.sql': `-- +goose Up\n${POST}ALTER TABLE t DROP COLUMN a;\n-- +goose Down\nSELECT 1;\n` });
    expect(openMigrationsFolder(goose).readMigrations()[0]!.phase).toBe('post-deploy');
  });
});

describe('plan: phases', () => {
  const migrations = defineMigrations([
    { version: '001_create', up: 'CREATE TABLE users (id int, legacy text);' },
    { version: '002_add_name', up: 'ALTER TABLE users ADD COLUMN name text;' },
    { version: '003_drop_legacy', up: `${POST}ALTER TABLE users DROP COLUMN legacy;` },
    { version: '004_create_posts', up: 'CREATE TABLE posts (id int);' },
    { version: '005_drop_posts_title', up: `${POST}ALTER TABLE posts DROP COLUMN IF EXISTS title;` },
  ]);
  const [m1, m2, , m4] = migrations as [Migration, Migration, Migration, Migration, Migration];

  it('leaves post-deploy migrations pending in an up that does not ask for them', () => {
    const p = plan(migrations, applied(m1), { direction: 'up' });
    expect(versions(p.steps)).toEqual(['002_add_name', '004_create_posts']);
    expect(versions(p.deferred)).toEqual(['003_drop_legacy', '005_drop_posts_title']);
  });

  it('applies both kinds in order with postDeploy, a post-deploy one after the regular ones numbered before it', () => {
    const p = plan(migrations, applied(m1), { direction: 'up', postDeploy: true });
    expect(versions(p.steps)).toEqual(['002_add_name', '003_drop_legacy', '004_create_posts', '005_drop_posts_title']);
    expect(p.deferred).toEqual([]);
  });

  it('does not call a post-deploy migration below a newer applied regular one out of order', () => {
    const p = plan(migrations, applied(m1, m2, m4), { direction: 'up', postDeploy: true });
    expect(versions(p.steps)).toEqual(['003_drop_legacy', '005_drop_posts_title']);
    expect(p.warnings).toEqual([]);
  });

  it('lists the regular steps that overtake a pending post-deploy one, with those', () => {
    const p = plan(migrations, applied(m1, m2), { direction: 'up' });
    expect(phaseOverlapsToCheck(p).map(({ regular, postDeploy }) => [regular.version, versions(postDeploy)])).toEqual([
      ['004_create_posts', ['003_drop_legacy']],
    ]);
    expect(phaseOverlapsToCheck(plan(migrations, applied(m1, m2), { direction: 'up', postDeploy: true }))).toEqual([]);
  });

  it('refuses a regular migration that touches what a pending post-deploy one before it touches, naming both versions', async () => {
    const list = defineMigrations([
      { version: '001_create', up: 'CREATE TABLE users (id int, legacy text);' },
      { version: '002_drop_legacy', up: `${POST}ALTER TABLE users DROP COLUMN legacy;` },
      { version: '003_backfill', up: 'UPDATE users SET legacy = NULL;' },
      { version: '004_index', up: 'CREATE INDEX CONCURRENTLY users_id ON users (id);' },
    ]);
    const touched = new Map<string, Set<string>>();
    for (const m of list) touched.set(m.version, await namedObjects(m.upSql));
    const refused = thrown(() => refusePhaseOverlaps(plan(list, applied(list[0]!), { direction: 'up' }), touched), IntegrityError);
    expect(refused.kind).toBe('phase-order');
    expect(refused.message).toBe(
      'regular migration 003_backfill comes after post-deploy migration 002_drop_legacy, still pending, and both touch users.legacy: run slipway up --post-deploy first, or mark 003_backfill -- slipway:post-deploy too',
    );
    // An index on another column of the same table is another object: allowed.
    const withoutBackfill = list.filter((m) => m.version !== '003_backfill');
    expect(() => refusePhaseOverlaps(plan(withoutBackfill, applied(list[0]!), { direction: 'up' }), touched)).not.toThrow();
  });

  it('validates postDeploy', () => {
    expect(validateRequest({ direction: 'up', postDeploy: true })).toEqual({ direction: 'up', postDeploy: true });
    expect(validateRequest({ direction: 'up', postDeploy: false })).toEqual({ direction: 'up' });
    thrown(() => validateRequest({ direction: 'up', postDeploy: 'yes' }), UsageError);
    expect(thrown(() => validateRequest({ direction: 'down', postDeploy: true }), UsageError).message).toBe(
      'postDeploy applies to up only: down reverts migrations of either phase, newest first',
    );
  });
});

describe('namedObjects', () => {
  it('names columns an ALTER TABLE, a rename or an index works on, and whole tables otherwise', async () => {
    expect(
      [...(await namedObjects('ALTER TABLE app.users DROP COLUMN legacy, ADD COLUMN name text, ADD CONSTRAINT c CHECK (id > 0);'))].sort(),
    ).toEqual(['users', 'users.legacy', 'users.name']);
    expect([...(await namedObjects('ALTER TABLE users RENAME COLUMN a TO b;'))].sort()).toEqual(['users.a', 'users.b']);
    expect([...(await namedObjects('ALTER TABLE users RENAME TO people;'))].sort()).toEqual(['people', 'users']);
    expect([...(await namedObjects('DROP TABLE IF EXISTS old_things;'))]).toEqual(['old_things']);
    expect([...(await namedObjects('INSERT INTO logs SELECT * FROM events JOIN users USING (id);'))].sort()).toEqual([
      'events',
      'logs',
      'users',
    ]);
  });

  it('shares a table with each of its columns, and a column only with itself', () => {
    expect(sharedObjects(new Set(['users']), new Set(['users.legacy', 'posts']))).toEqual(['users.legacy']);
    expect(sharedObjects(new Set(['users.name']), new Set(['users.legacy']))).toEqual([]);
    expect(sharedObjects(new Set(['users.legacy']), new Set(['users']))).toEqual(['users.legacy']);
  });
});

describe('lint knows the phases', () => {
  const HISTORY = [
    {
      source: '001_base.up.sql',
      sql: 'CREATE TABLE users (id bigint PRIMARY KEY, legacy text, kind text);\nCREATE TABLE old_things (id int);',
    },
  ];
  const BREAKING = [
    'ALTER TABLE users DROP COLUMN legacy;',
    'ALTER TABLE users RENAME COLUMN kind TO role;',
    'DROP TABLE old_things;',
    'ALTER TABLE old_things RENAME TO things;',
    'ALTER TABLE users ALTER COLUMN kind DROP DEFAULT;',
  ];
  const lint = (sql: string) => lintSources([{ source: '002_change.up.sql', sql }], {}, HISTORY);

  it('in a regular migration: errors whose message says to make it post-deploy', async () => {
    for (const sql of BREAKING) {
      const { findings } = await lint(sql);
      expect(findings).toHaveLength(1);
      expect(findings[0]!.severity).toBe('error');
      expect(findings[0]!.message).toMatch(
        /: make it a post-deploy migration \(-- slipway:post-deploy\), run once every replica runs the new release$/,
      );
    }
  });

  it('in a post-deploy migration: nothing to report, the previous code is gone', async () => {
    for (const sql of BREAKING) expect((await lint(`${POST}${sql}`)).findings).toEqual([]);
    // The other rules still hold there: a blocking index build is as blocking after the rollout.
    expect((await lint(`${POST}CREATE INDEX users_kind ON users (kind);`)).findings.map((f) => f.rule)).toEqual([
      'require-concurrent-index-creation',
    ]);
  });
});
