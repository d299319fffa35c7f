/**
 * Every error slipway throws on purpose is a `SlipwayError`, with a stable `code`
 * that scripts and the CLI can branch on. Messages are one line and say what to do.
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

/** Files and bookkeeping table disagree (missing file, edited migration, in-flight row). */
export class IntegrityError extends SlipwayError {
  constructor(
    readonly kind: 'missing-file' | 'checksum-mismatch' | 'in-flight' | 'unknown-target' | 'no-down-file',
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
