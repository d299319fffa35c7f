import { ConflictError, IntegrityError, UsageError } from '../errors.js';
import { withLedgerLocks } from './locks.js';
import { readOwnLedger } from '../migrations/foreign.js';
import { connect, prepare, type InspectOptions } from './context.js';

/** What a person vouches for about one migration. */
export type Resolution = 'applied' | 'pending' | 'accept-edit';

export interface ResolveOptions extends InspectOptions {
  /** The migration, by its whole base name (`020_add_index`). */
  readonly version: string;
  /**
   * `applied`: it took effect (an interrupted one is recorded as done; a pending one as applied
   * by hand). `pending`: nothing of it remains (its row is removed). `accept-edit`: its file was
   * edited on purpose after it was applied; record the file's checksum as it is now.
   */
  readonly as: Resolution;
  /** Milliseconds to wait for the migration lock; default: as long as it takes. */
  readonly lockWaitTimeout?: number;
}

export interface ResolveResult {
  readonly version: string;
  /** The row's state before, or null when there was none. */
  readonly before: string | null;
  /** The row's state after: applied, or null when it was removed (or, for accept-edit, left as it was). */
  readonly after: 'applied' | null;
  readonly table: string;
}

/**
 * Settles what the catalog cannot decide, instead of hand-written SQL on the bookkeeping table:
 * under the migration lock, marks one migration applied or pending, or accepts an edit of its file.
 *
 * @example
 * // a migration interrupted outside a transaction, checked by hand: it took effect
 * await resolve({ databaseUrl, dir: './migrations', version: '020_add_index', as: 'applied' });
 */
export async function resolve(options: ResolveOptions): Promise<ResolveResult> {
  if (options.as !== 'applied' && options.as !== 'pending' && options.as !== 'accept-edit') {
    throw new UsageError(`invalid resolution ${JSON.stringify(options.as)}: use applied, pending or accept-edit`);
  }
  const { tableName, lockKey, logger, migrations } = prepare(options);
  const migration = migrations.find((m) => m.version === options.version);
  if (migration === undefined && options.as !== 'pending') {
    throw new IntegrityError(
      'unknown-target',
      options.version,
      `${options.version} is not a migration in the folder: give the full base name, such as 020_add_index`,
    );
  }
  const session = await connect(options, logger);
  try {
    // The state the caller saw, read before waiting for the locks: resolve acts only if the row
    // is still in it, so a run that finished meanwhile is never undone.
    const seen = (await readOwnLedger(session.client, tableName)).contents.rows.find((r) => r.version === options.version)?.state ?? null;
    if (migration === undefined && seen === null) {
      throw new IntegrityError(
        'unknown-target',
        options.version,
        `${options.version} is neither a migration in the folder nor recorded in the ledger: check the name (the whole base name, such as 020_add_index)`,
      );
    }
    const lockOptions = { logger, timeoutMs: options.lockWaitTimeout, signal: options.signal };
    return await withLedgerLocks(session, tableName, lockKey, lockOptions, async (ledger) => {
      const { client } = session;
      const { rows } = await ledger.read(client);
      const row = rows.find((r) => r.version === options.version);
      const before = row?.state ?? null;
      if (before !== seen) {
        throw new ConflictError(
          options.version,
          `${options.version} changed from ${seen ?? 'no row'} to ${before ?? 'no row'} in ${ledger.sqlName} ` +
            'while resolve waited for the lock (a run was at work): nothing was changed; run slipway status and decide again',
        );
      }
      const running = before === 'in_flight' || before === 'reverting';
      const writer = running ? (await ledger.liveWriters(client)).find((w) => w.version === options.version) : undefined;
      if (writer !== undefined) {
        throw new ConflictError(
          options.version,
          `${options.version} is being run right now by server backend pid ${writer.pid}: nothing was changed; wait for that run to end`,
        );
      }
      if (options.as === 'accept-edit' && row === undefined) {
        throw new IntegrityError(
          'unknown-target',
          options.version,
          `${options.version} is not recorded in ${ledger.sqlName}: there is no edit to accept; slipway up applies it`,
        );
      }
      // An interrupted row's progress counts statements of the file as it was: resumed by that count, an edited file would skip or repeat some.
      if (options.as === 'accept-edit' && (row!.state === 'in_flight' || row!.state === 'reverting')) {
        throw new IntegrityError(
          'in-flight',
          options.version,
          `${options.version} was interrupted (${row!.state} in ${ledger.sqlName}) and its progress counts statements of the file ` +
            'before the edit: resolve it --applied or --pending first, then accept the edit',
        );
      }
      await ledger.ensure(client);
      let after: 'applied' | null = 'applied';
      if (options.as === 'pending') {
        await ledger.forget(client, options.version);
        after = null;
      } else if (options.as === 'accept-edit') {
        await ledger.acceptChecksum(client, { version: options.version, checksum: migration!.checksum });
        after = row!.state === 'applied' ? 'applied' : null;
      } else {
        await ledger.settleApplied(client, { version: options.version, checksum: migration!.checksum }, row !== undefined);
      }
      logger.info(
        { version: options.version, before, after, resolution: options.as },
        `resolved ${options.version}: ${before ?? 'no row'} -> ${after ?? 'no row'} in ${ledger.sqlName}${options.as === 'accept-edit' ? ' (the file as it is now is recorded)' : ''}`,
      );
      return { version: options.version, before, after, table: ledger.sqlName };
    });
  } finally {
    await session.close();
  }
}
