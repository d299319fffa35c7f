/**
 * One history over many tenants: `up`, `down`, `status` and `plan` for every schema or database
 * of a source, with bounded parallelism and a pool per database. The state of every schema
 * tenant of a database is read in two queries (see {@link readSchemaLedgers}); only tenants with
 * something to do get a run, each through the ordinary runner under a lock key of its own.
 * A tenant that fails stops only itself (unless `failFast`).
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { parseTableName, quoteIdentifier, quoteTableName } from '../db/identifier.js';
import { DEFAULT_LOCK_KEY, toLockKey } from '../db/lock.js';
import { connectionTarget } from '../db/session.js';
import { toSlipwayError } from '../db/errors.js';
import { IntegrityError, SlipwayError, TenantError, UsageError } from '../errors.js';
import { createLogger } from '../log.js';
import {
  describeState,
  needsLock,
  plan,
  validateRequest,
  type Direction,
  type MigrationState,
  type RunRequest,
} from '../migrations/plan.js';
import type { Phase } from '../migrations/source.js';
import { ParseMemo } from '../sql/parse.js';
import * as runner from './migrate.js';
import { status } from './status.js';
import { preview } from './plan.js';
import { loadMigrations } from './context.js';
import type { MigrationFormat } from '../migrations/formats/index.js';
import type { Migration, MigrationInput } from '../migrations/source.js';
import type { LintSettings } from '../lint/lint.js';
import { readTenants, tenantLockKey, type Tenant } from '../tenants/source.js';
import { readSchemaLedgers, type SchemaLedger } from '../migrations/ledger.js';

/** What every fleet command takes. */
export interface TenantsOptions {
  /** A tenant source (see {@link readTenants}: `schema:<pattern>`, `query:<SQL>`, a file of URLs) or tenants already read. */
  readonly tenants: string | readonly Tenant[];
  /** The database whose schemas `schema:` and `query:` sources read. */
  readonly databaseUrl?: string | undefined;
  /** A folder of migrations, read once for the whole fleet. */
  readonly dir?: string;
  /** The layout of `dir`, as for `migrate`; default: the one its contents show. */
  readonly format?: MigrationFormat;
  /** Migrations given in memory instead of a folder. */
  readonly migrations?: readonly MigrationInput[] | readonly Migration[];
  /**
   * The bookkeeping table. A schema tenant's is `<schema>.<table>` (give the name only; default
   * `schema_migrations`); a database tenant's is found as `migrate` finds it.
   */
  readonly table?: string;
  /** Database tenants' lock key (default slipway's, as a plain `migrate` on that database). Schema tenants use {@link tenantLockKey}. */
  readonly lockKey?: bigint | number | string;
  /** Tenants run at once. Default min(8, max_connections / 4) of the first database. */
  readonly concurrency?: number;
  /** Stop starting tenants after the first failure; those not started are reported `skipped`. */
  readonly failFast?: boolean;
  readonly logger?: Logger;
  /** Aborting starts no more tenants and cancels (rolls back) running migrations. */
  readonly signal?: AbortSignal;
  /** As for `migrate`, per tenant. */
  readonly lockWaitTimeout?: number;
  readonly lockTimeout?: number;
  readonly lockRetries?: number;
  readonly batch?: boolean;
  /** Called once per tenant as its result is known, with the fleet's progress. */
  readonly onTenant?: (result: TenantResult, progress: FleetProgress) => void;
}

export interface MigrateTenantsOptions extends TenantsOptions {
  readonly direction: Direction;
  /** up and plan up: lint each tenant's pending migrations against its own catalog, as `migrate`'s `lint` (the CLI turns it on). */
  readonly lint?: boolean | LintSettings;
  readonly target?: string;
  readonly steps?: number;
  readonly all?: boolean;
  /** up and plan up: the post-deploy phase too, as `migrate`'s `postDeploy`. */
  readonly postDeploy?: boolean;
}

export type FleetCommand = 'up' | 'down' | 'status' | 'plan';

/** One tenant's outcome. */
export interface TenantResult {
  readonly tenant: string;
  /** The database's name. */
  readonly database: string;
  /** Null for a database tenant. */
  readonly schema: string | null;
  /**
   * `changed`: this run applied or reverted something. `up-to-date`: nothing to do.
   * `pending` (status, plan): something to do. `failed`: see `error`. `skipped`: not started (fail-fast, or stopped).
   */
  readonly outcome: 'changed' | 'up-to-date' | 'pending' | 'failed' | 'skipped';
  /** Versions this run applied or reverted, in order; for a failed tenant, those that finished before the failure. */
  readonly executed: readonly string[];
  /** status: the pending migrations; plan: what up/down would run; up/down: what is still pending after the run. */
  readonly steps: readonly string[];
  /** status: how many migrations are in each state. */
  readonly states?: Partial<Record<MigrationState, number>>;
  /** Pending post-deploy migrations: status, and those an up or plan without `postDeploy` leaves for the post-deploy phase. Absent when none. */
  readonly postDeploy?: readonly string[];
  readonly durationMs: number;
  readonly error?: { readonly code: string; readonly message: string };
}

export interface FleetProgress {
  readonly done: number;
  readonly total: number;
  readonly failed: number;
  /** Milliseconds since the fleet run started. */
  readonly elapsedMs: number;
}

export interface FleetResult {
  readonly command: FleetCommand;
  /** Every tenant, in source order. */
  readonly tenants: readonly TenantResult[];
  readonly summary: {
    readonly total: number;
    readonly changed: number;
    readonly upToDate: number;
    readonly pending: number;
    readonly failed: number;
    readonly skipped: number;
    /** Migrations applied or reverted, over all tenants. */
    readonly executed: number;
    readonly concurrency: number;
    readonly durationMs: number;
  };
}

/**
 * Applies (`up`) or reverts (`down`) migrations in every tenant of a source: schema tenants
 * with `search_path` set to their schema and their ledger in it, database tenants as `migrate`
 * would. Tenants with nothing pending are found in two queries per database and not touched.
 * A failed tenant is reported and the others go on; the result lists every tenant.
 *
 * @example
 * import { migrateTenants } from 'slipway';
 * const { summary, tenants } = await migrateTenants({
 *   databaseUrl: process.env.DATABASE_URL, tenants: 'schema:tenant_%', dir: './migrations', direction: 'up',
 * });
 * for (const t of tenants.filter((t) => t.outcome === 'failed')) console.error(`${t.tenant}: ${t.error?.message}`);
 */
export function migrateTenants(options: MigrateTenantsOptions): Promise<FleetResult> {
  return runFleet(options.direction, options, validateRequest(options));
}

/**
 * Every tenant's state: how many migrations are applied, pending, edited…, and which are pending.
 * Reads only (two queries per database of schema tenants), takes no lock.
 *
 * @example
 * const { tenants } = await tenantsStatus({ databaseUrl, tenants: 'schema:tenant_%', dir: './migrations' });
 * tenants.filter((t) => t.steps.length > 0).map((t) => t.tenant); // tenants with pending migrations
 */
export function tenantsStatus(options: TenantsOptions): Promise<FleetResult> {
  return runFleet('status', options, null);
}

/**
 * What `migrateTenants` with the same options would run in each tenant, executing nothing.
 *
 * @example
 * const { tenants } = await previewTenants({ tenants: './tenants.txt', dir: './migrations', direction: 'up' });
 */
export function previewTenants(options: MigrateTenantsOptions): Promise<FleetResult> {
  return runFleet('plan', options, validateRequest(options));
}

/** A tenant's work in phase two: a run through the runner. */
interface Job {
  readonly index: number;
  readonly tenant: Tenant;
  /** current_database() of a schema tenant, for its lock key; null for a database tenant. */
  readonly database: string | null;
}

async function runFleet(command: FleetCommand, options: TenantsOptions, request: RunRequest | null): Promise<FleetResult> {
  try {
    return await runTenants(command, options, request);
  } catch (error) {
    // Reading the source, the folder or the options failed: nothing ran.
    throw toSlipwayError(error, connectionTarget({ databaseUrl: options.databaseUrl }));
  }
}

async function runTenants(command: FleetCommand, options: TenantsOptions, request: RunRequest | null): Promise<FleetResult> {
  const started = performance.now();
  const logger = options.logger ?? createLogger();
  const table = options.table ?? 'schema_migrations';
  const tableName = parseTableName(table);
  if (options.concurrency !== undefined && !(Number.isInteger(options.concurrency) && options.concurrency >= 1)) {
    throw new UsageError(`invalid concurrency ${JSON.stringify(options.concurrency)}: give a whole number of 1 or more`);
  }
  const lockKey = options.lockKey === undefined ? DEFAULT_LOCK_KEY : toLockKey(options.lockKey);
  const { migrations, warnings } = loadMigrations(options);
  for (const warning of warnings) logger.warn(warning);
  const tenants =
    typeof options.tenants === 'string'
      ? await readTenants(options.tenants, { databaseUrl: options.databaseUrl, signal: options.signal })
      : [...options.tenants];
  if (tenants.length === 0) throw new TenantError('empty-source', 'no tenants given: nothing to run');
  if (tenants.some((t) => t.schema !== null) && tableName.schema !== null) {
    throw new UsageError(
      `table ${table} is schema-qualified: for schema tenants give the table's name only; each tenant's ledger is <schema>.${tableName.table}`,
    );
  }

  const results: Array<TenantResult | undefined> = new Array(tenants.length);
  let done = 0;
  let failed = 0;
  let stopReason: string | null = null;
  const report = (index: number, result: TenantResult) => {
    results[index] = result;
    done++;
    if (result.outcome === 'failed') {
      failed++;
      logger.error(
        { tenant: result.tenant, executed: result.executed, error: result.error },
        `${result.tenant}: ${describeOutcome(command, result)}`,
      );
      if (options.failFast && stopReason === null) stopReason = `not started: --fail-fast after ${result.tenant} failed`;
    } else if (result.outcome === 'changed') {
      logger.info(
        { tenant: result.tenant, executed: result.executed, durationMs: result.durationMs },
        `${result.tenant}: ${command === 'up' ? 'applied' : 'reverted'} ${result.executed.length} in ${result.durationMs} ms`,
      );
    } else {
      logger.info(
        { tenant: result.tenant, outcome: result.outcome, steps: result.steps },
        `${result.tenant}: ${describeOutcome(command, result)}`,
      );
    }
    options.onTenant?.(result, { done, total: tenants.length, failed, elapsedMs: Math.round(performance.now() - started) });
  };
  const onAbort = () => (stopReason ??= 'not started: the run was stopped');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();

  const pools = new Pools(options.concurrency ?? 8);
  let concurrency = options.concurrency ?? 0;
  try {
    // Tenants the source already knows are broken.
    for (const [index, tenant] of tenants.entries()) {
      if (tenant.problem !== undefined) report(index, failure(tenant, '', tenant.problem, 0));
    }
    const live = tenants.map((tenant, index) => ({ tenant, index })).filter(({ tenant }) => tenant.problem === undefined);
    if (concurrency === 0) concurrency = await defaultConcurrency(pools, live[0]?.tenant.databaseUrl);

    // Phase one: the state of every schema tenant, two queries per database.
    const jobs: Job[] = [];
    const bySource = new Map<string, Array<{ tenant: Tenant; index: number }>>();
    for (const entry of live) {
      if (entry.tenant.schema === null) jobs.push({ index: entry.index, tenant: entry.tenant, database: null });
      else bySource.set(entry.tenant.databaseUrl, [...(bySource.get(entry.tenant.databaseUrl) ?? []), entry]);
    }
    await bounded([...bySource], concurrency, async ([url, members]) => {
      const readStarted = performance.now();
      let state: { database: string; ledgers: Map<string, SchemaLedger> };
      try {
        state = await pools.with(url, (client) =>
          readSchemaLedgers(
            client,
            members.map((m) => m.tenant.schema!),
            tableName.table,
          ),
        );
      } catch (error) {
        for (const { tenant, index } of members) report(index, failure(tenant, databaseOf(url), error, performance.now() - readStarted));
        return;
      }
      for (const { tenant, index } of members) {
        const schema = tenant.schema!;
        const ledger = state.ledgers.get(schema)!;
        const base = { tenant: tenant.id, database: state.database, schema };
        if (!ledger.schemaExists) {
          report(
            index,
            failure(
              tenant,
              state.database,
              new TenantError('no-schema', `schema ${quoteIdentifier(schema)} does not exist in database ${state.database}`),
              0,
            ),
          );
          continue;
        }
        const sqlName = quoteTableName({ schema, table: tableName.table });
        if (ledger.error !== undefined) {
          report(index, failure(tenant, state.database, ledger.error, 0, `cannot read the ledger ${sqlName}`));
          continue;
        }
        if (command === 'status') {
          report(index, statusResult(base, describeState(migrations, ledger.rows), 0));
          continue;
        }
        const interrupted = ledger.rows.some((row) => row.state === 'in_flight' || row.state === 'reverting');
        let steps: string[];
        let deferred: string[] = [];
        try {
          const p = plan(migrations, ledger.rows, request!, { table: sqlName, adopting: ledger.adopting });
          deferred = p.deferred.map((m) => m.version);
          if (!needsLock(p)) {
            report(index, { ...base, outcome: 'up-to-date', executed: [], steps: [], durationMs: 0, ...postDeployOf(deferred) });
            continue;
          }
          // The plan reported from here is not run through preview: it refuses what a run would.
          if (command === 'plan' && !linting(options)) await runner.checkPhaseOrder(p, new ParseMemo());
          steps = p.steps.map((m) => m.version);
        } catch (error) {
          // A row being applied may be another run's work in progress: only the lock holder can tell.
          if (!(interrupted && command !== 'plan' && error instanceof IntegrityError && error.kind === 'in-flight')) {
            report(index, failure(tenant, state.database, error, 0));
            continue;
          }
          steps = [];
        }
        // A plan that lints reads the tenant's catalog: it gets a run of its own, as a database tenant does.
        if (command === 'plan' && !linting(options))
          report(index, { ...base, outcome: 'pending', executed: [], steps, durationMs: 0, ...postDeployOf(deferred) });
        else jobs.push({ index, tenant, database: state.database });
      }
    });

    // Phase two: a run for each tenant with something to do (every database tenant: its own read is one query).
    jobs.sort((a, b) => a.index - b.index);
    await bounded(jobs, concurrency, async (job) => {
      if (stopReason !== null) {
        report(job.index, {
          tenant: job.tenant.id,
          database: job.database ?? databaseOf(job.tenant.databaseUrl),
          schema: job.tenant.schema,
          outcome: 'skipped',
          executed: [],
          steps: [],
          durationMs: 0,
          error: { code: 'SKIPPED', message: stopReason },
        });
        return;
      }
      const jobStarted = performance.now();
      try {
        report(job.index, await runJob(command, job, { ...options, logger }, request, migrations, tableName.table, table, lockKey, pools));
      } catch (error) {
        report(job.index, failure(job.tenant, job.database ?? databaseOf(job.tenant.databaseUrl), error, performance.now() - jobStarted));
      } finally {
        if (job.tenant.schema === null) await pools.end(job.tenant.databaseUrl);
      }
    });
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await pools.endAll();
  }

  const list = results.map((r, i) => r ?? failure(tenants[i]!, '', new Error('no result (internal error)'), 0));
  const count = (outcome: TenantResult['outcome']) => list.filter((r) => r.outcome === outcome).length;
  const summary = {
    total: list.length,
    changed: count('changed'),
    upToDate: count('up-to-date'),
    pending: count('pending'),
    failed: count('failed'),
    skipped: count('skipped'),
    executed: list.reduce((n, r) => n + r.executed.length, 0),
    concurrency,
    durationMs: Math.round(performance.now() - started),
  };
  logger.info({ command, ...summary }, describeSummary(command, summary));
  return { command, tenants: list, summary };
}

/** One line about a fleet run: `1000 tenants: 998 changed (19960 migrations), 2 failed in 41.2 s`. */
export function describeSummary(command: FleetCommand, s: FleetResult['summary']): string {
  const parts = [
    s.changed > 0 && `${s.changed} ${command === 'down' ? 'reverted' : 'migrated'} (${s.executed} migration${s.executed === 1 ? '' : 's'})`,
    s.pending > 0 && `${s.pending} with ${command === 'plan' ? 'something to do' : 'pending migrations'}`,
    s.upToDate > 0 && `${s.upToDate} ${command === 'down' ? 'with nothing to revert' : 'up to date'}`,
    s.failed > 0 && `${s.failed} failed`,
    s.skipped > 0 && `${s.skipped} skipped`,
  ].filter(Boolean);
  return `${command}: ${s.total} tenant${s.total === 1 ? '' : 's'}: ${parts.join(', ')} in ${(s.durationMs / 1000).toFixed(1)} s (concurrency ${s.concurrency})`;
}

async function runJob(
  command: FleetCommand,
  job: Job,
  options: TenantsOptions & { logger: Logger },
  request: RunRequest | null,
  migrations: readonly Migration[],
  tableInSchema: string,
  table: string,
  lockKey: bigint,
  pools: Pools,
): Promise<TenantResult> {
  const { tenant } = job;
  const started = performance.now();
  // The runner's own lines (each migration, lock waits) at debug go to the fleet's logger only when it logs debug.
  const logger = options.logger.child(
    { tenant: tenant.id },
    { level: options.logger.isLevelEnabled('debug') ? options.logger.level : 'warn' },
  );
  return pools.with(
    tenant.databaseUrl,
    async (client) => {
      const { rows } = await client.query<{ database: string }>(
        tenant.schema === null
          ? 'SELECT current_database()::text AS database'
          : `SET search_path TO ${quoteIdentifier(tenant.schema)}; SELECT current_database()::text AS database`,
      );
      const database = job.database ?? rows.at(-1)?.database ?? databaseOf(tenant.databaseUrl);
      const common = {
        client,
        migrations,
        table: tenant.schema === null ? table : ledgerName(tenant.schema, tableInSchema),
        lockKey: tenant.schema === null ? lockKey : tenantLockKey(database, tenant.schema),
        logger,
        ...(options.signal !== undefined && { signal: options.signal }),
      };
      const base = { tenant: tenant.id, database, schema: tenant.schema };
      if (command === 'status') {
        const report = await status(common);
        return statusResult(base, report.migrations, performance.now() - started);
      }
      if (command === 'plan') {
        const p = await preview({ ...common, ...request!, ...(linting(options) && { lint: (options as MigrateTenantsOptions).lint! }) });
        return {
          ...base,
          outcome: p.steps.length > 0 ? 'pending' : 'up-to-date',
          executed: [],
          steps: p.steps.map((s) => s.version),
          durationMs: Math.round(performance.now() - started),
          ...postDeployOf(p.deferred),
        };
      }
      const result = await runner.migrate({
        ...common,
        ...request!,
        ...(linting(options) && { lint: (options as MigrateTenantsOptions).lint! }),
        ...(options.lockWaitTimeout !== undefined && { lockWaitTimeout: options.lockWaitTimeout }),
        ...(options.lockTimeout !== undefined && { lockTimeout: options.lockTimeout }),
        ...(options.lockRetries !== undefined && { lockRetries: options.lockRetries }),
        ...(options.batch !== undefined && { batch: options.batch }),
      });
      const executed = result.executed.map((s) => s.version);
      return {
        ...base,
        outcome: executed.length > 0 ? 'changed' : 'up-to-date',
        executed,
        steps: result.migrations.filter((m) => m.state === 'pending').map((m) => m.version),
        durationMs: Math.round(performance.now() - started),
        ...postDeployOf(result.deferred),
      };
    },
    tenant.schema !== null,
  );
}

/**
 * A schema tenant's ledger as the runner takes it, `schema.table`. Table names from options are
 * split on the dot, so a schema whose name holds one is refused with a clear line rather than
 * run against another table.
 */
function ledgerName(schema: string, table: string): string {
  if (!schema.includes('.')) return `${schema}.${table}`;
  throw new TenantError(
    'bad-source',
    `schema ${quoteIdentifier(schema)} or table ${quoteIdentifier(table)} contains a dot, which slipway cannot name its ledger with: rename it`,
  );
}

function statusResult(
  base: { tenant: string; database: string; schema: string | null },
  states: ReadonlyArray<{ version: string; state: MigrationState; phase?: Phase }>,
  ms: number,
): TenantResult {
  const counts: Partial<Record<MigrationState, number>> = {};
  for (const m of states) counts[m.state] = (counts[m.state] ?? 0) + 1;
  const pending = states.filter((m) => m.state === 'pending').map((m) => m.version);
  const clean = states.every((m) => m.state === 'applied' || m.state === 'pending');
  const postDeploy = states.filter((m) => m.state === 'pending' && m.phase === 'post-deploy').map((m) => m.version);
  return {
    ...base,
    outcome: pending.length > 0 || !clean ? 'pending' : 'up-to-date',
    executed: [],
    steps: pending,
    states: counts,
    durationMs: Math.round(ms),
    ...postDeployOf(postDeploy),
  };
}

/** The {@link TenantResult.postDeploy} field: present only when some are pending, so results without them read as before. */
function postDeployOf(versions: readonly string[]): { postDeploy?: readonly string[] } {
  return versions.length === 0 ? {} : { postDeploy: versions };
}

/** A failed tenant's result; `doing` (what failed, e.g. reading its ledger) opens the message. */
function failure(tenant: Tenant, database: string, error: unknown, ms: number, doing?: string): TenantResult {
  const converted = toSlipwayError(error, connectionTarget({ databaseUrl: tenant.databaseUrl }));
  const code = converted instanceof SlipwayError ? converted.code : 'INTERNAL';
  const message = `${doing === undefined ? '' : `${doing}: `}${converted instanceof Error ? converted.message : String(converted)}`;
  // What the run applied before it failed or was stopped stays applied: it is reported.
  const executed = runner.executedBefore(error).map((s) => s.version);
  return {
    tenant: tenant.id,
    database: database || databaseOf(tenant.databaseUrl),
    schema: tenant.schema,
    outcome: 'failed',
    executed,
    steps: [],
    durationMs: Math.round(ms),
    error: { code, message },
  };
}

/** Does this fleet run lint (up, or plan up, with `lint` on)? */
function linting(options: TenantsOptions): boolean {
  const { lint, direction } = options as Partial<MigrateTenantsOptions>;
  return direction === 'up' && lint !== undefined && lint !== false;
}

function databaseOf(url: string): string {
  return connectionTarget({ databaseUrl: url }).database ?? '';
}

/** min(8, max_connections / 4) of the first database; 4 when it cannot be asked. */
async function defaultConcurrency(pools: Pools, url: string | undefined): Promise<number> {
  if (url === undefined) return 4;
  try {
    const max = await pools.with(url, async (client) =>
      Number((await client.query<{ v: string }>(`SELECT current_setting('max_connections') AS v`)).rows[0]!.v),
    );
    return Math.max(1, Math.min(8, Math.floor(max / 4)));
  } catch {
    return 4;
  }
}

/** Runs `work` over `items`, at most `limit` at once. */
async function bounded<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** A pool per database URL, created on first use; a client lent to the runner comes back reset. */
class Pools {
  private readonly pools = new Map<string, pg.Pool>();

  /** `max`: connections per database, one per worker. */
  constructor(private readonly max: number) {}

  private pool(url: string): pg.Pool {
    let pool = this.pools.get(url);
    if (pool === undefined) {
      pool = new pg.Pool({ connectionString: url, application_name: 'slipway', max: this.max, idleTimeoutMillis: 10_000 });
      pool.on('error', () => {});
      this.pools.set(url, pool);
    }
    return pool;
  }

  /**
   * Lends a client. The runner, handed a client, may release it itself when the connection can
   * no longer be trusted (it may still hold a lock): then it is not released twice. A client
   * whose search_path was set gets it reset before it goes back.
   */
  async with<T>(url: string, work: (client: pg.PoolClient) => Promise<T>, resetSearchPath = false): Promise<T> {
    const client = await this.pool(url).connect();
    client.on('error', ignore);
    const release = client.release.bind(client);
    let released = false;
    client.release = (destroy?: boolean | Error) => {
      if (released) return;
      released = true;
      client.removeListener('error', ignore);
      release(destroy);
    };
    try {
      const value = await work(client);
      if (resetSearchPath && !released) await client.query('RESET search_path');
      client.release();
      return value;
    } catch (error) {
      if (resetSearchPath && !released)
        await client.query('RESET search_path').then(
          () => client.release(),
          () => client.release(true),
        );
      else client.release();
      throw error;
    }
  }

  async end(url: string): Promise<void> {
    const pool = this.pools.get(url);
    this.pools.delete(url);
    await pool?.end().catch(ignore);
  }

  async endAll(): Promise<void> {
    await Promise.all([...this.pools.keys()].map((url) => this.end(url)));
  }
}

const ignore = () => {};

/** Versions for a one-line report: the first three, then `…`. */
function shortList(versions: readonly string[]): string {
  return versions.length > 3 ? `${versions.slice(0, 3).join(', ')}, …` : versions.join(', ');
}

/** A failed tenant's error, and what it applied (or reverted) before: `… (applied before: 001_a, 002_b)`. */
export function describeFailure(command: FleetCommand, r: TenantResult): string {
  const before =
    r.executed.length > 0 ? ` (${command === 'down' ? 'reverted' : 'applied'} ${r.executed.length} before: ${shortList(r.executed)})` : '';
  // A message's detail lines stay after the note on what ran before it.
  const [headline = '', ...detail] = (r.error?.message ?? '').split('\n');
  return [`${headline}${before}`, ...detail].join('\n');
}

/** A tenant's result in a few words: `up to date`, `3 pending: 018_a, 019_b, 020_c`, `failed: …`. */
export function describeOutcome(command: FleetCommand, r: TenantResult): string {
  switch (r.outcome) {
    case 'changed':
      return `${command === 'down' ? 'reverted' : 'applied'} ${r.executed.length} (${shortList(r.executed)}) in ${r.durationMs} ms`;
    case 'up-to-date':
      return command === 'down' ? 'nothing to revert' : 'up to date';
    case 'pending': {
      const later = r.postDeploy === undefined ? '' : ` (${r.postDeploy.length} post-deploy: ${shortList(r.postDeploy)})`;
      const leave = r.postDeploy === undefined ? '' : `; leave ${r.postDeploy.length} post-deploy: ${shortList(r.postDeploy)}`;
      if (command === 'plan')
        return `would ${r.steps.length === 0 ? 'finish an interrupted migration' : `run ${r.steps.length}: ${shortList(r.steps)}`}${leave}`;
      const other = Object.entries(r.states ?? {}).filter(([state]) => state !== 'applied' && state !== 'pending');
      return [
        r.steps.length > 0 && `${r.steps.length} pending: ${shortList(r.steps)}${later}`,
        ...other.map(([state, n]) => `${n} ${state}`),
      ]
        .filter(Boolean)
        .join('; ');
    }
    case 'failed':
      return `failed: ${describeFailure(command, r)}`;
    case 'skipped':
      return `${r.outcome}: ${r.error?.message ?? ''}`;
  }
}
