/**
 * dump, load, drift and verify: the schema commands. The only module of schema/ that opens
 * sessions and scratch databases; reading the catalog and comparing are catalog.ts and dump.ts.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import type { Logger } from 'pino';
import { parseTableName, quoteIdentifier, quoteTableName } from '../db/identifier.js';
import { openSession, type ConnectionSource, type Session } from '../db/session.js';
import { DatabaseError, MigrationFailedError, SlipwayError, UsageError } from '../errors.js';
import { createLogger } from '../log.js';
import { displayName, otherToolsLedgers } from '../migrations/foreign.js';
import { locateLedger } from '../migrations/ledger.js';
import { loadMigrations } from './context.js';
import { migrate } from './migrate.js';
import { compareMigrations, parseVersion, type Migration, type MigrationInput } from '../migrations/source.js';
import { readSnapshot, type Snapshot } from '../schema/catalog.js';
import { parseSql } from '../sql/parse.js';
import { compareSnapshots, formatDifferences, renderDump, type SchemaDifference } from '../schema/dump.js';

interface CommonOptions extends ConnectionSource {
  /** Bookkeeping table, as for `migrate`. Default `schema_migrations`. */
  readonly table?: string;
  readonly logger?: Logger;
  /** With `databaseUrl`: retry a connection that fails for a transient reason for this many milliseconds. */
  readonly connectWait?: number;
  readonly signal?: AbortSignal;
}

export interface DumpOptions extends CommonOptions {
  /** Also write each object's owner and the grants that differ from its defaults. Default false. */
  readonly privileges?: boolean;
}

export interface DumpResult {
  /** The schema as SQL, then the bookkeeping table's rows. */
  readonly sql: string;
  /** How many objects it creates. */
  readonly objects: number;
}

function open(options: CommonOptions): Promise<Session> {
  return openSession(options, { waitMs: options.connectWait, logger: options.logger, signal: options.signal });
}

/** The quoted name of the bookkeeping table as `migrate` would find it. */
async function ledgerName(client: pg.ClientBase, table: string | undefined): Promise<string> {
  return (await locateLedger(client, parseTableName(table ?? 'schema_migrations'))).sqlName;
}

/** The schema as the catalog says, slipway's ledger and other tools' ({@link otherToolsLedgers}) marked as bookkeeping. */
async function snapshotOf(
  client: pg.ClientBase,
  table: string | undefined,
  privileges = false,
): Promise<Snapshot & { otherLedgers: string[] }> {
  const others = await otherToolsLedgers(client, parseTableName(table ?? 'schema_migrations').table);
  const snapshot = await readSnapshot(client, await ledgerName(client, table), {
    privileges,
    otherLedgers: others.map((other) => quoteTableName(other.table)),
  });
  return { ...snapshot, otherLedgers: others.map((other) => `${other.tool}'s ledger ${displayName(other.table)}`) };
}

/**
 * The database's schema as SQL, from its catalog: no client binary, servers 14 to 18, the same
 * text for the same schema on one major (the server writes view and function bodies, and 16 writes
 * a view's columns unqualified where 15 qualifies them). The bookkeeping table's rows come last,
 * so loading the file gives a database `up` sees as up to date.
 *
 * @example
 * const { sql } = await dump({ databaseUrl: process.env.DATABASE_URL });
 * await writeFile('schema.sql', sql);
 */
export async function dump(options: DumpOptions): Promise<DumpResult> {
  const session = await open(options);
  try {
    const snapshot = await snapshotOf(session.client, options.table, options.privileges === true);
    return { sql: renderDump(snapshot), objects: snapshot.objects.filter((o) => o.sql !== '').length };
  } finally {
    await session.close();
  }
}

export interface LoadOptions extends CommonOptions {
  /** The dump's text, or */
  readonly sql?: string;
  /** the file holding it. */
  readonly file?: string;
}

/**
 * Creates a schema from a dump, in one transaction, into a database with nothing in it yet.
 * A database that has tables, types, functions or schemas of its own is refused, unchanged.
 *
 * @example
 * await load({ databaseUrl: process.env.DATABASE_URL, file: 'schema.sql' });
 */
export async function load(options: LoadOptions): Promise<{ readonly database: string }> {
  if ((options.sql === undefined) === (options.file === undefined))
    throw new UsageError('load: pass exactly one of sql (the dump) or file (its path)');
  const sql =
    options.sql ??
    (await readFile(options.file!, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new UsageError(`load: cannot read ${options.file}: ${error.code ?? error.message}`);
    }));
  const session = await open(options);
  try {
    const client = session.client;
    const { rows } = await client.query<{ database: string; objects: string[] }>(
      `SELECT current_database() AS database, ARRAY(${OWN_OBJECTS} LIMIT 3) AS objects`,
    );
    const { database, objects } = rows[0]!;
    if (objects.length > 0) {
      throw new SlipwayError(
        'NOT_EMPTY',
        `load: database "${database}" is not empty (it has ${objects.join(', ')}): load a dump into a new, empty database`,
      );
    }
    // The dump sets search_path for itself; the session gets back its own afterwards.
    const settings = `SELECT current_setting('search_path') AS path, current_setting('check_function_bodies') AS bodies`;
    const saved = (await client.query<{ path: string; bodies: string }>(settings)).rows[0]!;
    try {
      await client.query(`BEGIN;\n${sql}\n;COMMIT;`);
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      const message = `load: ${options.file ?? 'the dump'} failed, nothing was loaded: ${(error as Error).message}`;
      throw new DatabaseError((error as { code?: string }).code, message, { cause: error });
    } finally {
      await client
        .query(`SELECT set_config('search_path', $1, false), set_config('check_function_bodies', $2, false)`, [saved.path, saved.bodies])
        .catch(() => session.markBroken());
    }
    return { database };
  } finally {
    await session.close();
  }
}

/**
 * What makes a database not empty: anything of its own outside the server's schemas, any
 * extension but plpgsql, a server, a cast (not a range type's own), a publication.
 */
const OWN_OBJECTS = `
  SELECT what FROM (
    SELECT 1 AS k, CASE c.relkind WHEN 'S' THEN 'sequence ' WHEN 'v' THEN 'view ' WHEN 'm' THEN 'materialized view ' ELSE 'table ' END
                   || quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS what
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg\\_%temp\\_%'
    UNION ALL SELECT 2, 'function ' || quote_ident(n.nspname) || '.' || quote_ident(p.proname) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
    UNION ALL SELECT 3, 'type ' || quote_ident(n.nspname) || '.' || quote_ident(t.typname) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg\\_%temp\\_%' AND t.typrelid = 0 AND t.typelem = 0
    UNION ALL SELECT 4, 'schema ' || quote_ident(n.nspname) FROM pg_namespace n
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'public') AND n.nspname NOT LIKE 'pg\\_%temp\\_%'
    UNION ALL SELECT 5, 'extension ' || quote_ident(x.extname) FROM pg_extension x WHERE x.extname <> 'plpgsql'
    UNION ALL SELECT 6, 'collation ' || quote_ident(n.nspname) || '.' || quote_ident(co.collname) FROM pg_collation co
      JOIN pg_namespace n ON n.oid = co.collnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
    UNION ALL SELECT 7, 'text search configuration ' || quote_ident(n.nspname) || '.' || quote_ident(c.cfgname) FROM pg_ts_config c
      JOIN pg_namespace n ON n.oid = c.cfgnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
    UNION ALL SELECT 8, 'server ' || quote_ident(s.srvname) FROM pg_foreign_server s
    UNION ALL SELECT 9, 'cast (' || format_type(c.castsource, NULL) || ' AS ' || format_type(c.casttarget, NULL) || ')' FROM pg_cast c
     WHERE c.oid >= 16384
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_cast'::regclass AND d.objid = c.oid AND d.deptype = 'i')
    UNION ALL SELECT 10, 'publication ' || quote_ident(p.pubname) FROM pg_publication p
  ) own ORDER BY k, what`;

interface MigrationsOptions extends CommonOptions {
  /** The migrations folder, or */
  readonly dir?: string;
  /** the migrations in memory. */
  readonly migrations?: readonly MigrationInput[] | readonly Migration[];
}

export type DriftOptions = MigrationsOptions;

export interface DriftReport {
  /** True when the database's schema is not the one its migrations build. */
  readonly drifted: boolean;
  /** Each object that differs: missing from the database, extra in it, or changed. */
  readonly differences: readonly SchemaDifference[];
  /** The differences as a unified diff, `-` the migrations', `+` the database's; empty when none. */
  readonly diff: string;
  /**
   * Other tools' ledgers in the database (a Drizzle or Prisma table kept by `slipway adopt`),
   * left out like slipway's own: `drizzle's ledger drizzle.__drizzle_migrations`.
   */
  readonly notCompared: readonly string[];
}

/**
 * Compares the database's schema with what its migrations build: they are applied to a scratch
 * database (created from template0, dropped after; the role needs CREATEDB), both are read from
 * the catalog, and every object that differs is reported. The bookkeeping rows are not compared.
 *
 * @example
 * const report = await drift({ databaseUrl, dir: './migrations' });
 * if (report.drifted) process.stdout.write(report.diff);
 */
export async function drift(options: DriftOptions): Promise<DriftReport> {
  const logger = options.logger ?? createLogger();
  const { migrations } = loadMigrations(options);
  const session = await open(options);
  try {
    const live = await snapshotOf(session.client, options.table);
    const extensions = await outOfBandExtensions(session.client, migrations, 'drift', logger);
    const built = await withScratch(session, 'drift', extensions, async (scratch) => {
      await inScratch('drift', () => migrate({ client: scratch, migrations, direction: 'up', ...runOptions(options, logger) }));
      return snapshotOf(scratch, options.table);
    });
    const differences = compareSnapshots(built, live);
    return {
      drifted: differences.length > 0,
      differences,
      diff: formatDifferences(differences, { expected: 'migrations', actual: 'database' }),
      notCompared: live.otherLedgers,
    };
  } finally {
    await session.close();
  }
}

export interface VerifyOptions extends MigrationsOptions {
  /** Check only this migration and the ones after it (a pull request's). */
  readonly from?: string;
}

/** A down file that does not undo its up. */
export interface VerifyProblem {
  readonly version: string;
  /**
   * `down-failed`: the down file fails. `down-differs`: it runs, but the schema is not the one
   * before the up. `up-failed`: the up fails again after its down. `up-differs`: the up after
   * the down builds another schema than the first time.
   */
  readonly kind: 'down-failed' | 'down-differs' | 'up-failed' | 'up-differs';
  /** One line: what failed, or which objects differ. */
  readonly message: string;
  readonly differences: readonly SchemaDifference[];
  /** The differences as a unified diff; empty for a failure. */
  readonly diff: string;
}

export interface VerifyReport {
  /** Versions whose down file was checked, in order. */
  readonly checked: readonly string[];
  /** Versions with no down file. */
  readonly withoutDown: readonly string[];
  readonly problems: readonly VerifyProblem[];
}

/**
 * Checks that every down file undoes its up, in a scratch database (the role needs CREATEDB):
 * migration by migration, the schema before the up, after the up, after the down and after the
 * up again are read from the catalog and compared. Each down that fails or leaves a different
 * schema is reported with its version and the objects that differ.
 *
 * @example
 * const report = await verify({ databaseUrl, dir: './migrations' });
 * for (const p of report.problems) console.log(p.version, p.message);
 */
export async function verify(options: VerifyOptions): Promise<VerifyReport> {
  const logger = options.logger ?? createLogger();
  const { migrations } = loadMigrations(options);
  let start = 0;
  if (options.from !== undefined) {
    const from = parseVersion(options.from);
    if (from === null)
      throw new UsageError(`verify: --from ${JSON.stringify(options.from)} is not a version: give a migration's name, e.g. 020_add_index`);
    start = migrations.findIndex((m) => compareMigrations(m, { ...from, version: options.from! }) >= 0);
    if (start < 0)
      throw new UsageError(
        `verify: no migration at or after --from ${options.from}; the newest is ${migrations.at(-1)?.version ?? '(none)'}`,
      );
  }
  const run = runOptions(options, logger);
  const checked: string[] = [];
  const withoutDown: string[] = [];
  const problems: VerifyProblem[] = [];
  const session = await open(options);
  try {
    const extensions = await outOfBandExtensions(session.client, migrations, 'verify', logger);
    await withScratch(session, 'verify', extensions, async (first, rebuild) => {
      let scratch = first;
      const step = (direction: 'up' | 'down', target?: string) =>
        migrate({ client: scratch, migrations, direction, ...(target === undefined ? { steps: 1 } : { target }), ...run });
      const snap = () => snapshotOf(scratch, options.table);
      const build = (target?: string) => inScratch('verify', () => step('up', target));
      if (start > 0) await build(migrations[start - 1]!.version);
      let before: Snapshot | null = null;
      for (const m of migrations.slice(start)) {
        if (m.downSource === null) {
          withoutDown.push(m.version);
          await build();
          before = null;
          continue;
        }
        checked.push(m.version);
        before ??= await snap();
        await build();
        const applied = await snap();
        const found = await checkDown(
          m.version,
          before,
          applied,
          () => step('down'),
          () => step('up'),
          snap,
        );
        problems.push(...found);
        if (found.length === 0) {
          before = applied;
          continue;
        }
        // Whatever the failed round trip left, the next migration starts from a clean build.
        scratch = await rebuild();
        await build(m.version);
        before = null;
      }
    });
    return { checked, withoutDown, problems };
  } finally {
    await session.close();
  }
}

async function checkDown(
  version: string,
  before: Snapshot,
  applied: Snapshot,
  down: () => Promise<unknown>,
  up: () => Promise<unknown>,
  snap: () => Promise<Snapshot>,
): Promise<VerifyProblem[]> {
  const failed = (kind: VerifyProblem['kind'], error: unknown): VerifyProblem => ({
    version,
    kind,
    message: `${version}: ${kind === 'down-failed' ? 'down' : 'up after its down'} failed: ${(error as Error).message}`,
    differences: [],
    diff: '',
  });
  type Labels = { expected: string; actual: string };
  const differs = (kind: VerifyProblem['kind'], expected: Snapshot, actual: Snapshot, labels: Labels, what: string): VerifyProblem[] => {
    const differences = compareSnapshots(expected, actual);
    if (differences.length === 0) return [];
    const change = (d: SchemaDifference) =>
      d.change === 'missing' ? `not in ${labels.actual}` : d.change === 'extra' ? `left in ${labels.actual}` : 'changed';
    const names = differences.map((d) => `${d.object} (${change(d)})`);
    return [
      { version, kind, message: `${version}: ${what}: ${names.join(', ')}`, differences, diff: formatDifferences(differences, labels) },
    ];
  };
  try {
    await down();
  } catch (error) {
    return [failed('down-failed', error)];
  }
  const reverted = await snap();
  const problems = differs(
    'down-differs',
    before,
    reverted,
    { expected: 'before up', actual: 'after down' },
    'down leaves the schema different from before its up',
  );
  try {
    await up();
  } catch (error) {
    return [...problems, failed('up-failed', error)];
  }
  const again = await snap();
  return [
    ...problems,
    ...differs(
      'up-differs',
      applied,
      again,
      { expected: 'after up', actual: 'after down and up' },
      'up after its down builds a different schema',
    ),
  ];
}

/** A migration that does not apply even to a new database: said as such, so nobody looks for it in the target. */
async function inScratch<T>(verb: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof MigrationFailedError)) throw error;
    throw new MigrationFailedError(
      error.version,
      error.direction,
      `${verb}: the migrations do not apply to a new scratch database: ${error.message}`,
      { cause: error },
    );
  }
}

/** Options passed to each migrate run on a scratch database: quiet, unless something is worth a warning. */
function runOptions(options: MigrationsOptions, logger: Logger) {
  // Above warn (error, silent) stays as it is; anything chattier becomes warn.
  const level = logger.isLevelEnabled('warn') ? 'warn' : logger.level;
  return {
    ...(options.table !== undefined && { table: options.table }),
    logger: logger.child({}, { level }),
    ...(options.signal !== undefined && { signal: options.signal }),
  };
}

/**
 * Runs `work` against a new database created from template0 on the session's server, and drops
 * it after, whatever happened. `rebuild` swaps it for a new empty one.
 */
async function withScratch<T>(
  session: Session,
  verb: string,
  extensions: readonly Extension[],
  work: (client: pg.Client, rebuild: () => Promise<pg.Client>) => Promise<T>,
): Promise<T> {
  const parameters = (session.client as unknown as { connectionParameters: pg.ClientConfig }).connectionParameters;
  let current: { name: string; client: pg.Client } | null = null;
  const drop = async () => {
    if (current === null) return;
    const { name, client } = current;
    current = null;
    await client.end().catch(() => {});
    await session.client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)} WITH (FORCE)`);
  };
  const create = async (): Promise<pg.Client> => {
    await drop();
    const name = `slipway_scratch_${randomBytes(6).toString('hex')}`;
    try {
      await session.client.query(`CREATE DATABASE ${quoteIdentifier(name)} TEMPLATE template0`);
    } catch (error) {
      if ((error as { code?: string }).code !== '42501') throw error;
      const role = (await session.client.query<{ role: string }>('SELECT current_user AS role')).rows[0]!.role;
      const message = `${verb} builds the migrations in a scratch database, and role "${role}" may not create one: grant it CREATEDB or run ${verb} as a role that has it`;
      throw new DatabaseError('42501', message, { cause: error });
    }
    // The target's connection as given (server, role, session options such as a search_path), in the scratch database.
    const { host, port, user, password, ssl, options } = parameters;
    const client = new pg.Client({ host, port, user, password, ssl, options, database: name, application_name: 'slipway-scratch' });
    client.on('error', () => {});
    current = { name, client };
    await client.connect();
    for (const { name: extension, schema } of extensions) {
      try {
        await client.query(`CREATE EXTENSION IF NOT EXISTS ${quoteIdentifier(extension)} WITH SCHEMA ${quoteIdentifier(schema)}`);
      } catch (error) {
        const message = `${verb}: the database has extension ${extension}, which no migration creates, and it cannot be installed in the scratch database: ${(error as Error).message}`;
        throw new DatabaseError((error as { code?: string }).code ?? 'XX000', message, { cause: error });
      }
    }
    return client;
  };
  try {
    return await work(await create(), create);
  } finally {
    await drop();
  }
}

/** An extension to install in a scratch database before the migrations. */
interface Extension {
  readonly name: string;
  readonly schema: string;
}

/**
 * The extensions the database has that no migration creates: installed by hand or by a setup
 * script (many projects ask for `CREATE EXTENSION pg_trgm` before their first migration), so the
 * history applies only where they are. The scratch database gets them first, in the schema they
 * are in here (public or one of the server's; another schema would be the migrations' to make),
 * in the order they were installed, and the log says so.
 */
async function outOfBandExtensions(
  live: pg.ClientBase,
  migrations: readonly Migration[],
  verb: string,
  logger: Logger,
): Promise<Extension[]> {
  const { rows } = await live.query<Extension>(
    `SELECT x.extname AS name, n.nspname AS schema FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
      WHERE x.extname <> 'plpgsql' AND n.nspname IN ('public', 'pg_catalog') ORDER BY x.oid`,
  );
  // Only a database with extensions pays for reading what the migrations create.
  if (rows.length === 0) return [];
  const created = new Set<string>();
  for (const m of migrations) {
    for (const statement of (await parseSql(m.upSql, m.upSource)).statements) {
      if (statement.createsExtension !== undefined) created.add(statement.createsExtension);
    }
  }
  const extensions = rows.filter((x) => !created.has(x.name));
  if (extensions.length > 0) {
    logger.info(
      { extensions: extensions.map((x) => x.name) },
      `${verb}: installing ${extensions.map((x) => x.name).join(', ')} in the scratch database first: the database has them and no migration creates them`,
    );
  }
  return extensions;
}

/** Formats a verify report for people: one line per problem with its diff, then a summary line. */
export function formatVerify(report: VerifyReport): string {
  const lines: string[] = [];
  for (const p of report.problems) {
    lines.push(p.message);
    if (p.diff !== '') lines.push(p.diff.trimEnd());
  }
  const skipped = report.withoutDown.length > 0 ? `, ${report.withoutDown.length} without a down file` : '';
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const outcome = report.problems.length === 0 ? 'every one undoes its up' : plural(report.problems.length, 'problem');
  lines.push(`verify: ${plural(report.checked.length, 'down file')} checked${skipped}: ${outcome}`);
  return `${lines.join('\n')}\n`;
}
