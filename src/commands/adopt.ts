/**
 * `adopt`: takes over another tool's ledger (see ../migrations/foreign.ts for how one is
 * recognised and mapped to the files), under the run's locks, in one transaction.
 */
import type pg from 'pg';
import { quoteIdentifier, quoteTableName, type TableName } from '../db/identifier.js';
import type { ConnectionSource } from '../db/session.js';
import { IntegrityError, SessionError, UsageError } from '../errors.js';
import { withLedgerLocks } from './locks.js';
import { Ledger, locateLedger } from '../migrations/ledger.js';
import { checkLockWaitTimeout, connect, prepare } from './context.js';
import type { MigrateOptions } from './migrate.js';
import type { Migration } from '../migrations/source.js';
import {
  describeForeignLedger,
  displayName,
  findTables,
  keptAsideName,
  mapForeignLedger,
  readForeignLedger,
  recogniseTable,
  type AdoptedMigration,
  type AdoptionMapping,
  type ForeignLedger,
  type ForeignTool,
} from '../migrations/foreign.js';

/** Options of {@link adopt}: `migrate`'s that say where the migrations, the table and the lock are, plus `dryRun`. */
export interface AdoptOptions
  extends ConnectionSource,
    Pick<MigrateOptions, 'dir' | 'migrations' | 'table' | 'lockKey' | 'lockWaitTimeout' | 'logger' | 'signal' | 'connectWait'> {
  /** Report the mapping and change nothing (takes no lock). */
  readonly dryRun?: boolean;
}

export interface AdoptResult {
  readonly tool: ForeignTool;
  /** The other tool's table where it was found, e.g. `public.schema_migrations`. */
  readonly foreignTable: string;
  /** Where its rows are kept (renamed aside when it had slipway's table name), e.g. `public.schema_migrations_golang_migrate`. */
  readonly keptAs: string;
  /** What it said was applied, as one phrase. */
  readonly says: string;
  /** slipway's ledger, as quoted in SQL. */
  readonly table: string;
  /** Every migration of the folder: applied (and by which entry) or pending. */
  readonly migrations: readonly AdoptedMigration[];
  /** True when nothing was changed. */
  readonly dryRun: boolean;
}

/** Everything adopt decided before changing anything. */
interface Takeover {
  readonly foreign: ForeignLedger;
  readonly mapping: AdoptionMapping;
  /** The new name of the other tool's table, when it has slipway's table name. */
  readonly aside: string | null;
  /** Where slipway's ledger will be. */
  readonly target: TableName;
  /** slipway's ledger exists but lacks its columns (an older, empty slipway table): brought to shape first. */
  readonly reshapeOwn: boolean;
}

/**
 * Takes over another tool's ledger (golang-migrate, dbmate, node-pg-migrate, goose, sql-migrate):
 * finds it by its shape, maps its entries to the migration files, and, under the migration lock
 * and in ONE transaction, renames the old table aside when it has slipway's table name, creates
 * slipway's ledger and records every mapped migration as applied with its checksum. The old rows
 * are kept, so the old tool can be restored. With `dryRun`, reports the mapping and changes
 * nothing. Refused, before any change: a dirty golang-migrate ledger, an entry matching no file
 * or several, several other ledgers, none, or a slipway ledger that already has rows.
 *
 * @example
 * import { adopt, migrate } from 'slipway';
 * const preview = await adopt({ databaseUrl, dir: './migrations', dryRun: true });
 * preview.migrations.filter((m) => m.state === 'pending'); // what up would apply afterwards
 * await adopt({ databaseUrl, dir: './migrations' });
 * await migrate({ databaseUrl, dir: './migrations', direction: 'up' }); // only what the old tool had not applied
 */
export async function adopt(options: AdoptOptions): Promise<AdoptResult> {
  if (options.dryRun !== undefined && typeof options.dryRun !== 'boolean') {
    throw new UsageError(`invalid dryRun ${JSON.stringify(options.dryRun)}: use true or false`);
  }
  checkLockWaitTimeout(options.lockWaitTimeout);
  const { tableName, lockKey, logger, migrations } = prepare(options);
  const source = options.dir ?? 'the migrations given';

  const session = await connect(options, logger);
  try {
    const planned = await inspect(session.client, tableName, migrations, source);
    if (options.dryRun === true) return outcome(planned, true);
    const lockOptions = { logger, timeoutMs: options.lockWaitTimeout, signal: options.signal };
    return await withLedgerLocks(session, tableName, lockKey, lockOptions, async (_ledger, lock) => {
      // Looked at again under the lock: another run may have adopted or migrated meanwhile.
      const takeover = await inspect(session.client, tableName, migrations, source);
      await takeOver(session.client, takeover, migrations, lock.pid);
      const result = outcome(takeover, false);
      const applied = result.migrations.filter((m) => m.state === 'applied').length;
      logger.info(
        {
          tool: result.tool,
          from: result.foreignTable,
          keptAs: result.keptAs,
          table: result.table,
          applied,
          pending: result.migrations.length - applied,
        },
        `adopted ${result.tool}'s ledger ${result.foreignTable}: ${applied} migration(s) recorded as applied in ${result.table}, ` +
          `${result.migrations.length - applied} pending; its rows are kept in ${result.keptAs}`,
      );
      return result;
    });
  } finally {
    await session.close();
  }
}

/** Finds the other tool's ledger and decides the takeover, refusing anything it cannot do. Reads only. */
async function inspect(client: pg.ClientBase, tableName: TableName, migrations: readonly Migration[], source: string): Promise<Takeover> {
  const ledger = await locateLedger(client, tableName);
  const { current, tables } = await findTables(client, tableName.table);
  const own = tables.find((t) => t.schema === ledger.name.schema && t.table === ledger.name.table);
  const ownIsSlipway = own !== undefined && recogniseTable(own, tableName.table) === null;
  if (ownIsSlipway) {
    const { rows } = await ledger.read(client);
    if (rows.length > 0) {
      throw new IntegrityError(
        'already-adopted',
        '',
        `slipway's ledger ${ledger.sqlName} already holds ${rows.length} row(s): this database is already run by slipway, ` +
          "there is nothing to adopt; use slipway up (other tools' tables are left as they are)",
      );
    }
  }
  const found = tables.flatMap((t) => {
    const tool = recogniseTable(t, tableName.table);
    return tool === null ? [] : [{ tool, table: t }];
  });
  if (found.length === 0) {
    throw new IntegrityError(
      'no-foreign-ledger',
      '',
      "no other tool's ledger in this database: there is nothing to adopt; use slipway up\n" +
        'adopt looks for the tables of golang-migrate, dbmate, node-pg-migrate, goose, sql-migrate, Prisma, Drizzle ' +
        "and the Supabase CLI, each of that tool's exact shape",
    );
  }
  if (found.length > 1) {
    throw new IntegrityError(
      'foreign-ledger',
      '',
      `${found.length} other tools' ledgers in this database: adopt takes over one; ` +
        'rename or drop the ones no longer in use, then adopt again; nothing was changed\n' +
        `the ledgers: ${found.map((f) => `${f.tool}'s ${displayName(f.table)}`).join(', ')}`,
    );
  }
  const { tool, table } = found[0]!;
  const foreign = await readForeignLedger(client, tool, table);
  if (foreign.entries.length === 0 && (foreign.unfinished ?? []).length === 0) await refuseEmptyOnPopulated(client, foreign, ledger);
  const mapping = mapForeignLedger(foreign, migrations, source);
  const problem = mapping.problems[0];
  if (problem !== undefined) {
    const more =
      mapping.problems.length > 1
        ? ` (and ${mapping.problems.length - 1} more entr${mapping.problems.length === 2 ? 'y' : 'ies'} like it)`
        : '';
    // Said at the end of the first line, before the detail of the one entry shown.
    const [first, ...detail] = problem.message.split('\n');
    const message = [`${first}${more}`, ...detail].join('\n');
    throw new IntegrityError(problem.kind === 'dirty' ? 'foreign-dirty' : 'foreign-unmapped', problem.entry, message);
  }

  let aside: string | null = null;
  if (table.table === tableName.table && table.schema === ledger.name.schema) {
    aside = keptAsideName(table.table, tool);
    const { rows } = await client.query<{ taken: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS taken`, [
      quoteTableName({ schema: table.schema, table: aside }),
    ]);
    if (rows[0]?.taken) {
      throw new IntegrityError(
        'foreign-ledger',
        '',
        `${tool}'s table ${displayName(table)} cannot be renamed aside: ${table.schema}.${aside} already exists; ` +
          'rename or drop that one, then adopt again; nothing was changed\n' +
          `it has slipway's table name, so adopt renames it to ${aside}; or give slipway another table with --table`,
      );
    }
  }
  // Renamed aside, the old table frees its name: an unqualified one is then created where `up` would create it.
  const target: TableName =
    own !== undefined && !ownIsSlipway && tableName.schema === null ? { schema: current, table: tableName.table } : ledger.name;
  return { foreign, mapping, aside, target, reshapeOwn: ownIsSlipway && !own.columns.some((c) => c.name === 'checksum') };
}

/**
 * An empty ledger of another tool on a database that has tables of its own: adopting it would
 * have `up` run every migration again on top of them. Refused, naming a few of those tables.
 */
async function refuseEmptyOnPopulated(client: pg.ClientBase, foreign: ForeignLedger, own: Ledger): Promise<void> {
  const { rows } = await client.query<{ name: string; total: number }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name, count(*) OVER ()::int AS total
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname <> 'information_schema'
        AND n.nspname !~ '^pg_' AND n.nspname NOT IN ('supabase_migrations', 'drizzle')
        AND (n.nspname, c.relname) NOT IN (($1, $2), ($3, $4))
      ORDER BY 1 LIMIT 3`,
    [foreign.table.schema, foreign.table.table, own.name.schema ?? '', own.name.table],
  );
  if (rows.length === 0) return;
  throw new IntegrityError(
    'foreign-empty',
    '',
    `${describeForeignLedger(foreign)}, yet the database has ${rows[0]!.total} table(s): ` +
      'adopting it would run every migration again on top of them; check --database-url; nothing was changed\n' +
      `they include ${rows.map((r) => r.name).join(', ')}; check that ${foreign.tool} really ran here; ` +
      `if those tables are not these migrations' work, drop ${displayName(foreign.table)} and use slipway up`,
  );
}

/** The takeover itself: one transaction on the lock's backend. */
async function takeOver(client: pg.ClientBase, takeover: Takeover, migrations: readonly Migration[], pid: number): Promise<void> {
  const ledger = new Ledger(takeover.target);
  const old = takeover.foreign.table;
  // An older (empty) slipway table is brought to shape first: that commits on its own, as `up` would do it.
  if (takeover.reshapeOwn) await ledger.ensure(client);
  const applied = takeover.mapping.migrations
    .filter((m) => m.state === 'applied')
    .map((m) => migrations.find((f) => f.version === m.version)!);
  try {
    const results = (await client.query(`BEGIN; SELECT pg_backend_pid() AS pid`)) as unknown as pg.QueryResult[];
    const backend = (results[1]?.rows[0] as { pid?: number } | undefined)?.pid;
    if (backend !== pid) {
      throw new SessionError(
        'the connection does not keep one server session: use a direct or session-pooling connection; nothing was changed\n' +
          `adopt's transaction ran on server backend pid ${backend}, not on pid ${pid}, which holds the migration lock ` +
          '(a pooler in transaction mode?)',
      );
    }
    if (takeover.aside !== null) {
      const { rows: indexes } = await client.query<{ name: string }>(
        `SELECT c.relname::text AS name FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1::regclass ORDER BY 1`,
        [quoteTableName(old)],
      );
      const statements = [`ALTER TABLE ${quoteTableName(old)} RENAME TO ${quoteIdentifier(takeover.aside)}`];
      // Its indexes (the primary key's) keep the old table's name otherwise, and slipway's own would get a numbered one.
      for (const { name } of indexes) {
        if (!name.startsWith(`${old.table}_`)) continue;
        const renamed = `${takeover.aside}${name.slice(old.table.length)}`;
        statements.push(`ALTER INDEX ${quoteTableName({ schema: old.schema, table: name })} RENAME TO ${quoteIdentifier(renamed)}`);
      }
      await client.query(statements.join(';\n'));
    }
    await ledger.ensure(client);
    const rows = await ledger.count(client);
    if (rows > 0) {
      throw new IntegrityError(
        'already-adopted',
        '',
        `slipway's ledger ${ledger.sqlName} gained ${rows} row(s) while adopt ran: another runner with another lock key is using it; nothing was changed`,
      );
    }
    const inserted = await ledger.recordApplied(client, applied, pid);
    if (inserted !== applied.length)
      throw new SessionError(
        `adopt's rows were written on another server backend than pid ${pid}, which holds the migration lock; nothing was changed`,
      );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

function outcome(takeover: Takeover, dryRun: boolean): AdoptResult {
  const { foreign, aside } = takeover;
  return {
    tool: foreign.tool,
    foreignTable: displayName(foreign.table),
    keptAs: aside === null ? displayName(foreign.table) : `${foreign.table.schema}.${aside}`,
    says: describeForeignLedger(foreign),
    table: quoteTableName(takeover.target),
    migrations: takeover.mapping.migrations,
    dryRun,
  };
}
