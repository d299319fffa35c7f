import { describe, expect, it } from 'vitest';
import { thrown } from '../support/errors.js';
import { IntegrityError, UsageError } from '../../src/errors.js';
import { describeState, needsLock, plan, validateRequest, type AppliedRow, type RunRequest } from '../../src/migrations/plan.js';
import { defineMigrations, type Migration } from '../../src/migrations/source.js';

const migrations: Migration[] = defineMigrations([
  { version: '003_c', up: 'CREATE TABLE c (id int);', down: 'DROP TABLE c;' },
  { version: '001_a', up: 'CREATE TABLE a (id int);', down: 'DROP TABLE a;' },
  { version: '002_b', up: 'CREATE TABLE b (id int);', down: 'DROP TABLE b;' },
  { version: '010_j', up: 'CREATE TABLE j (id int);', down: 'DROP TABLE j;' },
  { version: '004_d', up: 'CREATE TABLE d (id int);', down: 'DROP TABLE d;' },
]);
const byVersion = new Map(migrations.map((m) => [m.version, m]));

function row(version: string, overrides: Partial<AppliedRow> = {}): AppliedRow {
  return {
    version,
    checksum: byVersion.get(version)?.checksum ?? 'f'.repeat(64),
    state: 'applied',
    appliedAt: new Date('2024-01-01T00:00:00Z'),
    durationMs: 5,
    ...overrides,
  };
}

function versions(list: readonly Migration[]): string[] {
  return list.map((m) => m.version);
}

const integrityError = (fn: () => unknown) => thrown(fn, IntegrityError);

const usageError = (fn: () => unknown) => thrown(fn, UsageError);

describe('validateRequest', () => {
  it('accepts exactly up and down, with no other field', () => {
    expect(validateRequest({ direction: 'up' })).toStrictEqual({ direction: 'up' });
    expect(validateRequest({ direction: 'down' })).toStrictEqual({ direction: 'down' });
  });

  it.each(['', 'UP', 'DOWN', 'Up', 'rollback', ' up ', 'up\n', undefined, null, 1, true, ['up']])(
    'refuses the direction %j, naming the valid values',
    (direction) => {
      const error = usageError(() => validateRequest({ direction }));
      expect(error.message).toContain('invalid direction');
      expect(error.message).toContain('"up"');
      expect(error.message).toContain('"down"');
    },
  );

  it('keeps target, steps and all when valid', () => {
    expect(validateRequest({ direction: 'up', target: '002_b' })).toEqual({ direction: 'up', target: '002_b' });
    expect(validateRequest({ direction: 'up', steps: 1 })).toEqual({ direction: 'up', steps: 1 });
    expect(validateRequest({ direction: 'down', steps: 3 })).toEqual({ direction: 'down', steps: 3 });
    expect(validateRequest({ direction: 'down', all: true })).toEqual({ direction: 'down', all: true });
  });

  it('drops all: false', () => {
    expect(validateRequest({ direction: 'down', all: false })).toEqual({ direction: 'down' });
    expect(validateRequest({ direction: 'up', all: false, steps: 2 })).toEqual({ direction: 'up', steps: 2 });
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '2', null])('refuses steps %j', (steps) => {
    const error = usageError(() => validateRequest({ direction: 'down', steps }));
    expect(error.message).toContain('invalid steps');
  });

  it.each(['', 2, null])('refuses target %j', (target) => {
    const error = usageError(() => validateRequest({ direction: 'up', target }));
    expect(error.message).toContain('invalid target');
  });

  it.each(['yes', 1, null])('refuses all %j', (all) => {
    const error = usageError(() => validateRequest({ direction: 'down', all }));
    expect(error.message).toContain('invalid all');
  });

  it.each([
    [{ target: '002_b', steps: 1 }, 'target and steps'],
    [{ target: '002_b', all: true }, 'target and all'],
    [{ steps: 2, all: true }, 'steps and all'],
    [{ target: '002_b', steps: 2, all: true }, 'target and steps and all'],
  ])('refuses combining %j', (options, named) => {
    const error = usageError(() => validateRequest({ direction: 'down', ...options }));
    expect(error.message).toContain(named);
    expect(error.message).toContain('cannot be combined');
  });

  it('refuses target with steps for up too', () => {
    expect(() => validateRequest({ direction: 'up', target: '002_b', steps: 1 })).toThrow(UsageError);
  });

  it('refuses all with up', () => {
    const error = usageError(() => validateRequest({ direction: 'up', all: true }));
    expect(error.message).toContain('down only');
  });
});

describe('plan: up', () => {
  const up: RunRequest = { direction: 'up' };

  it('applies everything in order on an empty table', () => {
    const p = plan(migrations, [], up);
    expect(p.direction).toBe('up');
    expect(versions(p.steps)).toEqual(['001_a', '002_b', '003_c', '004_d', '010_j']);
    expect(p.warnings).toEqual([]);
    expect(p.checksumsToRecord).toEqual([]);
    expect(needsLock(p)).toBe(true);
  });

  it('applies only the pending ones', () => {
    const p = plan(migrations, [row('001_a'), row('002_b')], up);
    expect(versions(p.steps)).toEqual(['003_c', '004_d', '010_j']);
    expect(p.warnings).toEqual([]);
  });

  it('applies out-of-order ones below the newest applied, in order, with a warning naming them', () => {
    const p = plan(migrations, [row('001_a'), row('004_d')], up);
    expect(versions(p.steps)).toEqual(['002_b', '003_c', '010_j']);
    expect(p.warnings).toHaveLength(1);
    expect(p.warnings[0]).toContain('002_b, 003_c');
    expect(p.warnings[0]).toContain('out of order');
    expect(p.warnings[0]).toContain('004_d');
    expect(p.warnings[0]).not.toContain('010_j');
  });

  it('warns about a single out-of-order migration', () => {
    const p = plan(migrations, [row('001_a'), row('003_c'), row('004_d'), row('010_j')], up);
    expect(versions(p.steps)).toEqual(['002_b']);
    expect(p.warnings).toHaveLength(1);
    expect(p.warnings[0]).toContain('002_b');
    expect(p.warnings[0]).toContain('010_j');
  });

  it('stops at the target, inclusive', () => {
    const p = plan(migrations, [row('001_a')], { direction: 'up', target: '003_c' });
    expect(versions(p.steps)).toEqual(['002_b', '003_c']);
  });

  it('does nothing when the target is already applied', () => {
    const p = plan(migrations, [row('001_a'), row('002_b')], { direction: 'up', target: '002_b' });
    expect(p.steps).toEqual([]);
    expect(needsLock(p)).toBe(false);
  });

  it('limits with steps', () => {
    expect(versions(plan(migrations, [row('001_a')], { direction: 'up', steps: 2 }).steps)).toEqual(['002_b', '003_c']);
    expect(versions(plan(migrations, [], { direction: 'up', steps: 1 }).steps)).toEqual(['001_a']);
    expect(versions(plan(migrations, [], { direction: 'up', steps: 99 }).steps)).toHaveLength(5);
  });

  it('needs no lock when everything is applied', () => {
    const p = plan(
      migrations,
      migrations.map((m) => row(m.version)),
      up,
    );
    expect(p.steps).toEqual([]);
    expect(p.warnings).toEqual([]);
    expect(p.checksumsToRecord).toEqual([]);
    expect(needsLock(p)).toBe(false);
  });

  it('needs no lock with no migrations at all', () => {
    expect(needsLock(plan([], [], up))).toBe(false);
    expect(needsLock(plan([], [], { direction: 'down' }))).toBe(false);
  });
});

describe('plan: down', () => {
  const allApplied = () => migrations.map((m) => row(m.version));

  it('reverts ONE by default: the newest by order, not by applied time', () => {
    const rows = [row('010_j', { appliedAt: new Date('2020-01-01') }), row('001_a'), row('003_c')];
    const p = plan(migrations, rows, { direction: 'down' });
    expect(p.direction).toBe('down');
    expect(versions(p.steps)).toEqual(['010_j']);
    expect(needsLock(p)).toBe(true);
  });

  it('reverts n with steps, newest first', () => {
    const p = plan(migrations, allApplied(), { direction: 'down', steps: 3 });
    expect(versions(p.steps)).toEqual(['010_j', '004_d', '003_c']);
  });

  it('skips pending migrations when counting steps', () => {
    const p = plan(migrations, [row('001_a'), row('003_c')], { direction: 'down', steps: 2 });
    expect(versions(p.steps)).toEqual(['003_c', '001_a']);
  });

  it('reverts those sorting after the target, keeping the target', () => {
    const p = plan(migrations, allApplied(), { direction: 'down', target: '002_b' });
    expect(versions(p.steps)).toEqual(['010_j', '004_d', '003_c']);
  });

  it('reverts nothing when the target is the newest applied', () => {
    const p = plan(migrations, allApplied(), { direction: 'down', target: '010_j' });
    expect(p.steps).toEqual([]);
    expect(needsLock(p)).toBe(false);
  });

  it('reverts every applied one with all', () => {
    const p = plan(migrations, [row('001_a'), row('002_b'), row('004_d')], { direction: 'down', all: true });
    expect(versions(p.steps)).toEqual(['004_d', '002_b', '001_a']);
  });

  it('needs no lock when nothing is applied', () => {
    const p = plan(migrations, [], { direction: 'down' });
    expect(p.steps).toEqual([]);
    expect(needsLock(p)).toBe(false);
  });

  it('refuses a step without a down file before anything, naming it', () => {
    const mixed = defineMigrations([
      { version: '001_a', up: 'SELECT 1;', down: 'SELECT 1;' },
      { version: '002_b', up: 'SELECT 2;' },
      { version: '003_c', up: 'SELECT 3;', down: 'SELECT 3;' },
    ]);
    const rows = mixed.map((m) => ({ ...row(m.version), checksum: m.checksum }));
    const error = integrityError(() => plan(mixed, rows, { direction: 'down', all: true }));
    expect(error.kind).toBe('no-down-file');
    expect(error.version).toBe('002_b');
    expect(error.message).toContain('002_b.down.sql');
    // Reverting only 003_c does not touch 002_b, so it is allowed.
    expect(versions(plan(mixed, rows, { direction: 'down' }).steps)).toEqual(['003_c']);
    expect(() => plan(mixed, rows, { direction: 'down', steps: 2 })).toThrow(IntegrityError);
  });
});

describe('plan: integrity', () => {
  it('refuses an applied row whose file is missing, naming the version', () => {
    const error = integrityError(() => plan(migrations, [row('001_a'), row('005_gone')], { direction: 'up' }));
    expect(error.kind).toBe('missing-file');
    expect(error.version).toBe('005_gone');
    expect(error.message).toContain('005_gone');
    expect(error.message).toContain('missing');
  });

  it('refuses a missing file for down too', () => {
    const error = integrityError(() => plan(migrations, [row('005_gone')], { direction: 'down' }));
    expect(error.kind).toBe('missing-file');
  });

  it('refuses a checksum mismatch, with both checksums in the message', () => {
    const recorded = '0'.repeat(64);
    const error = integrityError(() => plan(migrations, [row('001_a'), row('002_b', { checksum: recorded })], { direction: 'up' }));
    expect(error.kind).toBe('checksum-mismatch');
    expect(error.version).toBe('002_b');
    expect(error.message).toContain('002_b');
    expect(error.message).toContain(recorded);
    expect(error.message).toContain(byVersion.get('002_b')!.checksum);
  });

  it('refuses an in-flight row', () => {
    const error = integrityError(() => plan(migrations, [row('001_a'), row('002_b', { state: 'in_flight' })], { direction: 'up' }));
    expect(error.kind).toBe('in-flight');
    expect(error.version).toBe('002_b');
    expect(error.message).toContain('002_b');
    expect(error.message).toContain('in flight');
  });

  it('names the table in the in-flight message', () => {
    const error = integrityError(() =>
      plan(migrations, [row('001_a', { state: 'in_flight' })], { direction: 'down' }, { table: '"ops"."log"' }),
    );
    expect(error.message).toContain('"ops"."log"');
  });

  it.each(['up', 'down'] as const)('refuses an unknown target (%s)', (direction) => {
    const error = integrityError(() => plan(migrations, [row('001_a')], { direction, target: '002' }));
    expect(error.kind).toBe('unknown-target');
    expect(error.version).toBe('002');
    expect(error.message).toContain('002');
  });

  it('records the checksum of rows that have none when the table is being adopted, and treats them as applied', () => {
    const p = plan(
      migrations,
      [row('001_a', { checksum: null }), row('002_b'), row('003_c', { checksum: null })],
      { direction: 'up' },
      { adopting: true },
    );
    expect(p.checksumsToRecord).toEqual([
      { version: '001_a', checksum: byVersion.get('001_a')!.checksum },
      { version: '003_c', checksum: byVersion.get('003_c')!.checksum },
    ]);
    expect(versions(p.steps)).toEqual(['004_d', '010_j']);
  });

  it('never fills a missing checksum on its own table: the file may have been edited since', () => {
    const rows = migrations.map((m) => row(m.version, m.version === '004_d' ? { checksum: null } : {}));
    const p = plan(migrations, rows, { direction: 'up' });
    expect(p.steps).toEqual([]);
    expect(p.checksumsToRecord).toEqual([]);
    expect(needsLock(p)).toBe(false);
  });

  it('needs the lock only to record checksums when nothing else is pending (adoption)', () => {
    const rows = migrations.map((m) => row(m.version, m.version === '004_d' ? { checksum: null } : {}));
    const p = plan(migrations, rows, { direction: 'up' }, { adopting: true });
    expect(p.steps).toEqual([]);
    expect(p.checksumsToRecord).toEqual([{ version: '004_d', checksum: byVersion.get('004_d')!.checksum }]);
    expect(needsLock(p)).toBe(true);
  });

  it.each(['done', 'APPLIED', '', 'pending'])('refuses a state slipway never writes (%j), naming the row', (state) => {
    const error = integrityError(() => plan(migrations, [row('001_a'), row('002_b', { state })], { direction: 'up' }));
    expect(error.kind).toBe('unknown-state');
    expect(error.version).toBe('002_b');
    expect(error.message).toContain(`state ${JSON.stringify(state)}`);
  });

  it('refuses a row left reverting by a stopped run, in both directions', () => {
    for (const direction of ['up', 'down'] as const) {
      const error = integrityError(() => plan(migrations, [row('001_a'), row('002_b', { state: 'reverting' })], { direction }));
      expect(error.kind).toBe('in-flight');
      expect(error.message).toMatch(
        /002_b is marked reverting .*another run is applying it, or one stopped while it ran outside a transaction: the next run that takes the migration lock finishes it/,
      );
    }
  });
});

describe('plan: a ledger that matches none of the files', () => {
  it('says wrong --dir or --table instead of naming one missing file', () => {
    const error = thrown(
      () => plan(migrations, [row('900_other'), row('901_other')], { direction: 'up' }, { table: '"public"."schema_migrations"' }),
      IntegrityError,
    );
    expect(error.message).toBe(
      'none of the 2 migration(s) recorded in "public"."schema_migrations" (900_other, …) is in the migrations folder (5 file(s)): wrong --dir or --table?',
    );
  });
});

describe('validateRequest: messages', () => {
  it('names the value it refuses, as JSON', () => {
    expect(usageError(() => validateRequest({ direction: 'sideways' })).message).toBe('invalid direction "sideways": use "up" or "down"');
    expect(usageError(() => validateRequest({ direction: 'up', target: '' })).message).toBe(
      'invalid target "": give a migration version such as "020_add_index"',
    );
    expect(usageError(() => validateRequest({ direction: 'up', steps: 0 })).message).toBe(
      'invalid steps 0: give a whole number of 1 or more',
    );
    expect(usageError(() => validateRequest({ direction: 'down', all: 'yes' })).message).toBe('invalid all "yes": use true or false');
    expect(usageError(() => validateRequest({ direction: 'up', all: true })).message).toBe(
      'all applies to down only: up already applies every pending migration',
    );
    expect(usageError(() => validateRequest({ direction: 'down', target: '002_b', all: true })).message).toBe(
      'target and all cannot be combined: choose one',
    );
  });

  it('accepts a one-character target and all: false with up', () => {
    expect(validateRequest({ direction: 'up', target: 'x' })).toEqual({ direction: 'up', target: 'x' });
    expect(validateRequest({ direction: 'up', all: false })).toEqual({ direction: 'up' });
    expect(validateRequest({ direction: 'down', all: false, target: '002_b' })).toEqual({ direction: 'down', target: '002_b' });
  });
});

describe('plan: messages', () => {
  it('says which out-of-order migrations are applied, and whether it is one or several', () => {
    expect(plan(migrations, [row('001_a'), row('003_c')], { direction: 'up' }).warnings).toEqual([
      'applying 002_b out of order: it sorts below 003_c, which is already applied (a merged branch?)',
    ]);
    expect(plan(migrations, [row('004_d')], { direction: 'up' }).warnings).toEqual([
      'applying 001_a, 002_b, 003_c out of order: they sort below 004_d, which is already applied (a merged branch?)',
    ]);
  });

  it('warns only about the out-of-order migrations a target or steps lets through', () => {
    const p = plan(migrations, [row('004_d')], { direction: 'up', target: '002_b' });
    expect(versions(p.steps)).toEqual(['001_a', '002_b']);
    expect(p.warnings).toEqual(['applying 001_a, 002_b out of order: they sort below 004_d, which is already applied (a merged branch?)']);
    expect(plan(migrations, [row('004_d')], { direction: 'up', steps: 1 }).warnings).toEqual([
      'applying 001_a out of order: it sorts below 004_d, which is already applied (a merged branch?)',
    ]);
  });

  it('does not warn about a migration sorting above the newest applied one', () => {
    expect(
      plan(migrations, [row('001_a'), row('003_c'), row('004_d'), row('010_j')], { direction: 'up', target: '001_a' }).warnings,
    ).toEqual([]);
    expect(plan(migrations, [row('001_a'), row('002_b'), row('003_c')], { direction: 'up' }).warnings).toEqual([]);
  });

  it('names the missing file, the table and what to do', () => {
    const error = integrityError(() => plan(migrations, [row('001_a'), row('005_gone')], { direction: 'up' }, { table: '"ops"."log"' }));
    expect(error.message).toBe(
      'migration 005_gone is applied ("ops"."log") but its file is missing: restore it, or run slipway resolve 005_gone --pending if it was removed on purpose',
    );
  });

  it('names the file a missing one was renamed to, when one not applied holds the SQL it was applied with', () => {
    const renamed = defineMigrations([
      { version: '001_a', up: 'CREATE TABLE a (id int);' },
      { version: '002_b_renamed', up: 'CREATE TABLE b (id int);' },
    ]);
    const error = integrityError(() => plan(renamed, [row('001_a'), row('002_b')], { direction: 'up' }));
    expect(error.message).toBe(
      'migration 002_b is applied (schema_migrations) but its file is missing; 002_b_renamed holds the SQL it was applied with: rename 002_b_renamed back to 002_b',
    );
    // A file that is applied under its own name is not the renamed one, even with the same SQL.
    const same = defineMigrations([
      { version: '001_a', up: 'CREATE TABLE b (id int);' },
      { version: '003_c', up: 'CREATE TABLE c (id int);' },
    ]);
    expect(
      integrityError(() => plan(same, [row('001_a', { checksum: row('002_b').checksum }), row('002_b')], { direction: 'up' })).message,
    ).toBe(
      'migration 002_b is applied (schema_migrations) but its file is missing: restore it, or run slipway resolve 002_b --pending if it was removed on purpose',
    );
  });

  it('names both checksums and the way out of an edit', () => {
    const recorded = '0'.repeat(64);
    const error = integrityError(() => plan(migrations, [row('002_b', { checksum: recorded })], { direction: 'up' }));
    expect(error.message).toBe(
      `migration 002_b was edited after it was applied: recorded checksum ${recorded}, file checksum ${byVersion.get('002_b')!.checksum}; restore the file and put the change in a new migration, or, if the edit changes nothing already applied, run slipway resolve 002_b --accept-edit`,
    );
  });

  it('names the state, the default table and what to do with a row in an unknown state', () => {
    const error = integrityError(() => plan(migrations, [row('001_a', { state: 'done' })], { direction: 'up' }));
    expect(error.message).toBe(
      `migration 001_a has state "done" in schema_migrations, which slipway never writes: set it to 'applied' if the migration took effect, or delete the row if it did not`,
    );
  });

  it('checks interrupted rows before saying the ledger matches no file', () => {
    const error = integrityError(() =>
      plan(migrations, [row('900_x'), row('901_y', { state: 'in_flight' })], { direction: 'up' }, { resume: true }),
    );
    expect(error.kind).toBe('in-flight');
    expect(error.version).toBe('901_y');
  });

  it('names the unknown target and the form of a version', () => {
    const error = integrityError(() => plan(migrations, [], { direction: 'up', target: '002' }));
    expect(error.message).toBe('target 002 is not a migration in the folder: give the full base name, such as 020_add_index');
  });

  it('names every migration that has no down file, and the file to write', () => {
    const mixed = defineMigrations([
      { version: '001_a', up: 'SELECT 1;' },
      { version: '002_b', up: 'SELECT 2;' },
      { version: '003_c', up: 'SELECT 3;', down: 'SELECT 3;' },
    ]);
    const rows = mixed.map((m) => ({ ...row(m.version), checksum: m.checksum }));
    const error = integrityError(() => plan(mixed, rows, { direction: 'down', all: true }));
    expect(error.version).toBe('002_b');
    expect(error.message).toBe(
      'cannot revert 002_b, 001_a: no down file (002_b.down.sql, 001_a.down.sql); write them, or revert only the migrations after 002_b with --to 002_b',
    );
    // The newest has none: no target helps.
    const newest = integrityError(() => plan(mixed.slice(0, 2), rows.slice(0, 2), { direction: 'down' }));
    expect(newest.message).toBe('cannot revert 002_b: no down file (002_b.down.sql); write it');
  });
});

describe('plan: a run that stopped outside a transaction', () => {
  const resume = { resume: true };

  it('finishes an in-flight migration first, from the statement it reached, then the rest', () => {
    const p = plan(migrations, [row('001_a'), row('002_b', { state: 'in_flight', progress: 2 })], { direction: 'up' }, resume);
    expect(p.interrupted.map((i) => [i.migration.version, i.direction, i.done])).toEqual([['002_b', 'up', 2]]);
    expect(versions(p.steps)).toEqual(['003_c', '004_d', '010_j']);
    expect(needsLock(p)).toBe(true);
  });

  it('finishes an in-flight migration even when nothing else is pending', () => {
    const rows = migrations.map((m) => row(m.version, m.version === '010_j' ? { state: 'in_flight', progress: null } : {}));
    const p = plan(migrations, rows, { direction: 'up' }, resume);
    expect(p.steps).toEqual([]);
    expect(p.interrupted).toEqual([{ migration: byVersion.get('010_j'), direction: 'up', done: 0 }]);
    expect(needsLock(p)).toBe(true);
  });

  it('finishes reverting a migration, which then counts as not applied, and as one of the steps asked for', () => {
    const rows = [row('001_a'), row('002_b'), row('003_c', { state: 'reverting', progress: 1 })];
    const down = plan(migrations, rows, { direction: 'down' }, resume);
    expect(down.interrupted.map((i) => [i.migration.version, i.direction, i.done])).toEqual([['003_c', 'down', 1]]);
    expect(versions(down.steps)).toEqual([]);
    expect(versions(plan(migrations, rows, { direction: 'down', steps: 2 }, resume).steps)).toEqual(['002_b']);
    expect(versions(plan(migrations, rows, { direction: 'down', target: '001_a' }, resume).steps)).toEqual(['002_b']);
    const up = plan(migrations, rows, { direction: 'up' }, resume);
    expect(versions(up.steps)).toEqual(['003_c', '004_d', '010_j']);
    expect(up.warnings).toEqual([]);
  });

  it('keeps an in-flight migration applied for what a down run reverts after it', () => {
    const rows = [row('001_a'), row('002_b', { state: 'in_flight' })];
    expect(versions(plan(migrations, rows, { direction: 'down' }, resume).steps)).toEqual(['002_b']);
  });

  it('finishes an interrupted migration whose row has no checksum', () => {
    const p = plan(migrations, [row('001_a', { state: 'in_flight', checksum: null })], { direction: 'up' }, resume);
    expect(p.interrupted.map((i) => i.migration.version)).toEqual(['001_a']);
  });

  it('refuses to finish an interrupted migration whose file is missing', () => {
    const error = integrityError(() =>
      plan(migrations, [row('001_a'), row('005_gone', { state: 'in_flight' })], { direction: 'up' }, resume),
    );
    expect(error.kind).toBe('in-flight');
    expect(error.version).toBe('005_gone');
    expect(error.message).toBe(
      'migration 005_gone is marked in flight in schema_migrations: a run stopped while it applied it outside a transaction, and its file is missing: restore the file',
    );
  });

  it('refuses to finish an interrupted migration whose file was edited, naming the way out', () => {
    const error = integrityError(() =>
      plan(migrations, [row('002_b', { state: 'reverting', checksum: '0'.repeat(64) })], { direction: 'up' }, resume),
    );
    expect(error.kind).toBe('in-flight');
    expect(error.message).toBe(
      'migration 002_b is marked reverting in schema_migrations: a run stopped while it reverted it outside a transaction, and the file was edited since: restore the file as it was, or run slipway resolve 002_b --accept-edit to go on with the file as it is',
    );
  });

  it('finishes applying a migration that has no down file', () => {
    const noDown = defineMigrations([{ version: '001_a', up: 'SELECT 1;' }]);
    const p = plan(
      noDown,
      [{ ...row('001_a', { state: 'in_flight', progress: 1 }), checksum: noDown[0]!.checksum }],
      { direction: 'up' },
      resume,
    );
    expect(p.interrupted).toEqual([{ migration: noDown[0], direction: 'up', done: 1 }]);
  });

  it('refuses to finish reverting a migration whose down file is gone', () => {
    const noDown = defineMigrations([{ version: '001_a', up: 'SELECT 1;' }]);
    const error = integrityError(() =>
      plan(noDown, [{ ...row('001_a', { state: 'reverting' }), checksum: noDown[0]!.checksum }], { direction: 'down' }, resume),
    );
    expect(error.kind).toBe('no-down-file');
    expect(error.version).toBe('001_a');
    expect(error.message).toBe('migration 001_a was being reverted when a run stopped, and its down file is gone: restore 001_a.down.sql');
  });

  it('says another run may be applying it when the caller does not hold the lock', () => {
    const error = integrityError(() => plan(migrations, [row('002_b', { state: 'in_flight' })], { direction: 'up' }, { resume: false }));
    expect(error.message).toBe(
      'migration 002_b is marked in flight in schema_migrations: another run is applying it, or one stopped while it ran outside a transaction: the next run that takes the migration lock finishes it',
    );
  });
});

describe('describeState', () => {
  const at = new Date('2024-01-01T00:00:00Z');

  it('lists every file in order with its state, then the rows whose file is gone, by version', () => {
    const rows: AppliedRow[] = [
      row('010_j', { state: 'in_flight', progress: 3, appliedAt: null, durationMs: null }),
      row('001_a'),
      row('009_gone', { durationMs: 7 }),
      row('002_b', { checksum: '0'.repeat(64) }),
      row('003_c', { state: 'reverting', progress: 0 }),
      row('004_d', { state: 'done', progress: null }),
      row('005_gone'),
    ];
    expect(describeState(migrations, rows)).toEqual([
      { version: '001_a', phase: 'regular', state: 'applied', appliedAt: at, durationMs: 5 },
      { version: '002_b', phase: 'regular', state: 'edited', appliedAt: at, durationMs: 5 },
      { version: '003_c', phase: 'regular', state: 'reverting', appliedAt: at, durationMs: 5, progress: 0 },
      { version: '004_d', phase: 'regular', state: 'unknown-state', appliedAt: at, durationMs: 5 },
      { version: '010_j', phase: 'regular', state: 'in-flight', appliedAt: null, durationMs: null, progress: 3 },
      { version: '005_gone', state: 'missing-file', appliedAt: at, durationMs: 5 },
      { version: '009_gone', state: 'missing-file', appliedAt: at, durationMs: 7 },
    ]);
  });

  it('shows a pending file without a date, and an applied row without a checksum as applied', () => {
    expect(describeState(migrations.slice(0, 2), [row('001_a', { checksum: null, progress: 4 })])).toEqual([
      { version: '001_a', phase: 'regular', state: 'applied', appliedAt: at, durationMs: 5 },
      { version: '002_b', phase: 'regular', state: 'pending', appliedAt: null, durationMs: null },
    ]);
  });

  it('sorts the rows whose file is gone by version, whatever order they come in', () => {
    const gone = ['007_z', '006_y', '008_x'].map((v) => row(v));
    expect(describeState([], gone).map((s) => s.version)).toEqual(['006_y', '007_z', '008_x']);
    expect(describeState([], [...gone].reverse()).map((s) => s.version)).toEqual(['006_y', '007_z', '008_x']);
  });
});
