import { describe, expect, it } from 'vitest';
import { thrown } from '../support/errors.js';
import { IntegrityError, UsageError } from '../../src/errors.js';
import { needsLock, plan, validateRequest, type AppliedRow, type RunRequest } from '../../src/migrations/plan.js';
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
  it('accepts exactly up and down', () => {
    expect(validateRequest({ direction: 'up' })).toEqual({ direction: 'up' });
    expect(validateRequest({ direction: 'down' })).toEqual({ direction: 'down' });
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
    const p = plan(migrations, migrations.map((m) => row(m.version)), up);
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
    const error = integrityError(() => plan(migrations, [row('001_a', { state: 'in_flight' })], { direction: 'down' }, { table: '"ops"."log"' }));
    expect(error.message).toContain('"ops"."log"');
  });

  it.each(['up', 'down'] as const)('refuses an unknown target (%s)', (direction) => {
    const error = integrityError(() => plan(migrations, [row('001_a')], { direction, target: '002' }));
    expect(error.kind).toBe('unknown-target');
    expect(error.version).toBe('002');
    expect(error.message).toContain('002');
  });

  it('records the checksum of rows that have none when the table is being adopted, and treats them as applied', () => {
    const p = plan(migrations, [row('001_a', { checksum: null }), row('002_b'), row('003_c', { checksum: null })], { direction: 'up' }, { adopting: true });
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
      expect(error.message).toMatch(/002_b is marked reverting .*another run is applying it, or one stopped while it ran outside a transaction: the next run that takes the migration lock finishes it/);
    }
  });
});

describe('plan: a ledger that matches none of the files', () => {
  it('says wrong --dir or --table instead of naming one missing file', () => {
    const error = thrown(() => plan(migrations, [row('900_other'), row('901_other')], { direction: 'up' }, { table: '"public"."schema_migrations"' }), IntegrityError);
    expect(error.message).toBe('none of the 2 migration(s) recorded in "public"."schema_migrations" (900_other, …) is in the migrations folder (5 file(s)): wrong --dir or --table?');
  });
});
