import type pg from 'pg';
import type { Logger } from 'pino';
import { describeBackend, type BackendActivity } from '../db/lock.js';
import type { Session } from '../db/session.js';

/** A backend that holds a lock the migration waits for. */
export type Blocker = BackendActivity;

export interface WatchOptions {
  /** Start watching after this long (ms); a statement that ends sooner costs nothing. Default 1000. */
  readonly after?: number;
  /** How often to look for blockers (ms). Default 1000. */
  readonly every?: number;
  /** How often to log progress of long index builds, clusters and vacuums (ms). Default 10000. */
  readonly progressEvery?: number;
  /** A second connection to reuse (kept open), instead of opening one and closing it after. */
  readonly side?: () => Promise<pg.Client>;
}

/**
 * Watches the migration's backend while `work` runs, from a second connection opened only when
 * the statement outlasts `after`: logs who blocks it (`pg_blocking_pids`) when that changes, and
 * the progress of index builds, CLUSTER and VACUUM (pg_stat_progress_*) every ~10 s. Returns
 * `work`'s result; `blockers` holds the last blockers seen, for the error of a lock timeout.
 */
export async function watched<T>(
  session: Session,
  pid: number,
  label: string,
  logger: Logger,
  work: () => Promise<T>,
  seen: { blockers: Blocker[] },
  options: WatchOptions = {},
): Promise<T> {
  const every = options.every ?? 1000;
  const progressEvery = options.progressEvery ?? 10_000;
  // The side connection, opened at the first look: the work may end while it connects, and it
  // is closed all the same. A failed connect is tried again at the next look.
  let opening: Promise<pg.Client> | null = null;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let lastBlockers = '';
  let lastProgressAt = 0;
  const started = Date.now();

  const look = async () => {
    if (stopped) return;
    try {
      opening ??= (options.side ?? (() => session.openSide()))().catch((error: unknown) => {
        opening = null;
        throw error;
      });
      const side = await opening;
      if (stopped) return;
      const blockers = await readBlockers(side, pid);
      seen.blockers = blockers;
      const key = blockers.map((b) => b.pid).join(',');
      if (blockers.length > 0 && key !== lastBlockers) {
        logger.warn({ migration: label, blockers }, `${label} waits for a lock held by ${blockers.map(describeBackend).join('; ')}`);
      }
      lastBlockers = key;
      if (Date.now() - lastProgressAt >= progressEvery && Date.now() - started >= progressEvery / 2) {
        const progress = await readProgress(side, pid);
        if (progress !== null) {
          lastProgressAt = Date.now();
          logger.info(
            { migration: label, progressLine: true, ...progress },
            `${label}: ${progress.command}, ${progress.phase}${progress.percent === null ? '' : `, ${progress.percent}%`}${progress.detail ? ` (${progress.detail})` : ''}`,
          );
        }
      }
    } catch {
      // Watching is best effort: the migration itself decides the outcome.
    }
    if (!stopped) timer = setTimeout(() => void look(), every);
  };

  timer = setTimeout(() => void look(), options.after ?? 1000);
  try {
    return await work();
  } finally {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
    const pending = opening as Promise<pg.Client> | null;
    if (pending !== null && options.side === undefined) await pending.then((client) => client.end()).catch(() => {});
  }
}

async function readBlockers(client: pg.Client, pid: number): Promise<Blocker[]> {
  const { rows } = await client.query<{
    pid: number;
    application: string | null;
    state: string | null;
    age: number | null;
    query: string | null;
  }>(
    `SELECT a.pid, nullif(a.application_name, '') AS application, a.state,
            extract(epoch FROM now() - coalesce(a.xact_start, a.query_start))::int AS age, a.query
       FROM unnest(pg_blocking_pids($1)) AS b(pid) JOIN pg_catalog.pg_stat_activity a ON a.pid = b.pid
      ORDER BY a.pid`,
    [pid],
  );
  return rows.map((r) => ({ pid: r.pid, application: r.application, state: r.state, ageSeconds: r.age, query: r.query }));
}

interface Progress {
  readonly command: string;
  readonly phase: string;
  readonly percent: number | null;
  readonly detail: string | null;
}

async function readProgress(client: pg.Client, pid: number): Promise<Progress | null> {
  const { rows } = await client.query<{ command: string; phase: string; done: string | null; total: string | null; unit: string }>(
    `SELECT command, phase, done::text, total::text, unit FROM (
       SELECT command, phase,
              CASE WHEN blocks_total > 0 THEN blocks_done WHEN tuples_total > 0 THEN tuples_done END AS done,
              CASE WHEN blocks_total > 0 THEN blocks_total WHEN tuples_total > 0 THEN tuples_total END AS total,
              CASE WHEN blocks_total > 0 THEN 'blocks' ELSE 'tuples' END AS unit
         FROM pg_catalog.pg_stat_progress_create_index WHERE pid = $1
       UNION ALL
       SELECT command, phase, heap_blks_scanned, heap_blks_total, 'blocks' FROM pg_catalog.pg_stat_progress_cluster WHERE pid = $1
       UNION ALL
       SELECT 'VACUUM', phase, heap_blks_scanned, heap_blks_total, 'blocks' FROM pg_catalog.pg_stat_progress_vacuum WHERE pid = $1
     ) AS p LIMIT 1`,
    [pid],
  );
  const row = rows[0];
  if (row === undefined) return null;
  const done = row.done === null ? null : Number(row.done);
  const total = row.total === null ? null : Number(row.total);
  const percent = done !== null && total !== null && total > 0 ? Math.round((done / total) * 100) : null;
  return { command: row.command, phase: row.phase, percent, detail: percent === null ? null : `${row.unit} ${done} of ${total}` };
}
