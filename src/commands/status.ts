import { lockHolder, type LockHolder } from '../db/lock.js';
import { readOwnLedger } from '../migrations/foreign.js';
import { connect, prepare, type InspectOptions } from './context.js';
import { describeState, type MigrationStatus } from '../migrations/plan.js';

export interface StatusReport {
  /** The bookkeeping table, as quoted in SQL. */
  readonly table: string;
  readonly migrations: readonly MigrationStatus[];
  /** Who holds the migration lock right now, or null. */
  readonly lock: LockHolder | null;
}

/**
 * Every migration with its state (applied, pending, missing-file, edited, in-flight)
 * and who holds the migration lock. Takes no lock; two queries.
 *
 * @example
 * const report = await status({ databaseUrl, dir: './migrations' });
 * report.migrations.filter((m) => m.state !== 'applied');
 */
export async function status(options: InspectOptions): Promise<StatusReport> {
  const { tableName, lockKey, logger, migrations } = prepare(options);
  const session = await connect(options, logger);
  try {
    const {
      ledger,
      contents: { rows },
    } = await readOwnLedger(session.client, tableName);
    const lock = (await lockHolder(session.client, lockKey)) ?? (await lockHolder(session.client, ledger.lockKey));
    return { table: ledger.sqlName, migrations: describeState(migrations, rows), lock };
  } finally {
    await session.close();
  }
}
