/**
 * Other tools' ledgers: golang-migrate, dbmate, node-pg-migrate, goose, sql-migrate, Prisma,
 * Drizzle and the Supabase CLI.
 * Recognised by their table's exact shape (one catalog query), mapped to the migration files
 * (pure), and taken over only by {@link adopt}. Every other command refuses to run on top of one.
 */
import type pg from 'pg';
import { quoteTableName, type TableName } from '../db/identifier.js';
import { IntegrityError } from '../errors.js';
import { type Ledger, openLedger, type OpenedLedger } from './ledger.js';
import { checksumOf, type Migration } from './source.js';

/** The tools whose ledgers slipway recognises. */
export type ForeignTool = 'golang-migrate' | 'dbmate' | 'node-pg-migrate' | 'goose' | 'sql-migrate' | 'prisma' | 'drizzle' | 'supabase';

/** One column as the catalog describes it: its name and `format_type()`. */
export interface CatalogColumn {
  readonly name: string;
  readonly type: string;
}

/** A table found by name in the catalog, with its columns. */
export interface CatalogTable {
  readonly schema: string;
  readonly table: string;
  readonly columns: readonly CatalogColumn[];
}

interface Shape {
  readonly tool: ForeignTool;
  /** The tool's default table name. */
  readonly table: string;
  /** Every column, exactly, with the types the tool creates it with. */
  readonly columns: Readonly<Record<string, RegExp>>;
  /** Columns some versions of the tool add. */
  readonly optional?: Readonly<Record<string, RegExp>>;
  /** The schema the tool keeps it in, when it always uses its own. */
  readonly schema?: string;
}

const INTEGER = /^(integer|bigint)$/;
const VARCHAR = /^character varying/;
const TIMESTAMP = /^timestamp/;

/** Each tool's ledger, as the tool creates it in PostgreSQL. */
const SHAPES: readonly Shape[] = [
  { tool: 'golang-migrate', table: 'schema_migrations', columns: { version: /^bigint$/, dirty: /^boolean$/ } },
  { tool: 'dbmate', table: 'schema_migrations', columns: { version: VARCHAR } },
  { tool: 'node-pg-migrate', table: 'pgmigrations', columns: { id: INTEGER, name: VARCHAR, run_on: TIMESTAMP } },
  {
    tool: 'goose',
    table: 'goose_db_version',
    columns: { id: INTEGER, version_id: /^bigint$/, is_applied: /^boolean$/, tstamp: TIMESTAMP },
  },
  { tool: 'sql-migrate', table: 'gorp_migrations', columns: { id: /^(text|character varying)/, applied_at: TIMESTAMP } },
  {
    tool: 'prisma',
    table: '_prisma_migrations',
    columns: {
      id: VARCHAR,
      checksum: VARCHAR,
      finished_at: TIMESTAMP,
      migration_name: VARCHAR,
      logs: /^text$/,
      rolled_back_at: TIMESTAMP,
      started_at: TIMESTAMP,
      applied_steps_count: INTEGER,
    },
  },
  { tool: 'drizzle', table: '__drizzle_migrations', columns: { id: INTEGER, hash: /^text$/, created_at: /^(bigint|numeric)/ } },
  {
    tool: 'supabase',
    table: 'schema_migrations',
    schema: 'supabase_migrations',
    columns: { version: /^text$/, statements: /^text\[\]$/, name: /^text$/ },
    optional: { created_by: /^text$/, idempotency_key: /^text$/, rollback: /^text\[\]$/ },
  },
];

/** What each tool's ledger entries are called, for messages. */
const ENTRY: Record<ForeignTool, string> = {
  'golang-migrate': 'version',
  dbmate: 'version',
  'node-pg-migrate': 'name',
  goose: 'version_id',
  'sql-migrate': 'id',
  prisma: 'migration_name',
  drizzle: 'hash',
  supabase: 'version',
};

/** A tool's ledger as found in the database. */
export interface ForeignLedger {
  readonly tool: ForeignTool;
  /** Where it is, schema-qualified. */
  readonly table: { readonly schema: string; readonly table: string };
  /**
   * What the tool says is applied, as it wrote it, oldest first: golang-migrate's one version
   * (every file up to it is applied), dbmate's versions, node-pg-migrate's names, goose's
   * applied version ids, sql-migrate's ids (file names).
   */
  readonly entries: readonly string[];
  /** golang-migrate only: its last migration failed half-way. */
  readonly dirty: boolean;
  /** Prisma only: the checksum it recorded of each entry's migration.sql. */
  readonly checksums?: ReadonlyMap<string, string>;
  /** Prisma only: entries it started and never finished, or rolled back and never applied again. */
  readonly unfinished?: ReadonlyArray<{ readonly entry: string; readonly rolledBack: boolean }>;
}

/**
 * Which tool a table belongs to, from its name and exact columns; null when it is no tool's
 * ledger (slipway's own, or anything else). `ledgerTable` is slipway's table name, under which
 * a golang-migrate or dbmate table configured with that name is recognised too. Pure.
 *
 * @example
 * recogniseTable({ schema: 'public', table: 'schema_migrations', columns: [{ name: 'version', type: 'bigint' }, { name: 'dirty', type: 'boolean' }] })
 * // 'golang-migrate'
 */
export function recogniseTable(table: CatalogTable, ledgerTable = 'schema_migrations'): ForeignTool | null {
  for (const shape of SHAPES) {
    if (
      shape.schema !== undefined
        ? table.schema !== shape.schema || table.table !== shape.table
        : table.table !== shape.table && !(table.table === ledgerTable && shape.table === 'schema_migrations')
    )
      continue;
    const expected = Object.entries(shape.columns);
    const optional = Object.entries(shape.optional ?? {});
    const known = (c: CatalogColumn) => [...expected, ...optional].some(([name, type]) => c.name === name && type.test(c.type));
    if (!table.columns.every(known)) continue;
    if (expected.every(([name, type]) => table.columns.some((c) => c.name === name && type.test(c.type)))) return shape.tool;
  }
  return null;
}

/**
 * goose's applied versions from its rows in id order: a version is applied when its newest
 * row says `is_applied`; version 0 is goose's own first row. Pure.
 *
 * @example gooseApplied([{ versionId: '0', isApplied: true }, { versionId: '1', isApplied: true }, { versionId: '2', isApplied: true }, { versionId: '2', isApplied: false }]) // ['1']
 */
export function gooseApplied(rows: ReadonlyArray<{ readonly versionId: string; readonly isApplied: boolean }>): string[] {
  const newest = new Map<string, boolean>();
  for (const row of rows) {
    newest.delete(row.versionId); // re-inserted: keeps the order of each version's newest row
    newest.set(row.versionId, row.isApplied);
  }
  return [...newest].filter(([version, applied]) => applied && version !== '0').map(([version]) => version);
}

/**
 * An entry of a tool's ledger with the column it comes from, for messages. Pure.
 *
 * @example describeEntry('node-pg-migrate', '1700000000000_create-users') // 'name 1700000000000_create-users'
 */
export function describeEntry(tool: ForeignTool, entry: string): string {
  return `${ENTRY[tool]} ${entry}`;
}

export function displayName(table: { schema: string; table: string }): string {
  return `${table.schema}.${table.table}`;
}

/**
 * What a tool's ledger says is applied, as one phrase. Pure.
 *
 * @example describeForeignLedger({ tool: 'golang-migrate', table: { schema: 'public', table: 'schema_migrations' }, entries: ['62'], dirty: false })
 * // "golang-migrate's table public.schema_migrations says version 62 is applied (clean)"
 */
export function describeForeignLedger(ledger: ForeignLedger): string {
  const owner = `${ledger.tool}'s table ${displayName(ledger.table)}`;
  const { entries } = ledger;
  if (ledger.tool === 'golang-migrate') {
    return entries.length === 0
      ? `${owner} says no version is applied`
      : `${owner} says version ${entries.at(-1)} is applied (${ledger.dirty ? 'dirty' : 'clean'})`;
  }
  const noun = ledger.tool === 'goose' ? 'version' : 'migration';
  if (entries.length === 0) return `${owner} says no ${noun} is applied`;
  // Drizzle's entries are hashes: a count says more.
  if (ledger.tool === 'drizzle') return `${owner} says ${entries.length} ${noun}${entries.length === 1 ? ' is' : 's are'} applied`;
  if (entries.length === 1) return `${owner} says 1 ${noun} is applied (${entries[0]})`;
  return `${owner} says ${entries.length} ${noun}s are applied (${entries[0]} to ${entries.at(-1)})`;
}

/** What `up`, `down`, `plan` and `status` stop with on a database run by another tool: one line, then how to look first. */
function refusal(ledgers: readonly ForeignLedger[]): string {
  return (
    `${ledgers.map(describeForeignLedger).join('; ')}, and slipway has no ledger in this database: ` +
    'run `slipway adopt` to take it over; nothing was changed\n' +
    'run `slipway adopt --dry-run` first to see how its entries map to your migration files'
  );
}

/**
 * The catalog in ONE query: every table in a non-system schema named like a tool's ledger or
 * like slipway's (`ledgerTable`), with its columns; and `current_schema()`.
 */
export async function findTables(
  client: pg.ClientBase,
  ledgerTable: string,
  inSchema: string | null = null,
  alsoNamed: readonly string[] = [],
): Promise<{ current: string | null; tables: CatalogTable[] }> {
  const names = [...new Set([...SHAPES.map((s) => s.table), ledgerTable, ...alsoNamed])];
  const { rows } = await client.query<{ current: string | null; tables: CatalogTable[] | null }>(
    `SELECT current_schema() AS current,
            (SELECT json_agg(json_build_object('schema', n.nspname, 'table', c.relname,
                      'columns', (SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
                                    FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped))
                    ORDER BY n.nspname, c.relname)
               FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relname = ANY($1::text[]) AND c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema'
                AND n.nspname !~ '^pg_(catalog|toast|temp_|toast_temp_)' AND ($2::text IS NULL OR n.nspname = $2)) AS tables`,
    [names, inSchema],
  );
  const tables = (rows[0]?.tables ?? []).map((t) => ({ ...t, columns: t.columns ?? [] }));
  return { current: rows[0]?.current ?? null, tables };
}

/** Where {@link adopt} keeps a tool's table that had slipway's table name: `schema_migrations_golang_migrate`. */
export function keptAsideName(ledgerTable: string, tool: ForeignTool): string {
  return `${ledgerTable}_${tool.replaceAll('-', '_')}`;
}

/**
 * Other tools' ledgers in the database, where the tool keeps them or where `adopt` put them
 * aside: their bookkeeping, not the schema's. One catalog query.
 *
 * @example await otherToolsLedgers(client, 'schema_migrations') // [{ tool: 'drizzle', table: { schema: 'drizzle', table: '__drizzle_migrations' } }]
 */
export async function otherToolsLedgers(
  client: pg.ClientBase,
  ledgerTable: string,
): Promise<Array<{ tool: ForeignTool; table: { schema: string; table: string } }>> {
  const aside = (['golang-migrate', 'dbmate'] as const).map((tool) => ({ tool, table: keptAsideName(ledgerTable, tool) }));
  const { tables } = await findTables(
    client,
    ledgerTable,
    null,
    aside.map((a) => a.table),
  );
  return tables.flatMap((table) => {
    const setAside = aside.find((a) => a.table === table.table);
    // A table put aside is recognised as what it was before: the tool's table under slipway's name.
    const tool = recogniseTable(setAside === undefined ? table : { ...table, table: ledgerTable }, ledgerTable);
    return tool === null || (setAside !== undefined && tool !== setAside.tool)
      ? []
      : [{ tool, table: { schema: table.schema, table: table.table } }];
  });
}

/** Reads what a recognised ledger says is applied: one query. */
export async function readForeignLedger(client: pg.ClientBase, tool: ForeignTool, table: CatalogTable): Promise<ForeignLedger> {
  const name = quoteTableName({ schema: table.schema, table: table.table });
  const location = { schema: table.schema, table: table.table };
  const texts = async (sql: string) => (await client.query<{ entry: string }>(sql)).rows.map((r) => r.entry);
  switch (tool) {
    case 'golang-migrate': {
      const { rows } = await client.query<{ version: string; dirty: boolean }>(
        `SELECT version::text AS version, dirty FROM ${name} ORDER BY version`,
      );
      return { tool, table: location, entries: rows.map((r) => r.version), dirty: rows.some((r) => r.dirty) };
    }
    case 'dbmate': {
      const entries = await texts(`SELECT version AS entry FROM ${name}`);
      return { tool, table: location, entries: entries.sort(byNumberThenText), dirty: false };
    }
    case 'node-pg-migrate':
      return { tool, table: location, entries: await texts(`SELECT name AS entry FROM ${name} ORDER BY run_on, id`), dirty: false };
    case 'goose': {
      const { rows } = await client.query<{ version_id: string; is_applied: boolean }>(
        `SELECT version_id::text AS version_id, is_applied FROM ${name} ORDER BY id`,
      );
      const applied = gooseApplied(rows.map((r) => ({ versionId: r.version_id, isApplied: r.is_applied })));
      return { tool, table: location, entries: applied.sort(byNumberThenText), dirty: false };
    }
    case 'sql-migrate': {
      const entries = await texts(`SELECT id AS entry FROM ${name}`);
      return { tool, table: location, entries: entries.sort(byNumberThenText), dirty: false };
    }
    case 'prisma': {
      const { rows } = await client.query<{ name: string; checksum: string; finished: boolean; rolled_back: boolean }>(
        `SELECT migration_name AS name, checksum, finished_at IS NOT NULL AS finished, rolled_back_at IS NOT NULL AS rolled_back FROM ${name} ORDER BY started_at, migration_name`,
      );
      return { tool, table: location, dirty: false, ...prismaApplied(rows) };
    }
    case 'drizzle':
      return { tool, table: location, entries: await texts(`SELECT hash AS entry FROM ${name} ORDER BY created_at, id`), dirty: false };
    case 'supabase': {
      const entries = await texts(`SELECT version AS entry FROM ${name}`);
      return { tool, table: location, entries: entries.sort(byNumberThenText), dirty: false };
    }
  }
}

/**
 * What Prisma's rows say: a migration is applied when a row of it finished and was not rolled
 * back; one whose rows all failed or were rolled back is unfinished. Pure.
 *
 * @example prismaApplied([{ name: '20240101000000_init', checksum: 'ab…', finished: true, rolled_back: false }]).entries // ['20240101000000_init']
 */
export function prismaApplied(rows: ReadonlyArray<{ name: string; checksum: string; finished: boolean; rolled_back: boolean }>) {
  const checksums = new Map<string, string>();
  for (const row of rows) if (row.finished && !row.rolled_back) checksums.set(row.name, row.checksum);
  const unfinished = new Map<string, boolean>();
  for (const row of rows)
    if (!checksums.has(row.name) && !(row.finished && !row.rolled_back))
      unfinished.set(row.name, row.rolled_back || (unfinished.get(row.name) ?? false));
  return { entries: [...checksums.keys()], checksums, unfinished: [...unfinished].map(([entry, rolledBack]) => ({ entry, rolledBack })) };
}

function leadingNumber(text: string): bigint | null {
  const match = /^(\d+)/.exec(text);
  return match ? BigInt(match[1]!) : null;
}

function byNumberThenText(a: string, b: string): number {
  const [x, y] = [leadingNumber(a), leadingNumber(b)];
  if (x !== null && y !== null && x !== y) return x < y ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Finds and reads slipway's ledger ({@link openLedger}; `located`: one found already), and stops when the database holds
 * another tool's ledger and no slipway ledger: a run there would apply everything again (or
 * stumble over the other tool's rows). Costs nothing more when slipway's ledger has rows and
 * its shape; otherwise one catalog query (and one per ledger found).
 *
 * @example
 * const { ledger, contents } = await readOwnLedger(client, parseTableName('schema_migrations'));
 */
export async function readOwnLedger(client: pg.ClientBase, name: TableName, located?: Ledger): Promise<OpenedLedger> {
  const opened = located === undefined ? await openLedger(client, name) : { ledger: located, contents: await located.read(client) };
  const { ledger, contents } = opened;
  if (contents.rows.length > 0 && !contents.adopting) return opened;
  // A table named with its schema (a tenant's, say) answers for that schema only.
  const { tables } = await findTables(client, ledger.name.table, ledger.requested.schema);
  const own = tables.find((t) => t.schema === ledger.name.schema && t.table === ledger.name.table);
  if (own !== undefined && recogniseTable(own, ledger.name.table) === null) return opened;
  const foreign: ForeignLedger[] = [];
  for (const table of tables) {
    const tool = recogniseTable(table, ledger.name.table);
    if (tool !== null) foreign.push(await readForeignLedger(client, tool, table));
  }
  if (foreign.length === 0) return opened;
  throw new IntegrityError('foreign-ledger', '', refusal(foreign));
}

/** One migration of the folder after adoption. */
export interface AdoptedMigration {
  readonly version: string;
  readonly state: 'applied' | 'pending';
  /** The other tool's entry it is applied by, as that tool wrote it; null when pending. */
  readonly from: string | null;
}

/** An entry of the other tool's ledger that cannot be taken over, or the ledger's dirty flag. */
export interface AdoptionProblem {
  readonly kind: 'dirty' | 'no-file' | 'several-files' | 'unfinished' | 'edited';
  /** The entry as the tool wrote it. */
  readonly entry: string;
  /** A first line (what is wrong, what to do, nothing was changed), then any detail on a second one. */
  readonly message: string;
}

export interface AdoptionMapping {
  /** Every migration of the folder, in order. */
  readonly migrations: readonly AdoptedMigration[];
  /** Anything that stops the takeover; empty when it can go ahead. */
  readonly problems: readonly AdoptionProblem[];
}

/**
 * A name compared loosely: without extension or `.up`/`.down`, `-` and `_` alike, case and the
 * leading number's zero padding ignored.
 *
 * @example looseName('0001_Create-Users.up.sql') // '1_create_users'
 */
export function looseName(name: string): string {
  let base = name.trim();
  for (let previous = ''; previous !== base; ) {
    previous = base;
    base = base.replace(/\.(sql|js|cjs|mjs|ts|cts|mts|go|up|down)$/i, '');
  }
  return base
    .toLowerCase()
    .replaceAll('-', '_')
    .replace(/^0+(?=\d)/, '');
}

/** The files an entry names: by number when exactly one file has it, otherwise by name. */
function filesFor(tool: ForeignTool, entry: string, migrations: readonly Migration[]): Migration[] {
  // Drizzle records the sha256 of each file it ran, which is slipway's checksum of that file.
  if (tool === 'drizzle') return migrations.filter((m) => m.checksum === entry);
  if (tool === 'prisma') {
    const exact = migrations.filter((m) => m.version === entry);
    if (exact.length > 0) return exact;
  }
  const number = leadingNumber(entry);
  const byNumber = number === null ? [] : migrations.filter((m) => m.number === number);
  if (byNumber.length === 1 || tool === 'golang-migrate' || tool === 'dbmate' || tool === 'goose' || tool === 'supabase') return byNumber;
  const loose = looseName(entry);
  const byName = migrations.filter((m) => looseName(m.version) === loose);
  return byName.length > 0 ? byName : byNumber;
}

/**
 * Maps another tool's ledger to the migration files: which are applied, and by which entry.
 * golang-migrate's one version N means every file numbered N or less. An entry that matches no
 * file or several, and a dirty golang-migrate ledger, are reported as problems. Pure.
 *
 * @example
 * const { migrations, problems } = mapForeignLedger(found, await readMigrationsDir('./migrations'), './migrations');
 * migrations.filter((m) => m.state === 'pending'); // what `slipway up` applies after adopting
 */
export function mapForeignLedger(
  ledger: ForeignLedger,
  migrations: readonly Migration[],
  source = 'the migrations folder',
): AdoptionMapping {
  const owner = `${ledger.tool}'s table ${displayName(ledger.table)}`;
  const what = ENTRY[ledger.tool];
  const problems: AdoptionProblem[] = [];
  const from = new Map<string, string>();
  const newest = ledger.entries.at(-1);
  if (ledger.tool === 'golang-migrate' && ledger.dirty && newest !== undefined) {
    const n = BigInt(newest);
    const previous = migrations.filter((m) => m.number < n).at(-1)?.number;
    problems.push({
      kind: 'dirty',
      entry: newest,
      message:
        `${owner} is dirty at version ${newest} (that migration failed half-way): ` +
        'check its effects, clear the flag with `migrate force`, then adopt again; nothing was changed\n' +
        'its effects must be all in the database or none (finish or undo them by hand); ' +
        "golang-migrate's force command then clears the flag: " +
        `\`migrate force ${newest}\` if they are all there, \`migrate force ${previous ?? '<the previous version>'}\` if none are`,
    });
  }
  // golang-migrate keeps one row: the newest version, which stands for every file up to it.
  const entries = ledger.tool === 'golang-migrate' ? (newest === undefined ? [] : [newest]) : ledger.entries;
  for (const { entry, rolledBack } of ledger.unfinished ?? []) {
    problems.push({
      kind: 'unfinished',
      entry,
      message: rolledBack
        ? `${owner} records ${entry} as rolled back and never applied again: ` +
          'apply it with `prisma migrate deploy`, then adopt again; nothing was changed\n' +
          'if it was dropped on purpose, delete its rows instead, then adopt again'
        : `${owner} records ${entry} as started and never finished (failed): ` +
          'check its effects, then resolve it and adopt again; nothing was changed\n' +
          `resolve it with \`prisma migrate resolve --applied ${entry}\` or \`--rolled-back ${entry}\``,
    });
  }
  for (const entry of entries) {
    const files = filesFor(ledger.tool, entry, migrations);
    if (files.length === 0 && ledger.tool === 'golang-migrate') {
      // Its one row is a high-water mark: dropping it would call a full database empty.
      problems.push({
        kind: 'no-file',
        entry,
        message:
          `${owner} says every migration up to version ${entry} is applied; no file in ${source} has that number: ` +
          "point --dir at golang-migrate's folder; nothing was changed\n" +
          "if golang-migrate ran this folder, restore that migration's files instead",
      });
      continue;
    }
    if (files.length === 0 && ledger.tool === 'drizzle') {
      problems.push({
        kind: 'no-file',
        entry,
        message:
          `${owner} has a migration with hash ${entry.slice(0, 12)}… that no file in ${source} hashes to: ` +
          'restore the file as it was, then adopt again; nothing was changed\n' +
          'the cause: a file edited after Drizzle ran it, or another folder',
      });
      continue;
    }
    if (files.length === 0) {
      problems.push({
        kind: 'no-file',
        entry,
        message:
          `${owner} has ${what} ${entry}, which matches no migration file in ${source}: ` +
          'add the file or delete the entry, then adopt again; nothing was changed\n' +
          `add it as <number>_<name>.up.sql (${suggestFile(ledger.tool, entry)}), ` +
          `or, if it was removed on purpose, delete the entry from ${displayName(ledger.table)}`,
      });
      continue;
    }
    if (files.length > 1) {
      problems.push({
        kind: 'several-files',
        entry,
        message:
          `${owner} has ${what} ${entry}, which matches ${files.length} migration files in ${source}: ` +
          `renumber the ones ${ledger.tool} did not apply, then adopt again; nothing was changed\n` +
          `the files: ${files.map((m) => m.version).join(', ')}; give each one ${ledger.tool} did not apply a number of its own`,
      });
      continue;
    }
    const file = files[0]!;
    const recorded = ledger.checksums?.get(entry);
    if (recorded !== undefined && recorded !== file.checksum && recorded !== checksumOf(file.upSql.replaceAll('\r\n', '\n'))) {
      problems.push({
        kind: 'edited',
        entry,
        message: `${file.upSource} was edited after Prisma applied it (${owner} records checksum ${recorded.slice(0, 12)}…): restore the file as it was applied, then adopt again; nothing was changed`,
      });
      continue;
    }
    if (ledger.tool === 'golang-migrate') {
      for (const m of migrations) if (m.number <= file.number && !from.has(m.version)) from.set(m.version, entry);
    } else if (!from.has(file.version)) {
      from.set(file.version, entry);
    }
  }
  return {
    migrations: migrations.map((m) => ({
      version: m.version,
      state: from.has(m.version) ? 'applied' : 'pending',
      from: from.get(m.version) ?? null,
    })),
    problems,
  };
}

function suggestFile(tool: ForeignTool, entry: string): string {
  if (tool === 'node-pg-migrate' || tool === 'sql-migrate')
    return `e.g. ${looseName(entry) === entry ? entry : entry.replace(/\.sql$/i, '')}.up.sql`;
  return `e.g. ${entry}_<name>.up.sql`;
}
