import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Logger } from 'pino';
import { backoffDelay } from '../db/backoff.js';
import { describeBackend, type HeldLock } from '../db/lock.js';
import type { Session } from '../db/session.js';
import { withCancellation } from '../db/cancel.js';
import { AbortedError, type DatabaseError, IntegrityError, MigrationFailedError, SlipwayError, SourceError } from '../errors.js';
import { bookkeepingWriteRefused, refusesTable } from '../db/errors.js';
import type { Ledger } from './ledger.js';
import { needsLock, type Direction, type Plan } from './plan.js';
import { isUnwritten, type Migration } from './source.js';
import { decideResumption, settingsBefore } from './recover.js';
import { watched, type Blocker } from './watch.js';
import { batchesOf } from './batch.js';
import {
  MARKED_NO_TRANSACTION,
  needsServerVersion,
  OWN_TRANSACTIONS,
  parseSql,
  type ParsedSql,
  ParseMemo,
  type SqlPart,
  type Statement,
} from '../sql/parse.js';

const { escapeLiteral } = pg;

/** What happened to one migration in this run. */
export interface StepResult {
  readonly version: string;
  readonly direction: Direction;
  readonly durationMs: number;
  /** False when it ran statement by statement outside a transaction. */
  readonly transactional: boolean;
}

/**
 * Parsed steps of this run, by direction and version, and the parser's output by text, which the
 * lint gate shares: each file is parsed once per run.
 */
export interface ParsedCache {
  readonly steps: Map<string, ParsedSql>;
  readonly memo: ParseMemo;
}

export function parsedCache(): ParsedCache {
  return { steps: new Map(), memo: new ParseMemo() };
}

/**
 * Runs a plan under the lock: bookkeeping first, then every step, each parsed before any runs,
 * each added to `executed` as it finishes.
 * Every migration's commit is flushed before it is reported applied: a line that says
 * "applied" survives a crash of the server. With `batch`, consecutive transactional
 * migrations of an up share one transaction (see {@link runBatch}). Every migration gets the session as the run
 * started it: whatever a file SETs (search_path, role, timeouts) ends with that file.
 */
export async function execute(
  session: Session,
  ledger: Ledger,
  p: Plan,
  lock: HeldLock,
  logger: Logger,
  signal: AbortSignal | undefined,
  cache: ParsedCache,
  retry: { lockTimeout: number; lockRetries: number; batch: boolean },
  executed: StepResult[],
): Promise<void> {
  if (!needsLock(p)) return;
  const { client } = session;
  // Parse everything first: a syntax error in the last file stops the run before the first changes anything.
  const parsed = await parseSteps(session, p, cache, signal);
  const restore = await sessionRestorer(client);

  await ledger.ensure(client, p.checksumsToRecord);
  if (p.checksumsToRecord.length > 0) {
    logger.info(
      { versions: p.checksumsToRecord.map((c) => c.version) },
      `recorded checksums of ${p.checksumsToRecord.length} adopted migration(s)`,
    );
  }

  const context = {
    session,
    client,
    ledger,
    pid: lock.pid,
    restore,
    signal,
    logger,
    lockTimeout: retry.lockTimeout,
    lockRetries: retry.lockRetries,
  };
  for (const [index, { migration, direction, done }] of p.interrupted.entries()) {
    const sql = parsed[p.steps.length + index]!;
    const started = performance.now();
    const step: Step = { ...context, migration, direction, sql };
    await ledger.takeOver(client, migration.version, direction === 'up' ? 'in_flight' : 'reverting', lock.pid);
    await withCancellation(session, lock.pid, signal, () => resumeStatements(step, done));
    const durationMs = Math.round(performance.now() - started);
    executed.push({ version: migration.version, direction, durationMs, transactional: false });
    logger.info(
      { version: migration.version, direction, durationMs, resumed: true },
      `${direction === 'up' ? 'applied' : 'reverted'} ${migration.version} (${durationMs} ms, resumed where a stopped run left it)`,
    );
  }
  // The step whose in-flight row the transaction before it committed: one commit less each.
  let markedAhead = -1;
  // The in-flight row of the step at `index`, when it is an up's that runs outside a transaction.
  const markFor = (index: number) =>
    p.direction === 'up' && index < p.steps.length && !parsed[index]!.transactional ? ledger.inFlightSql(p.steps[index]!, lock.pid) : null;
  const runOne = async (index: number) => {
    const migration = p.steps[index]!;
    if (signal?.aborted) {
      if (markedAhead === index) await ledger.unmarkInFlight(client, migration);
      throw new AbortedError(
        `stopped before ${migration.version}: ${executed.length} migration(s) ran, ${p.steps.length - index} not started`,
      );
    }
    const sql = parsed[index]!;
    const started = performance.now();
    const step: Step = { ...context, migration, direction: p.direction, sql };
    const marked = markedAhead === index;
    const markNext = markFor(index + 1);
    await withCancellation(session, lock.pid, signal, () =>
      sql.transactional ? runInTransaction(step, markNext) : runStatementByStatement(step, marked, markNext),
    );
    if (markNext !== null) markedAhead = index + 1;
    report(index, performance.now() - started);
  };
  // `folded`: a no-transaction file that ran in a batch (see batchesOf).
  const report = (index: number, durationMs: number, folded = false) => {
    const migration = p.steps[index]!;
    const sql = parsed[index]!;
    const transactional = sql.transactional || folded;
    executed.push({ version: migration.version, direction: p.direction, durationMs: Math.round(durationMs), transactional });
    const notes = [
      `${Math.round(durationMs)} ms`,
      ...(folded ? ["in its table's transaction: CONCURRENTLY not needed"] : []),
      ...(transactional ? [] : ['outside a transaction']),
      ...(sql.statements.length === 0 ? ['no statements: the file has only comments'] : []),
    ];
    logger.info(
      {
        version: migration.version,
        direction: p.direction,
        durationMs: Math.round(durationMs),
        transactional,
        statements: sql.statements.length,
      },
      `${p.direction === 'up' ? 'applied' : 'reverted'} ${migration.version} (${notes.join(', ')})`,
    );
  };
  let index = 0;
  for (const batch of batchesOf(parsed.slice(0, p.steps.length), retry.batch && p.direction === 'up')) {
    if (batch.length > 1 && !signal?.aborted) {
      const steps = batch.map(({ sql }, i): Step => ({ ...context, migration: p.steps[index + i]!, direction: p.direction, sql }));
      // A file that runs outside a transaction next: its in-flight row commits with this batch.
      const markNext = markFor(index + batch.length);
      const outcome = await withCancellation(session, lock.pid, signal, () => runBatch(steps, markNext));
      if (Array.isArray(outcome)) {
        for (const [i, durationMs] of outcome.entries()) report(index + i, durationMs, batch[i]!.folded);
        index += batch.length;
        if (markNext !== null) markedAhead = index;
        continue;
      }
      if (signal?.aborted) {
        const [first, last] = [steps[0]!.migration.version, steps.at(-1)!.migration.version];
        throw new AbortedError(
          `stopped during ${steps[outcome.failedAt]!.migration.version} (up), which ran in one transaction with ${first} to ${last} ` +
            `(an empty ledger's batch): it was rolled back, none of them is applied; ${executed.length} migration(s) ran before it`,
        );
      }
      logger.debug(
        { versions: steps.map((s) => s.migration.version) },
        `a batch of ${batch.length} migrations failed and was rolled back: running them one by one`,
      );
    }
    // One by one: the failing file (if any) is reported as always, the ones before it applied.
    for (const end = index + batch.length; index < end; index++) await runOne(index);
  }
}

/**
 * Runs consecutive transactional migrations in ONE transaction, each still claiming its row
 * and getting the session as the run started it (restored between files); one commit for all.
 * Returns each one's time, or which one failed: the batch was rolled back (nothing of
 * it remains) and the caller runs its migrations one by one, which reports the failing file
 * exactly as a lone run does, retries lock timeouts, and applies the ones before it.
 */
async function runBatch(steps: readonly Step[], markNext: string | null): Promise<number[] | { failedAt: number }> {
  const durations: number[] = [];
  const last = steps.length - 1;
  for (const [n, step] of steps.entries()) {
    const { client, ledger, migration, direction, sql, pid, restore } = step;
    const started = performance.now();
    const begin = [n === 0 ? 'BEGIN' : '', lockTimeoutSql(step)].filter(Boolean).join('; ');
    const { open, close } = ledger.transaction(direction, migration, pid, begin, { commit: n === last });
    // Deferred constraints are checked where this file's own commit would check them.
    const end = n === last ? [restore, markNext].filter(Boolean).join(';\n') : `SET CONSTRAINTS ALL IMMEDIATE;\n${restore}`;
    const parts = sql.parts.length === 0 ? [{ text: '', line: 1 }] : sql.parts;
    for (const [index, part] of parts.entries()) {
      try {
        const seen = { blockers: [] };
        const after = step.lockTimeout > 0 ? Math.min(1000, step.lockTimeout / 2) : 1000;
        await watched(
          step.session,
          pid,
          migration.version,
          step.logger,
          () => client.query(`${index === 0 ? `${open} ` : ''}${part.text}${index === parts.length - 1 ? close(end) : ''}`),
          seen,
          { after },
        );
      } catch {
        await ledger.rollback(client);
        return { failedAt: n };
      }
    }
    durations.push(performance.now() - started);
  }
  return durations;
}

function parseStep(
  migration: Migration,
  direction: Direction,
  signal: AbortSignal | undefined,
  memo: ParseMemo,
  serverVersionNum?: number,
): Promise<ParsedSql> {
  const source = direction === 'up' ? migration.upSource : migration.downSource!;
  const text = direction === 'up' ? migration.upSql : migration.downSql!;
  if (isUnwritten(text, migration.version, direction)) {
    throw new SourceError(`${source} is not written yet (it is still what slipway new wrote): write the migration, or delete the file`);
  }
  return parseSql(text, source, { signal, memo, ...(serverVersionNum !== undefined && { serverVersionNum }) });
}

/**
 * Parses every step (once per run: results are kept in `cache`); asks the server its version
 * only when a step's classification depends on it. Stops between files when `signal` aborts.
 */
export async function parseSteps(session: Session, p: Plan, cache: ParsedCache, signal?: AbortSignal): Promise<ParsedSql[]> {
  const work = [
    ...p.interrupted.map((i) => ({ migration: i.migration, direction: i.direction })),
    ...p.steps.map((migration) => ({ migration, direction: p.direction })),
  ];
  let serverVersionNum: number | undefined;
  const parsed: ParsedSql[] = [];
  for (const { migration, direction } of work) {
    if (signal?.aborted) throw new AbortedError('stopped while reading the migrations; nothing was changed');
    const key = `${direction}:${migration.version}`;
    let entry = cache.steps.get(key) ?? (await parseStep(migration, direction, signal, cache.memo));
    if (needsServerVersion(entry) && !cache.steps.has(key)) {
      serverVersionNum ??= Number(
        (await session.client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`)).rows[0]!.v,
      );
      entry = await parseStep(migration, direction, signal, cache.memo, serverVersionNum);
    }
    cache.steps.set(key, entry);
    parsed.push(entry);
  }
  // The interrupted ones come first; callers index the plan's steps.
  return parsed.slice(p.interrupted.length).concat(parsed.slice(0, p.interrupted.length));
}

/**
 * The SQL that puts the session back as the run found it: every setting reset, then the ones
 * the caller had SET on this connection (a pooled one, say) set again. Read once per run.
 */
async function sessionRestorer(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ name: string; value: string }>(
    `SELECT name, current_setting(name) AS value FROM pg_catalog.pg_settings WHERE source = 'session'
     UNION ALL SELECT 'role', current_setting('role') WHERE current_setting('role') <> 'none'`,
  );
  const again = rows.map((r) => `SELECT pg_catalog.set_config(${escapeLiteral(r.name)}, ${escapeLiteral(r.value)}, false)`);
  // RESET ALL leaves the role and the session authorization alone: they are reset by name.
  return ['RESET SESSION AUTHORIZATION', 'RESET ROLE', 'RESET ALL', ...again].join(';\n');
}

/** One migration to run, with what running it needs. */
interface Step {
  readonly session: Session;
  readonly client: pg.ClientBase;
  readonly ledger: Ledger;
  readonly migration: Migration;
  readonly direction: Direction;
  readonly sql: ParsedSql;
  /** The lock's backend: the bookkeeping writes run only there. */
  readonly pid: number;
  /** SQL that gives the session back as the run started it. */
  readonly restore: string;
  readonly signal: AbortSignal | undefined;
  readonly logger: Logger;
  /** `lock_timeout` for its statements, ms (0: none), and how often a timed-out attempt is retried. */
  readonly lockTimeout: number;
  readonly lockRetries: number;
}

/** Was this error a statement giving up on a lock (`lock_timeout`)? */
function isLockTimeout(error: unknown): boolean {
  const e = error as { code?: string; cause?: { code?: string } } | null;
  return e?.code === '55P03' || e?.cause?.code === '55P03';
}

/**
 * Runs `attempt` until it does not fail on a lock timeout, at most `lockRetries` more times,
 * waiting between attempts with exponential backoff and jitter (1 s doubling, at most 30 s).
 * Each attempt is watched (see {@link watched}): who blocks it is logged, and named on failure.
 */
async function retryingLockTimeouts(step: Step, label: string, attempt: (seen: { blockers: Blocker[] }) => Promise<void>): Promise<void> {
  // One watching connection for every attempt, opened only if an attempt lasts.
  let watcher: Promise<pg.Client> | null = null;
  const side = () => (watcher ??= step.session.openSide());
  try {
    await attemptsWithRetry(step, label, attempt, side);
  } finally {
    if (watcher !== null) await (watcher as Promise<pg.Client>).then((c) => c.end()).catch(() => {});
  }
}

async function attemptsWithRetry(
  step: Step,
  label: string,
  attempt: (seen: { blockers: Blocker[] }) => Promise<void>,
  side: () => Promise<pg.Client>,
): Promise<void> {
  // Who blocked any attempt: the last one may give up before its watcher looks.
  const blockers = new Map<number, Blocker>();
  for (let n = 0; ; n++) {
    const seen: { blockers: Blocker[] } = { blockers: [] };
    try {
      // With a lock timeout, look early enough to see who blocks before the attempt gives up;
      // a retry (the table was locked a moment ago) is watched from its start.
      const after = n > 0 ? 0 : step.lockTimeout > 0 ? Math.min(1000, step.lockTimeout / 2) : 1000;
      await watched(step.session, step.pid, label, step.logger, () => attempt(seen), seen, {
        after,
        every: Math.min(1000, Math.max(100, after)),
        side,
      });
      return;
    } catch (error) {
      for (const blocker of seen.blockers) blockers.set(blocker.pid, blocker);
      const named = seen.blockers.length > 0 ? seen.blockers : [...blockers.values()];
      const blockedBy = named.length === 0 ? '' : `, blocked by ${named.map(describeBackend).join('; ')}`;
      if (!isLockTimeout(error) || step.signal?.aborted) throw error;
      if (n >= step.lockRetries) {
        throw error instanceof MigrationFailedError
          ? new MigrationFailedError(
              error.version,
              error.direction,
              `${error.message.replace(/; it (was rolled back|runs outside)/, `${blockedBy}; gave up after ${n + 1} attempt(s); it $1`)}`,
              { cause: error.cause },
            )
          : error;
      }
      const delay = backoffDelay(n, 1000, 30_000);
      step.logger.warn(
        { migration: label, attempt: n + 1, retryInMs: Math.round(delay), blockers: seen.blockers },
        `${label} could not get a lock within lock_timeout (${step.lockTimeout} ms)${blockedBy}: rolled back, retrying in ${(delay / 1000).toFixed(1)} s (attempt ${n + 2} of ${step.lockRetries + 1})`,
      );
      try {
        await sleep(delay, undefined, step.signal ? { signal: step.signal } : undefined);
      } catch {
        throw new AbortedError(`stopped while waiting to retry ${label}; it was rolled back, nothing changed`);
      }
    }
  }
}

/** `SET LOCAL lock_timeout` for a transaction of the migration, or nothing when it has none. */
function lockTimeoutSql(step: Step): string {
  return step.lockTimeout > 0 ? `SET LOCAL lock_timeout = '${step.lockTimeout}ms'` : '';
}

/**
 * The SQL and its bookkeeping change commit together or not at all: the row is written first
 * (BEGIN and the claim in one round trip), so a second runner stops at the row, before the file.
 * The session is restored inside the transaction, before the bookkeeping's last write.
 */
async function runInTransaction(step: Step, markNext: string | null = null): Promise<void> {
  await retryingLockTimeouts(step, step.migration.version, () => transactionAttempt(step, markNext));
}

/** One attempt; `markNext`, the next file's in-flight row, commits with it (see execute). */
async function transactionAttempt(step: Step, markNext: string | null): Promise<void> {
  const { client, ledger, migration, direction, sql, pid } = step;
  const restore = markNext === null ? step.restore : `${step.restore};\n${markNext}`;
  const begin = [sql.begin, lockTimeoutSql(step)].filter(Boolean).join('; ');
  const { open, close } = ledger.transaction(direction, migration, pid, begin);
  // One query: the row, the file and the commit. A very large file goes in pieces of whole
  // statements, the first with the row, the last with the commit, in the same transaction.
  const parts = sql.parts.length === 0 ? [{ text: '', line: 1 }] : sql.parts;
  for (const [index, part] of parts.entries()) {
    const head = index === 0 ? `${open} ` : '';
    const tail = index === parts.length - 1 ? close(restore) : '';
    try {
      await client.query(`${head}${part.text}${tail}`);
    } catch (error) {
      await ledger.rollback(client);
      const claim = await ledger.claimError(client, error, migration, pid, direction);
      if (claim !== null) throw claim;
      throw await failure(step, error, { ...part, offset: head.length }, 'it was rolled back, nothing changed', step.lockTimeout);
    }
  }
}

/**
 * For files Postgres refuses in a transaction, or that manage their own: mark the row first
 * (in flight, or reverting; `marked`: the commit of the file before it did), then run the
 * statements (see {@link runStatements}), restore the session and settle the row, `markNext`
 * with it. An interruption leaves the mark, and how far it got, for the next run.
 */
async function runStatementByStatement(step: Step, marked = false, markNext: string | null = null): Promise<void> {
  const { client, ledger, migration, direction, pid } = step;
  if (!marked) {
    await (direction === 'up' ? ledger.markInFlight(client, migration, pid) : ledger.markReverting(client, migration, pid)).catch(
      async (error) => {
        throw (await ledgerRefusal(step, error, 'nothing of it ran')) ?? error;
      },
    );
  }
  await runStatements(step, 0, performance.now(), markNext);
}

/**
 * Finishes a migration a stopped run left marked: replays the session settings its file made
 * before the stop, decides from the catalog how to go on with the statement it was at (see
 * {@link decideResumption}), and runs the rest. What cannot be decided stops the run, naming
 * the statement and the command that settles it.
 */
async function resumeStatements(step: Step, done: number): Promise<void> {
  const { client, migration, direction, sql, logger } = step;
  const started = performance.now();
  for (const setting of settingsBefore(sql, done)) await client.query(setting.sql);
  let from = done;
  const statement = sql.statements[done];
  if (statement !== undefined) {
    const decision = await decideResumption(client, statement);
    const file = direction === 'up' ? migration.upSource : migration.downSource;
    const where = `statement ${done + 1} of ${sql.statements.length} (${file}:${statement.line}: ${oneLine(statement.sql)})`;
    if (decision.action === 'undecidable') {
      await client.query(step.restore).catch(() => {});
      throw new IntegrityError(
        'in-flight',
        migration.version,
        `migration ${migration.version} (${direction}) was interrupted at ${where}, which runs outside a transaction: ` +
          `${decision.why}, and the ${done} before it took effect; check it, then run slipway resolve ${migration.version} ` +
          '--applied if it took effect (finish the rest by hand) or --pending if nothing of the migration remains',
      );
    }
    if (decision.action === 'drop-then-run') {
      for (const index of decision.drop) await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${index}`);
    }
    if (decision.action === 'finish') await client.query(decision.sql);
    if (decision.action === 'skip' || decision.action === 'finish') from = done + 1;
    const after =
      decision.action === 'drop-then-run'
        ? ', dropped it, running the statement again'
        : decision.action === 'skip'
          ? ', going on from the next one'
          : decision.action === 'finish'
            ? `, finished it with ${decision.sql}, going on from the next one`
            : '';
    logger.info(
      { version: migration.version, direction, statement: done + 1, action: decision.action },
      `resuming ${migration.version} (${direction}) at ${where}: ${decision.why}${after}`,
    );
  }
  await runStatements(step, from, started);
}

/** The first line of a statement, shortened, for messages. */
function oneLine(text: string): string {
  const first = text.split('\n')[0]!.trim();
  return first.length > 80 ? `${first.slice(0, 77)}...` : first;
}

type Control = 'begin' | 'commit' | 'rollback' | null;

/** Transaction control a file that manages its own transactions runs. */
function controlOf(statement: Statement): Control {
  if (statement.kind !== 'TransactionStmt' || statement.noTransactionReason !== OWN_TRANSACTIONS) return null;
  if (/^(BEGIN|START)\b/i.test(statement.sql)) return 'begin';
  if (/^(COMMIT|END)\b/i.test(statement.sql)) return 'commit';
  return 'rollback';
}

/**
 * Runs statements `from`… one query each (a multi-statement string would itself be one implicit
 * transaction), recording how many are done in the same transaction as the work: after a
 * statement on its own, inside the block a file's COMMIT ends, after its ROLLBACK. Statements
 * Postgres refuses in a transaction record their progress right after. Then restores the
 * session and settles the row.
 */
async function runStatements(step: Step, from: number, started: number, markNext: string | null = null): Promise<void> {
  const { client, ledger, migration, direction, sql, restore } = step;
  const state = direction === 'up' ? 'in_flight' : 'reverting';
  const reason = sql.statements.find((s) => s.noTransactionReason)?.noTransactionReason ?? MARKED_NO_TRANSACTION;
  let inBlock = false;
  for (let index = from; index < sql.statements.length; index++) {
    const statement = sql.statements[index]!;
    const progress = ledger.progressSql(migration, state, index + 1);
    const control = controlOf(statement);
    const alone = statement.noTransactionReason !== null && control === null;
    // The last statement's progress is settled with the row itself, one round trip later.
    const last = index === sql.statements.length - 1;
    // A statement on its own (not in a block the file opened) gets the lock timeout, and is retried.
    const single = !alone && !inBlock && control === null;
    const timeout = single && step.lockTimeout > 0 ? `${lockTimeoutSql(step)}; ` : '';
    const message =
      alone || (inBlock && control === null) || control === 'begin'
        ? statement.sql
        : control === 'commit'
          ? `${progress};\n${statement.sql}`
          : `${timeout}${statement.sql}\n;\n${progress}`;
    const label = `${migration.version} statement ${index + 1}`;
    const consequence =
      `it runs outside a transaction (${reason}); statement ${index + 1} of ${sql.statements.length} failed, ` +
      `the ${index} before it took effect, and it stays marked ${direction === 'up' ? 'in flight' : 'reverting'}: ` +
      `fix the cause and run slipway ${direction} again to resume it there`;
    // The place is the statement's own line when the server gives no position within it.
    const sent = { text: message, line: statement.line, statementLine: statement.line };
    try {
      const run = async () => {
        try {
          await client.query(message);
          if (alone && !last) await client.query(progress);
        } catch (error) {
          // Said within the attempt, as in a transaction: the last lock timeout then names its value and its blocker.
          throw await failure(step, error, sent, consequence, single ? step.lockTimeout : 0);
        }
      };
      await (single ? retryingLockTimeouts(step, label, run) : watched(step.session, step.pid, label, step.logger, run, { blockers: [] }));
    } catch (error) {
      const failed = await failure(step, error, sent, consequence);
      // A transaction the file opened is rolled back, and the session goes back as the run found it;
      // a session that cannot be put back is closed rather than handed back.
      await client.query(`ROLLBACK;\n${restore}`).catch(() => step.session.markBroken());
      throw failed;
    }
    if (control === 'begin') inBlock = true;
    else if (control !== null) inBlock = /\bAND\s+CHAIN\b/i.test(statement.sql) && !/\bAND\s+NO\s+CHAIN\b/i.test(statement.sql);
  }
  await ledger.finish(client, migration, state, performance.now() - started, restore, markNext);
}

/**
 * The error for a failed step, attributed to its file and line. A statement cancelled by a
 * timeout (not by the run's signal) says which setting and its value.
 */
async function failure(
  step: Step,
  error: unknown,
  sent: (SqlPart & { readonly offset?: number; readonly statementLine?: number }) | null,
  consequence: string,
  lockTimeoutMs = 0,
): Promise<Error> {
  const { client, migration, direction, sql, signal } = step;
  if (error instanceof SlipwayError) return error;
  const refusal = await ledgerRefusal(step, error, consequence);
  if (refusal !== null) return refusal;
  const pgError = error as { message?: string; code?: string; position?: string };
  if (pgError.code === '57014' && signal?.aborted) {
    return new AbortedError(`stopped during ${migration.version} (${direction}): the statement was cancelled; ${consequence}`);
  }
  const timeout =
    pgError.code === '57014' && /statement timeout/.test(pgError.message ?? '')
      ? 'statement_timeout'
      : pgError.code === '55P03' && /lock timeout/.test(pgError.message ?? '')
        ? 'lock_timeout'
        : null;
  const value =
    timeout === 'lock_timeout' && lockTimeoutMs > 0 && !fileSets(sql, timeout)
      ? `${lockTimeoutMs}ms`
      : timeout === null
        ? ''
        : await settingValue(client, sql, timeout);
  const setting = timeout === null ? '' : ` (${timeout} = ${value})`;
  const position = pgError.position === undefined || sent === null ? NaN : Number(pgError.position) - 1 - (sent.offset ?? 0);
  const line =
    sent === null || Number.isNaN(position) || position < 0 || position > sent.text.length
      ? sent?.statementLine === undefined
        ? ''
        : `:${sent.statementLine}`
      : `:${sent.line + countNewlinesBefore(sent.text, position)}`;
  const source = direction === 'up' ? migration.upSource : migration.downSource;
  return new MigrationFailedError(
    migration.version,
    direction,
    `migration ${migration.version} (${direction}) failed ${line === '' ? 'in' : 'at'} ${source}${line}: ` +
      `${pgError.message ?? String(error)}${pgError.code ? ` [${pgError.code}]` : ''}${setting}; ${consequence}`,
    { cause: error },
  );
}

/**
 * A write to the bookkeeping table that the role may not make, said as such: it is not the
 * migration's fault. Null for any other error.
 */
async function ledgerRefusal(step: Step, error: unknown, consequence: string): Promise<DatabaseError | null> {
  if (!refusesTable(error, step.ledger.name)) return null;
  const role = await step.client.query<{ role: string }>('SELECT current_user AS role').then(
    (r) => r.rows[0]!.role,
    () => null,
  );
  return bookkeepingWriteRefused(
    step.ledger.sqlName,
    role,
    `${step.migration.version} (${step.direction}) was not recorded: ${consequence}`,
    error,
  );
}

/** Does the file SET this setting itself? */
function fileSets(sql: ParsedSql, name: string): boolean {
  return sql.statements.some((s) => s.kind === 'VariableSetStmt' && new RegExp(`\\b${name}\\b`, 'i').test(s.sql));
}

/** The value of a timeout setting: the file's own last SET of it, else the session's. */
async function settingValue(client: pg.ClientBase, sql: ParsedSql, name: string): Promise<string> {
  const pattern = new RegExp(`^SET\\s+(?:SESSION\\s+|LOCAL\\s+)?${name}\\s*(?:=|TO)\\s*(.+?)\\s*$`, 'is');
  const set = sql.statements
    .filter((s) => s.kind === 'VariableSetStmt')
    .map((s) => pattern.exec(s.sql)?.[1])
    .filter(Boolean)
    .at(-1);
  if (set !== undefined) return set.replace(/^'(.*)'$/s, '$1');
  return client.query<{ v: string }>(`SELECT current_setting($1) AS v`, [name]).then(
    (r) => r.rows[0]!.v,
    () => 'unknown',
  );
}

function countNewlinesBefore(text: string, index: number): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
