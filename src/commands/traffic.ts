import { setTimeout as sleep } from 'node:timers/promises';
import { quoteIdentifier } from '../db/identifier.js';
import { UsageError } from '../errors.js';
import { readOwnLedger } from '../migrations/foreign.js';
import { breakingChanges, trafficLines, trafficUse, type BreakingChange, type ServerStatement, type TrafficUse } from '../lint/traffic.js';
import type { LintErrorFinding } from '../errors.js';
import { connect, prepare, type InspectOptions } from './context.js';

export interface TrafficOptions extends InspectOptions {
  /**
   * Count only the calls made during this many milliseconds (two reads of `pg_stat_statements`
   * this far apart): what the code deployed right now runs, not what a release gone since ran.
   * Without it, the counts are those since the statistics were last reset.
   */
  readonly windowMs?: number;
  /** Only the pending post-deploy migrations (what `up --post-deploy` is about to run). */
  readonly postDeployOnly?: boolean;
}

export interface TrafficReport {
  /** Null when the server cannot say (no `pg_stat_statements`): `why` says what is missing. */
  readonly uses: readonly TrafficUse[] | null;
  readonly why: string | null;
  /** One line per dropped or renamed column or table that statements the server ran still use. */
  readonly lines: readonly string[];
  /**
   * The changes statements name for sure (not only through `*`), as findings of the rule
   * `still-in-use` at the statement that drops or renames: what `up --post-deploy --traffic-window` refuses.
   */
  readonly findings: readonly LintErrorFinding[];
}

/**
 * Checks each column and table the pending migrations (of both phases) drop or rename against the
 * statements the server has run, as `pg_stat_statements` counts them since its last reset: only
 * their normalized texts are read (no values), and nothing leaves this process. Without the
 * extension it says so once (a warning) and reports nothing. Takes no lock.
 *
 * @example
 * const { lines } = await checkTraffic({ databaseUrl, dir: './migrations' });
 */
export async function checkTraffic(options: TrafficOptions): Promise<TrafficReport> {
  const { windowMs } = options;
  if (windowMs !== undefined && !(Number.isFinite(windowMs) && windowMs > 0))
    throw new UsageError(`invalid windowMs ${JSON.stringify(windowMs)}: give milliseconds, more than 0`);
  const { tableName, logger, migrations } = prepare(options);
  const session = await connect(options, logger);
  try {
    const { contents } = await readOwnLedger(session.client, tableName);
    const applied = new Set(contents.rows.map((row) => row.version));
    const pending = migrations.filter((m) => !applied.has(m.version) && (options.postDeployOnly !== true || m.phase === 'post-deploy'));
    const sources = new Map<BreakingChange, string>();
    for (const m of pending) for (const c of await breakingChanges(m.upSql)) sources.set(c, m.upSource);
    const changes = [...sources.keys()];
    if (changes.length === 0) return { uses: [], why: null, lines: [], findings: [] };
    let statements = await serverStatements(session.client);
    if (Array.isArray(statements) && windowMs !== undefined) {
      await sleep(windowMs, undefined, options.signal ? { signal: options.signal } : undefined);
      const later = await serverStatements(session.client);
      statements = Array.isArray(later) ? callsBetween(statements, later) : later;
    }
    if (!Array.isArray(statements)) {
      logger.warn({ traffic: false }, `not checking which statements still use what the pending migrations drop or rename: ${statements}`);
      return { uses: null, why: statements, lines: [], findings: [] };
    }
    const uses = await trafficUse(changes, statements);
    const lines = trafficLines(uses);
    const findings = lines
      .filter((l) => l.named)
      .map((l) => ({ file: sources.get(l.change)!, line: l.change.line, column: 1, rule: 'still-in-use', message: l.message }));
    return { uses, why: null, lines: lines.map((l) => l.message), findings };
  } finally {
    await session.close();
  }
}

/** A statement as read, with what identifies its row across reads. */
type Counted = ServerStatement & { readonly key: string };

/** The calls each statement got between two reads (a statement first seen in the second read counts whole). */
function callsBetween(before: readonly Counted[], after: readonly Counted[]): Counted[] {
  const earlier = new Map<string, number>();
  for (const s of before) earlier.set(s.key, (earlier.get(s.key) ?? 0) + s.calls);
  return after.map((s) => ({ ...s, calls: s.calls - (earlier.get(s.key) ?? 0) })).filter((s) => s.calls > 0);
}

/** This database's statements from `pg_stat_statements`, or why they cannot be read. */
async function serverStatements(client: import('pg').ClientBase): Promise<Counted[] | string> {
  const { rows } = await client.query<{ schema: string }>(
    `SELECT n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'`,
  );
  if (rows.length === 0)
    return 'the pg_stat_statements extension is not installed in this database (CREATE EXTENSION pg_stat_statements, with it in shared_preload_libraries)';
  try {
    // One row per user, query id and (since 14) top level: the key tells the reads' rows apart.
    const result = await client.query<{ query: string; calls: string; key: string }>(
      `SELECT query, calls::text AS calls, concat_ws(':', userid, queryid) AS key
         FROM ${quoteIdentifier(rows[0]!.schema)}.pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    return result.rows.map((row) => ({ query: row.query, calls: Number(row.calls), key: row.key }));
  } catch (error) {
    return `pg_stat_statements cannot be read: ${(error as Error).message}`;
  }
}
