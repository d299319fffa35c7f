import { readOwnLedger } from '../migrations/foreign.js';
import { connect, prepare } from './context.js';
import { plan, validateRequest, type Direction } from '../migrations/plan.js';
import type { Migration } from '../migrations/source.js';
import { batchesOf } from '../migrations/batch.js';
import { parsedCache, parseSteps } from '../migrations/execute.js';
import { batching, checkPhaseOrder, lintGate, type MigrateOptions } from './migrate.js';
import type { Phase } from '../migrations/source.js';

export interface Preview {
  readonly direction: Direction;
  /** What the same `migrate` call would run now, in order, and whether each runs in a transaction. */
  readonly steps: ReadonlyArray<{
    readonly version: string;
    readonly direction: Direction;
    readonly transactional: boolean;
    readonly phase: Phase;
    /** Finishes what a stopped run left half done (statement by statement, from where it stopped). */
    readonly resumed?: boolean;
    /** A file of `CREATE INDEX CONCURRENTLY` on a table the batch creates: built in the batch, without the keyword. */
    readonly folded?: boolean;
    /** The file's SQL, as it would run (a resumed one goes on from where it stopped). */
    readonly sql: string;
  }>;
  readonly warnings: readonly string[];
  /** Pending post-deploy migrations the same call leaves for `postDeploy` (an up without it). */
  readonly deferred: readonly string[];
}

/**
 * What `migrate` with the same options would do, executing nothing and taking no lock.
 * Throws the same integrity errors the run would.
 *
 * @example
 * const { steps } = await preview({ databaseUrl, dir: './migrations', direction: 'down', steps: 2 });
 */
export async function preview(options: MigrateOptions): Promise<Preview> {
  const request = validateRequest(options);
  const { tableName, logger, migrations, warnings } = prepare(options);
  const session = await connect(options, logger);
  try {
    const { ledger, contents } = await readOwnLedger(session.client, tableName);
    // What a stopped run left is shown as the run would finish it, first.
    const p = plan(migrations, contents.rows, request, { table: ledger.sqlName, adopting: contents.adopting, resume: true });
    const cache = parsedCache();
    await checkPhaseOrder(p, cache.memo);
    const parsed = await parseSteps(session, p, cache, options.signal);
    await lintGate(session, p, migrations, contents.rows, options, logger, cache.memo);
    const running = p.interrupted.length === 0 ? [] : await ledger.liveWriters(session.client);
    const runs = batchesOf(parsed.slice(0, p.steps.length), p.direction === 'up' && batching(options, contents.rows)).flat();
    return {
      direction: p.direction,
      steps: [
        ...p.interrupted.map((i) => ({
          version: i.migration.version,
          direction: i.direction,
          transactional: false,
          phase: i.migration.phase,
          resumed: true,
          sql: sqlOf(i.migration, i.direction),
        })),
        ...p.steps.map((m, i) => ({
          version: m.version,
          direction: p.direction,
          transactional: parsed[i]!.transactional || runs[i]!.folded,
          ...(runs[i]!.folded && { folded: true }),
          phase: m.phase,
          sql: sqlOf(m, p.direction),
        })),
      ],
      deferred: p.deferred.map((m) => m.version),
      warnings: [
        ...warnings,
        ...p.warnings,
        ...running.map(
          (w) => `${w.version} is being run right now by server backend pid ${w.pid}: a run waits for it to end before going on`,
        ),
      ],
    };
  } finally {
    await session.close();
  }
}

function sqlOf(migration: Migration, direction: Direction): string {
  return (direction === 'up' ? migration.upSql : migration.downSql) ?? '';
}
