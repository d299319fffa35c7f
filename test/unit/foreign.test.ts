import { describe, expect, it } from 'vitest';
import {
  describeForeignLedger,
  gooseApplied,
  looseName,
  mapForeignLedger,
  recogniseTable,
  type CatalogColumn,
  type ForeignLedger,
  type ForeignTool,
} from '../../src/migrations/foreign.js';
import { defineMigrations } from '../../src/migrations/source.js';

function table(name: string, columns: Record<string, string>, schema = 'public') {
  return { schema, table: name, columns: Object.entries(columns).map(([n, type]): CatalogColumn => ({ name: n, type })) };
}

function ledger(tool: ForeignTool, entries: string[], dirty = false, name = 'schema_migrations'): ForeignLedger {
  return { tool, table: { schema: 'public', table: name }, entries, dirty };
}

const files = (...versions: string[]) => defineMigrations(versions.map((version) => ({ version, up: `SELECT '${version}';` })));

function states(mapping: ReturnType<typeof mapForeignLedger>): string[] {
  return mapping.migrations.map((m) => `${m.version} ${m.state}${m.from === null ? '' : ` <- ${m.from}`}`);
}

describe('recogniseTable', () => {
  it.each([
    ['golang-migrate', table('schema_migrations', { version: 'bigint', dirty: 'boolean' })],
    ['dbmate', table('schema_migrations', { version: 'character varying(128)' })],
    ['node-pg-migrate', table('pgmigrations', { id: 'integer', name: 'character varying(255)', run_on: 'timestamp without time zone' })],
    [
      'goose',
      table('goose_db_version', { id: 'integer', version_id: 'bigint', is_applied: 'boolean', tstamp: 'timestamp without time zone' }),
    ],
    ['sql-migrate', table('gorp_migrations', { id: 'text', applied_at: 'timestamp with time zone' })],
  ])('knows %s by its exact shape', (tool, t) => {
    expect(recogniseTable(t)).toBe(tool);
  });

  it.each([
    [
      "slipway's own table",
      table('schema_migrations', {
        version: 'text',
        applied_at: 'timestamp with time zone',
        checksum: 'text',
        duration_ms: 'integer',
        state: 'text',
      }),
    ],
    ["slipway's older adoptable table", table('schema_migrations', { version: 'text', applied_at: 'timestamp with time zone' })],
    ['a one-column text table (adopted in place, as before)', table('schema_migrations', { version: 'text' })],
    ['golang-migrate columns with a text version', table('schema_migrations', { version: 'text', dirty: 'boolean' })],
    [
      'a pgmigrations with an extra column',
      table('pgmigrations', { id: 'integer', name: 'character varying(255)', run_on: 'timestamp without time zone', by: 'text' }),
    ],
    [
      "goose's shape under another name",
      table('versions', { id: 'integer', version_id: 'bigint', is_applied: 'boolean', tstamp: 'timestamp without time zone' }),
    ],
  ])('leaves %s alone', (_what, t) => {
    expect(recogniseTable(t)).toBeNull();
  });

  it("knows golang-migrate's shape under slipway's table name, whatever it is", () => {
    const t = table('ledger', { version: 'bigint', dirty: 'boolean' });
    expect(recogniseTable(t)).toBeNull();
    expect(recogniseTable(t, 'ledger')).toBe('golang-migrate');
  });
});

describe('gooseApplied', () => {
  it("takes each version's newest row, skips goose's own version 0, keeps the order of application", () => {
    const rows = [
      ['0', true],
      ['1', true],
      ['2', true],
      ['3', true],
      ['2', false],
      ['4', true],
      ['2', true],
      ['3', false],
    ] as const;
    expect(gooseApplied(rows.map(([versionId, isApplied]) => ({ versionId, isApplied })))).toEqual(['1', '4', '2']);
  });
});

describe('looseName', () => {
  it.each([
    ['1700000000000_create-users', '1700000000000_create_users'],
    ['0001_Create_Users.up.sql', '1_create_users'],
    ['1_init.sql', '1_init'],
    ['20240101120000_add-index.js', '20240101120000_add_index'],
    ['007_x.down.sql', '7_x'],
  ])('%s compares as %s', (name, loose) => {
    expect(looseName(name)).toBe(loose);
  });
});

describe('mapForeignLedger', () => {
  it("golang-migrate's one version means every file numbered up to it", () => {
    const mapping = mapForeignLedger(ledger('golang-migrate', ['3']), files('1_a', '2_b', '3_c', '4_d', '10_e'));
    expect(mapping.problems).toEqual([]);
    expect(states(mapping)).toEqual(['1_a applied <- 3', '2_b applied <- 3', '3_c applied <- 3', '4_d pending', '10_e pending']);
  });

  it('an empty golang-migrate table: everything pending', () => {
    const mapping = mapForeignLedger(ledger('golang-migrate', []), files('1_a', '2_b'));
    expect(mapping.problems).toEqual([]);
    expect(states(mapping)).toEqual(['1_a pending', '2_b pending']);
  });

  it('a dirty golang-migrate ledger is a problem naming the version, the check, and both force commands', () => {
    const mapping = mapForeignLedger(ledger('golang-migrate', ['62'], true), files('58_a', '60_b', '62_c'));
    expect(mapping.problems).toEqual([
      {
        kind: 'dirty',
        entry: '62',
        message:
          "golang-migrate's table public.schema_migrations is dirty at version 62 (that migration failed half-way): " +
          'check its effects, clear the flag with `migrate force`, then adopt again; nothing was changed\n' +
          "its effects must be all in the database or none (finish or undo them by hand); golang-migrate's force command then clears the flag: " +
          '`migrate force 62` if they are all there, `migrate force 60` if none are',
      },
    ]);
  });

  it('golang-migrate: a version no file has, or several have, is a problem', () => {
    expect(mapForeignLedger(ledger('golang-migrate', ['5']), files('1_a', '2_b')).problems.map((p) => [p.kind, p.entry])).toEqual([
      ['no-file', '5'],
    ]);
    const several = mapForeignLedger(ledger('golang-migrate', ['2']), files('1_a', '2_b', '2_c'), './migrations');
    expect(several.problems.map((p) => p.message)).toEqual([
      "golang-migrate's table public.schema_migrations has version 2, which matches 2 migration files in ./migrations: " +
        'renumber the ones golang-migrate did not apply, then adopt again; nothing was changed\n' +
        'the files: 2_b, 2_c; give each one golang-migrate did not apply a number of its own',
    ]);
  });

  it('dbmate and goose map each version by number, zero padding aside', () => {
    const dbmate = mapForeignLedger(
      ledger('dbmate', ['20240101120000', '20240301090000']),
      files('20240101120000_a', '20240201000000_b', '20240301090000_c'),
    );
    expect(states(dbmate)).toEqual([
      '20240101120000_a applied <- 20240101120000',
      '20240201000000_b pending',
      '20240301090000_c applied <- 20240301090000',
    ]);
    const goose = mapForeignLedger(ledger('goose', ['1', '2'], false, 'goose_db_version'), files('00001_a', '00002_b', '00003_c'));
    expect(states(goose)).toEqual(['00001_a applied <- 1', '00002_b applied <- 2', '00003_c pending']);
  });

  it('node-pg-migrate maps by number, and by name when the number is shared', () => {
    const mapping = mapForeignLedger(
      ledger('node-pg-migrate', ['1700000000000_create-users', '1700000000001_add-email', '1700000000001_add-name'], false, 'pgmigrations'),
      files('1700000000000_create_users', '1700000000001_add_email', '1700000000001_add_name', '1700000000001_add_phone'),
    );
    expect(mapping.problems).toEqual([]);
    expect(states(mapping)).toEqual([
      '1700000000000_create_users applied <- 1700000000000_create-users',
      '1700000000001_add_email applied <- 1700000000001_add-email',
      '1700000000001_add_name applied <- 1700000000001_add-name',
      '1700000000001_add_phone pending',
    ]);
  });

  it('sql-migrate maps its file names, extension and all', () => {
    const mapping = mapForeignLedger(
      ledger('sql-migrate', ['1_init.sql', '2_add-posts.sql'], false, 'gorp_migrations'),
      files('1_init', '2_add_posts', '3_add_tags'),
    );
    expect(states(mapping)).toEqual(['1_init applied <- 1_init.sql', '2_add_posts applied <- 2_add-posts.sql', '3_add_tags pending']);
  });

  it('an entry that matches no file or several is reported, naming it; the rest still maps', () => {
    const mapping = mapForeignLedger(
      ledger('node-pg-migrate', ['1_create-users', '2_gone', '3_add-x'], false, 'pgmigrations'),
      files('1_create_users', '3_add_y', '3_add_z'),
      'db/migrations',
    );
    expect(mapping.problems.map((p) => [p.kind, p.entry])).toEqual([
      ['no-file', '2_gone'],
      ['several-files', '3_add-x'],
    ]);
    expect(mapping.problems[0]!.message).toBe(
      "node-pg-migrate's table public.pgmigrations has name 2_gone, which matches no migration file in db/migrations: " +
        'add the file or delete the entry, then adopt again; nothing was changed\n' +
        'add it as <number>_<name>.up.sql (e.g. 2_gone.up.sql), or, if it was removed on purpose, delete the entry from public.pgmigrations',
    );
    expect(states(mapping)).toEqual(['1_create_users applied <- 1_create-users', '3_add_y pending', '3_add_z pending']);
  });
});

describe('describeForeignLedger', () => {
  it.each([
    [ledger('golang-migrate', ['62']), "golang-migrate's table public.schema_migrations says version 62 is applied (clean)"],
    [ledger('golang-migrate', ['62'], true), "golang-migrate's table public.schema_migrations says version 62 is applied (dirty)"],
    [ledger('golang-migrate', []), "golang-migrate's table public.schema_migrations says no version is applied"],
    [ledger('dbmate', ['20240101120000']), "dbmate's table public.schema_migrations says 1 migration is applied (20240101120000)"],
    [
      ledger('goose', ['1', '2', '5'], false, 'goose_db_version'),
      "goose's table public.goose_db_version says 3 versions are applied (1 to 5)",
    ],
    [ledger('sql-migrate', [], false, 'gorp_migrations'), "sql-migrate's table public.gorp_migrations says no migration is applied"],
  ])('%#', (l, text) => {
    expect(describeForeignLedger(l)).toBe(text);
  });
});
