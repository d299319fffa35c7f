import { IntegrityError, UsageError } from '../errors.js';
import { compareMigrations, type Migration, type Phase } from './source.js';
import { sharedObjects } from '../sql/parse.js';

export type Direction = 'up' | 'down';

/** What the caller asked for, validated: see {@link validateRequest}. */
export interface RunRequest {
  readonly direction: Direction;
  /** up: apply pending migrations up to and including this version. down: revert those after it. */
  readonly target?: string;
  /** How many migrations to apply (up) or revert (down). `down` defaults to 1. */
  readonly steps?: number;
  /** down only: revert every applied migration. */
  readonly all?: boolean;
  /**
   * up only: apply the post-deploy migrations too (see {@link Phase}), each in its place in the
   * order. Without it, pending post-deploy migrations are left for a later run that asks for them.
   */
  readonly postDeploy?: boolean;
}

/**
 * The states slipway writes in the bookkeeping table: `applied`; `in_flight` while a migration
 * runs outside a transaction; `reverting` while one is reverted outside a transaction.
 */
export type LedgerState = 'applied' | 'in_flight' | 'reverting';

/** A row of the bookkeeping table. */
export interface AppliedRow {
  readonly version: string;
  /** Null for a row adopted from a table that had no checksum column, or written by hand. */
  readonly checksum: string | null;
  /** One of {@link LedgerState}; anything else was written by someone else and is refused. */
  readonly state: LedgerState | (string & {});
  readonly appliedAt: Date | null;
  readonly durationMs: number | null;
  /** For a row being applied or reverted outside a transaction: how many of its statements are done. */
  readonly progress?: number | null;
}

/** A migration a stopped run left half done, to be finished in its own direction before anything else. */
export interface Interrupted {
  readonly migration: Migration;
  readonly direction: Direction;
  /** Statements known done (committed); the run resumes at the next one. */
  readonly done: number;
}

export interface Plan {
  readonly direction: Direction;
  /** Migrations to run, in execution order. */
  readonly steps: readonly Migration[];
  readonly warnings: readonly string[];
  /** Migrations a stopped run left half done (only with {@link LedgerContext.resume}); finished first. */
  readonly interrupted: readonly Interrupted[];
  /** Rows of a table being adopted, whose checksum is recorded now, the first time slipway sees them. */
  readonly checksumsToRecord: ReadonlyArray<{ version: string; checksum: string }>;
  /** up without {@link RunRequest.postDeploy}: the pending post-deploy migrations this run leaves for the post-deploy phase. */
  readonly deferred: readonly Migration[];
}

/**
 * Checks a request before anything touches the database. `direction` must be exactly
 * `up` or `down`; `steps`, `target` and `all` exclude each other.
 *
 * @example validateRequest({ direction: 'down', steps: 2 }) // { direction: 'down', steps: 2 }
 */
export function validateRequest(input: {
  direction?: unknown;
  target?: unknown;
  steps?: unknown;
  all?: unknown;
  postDeploy?: unknown;
}): RunRequest {
  const { direction, target, steps, all, postDeploy } = input;
  if (direction !== 'up' && direction !== 'down') {
    throw new UsageError(`invalid direction ${JSON.stringify(direction)}: use "up" or "down"`);
  }
  if (target !== undefined && (typeof target !== 'string' || target.length === 0)) {
    throw new UsageError(`invalid target ${JSON.stringify(target)}: give a migration version such as "020_add_index"`);
  }
  if (steps !== undefined && (typeof steps !== 'number' || !Number.isInteger(steps) || steps < 1)) {
    throw new UsageError(`invalid steps ${JSON.stringify(steps)}: give a whole number of 1 or more`);
  }
  if (all !== undefined && typeof all !== 'boolean') throw new UsageError(`invalid all ${JSON.stringify(all)}: use true or false`);
  if (all === true && direction === 'up') throw new UsageError('all applies to down only: up already applies every pending migration');
  if (postDeploy !== undefined && typeof postDeploy !== 'boolean')
    throw new UsageError(`invalid postDeploy ${JSON.stringify(postDeploy)}: use true or false`);
  if (postDeploy === true && direction === 'down')
    throw new UsageError('postDeploy applies to up only: down reverts migrations of either phase, newest first');
  const chosen = [target !== undefined && 'target', steps !== undefined && 'steps', all === true && 'all'].filter(Boolean);
  if (chosen.length > 1) throw new UsageError(`${chosen.join(' and ')} cannot be combined: choose one`);
  return {
    direction,
    ...(target !== undefined && { target: target as string }),
    ...(steps !== undefined && { steps: steps as number }),
    ...(all === true && { all: true }),
    ...(postDeploy === true && { postDeploy: true }),
  };
}

/** What {@link plan} knows about the bookkeeping table besides its rows. */
export interface LedgerContext {
  /** The table as quoted in SQL, for messages. Default `schema_migrations`. */
  readonly table?: string;
  /**
   * The table is being adopted (it has no checksum column yet): rows without a checksum get
   * their file's now. On slipway's own table a missing checksum is left missing: filling it
   * would bless whatever the file says today.
   */
  readonly adopting?: boolean;
  /**
   * The caller holds the migration lock, so a row marked in flight or reverting belongs to a
   * run that stopped: plan to finish it (see {@link Plan.interrupted}) instead of refusing.
   */
  readonly resume?: boolean;
}

/**
 * Decides what a run does, from the files, the bookkeeping rows and the request.
 * Pure: throws an {@link IntegrityError} for a missing file, an edited migration,
 * an interrupted one, a state slipway never writes, an unknown target or a down step
 * without a down file.
 *
 * @example
 * const p = plan(migrations, rows, { direction: 'up' }, { table: '"public"."schema_migrations"' });
 * p.steps.map((m) => m.version); // the pending migrations, in order
 */
export function plan(
  migrations: readonly Migration[],
  applied: readonly AppliedRow[],
  request: RunRequest,
  context: LedgerContext = {},
): Plan {
  const table = context.table ?? 'schema_migrations';
  const byVersion = new Map(migrations.map((m) => [m.version, m]));
  const appliedByVersion = new Map(applied.map((row) => [row.version, row]));
  const checksumsToRecord: Array<{ version: string; checksum: string }> = [];

  const interrupted: Interrupted[] = [];
  for (const row of applied) {
    if (row.state === 'in_flight' || row.state === 'reverting') {
      const migration = byVersion.get(row.version);
      if (context.resume !== true || migration === undefined || (row.checksum !== null && row.checksum !== migration.checksum)) {
        const doing = row.state === 'in_flight' ? 'applied' : 'reverted';
        const why =
          context.resume !== true
            ? 'another run is applying it, or one stopped while it ran outside a transaction: the next run that takes the migration lock finishes it'
            : migration === undefined
              ? `a run stopped while it ${doing} it outside a transaction, and its file is missing: restore the file`
              : `a run stopped while it ${doing} it outside a transaction, and the file was edited since: ` +
                `restore the file as it was, or run slipway resolve ${row.version} --accept-edit to go on with the file as it is`;
        throw new IntegrityError(
          'in-flight',
          row.version,
          `migration ${row.version} is marked ${row.state === 'in_flight' ? 'in flight' : 'reverting'} in ${table}: ${why}`,
        );
      }
      const direction = row.state === 'in_flight' ? 'up' : 'down';
      if (direction === 'down' && migration.downSql === null) {
        throw new IntegrityError(
          'no-down-file',
          row.version,
          `migration ${row.version} was being reverted when a run stopped, and its down file is gone: restore ${row.version}.down.sql`,
        );
      }
      interrupted.push({ migration, direction, done: row.progress ?? 0 });
      continue;
    }
    if (row.state !== 'applied') {
      throw new IntegrityError(
        'unknown-state',
        row.version,
        `migration ${row.version} has state ${JSON.stringify(row.state)} in ${table}, which slipway never writes: set it to 'applied' if the migration took effect, or delete the row if it did not`,
      );
    }
  }
  if (applied.length > 0 && !applied.some((row) => byVersion.has(row.version))) {
    // Equivalent mutants below: every row left here is applied (a row in flight, reverting or in
    // another state was refused above unless its file is in the folder), so the first applied row is the first row.
    // Stryker disable next-line LogicalOperator,ArrowFunction,ConditionalExpression,EqualityOperator,StringLiteral: see above
    const example = applied.find((row) => row.state === 'applied') ?? applied[0]!;
    throw new IntegrityError(
      'missing-file',
      example.version,
      `none of the ${applied.length} migration(s) recorded in ${table} (${example.version}, …) is in the migrations folder (${migrations.length} file(s)): wrong --dir or --table?`,
    );
  }
  for (const row of applied) {
    const migration = byVersion.get(row.version);
    if (migration === undefined) {
      // A file renamed after it was applied: a migration is known by its name, so the new name is a new migration.
      const renamed = migrations.find((m) => m.checksum === row.checksum && !appliedByVersion.has(m.version));
      throw new IntegrityError(
        'missing-file',
        row.version,
        renamed === undefined
          ? `migration ${row.version} is applied (${table}) but its file is missing: restore it, or run slipway resolve ${row.version} --pending if it was removed on purpose`
          : `migration ${row.version} is applied (${table}) but its file is missing; ${renamed.version} holds the SQL it was applied with: ` +
              `rename ${renamed.version} back to ${row.version}`,
      );
    }
    if (row.checksum === null) {
      if (context.adopting === true) checksumsToRecord.push({ version: row.version, checksum: migration.checksum });
    } else if (row.checksum !== migration.checksum) {
      throw new IntegrityError(
        'checksum-mismatch',
        row.version,
        `migration ${row.version} was edited after it was applied: recorded checksum ${row.checksum}, ` +
          `file checksum ${migration.checksum}; restore the file and put the change in a new migration, ` +
          `or, if the edit changes nothing already applied, run slipway resolve ${row.version} --accept-edit`,
      );
    }
  }
  // What the ledger will say once the interrupted migrations are finished.
  for (const { migration, direction } of interrupted) {
    if (direction === 'down') appliedByVersion.delete(migration.version);
  }
  const targetMigration = request.target === undefined ? undefined : byVersion.get(request.target);
  if (request.target !== undefined && targetMigration === undefined) {
    throw new IntegrityError(
      'unknown-target',
      request.target,
      `target ${request.target} is not a migration in the folder: give the full base name, such as 020_add_index`,
    );
  }

  const warnings: string[] = [];
  let steps: Migration[];
  let deferred: Migration[] = [];
  if (request.direction === 'up') {
    let pending = migrations.filter((m) => !appliedByVersion.has(m.version));
    if (targetMigration !== undefined) pending = pending.filter((m) => compareMigrations(m, targetMigration) <= 0);
    // Only a run that asks for the post-deploy phase applies post-deploy migrations; the others wait for it.
    if (request.postDeploy !== true) {
      deferred = pending.filter((m) => m.phase === 'post-deploy');
      if (deferred.length > 0) pending = pending.filter((m) => m.phase !== 'post-deploy');
    }
    if (request.steps !== undefined) pending = pending.slice(0, request.steps);
    const newestApplied = migrations.filter((m) => appliedByVersion.has(m.version)).at(-1);
    // A post-deploy migration below a newer regular one is the phases working as meant, not a merged branch.
    const belowNewest =
      newestApplied === undefined ? [] : pending.filter((m) => m.phase !== 'post-deploy' && compareMigrations(m, newestApplied) < 0);
    if (belowNewest.length > 0) {
      warnings.push(
        `applying ${belowNewest.map((m) => m.version).join(', ')} out of order: ` +
          `${belowNewest.length === 1 ? 'it sorts' : 'they sort'} below ${newestApplied!.version}, which is already applied (a merged branch?)`,
      );
    }
    steps = pending;
  } else {
    const appliedNewestFirst = migrations.filter((m) => appliedByVersion.has(m.version)).reverse();
    if (targetMigration !== undefined) steps = appliedNewestFirst.filter((m) => compareMigrations(m, targetMigration) > 0);
    else if (request.all === true) steps = appliedNewestFirst;
    else {
      // Finishing a revert a stopped run left is one of the steps asked for.
      const finishing = interrupted.filter((i) => i.direction === 'down').length;
      steps = appliedNewestFirst.slice(0, Math.max(0, (request.steps ?? 1) - finishing));
    }
    const withoutDown = steps.filter((m) => m.downSql === null);
    if (withoutDown.length > 0) {
      throw new IntegrityError(
        'no-down-file',
        withoutDown[0]!.version,
        `cannot revert ${withoutDown.map((m) => m.version).join(', ')}: ` +
          `no down file (${withoutDown.map((m) => `${m.version}.down.sql`).join(', ')}); ` +
          `write ${withoutDown.length === 1 ? 'it' : 'them'}` +
          (withoutDown[0] === steps[0]
            ? ''
            : `, or revert only the migrations after ${withoutDown[0]!.version} with --to ${withoutDown[0]!.version}`),
      );
    }
  }
  return { direction: request.direction, steps, warnings, interrupted, checksumsToRecord, deferred };
}

/**
 * The regular migrations a plan runs after a post-deploy one it leaves pending, each with those
 * post-deploy ones: such a migration may run only when it touches nothing they touch (see
 * {@link refusePhaseOverlaps}; `namedObjects` in sql/parse.ts says what each touches).
 */
export function phaseOverlapsToCheck(p: Plan): Array<{ regular: Migration; postDeploy: readonly Migration[] }> {
  if (p.deferred.length === 0) return [];
  return p.steps.flatMap((regular) => {
    const before = p.deferred.filter((post) => compareMigrations(post, regular) < 0);
    return before.length === 0 ? [] : [{ regular, postDeploy: before }];
  });
}

/**
 * Refuses a plan that would run a regular migration ahead of a pending post-deploy one numbered
 * before it when both touch the same objects: the post-deploy one was written for a schema the
 * regular one changes. Pure: `touched` holds each version's `namedObjects` (a version without an
 * entry touches nothing seen).
 */
export function refusePhaseOverlaps(p: Plan, touched: ReadonlyMap<string, ReadonlySet<string>>): void {
  for (const { regular, postDeploy } of phaseOverlapsToCheck(p)) {
    for (const post of postDeploy) {
      const both = sharedObjects(touched.get(regular.version) ?? new Set(), touched.get(post.version) ?? new Set());
      if (both.length === 0) continue;
      throw new IntegrityError(
        'phase-order',
        regular.version,
        `regular migration ${regular.version} comes after post-deploy migration ${post.version}, still pending, ` +
          `and both touch ${both.slice(0, 3).join(', ')}: run slipway up --post-deploy first, or mark ${regular.version} -- slipway:post-deploy too`,
      );
    }
  }
}

/** True when a run has something to do under the lock: steps to run or checksums to record. */
export function needsLock(p: Plan): boolean {
  return p.steps.length > 0 || p.interrupted.length > 0 || p.checksumsToRecord.length > 0;
}

export type MigrationState = 'applied' | 'pending' | 'missing-file' | 'edited' | 'in-flight' | 'reverting' | 'unknown-state';

/** One line of `status`: a migration file, a bookkeeping row, or both. */
export interface MigrationStatus {
  readonly version: string;
  readonly state: MigrationState;
  readonly appliedAt: Date | null;
  readonly durationMs: number | null;
  /** For a migration in flight or reverting: how many of its statements are done. */
  readonly progress?: number;
  /** The phase its file says; absent for a row whose file is missing. */
  readonly phase?: Phase;
}

/**
 * Joins files and rows into one list for `status`: files in order, then rows whose
 * file is gone. Pure; reports problems instead of throwing them.
 */
export function describeState(migrations: readonly Migration[], applied: readonly AppliedRow[]): MigrationStatus[] {
  const rows = new Map(applied.map((row) => [row.version, row]));
  const known = new Set(migrations.map((m) => m.version));
  const listed: MigrationStatus[] = migrations.map((m) => {
    const row = rows.get(m.version);
    const state: MigrationState =
      row === undefined
        ? 'pending'
        : row.state !== 'applied'
          ? rowState(row)
          : row.checksum !== null && row.checksum !== m.checksum
            ? 'edited'
            : 'applied';
    const progress = row !== undefined && row.state !== 'applied' && row.progress != null ? { progress: row.progress } : {};
    return {
      version: m.version,
      state,
      phase: m.phase,
      appliedAt: row?.appliedAt ?? null,
      durationMs: row?.durationMs ?? null,
      ...progress,
    };
  });
  const orphans = applied
    .filter((row) => !known.has(row.version))
    .map((row) => ({ version: row.version, state: 'missing-file' as const, appliedAt: row.appliedAt, durationMs: row.durationMs }));
  return [...listed, ...orphans.sort((a, b) => (a.version < b.version ? -1 : 1))];
}

function rowState(row: AppliedRow): MigrationState {
  return row.state === 'in_flight' ? 'in-flight' : row.state === 'reverting' ? 'reverting' : 'unknown-state';
}
