import type { Logger } from 'pino';
import type { SeedLocation } from '../errors.js';

/** A row whose key is in the table with other values in some of the compared columns (seeded, neither key nor insert-only). */
export interface SeedConflict {
  readonly at: SeedLocation;
  /** The key as the seed file writes it. */
  readonly key: Readonly<Record<string, unknown>>;
  /** Each differing column, with the seed's and the database's value as text. */
  readonly columns: ReadonlyArray<{ readonly column: string; readonly seed: string | null; readonly database: string | null }>;
}

export interface SeedTableResult {
  readonly table: string;
  readonly inserted: number;
  /** Rows already there with the seeded values (insert-only columns aside), or inserted meanwhile by a run that does not share the lock. */
  readonly skipped: number;
  /** Rows already there with other values; with `update` each one was updated, otherwise left as it is. */
  readonly conflicts: readonly SeedConflict[];
  readonly updated: number;
}

export interface SeedResult {
  /** One entry per seeded table, in file order. */
  readonly tables: readonly SeedTableResult[];
  /** True when everything was rolled back. */
  readonly dryRun: boolean;
  /** How long this run waited for the seed lock; null when there were no seed files. */
  readonly lockWaitMs: number | null;
  readonly durationMs: number;
}

/**
 * Logs what a run did: one summary line at info, each table's counts at debug (the CLI
 * prints them as a table), and a warning per table with conflicts left as they are.
 *
 * @example reportSeed(result.tables, false, logger); // info: seeded 4 table(s): 256 inserted, 0 skipped, 0 conflicts, 0 updated
 */
export function reportSeed(tables: readonly SeedTableResult[], dryRun: boolean, logger: Logger): void {
  for (const t of tables) {
    logger.debug(
      { table: t.table, inserted: t.inserted, skipped: t.skipped, conflicts: t.conflicts.length, updated: t.updated, dryRun },
      `${dryRun ? '[dry run] ' : ''}${t.table}: ${t.inserted} inserted, ${t.skipped} skipped, ${t.conflicts.length} conflicts, ${t.updated} updated`,
    );
    const left = t.conflicts.length - t.updated;
    if (left > 0)
      logger.warn(
        { table: t.table, conflicts: left },
        `${left} ${t.table} row(s) differ from the seed files and were left as they are; run seed with --update (update: true) to overwrite them`,
      );
  }
  const total = (count: (t: SeedTableResult) => number) => tables.reduce((n, t) => n + count(t), 0);
  const [inserted, skipped, conflicts, updated] = [
    total((t) => t.inserted),
    total((t) => t.skipped),
    total((t) => t.conflicts.length),
    total((t) => t.updated),
  ];
  logger.info(
    { tables: tables.length, inserted, skipped, conflicts, updated, dryRun },
    `${dryRun ? '[dry run] ' : ''}seeded ${tables.length} table(s): ${inserted} inserted, ${skipped} skipped, ${conflicts} conflicts, ${updated} updated`,
  );
}
