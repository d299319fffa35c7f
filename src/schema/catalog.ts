/**
 * Reads a database's schema from its catalog as a list of objects, each with the SQL that
 * recreates it, written by the server's own functions (pg_get_indexdef, pg_get_constraintdef,
 * pg_get_functiondef, pg_get_viewdef, pg_get_triggerdef, format_type, pg_get_expr) and the
 * edges of pg_depend that order them. One snapshot transaction with an empty search_path, so
 * every name the server writes is schema-qualified and the text never depends on the session.
 * Nothing here opens a connection: the caller's client is used as given.
 */
import type pg from 'pg';

/** One object of the schema and the SQL that creates it. */
export interface SchemaObject {
  /** Internal key (`rel:16384`), for dependency edges only; never printed. */
  readonly key: string;
  /** What the object is, for people and for comparing two schemas: `table public.users`. */
  readonly id: string;
  /** Where it goes when nothing else decides: schemas first, foreign keys after every table. */
  readonly rank: number;
  readonly sql: string;
  /** Keys of objects that must exist first; for a constraint, index, trigger or policy, its table's comes first. */
  readonly after: readonly string[];
  /**
   * A ledger (slipway's, or another tool's kept by `adopt`) or what belongs to it (constraints,
   * indexes, triggers, its sequences, a schema that holds nothing else): not compared by drift
   * and verify.
   */
  readonly bookkeeping?: boolean;
}

/** A schema as read from the catalog: its objects (unordered) and the bookkeeping table's rows. */
export interface Snapshot {
  readonly objects: readonly SchemaObject[];
  /** The bookkeeping table's rows as one INSERT, or null when it has none. */
  readonly ledgerRows: string | null;
}

/**
 * The keys of what belongs to the ledgers: each table, its constraints, indexes, triggers and
 * policies, the sequences it owns (and their ownership), and a schema with nothing else in it.
 */
function bookkeepingOf(objects: readonly SchemaObject[], ledgers: ReadonlySet<string>): Set<string> {
  const books = new Set<string>();
  for (const o of objects) {
    const owner = o.rank === RANK.ownership ? o.after[1] : o.rank >= RANK.constraint ? o.after[0] : o.key;
    if (owner === undefined || !ledgers.has(owner)) continue;
    books.add(o.key);
    if (o.rank === RANK.ownership) books.add(o.after[0]!); // the owned sequence
  }
  // A schema whose every object is a ledger's: a tool's own (Drizzle's drizzle, Supabase's supabase_migrations).
  const others = new Map<string, boolean>(); // schema key → holds something that is not bookkeeping
  for (const o of objects) {
    const schema = o.after.find((key) => key.startsWith('nsp:'));
    if (schema !== undefined) others.set(schema, (others.get(schema) ?? false) || !books.has(o.key));
  }
  for (const [schema, other] of others) if (!other) books.add(schema);
  return books;
}

/** Kinds in the order a dump lists them when the dependency graph leaves the choice open. */
export const RANK = {
  schema: 0,
  extension: 1,
  foreignServer: 2,
  collation: 3,
  type: 4,
  function: 5,
  aggregate: 6,
  operator: 7,
  cast: 8,
  textSearch: 9,
  sequence: 10,
  table: 11,
  view: 12,
  ownership: 13,
  constraint: 14,
  index: 15,
  foreignKey: 16,
  trigger: 17,
  rule: 18,
  policy: 19,
  publication: 20,
} as const;

/** Namespaces that are the server's, never the schema's. */
const USER_NAMESPACE = (n: string) =>
  `${n}.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND ${n}.nspname NOT LIKE 'pg\\_temp\\_%' AND ${n}.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'`;
/** Objects an extension created come with the extension. */
const NOT_EXTENSION_MEMBER = (catalog: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '${catalog}'::regclass AND e.objid = ${oid} AND e.deptype = 'e')`;

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;
const commentOn = (target: string, description: string | null) =>
  description === null ? '' : `\nCOMMENT ON ${target} IS ${literal(description)};`;

interface Row {
  [column: string]: unknown;
}

async function rows<T = Row>(client: pg.ClientBase, sql: string): Promise<T[]> {
  return (await client.query(sql)).rows as T[];
}

/**
 * Reads the schema of the database `client` is connected to. `ledger` is the bookkeeping
 * table's quoted name (its rows are appended) or null.
 */
export async function readSnapshot(
  client: pg.ClientBase,
  ledger: string | null,
  options: { privileges?: boolean; otherLedgers?: readonly string[] } = {},
): Promise<Snapshot> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    // Local to this transaction: the caller's session keeps its own settings.
    await client.query(
      `SET LOCAL search_path = ''; SET LOCAL "TimeZone" = 'UTC'; SET LOCAL "DateStyle" = 'ISO, YMD'; SET LOCAL extra_float_digits = 3`,
    );
    const { rows: oids } = await client.query<{ oid: number | null }>(
      'SELECT to_regclass(t.name)::oid AS oid FROM unnest($1::text[]) WITH ORDINALITY AS t(name, ord) ORDER BY t.ord',
      [[ledger, ...(options.otherLedgers ?? [])]],
    );
    const ledgerOid = oids[0]!.oid;
    const read = await readObjects(client);
    const privileges = options.privileges ? await readPrivileges(client) : new Map<string, string>();
    const ledgers = new Set(oids.flatMap(({ oid }) => (oid === null ? [] : [`rel:${oid}`])));
    const books = bookkeepingOf(read, ledgers);
    const objects = read.map((o) => {
      const sql = privileges.has(o.key) ? `${o.sql}\n${privileges.get(o.key)}`.trim() : o.sql;
      return { ...o, sql, ...(books.has(o.key) && { bookkeeping: true }) };
    });
    const ledgerRows = ledgerOid === null ? null : await readLedgerRows(client, ledgerOid);
    await client.query('COMMIT');
    return { objects, ledgerRows };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

async function readObjects(client: pg.ClientBase): Promise<SchemaObject[]> {
  const objects: SchemaObject[] = [];
  /** Sub-objects (defaults, rules, constraint indexes, row types) to the object whose SQL creates them. */
  const owner = new Map<string, string>();
  const add = (object: SchemaObject) => objects.push(object);

  for (const r of await rows(
    client,
    `
      SELECT n.oid, n.nspname, quote_ident(n.nspname) AS name, obj_description(n.oid, 'pg_namespace') AS comment FROM pg_namespace n
      WHERE ${USER_NAMESPACE('n')} AND ${NOT_EXTENSION_MEMBER('pg_namespace', 'n.oid')}`,
  )) {
    const name = r.name as string;
    // public comes with every new database; only what was said about it is the schema's.
    const create = r.nspname === 'public' ? '' : `CREATE SCHEMA ${name};`;
    add({
      key: `nsp:${r.oid}`,
      id: `schema ${name}`,
      rank: RANK.schema,
      sql: (create + commentOn(`SCHEMA ${name}`, r.comment as string | null)).trim(),
      after: [],
    });
  }

  for (const r of await rows(
    client,
    `
      SELECT x.oid, quote_ident(x.extname) AS name, x.extnamespace, quote_ident(n.nspname) AS schema, obj_description(x.oid, 'pg_extension') AS comment
      FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace WHERE x.extname <> 'plpgsql'`,
  )) {
    const name = r.name as string;
    add({
      key: `ext:${r.oid}`,
      id: `extension ${name}`,
      rank: RANK.extension,
      sql: `CREATE EXTENSION IF NOT EXISTS ${name} WITH SCHEMA ${r.schema};${commentOn(`EXTENSION ${name}`, r.comment as string | null)}`,
      after: [`nsp:${r.extnamespace}`],
    });
  }

  await readForeignServers(client, add);
  await readCollations(client, add);
  await readTypes(client, add, owner);
  await readFunctions(client, add);
  await readOperatorsAndCasts(client, add);
  await readTextSearch(client, add);
  await readRelations(client, add, owner);
  await readConstraints(client, add, owner);
  await readIndexes(client, add);
  await readTriggersAndPolicies(client, add);
  await readRules(client, add);
  await readPublications(client, add);
  await addDependencies(client, objects, owner);
  return objects;
}

const COLLATION = (oid: string) =>
  `(SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname) FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = ${oid})`;

async function readTypes(client: pg.ClientBase, add: (o: SchemaObject) => void, owner: Map<string, string>): Promise<void> {
  const types = await rows(
    client,
    `
      SELECT t.oid, t.typtype, t.typnamespace, format_type(t.oid, NULL) AS name, t.typrelid, obj_description(t.oid, 'pg_type') AS comment,
             (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) AS labels,
             (SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)
                       || CASE WHEN a.attcollation <> at.typcollation THEN ' COLLATE ' || ${COLLATION('a.attcollation')} ELSE '' END, ', ' ORDER BY a.attnum)
                FROM pg_attribute a JOIN pg_type at ON at.oid = a.atttypid
               WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) AS attributes,
             format_type(t.typbasetype, t.typtypmod) AS base, t.typnotnull, pg_get_expr(t.typdefaultbin, 0) AS "default",
             CASE WHEN t.typtype = 'd' AND t.typcollation <> (SELECT bt.typcollation FROM pg_type bt WHERE bt.oid = t.typbasetype)
                  THEN ${COLLATION('t.typcollation')} END AS collation,
             format_type(r.rngsubtype, NULL) AS subtype, r.rngmultitypid, format_type(r.rngmultitypid, NULL) AS multirange,
             CASE WHEN r.rngsubdiff <> 0 THEN r.rngsubdiff::regproc::text END AS subdiff,
             CASE WHEN r.rngcanonical <> 0 THEN r.rngcanonical::regproc::text END AS canonical,
             CASE WHEN r.rngcollation <> 0 AND r.rngcollation <> (SELECT st.typcollation FROM pg_type st WHERE st.oid = r.rngsubtype)
                  THEN ${COLLATION('r.rngcollation')} END AS range_collation,
             (SELECT quote_ident(on_.nspname) || '.' || quote_ident(oc.opcname) FROM pg_opclass oc JOIN pg_namespace on_ ON on_.oid = oc.opcnamespace
               WHERE oc.oid = r.rngsubopc AND NOT oc.opcdefault) AS opclass
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace LEFT JOIN pg_range r ON r.rngtypid = t.oid
      WHERE ${USER_NAMESPACE('n')} AND ${NOT_EXTENSION_MEMBER('pg_type', 't.oid')}
        AND (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c'))`,
  );
  const checks = await rows(
    client,
    `
      SELECT co.contypid, quote_ident(co.conname) AS name, pg_get_constraintdef(co.oid) AS def, obj_description(co.oid, 'pg_constraint') AS comment
      FROM pg_constraint co WHERE co.contypid <> 0 AND co.contype = 'c' ORDER BY co.conname`,
  );
  for (const t of types) {
    const key = `type:${t.oid}`;
    const name = t.name as string;
    let sql: string;
    if (t.typtype === 'e') sql = `CREATE TYPE ${name} AS ENUM (${(t.labels as string | null) ?? ''});`;
    else if (t.typtype === 'c') {
      sql = `CREATE TYPE ${name} AS (${(t.attributes as string | null) ?? ''});`;
      owner.set(`pg_class:${t.typrelid}`, key);
    } else if (t.typtype === 'r') {
      owner.set(`pg_type:${t.rngmultitypid}`, key);
      const parts = [`SUBTYPE = ${t.subtype}`];
      if (t.opclass) parts.push(`SUBTYPE_OPCLASS = ${t.opclass}`);
      if (t.range_collation) parts.push(`COLLATION = ${t.range_collation}`);
      if (t.canonical) parts.push(`CANONICAL = ${t.canonical}`);
      if (t.subdiff) parts.push(`SUBTYPE_DIFF = ${t.subdiff}`);
      parts.push(`MULTIRANGE_TYPE_NAME = ${t.multirange}`);
      sql = `CREATE TYPE ${name} AS RANGE (${parts.join(', ')});`;
    } else {
      const collate = t.collation ? ` COLLATE ${t.collation}` : '';
      sql = `CREATE DOMAIN ${name} AS ${t.base}${collate}${t.default !== null ? ` DEFAULT ${t.default}` : ''}${t.typnotnull ? ' NOT NULL' : ''};`;
      // Added one by one so a NOT VALID check stays not valid.
      for (const c of checks.filter((c) => c.contypid === t.oid)) {
        sql += `\nALTER DOMAIN ${name} ADD CONSTRAINT ${c.name} ${c.def};${commentOn(`CONSTRAINT ${c.name} ON DOMAIN ${name}`, c.comment as string | null)}`;
      }
    }
    const id = `${t.typtype === 'd' ? 'domain' : 'type'} ${name}`;
    sql += commentOn(`${t.typtype === 'd' ? 'DOMAIN' : 'TYPE'} ${name}`, t.comment as string | null);
    add({ key, id, rank: RANK.type, sql, after: [`nsp:${t.typnamespace}`] });
  }
}

async function readFunctions(client: pg.ClientBase, add: (o: SchemaObject) => void): Promise<void> {
  const functions = await rows(
    client,
    `
      SELECT p.oid, p.prokind, p.pronamespace, p.oid::regprocedure::text AS signature, obj_description(p.oid, 'pg_proc') AS comment,
             CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) END AS def,
             quote_ident(n.nspname) || '.' || quote_ident(p.proname) AS name, pg_get_function_arguments(p.oid) AS arguments,
             a.aggtransfn::regproc::text AS sfunc, format_type(a.aggtranstype, NULL) AS stype, a.agginitval AS initcond,
             CASE WHEN a.aggfinalfn <> 0 THEN a.aggfinalfn::regproc::text END AS finalfunc, a.aggfinalextra,
             CASE WHEN a.aggcombinefn <> 0 THEN a.aggcombinefn::regproc::text END AS combinefunc,
             CASE WHEN a.aggserialfn <> 0 THEN a.aggserialfn::regproc::text END AS serialfunc,
             CASE WHEN a.aggdeserialfn <> 0 THEN a.aggdeserialfn::regproc::text END AS deserialfunc, p.proparallel
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid
      WHERE ${USER_NAMESPACE('n')} AND ${NOT_EXTENSION_MEMBER('pg_proc', 'p.oid')}
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'i')`,
  );
  // A range type's constructors come with the type (an internal dependency), so they are not read.
  for (const f of functions) {
    const kind = f.prokind === 'a' ? 'aggregate' : f.prokind === 'p' ? 'procedure' : 'function';
    const signature = f.signature as string;
    let sql: string;
    if (f.prokind === 'a') {
      const parts = [`SFUNC = ${f.sfunc}`, `STYPE = ${f.stype}`];
      if (f.finalfunc) parts.push(`FINALFUNC = ${f.finalfunc}`);
      if (f.aggfinalextra) parts.push('FINALFUNC_EXTRA');
      if (f.combinefunc) parts.push(`COMBINEFUNC = ${f.combinefunc}`);
      if (f.serialfunc) parts.push(`SERIALFUNC = ${f.serialfunc}`, `DESERIALFUNC = ${f.deserialfunc}`);
      if (f.initcond !== null) parts.push(`INITCOND = ${literal(f.initcond as string)}`);
      if (f.proparallel !== 'u') parts.push(`PARALLEL = ${f.proparallel === 's' ? 'SAFE' : 'RESTRICTED'}`);
      sql = `CREATE AGGREGATE ${f.name}(${f.arguments}) (${parts.join(', ')});`;
    } else {
      sql = `${(f.def as string).trimEnd()};`;
    }
    add({
      key: `proc:${f.oid}`,
      id: `${kind} ${signature}`,
      rank: kind === 'aggregate' ? RANK.aggregate : RANK.function,
      sql: sql + commentOn(`${kind.toUpperCase()} ${signature}`, f.comment as string | null),
      after: [`nsp:${f.pronamespace}`],
    });
  }
}

interface SequenceRow {
  type: string;
  start: string;
  increment: string;
  min: string;
  max: string;
  cache: string;
  cycle: boolean;
  name: string;
}

const SEQUENCE_COLUMNS = `format_type(s.seqtypid, NULL) AS type, s.seqstart::text AS start, s.seqincrement::text AS increment, s.seqmin::text AS min,
  s.seqmax::text AS max, s.seqcache::text AS cache, s.seqcycle AS cycle`;

const TYPE_RANGE: Record<string, [bigint, bigint]> = {
  smallint: [-32768n, 32767n],
  integer: [-2147483648n, 2147483647n],
  bigint: [-9223372036854775808n, 9223372036854775807n],
};

/** A sequence's options that differ from what CREATE SEQUENCE would choose by itself. */
function sequenceOptions(s: SequenceRow, defaultType: string): string[] {
  const [low, high] = TYPE_RANGE[s.type] ?? TYPE_RANGE.bigint!;
  const increment = BigInt(s.increment);
  const min = increment > 0n ? 1n : low;
  const max = increment > 0n ? high : -1n;
  const options: string[] = [];
  if (s.type !== defaultType) options.push(`AS ${s.type}`);
  if (increment !== 1n) options.push(`INCREMENT BY ${s.increment}`);
  if (BigInt(s.min) !== min) options.push(`MINVALUE ${s.min}`);
  if (BigInt(s.max) !== max) options.push(`MAXVALUE ${s.max}`);
  if (BigInt(s.start) !== (increment > 0n ? BigInt(s.min) : BigInt(s.max))) options.push(`START WITH ${s.start}`);
  if (s.cache !== '1') options.push(`CACHE ${s.cache}`);
  if (s.cycle) options.push('CYCLE');
  return options;
}

async function readRelations(client: pg.ClientBase, add: (o: SchemaObject) => void, owner: Map<string, string>): Promise<void> {
  const relations = await rows(
    client,
    `
      SELECT c.oid, c.relkind, c.relnamespace, c.oid::regclass::text AS name, c.relname, c.relpersistence, c.reloptions, c.relispartition,
             c.relrowsecurity, c.relforcerowsecurity, c.relispopulated, c.reltype, c.relreplident, obj_description(c.oid, 'pg_class') AS comment,
             CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
             CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS bound,
             CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END AS view,
             (SELECT array_agg(i.inhparent ORDER BY i.inhseqno) FROM pg_inherits i WHERE i.inhrelid = c.oid) AS parents,
             (SELECT string_agg(i.inhparent::regclass::text, ', ' ORDER BY i.inhseqno) FROM pg_inherits i WHERE i.inhrelid = c.oid) AS parent_names,
             (SELECT ' SERVER ' || quote_ident(s.srvname) || coalesce(${OPTIONS('ft.ftoptions')}, '')
                FROM pg_foreign_table ft JOIN pg_foreign_server s ON s.oid = ft.ftserver WHERE ft.ftrelid = c.oid) AS server
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND ${USER_NAMESPACE('n')} AND ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}
        AND (c.relkind <> 'S' OR NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'i'))`,
  );
  const columns = await rows(
    client,
    `
      SELECT a.attrelid, a.attnum, quote_ident(a.attname) AS name, a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull,
             a.attidentity, a.attgenerated, a.attislocal, pg_get_expr(d.adbin, d.adrelid) AS "default", d.oid AS default_oid,
             CASE WHEN a.attcollation <> t.typcollation THEN ${COLLATION('a.attcollation')} END AS collation,
             CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage END AS storage, a.attcompression::text AS compression,
             CASE WHEN a.attstattarget >= 0 THEN a.attstattarget END AS stattarget, a.attoptions AS attribute_options,
             ${OPTIONS('a.attfdwoptions')} AS foreign_options, col_description(a.attrelid, a.attnum) AS comment
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped AND ${USER_NAMESPACE('n')}
      ORDER BY a.attrelid, a.attnum`,
  );
  const identities = new Map<string, SequenceRow & { default_name: string }>();
  for (const s of await rows<SequenceRow & { relid: number; attnum: number; default_name: string }>(
    client,
    `
      SELECT d.refobjid AS relid, d.refobjsubid AS attnum, sc.oid::regclass::text AS name, ${SEQUENCE_COLUMNS},
             quote_ident(tn.nspname) || '.' || quote_ident(tc.relname || '_' || a.attname || '_seq') AS default_name
      FROM pg_depend d JOIN pg_sequence s ON s.seqrelid = d.objid JOIN pg_class sc ON sc.oid = s.seqrelid
      JOIN pg_class tc ON tc.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
      JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
      WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'i' AND d.refobjsubid > 0`,
  )) {
    identities.set(`${s.relid}:${s.attnum}`, s);
  }
  const sequences = new Map<number, SequenceRow & { owned_by: string | null; owner_table: number | null }>();
  for (const s of await rows<SequenceRow & { oid: number; owned_by: string | null; owner_table: number | null }>(
    client,
    `
      SELECT s.seqrelid AS oid, ${SEQUENCE_COLUMNS},
             (SELECT d.refobjid::regclass::text || '.' || quote_ident(a.attname) FROM pg_depend d
                JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
               WHERE d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a') AS owned_by,
             (SELECT d.refobjid FROM pg_depend d
               WHERE d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a') AS owner_table
      FROM pg_sequence s`,
  )) {
    sequences.set(s.oid, s);
  }
  const byRelation = new Map<number, Row[]>();
  for (const c of columns) {
    const list = byRelation.get(c.attrelid as number) ?? [];
    list.push(c);
    byRelation.set(c.attrelid as number, list);
    if (c.default_oid !== null) owner.set(`pg_attrdef:${c.default_oid}`, `rel:${c.attrelid}`);
  }

  for (const r of relations) {
    const key = `rel:${r.oid}`;
    const name = r.name as string;
    const after = [`nsp:${r.relnamespace}`, ...((r.parents as number[] | null) ?? []).map((p) => `rel:${p}`)];
    const options = (r.reloptions as string[] | null)?.length ? ` WITH (${(r.reloptions as string[]).join(', ')})` : '';
    const comment = r.comment as string | null;
    owner.set(`pg_type:${r.reltype}`, key);
    if (r.relkind === 'S') {
      const s = sequences.get(r.oid as number)!;
      const seqOptions = sequenceOptions(s, 'bigint');
      const create = `CREATE ${r.relpersistence === 'u' ? 'UNLOGGED ' : ''}SEQUENCE ${name}${seqOptions.map((o) => `\n    ${o}`).join('')};`;
      add({ key, id: `sequence ${name}`, rank: RANK.sequence, sql: create + commentOn(`SEQUENCE ${name}`, comment), after });
      if (s.owned_by !== null) {
        const sql = `ALTER SEQUENCE ${name} OWNED BY ${s.owned_by};`;
        add({ key: `own:${r.oid}`, id: `ownership of sequence ${name}`, rank: RANK.ownership, sql, after: [key, `rel:${s.owner_table}`] });
      }
      continue;
    }
    const cols = byRelation.get(r.oid as number) ?? [];
    const columnComments = cols.map((c) => commentOn(`COLUMN ${name}.${c.name}`, c.comment as string | null)).join('');
    if (r.relkind === 'v' || r.relkind === 'm') {
      const definition = (r.view as string).trim().replace(/;$/, '');
      const sql =
        r.relkind === 'v'
          ? `CREATE VIEW ${name}${options} AS\n ${definition};${commentOn(`VIEW ${name}`, comment)}`
          : `CREATE MATERIALIZED VIEW ${name}${options} AS\n ${definition}\n  WITH ${r.relispopulated ? '' : 'NO '}DATA;${commentOn(`MATERIALIZED VIEW ${name}`, comment)}`;
      add({ key, id: `${r.relkind === 'v' ? 'view' : 'materialized view'} ${name}`, rank: RANK.view, sql: sql + columnComments, after });
      continue;
    }
    const lines: string[] = [];
    const alters: string[] = [];
    const parentColumns = byRelation.get(Number((r.parents as number[] | null)?.[0])) ?? [];
    for (const c of cols) {
      // The planner's settings of a column are this table's own, inherited column or not.
      if (c.stattarget !== null) alters.push(`ALTER TABLE ONLY ${name} ALTER COLUMN ${c.name} SET STATISTICS ${c.stattarget};`);
      if ((c.attribute_options as string[] | null)?.length)
        alters.push(`ALTER TABLE ONLY ${name} ALTER COLUMN ${c.name} SET (${(c.attribute_options as string[]).join(', ')});`);
      // A partition's columns are its parent's; an inherited column is written by its parent,
      // and only what was changed on this table alone (a default, NOT NULL) is said here.
      if (r.relispartition || !c.attislocal) {
        const inherited = parentColumns.find((p) => p.attname === c.attname);
        if (inherited !== undefined && !c.attgenerated && !c.attidentity && c.default !== inherited.default) {
          alters.push(
            `ALTER TABLE ONLY ${name} ALTER COLUMN ${c.name} ${c.default === null ? 'DROP DEFAULT' : `SET DEFAULT ${c.default}`};`,
          );
        }
        if (inherited !== undefined && c.attnotnull && !inherited.attnotnull)
          alters.push(`ALTER TABLE ONLY ${name} ALTER COLUMN ${c.name} SET NOT NULL;`);
        continue;
      }
      let line = `    ${c.name} ${c.type}${c.foreign_options ?? ''}`;
      if (c.collation) line += ` COLLATE ${c.collation}`;
      if (c.attgenerated === 's' || c.attgenerated === 'v')
        line += ` GENERATED ALWAYS AS (${c.default}) ${c.attgenerated === 's' ? 'STORED' : 'VIRTUAL'}`;
      else if (c.default !== null) line += ` DEFAULT ${c.default}`;
      if (c.attidentity === 'a' || c.attidentity === 'd') {
        const s = identities.get(`${r.oid}:${c.attnum}`);
        const seqOptions = s === undefined ? [] : sequenceOptions(s, c.type as string);
        if (s !== undefined && s.name !== s.default_name) seqOptions.unshift(`SEQUENCE NAME ${s.name}`);
        line += ` GENERATED ${c.attidentity === 'a' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY${seqOptions.length > 0 ? ` (${seqOptions.join(' ')})` : ''}`;
      }
      if (c.attnotnull) line += ' NOT NULL';
      lines.push(line);
      if (c.storage) alters.push(`ALTER TABLE ONLY ${name} ALTER COLUMN ${c.name} SET STORAGE ${STORAGE[c.storage as string]};`);
      if (c.compression)
        alters.push(`ALTER TABLE ONLY ${name} ALTER COLUMN ${c.name} SET COMPRESSION ${c.compression === 'l' ? 'lz4' : 'pglz'};`);
    }
    const kind = r.relkind === 'f' ? 'FOREIGN TABLE' : `${r.relpersistence === 'u' ? 'UNLOGGED ' : ''}TABLE`;
    let sql = r.relispartition
      ? `CREATE ${kind} ${name} PARTITION OF ${r.parent_names}\n    ${r.bound}`
      : `CREATE ${kind} ${name} (\n${lines.join(',\n')}\n)${r.parent_names ? ` INHERITS (${r.parent_names})` : ''}`;
    if (r.partition_key) sql += ` PARTITION BY ${r.partition_key}`;
    sql += `${r.server ?? ''}${options};`;
    for (const alter of alters) sql += `\n${alter}`;
    if (r.relrowsecurity) sql += `\nALTER TABLE ${name} ENABLE ROW LEVEL SECURITY;`;
    if (r.relforcerowsecurity) sql += `\nALTER TABLE ${name} FORCE ROW LEVEL SECURITY;`;
    // Logical replication's view of the rows (a foreign table has none); USING INDEX goes with the index, not here.
    if ((r.relreplident === 'f' || r.relreplident === 'n') && r.relkind !== 'f')
      sql += `\nALTER TABLE ${name} REPLICA IDENTITY ${r.relreplident === 'f' ? 'FULL' : 'NOTHING'};`;
    const id = `${r.relkind === 'f' ? 'foreign table' : 'table'} ${name}`;
    add({ key, id, rank: RANK.table, sql: sql + commentOn(`${kind.replace('UNLOGGED ', '')} ${name}`, comment) + columnComments, after });
  }
}

const STORAGE: Record<string, string> = { p: 'PLAIN', e: 'EXTERNAL', m: 'MAIN', x: 'EXTENDED' };

async function readConstraints(client: pg.ClientBase, add: (o: SchemaObject) => void, owner: Map<string, string>): Promise<void> {
  // A partition's copy of its parent's constraint (conparentid) and an inherited check come with the parent's.
  const constraints = await rows(
    client,
    `
      SELECT co.oid, co.contype, quote_ident(co.conname) AS name, co.conrelid, co.conrelid::regclass::text AS "table", co.conindid,
             pg_get_constraintdef(co.oid) AS def, obj_description(co.oid, 'pg_constraint') AS comment,
             co.contype IN ('p', 'u') AND (SELECT i.indisreplident FROM pg_index i WHERE i.indexrelid = co.conindid) AS replica_identity,
             co.contype IN ('p', 'u', 'x') AND (SELECT i.indisclustered FROM pg_index i WHERE i.indexrelid = co.conindid) AS clustered
      FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE co.contype IN ('p', 'u', 'c', 'f', 'x') AND co.conparentid = 0 AND co.conislocal AND c.relkind IN ('r', 'p', 'f')
        AND ${USER_NAMESPACE('n')} AND ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}`,
  );
  for (const c of constraints) {
    const key = `con:${c.oid}`;
    if (c.contype !== 'f' && c.conindid !== 0) owner.set(`pg_class:${c.conindid}`, key);
    const target = `CONSTRAINT ${c.name} ON ${c.table}`;
    add({
      key,
      id: `${c.contype === 'f' ? 'foreign key' : 'constraint'} ${c.name} on ${c.table}`,
      rank: c.contype === 'f' ? RANK.foreignKey : RANK.constraint,
      // Without ONLY: on a partitioned or inherited table the server adds it to every partition, as it was.
      sql:
        `ALTER TABLE ${c.table}\n    ADD CONSTRAINT ${c.name} ${c.def};` +
        replicaIdentity(c.table as string, c.replica_identity, c.name as string) +
        (c.clustered === true ? `\nALTER TABLE ${c.table} CLUSTER ON ${c.name};` : '') +
        commentOn(target, c.comment as string | null),
      after: [`rel:${c.conrelid}`],
    });
  }
}

/** A constraint whose index is its table's replica identity says so after it (the index has the constraint's name). */
function replicaIdentity(table: string, isIdentity: unknown, name: string): string {
  return isIdentity === true ? `\nALTER TABLE ${table} REPLICA IDENTITY USING INDEX ${name};` : '';
}

async function readIndexes(client: pg.ClientBase, add: (o: SchemaObject) => void): Promise<void> {
  // Indexes of constraints come with them; a partition's index attached to its parent's comes with the parent's.
  const indexes = await rows(
    client,
    `
      SELECT i.indexrelid, i.indrelid, ic.oid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def, tc.relkind,
             tc.oid::regclass::text AS "table", quote_ident(ic.relname) AS index_name, i.indisreplident, i.indisclustered,
             (SELECT string_agg(format('ALTER INDEX %s ALTER COLUMN %s SET STATISTICS %s;', ic.oid::regclass, a.attnum, a.attstattarget), E'\n' ORDER BY a.attnum)
                FROM pg_attribute a WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0) AS statistics,
             obj_description(i.indexrelid, 'pg_class') AS comment
      FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class tc ON tc.oid = i.indrelid JOIN pg_namespace n ON n.oid = tc.relnamespace
      WHERE ${USER_NAMESPACE('n')} AND ${NOT_EXTENSION_MEMBER('pg_class', 'tc.oid')}
        AND NOT EXISTS (SELECT 1 FROM pg_constraint co WHERE co.conindid = i.indexrelid AND co.conrelid = i.indrelid AND co.contype IN ('p', 'u', 'x'))
        AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)`,
  );
  // Extended statistics go with the indexes: the planner's knowledge of a table, created once it exists.
  for (const x of await rows(
    client,
    `
      SELECT s.oid, s.stxrelid, quote_ident(n.nspname) || '.' || quote_ident(s.stxname) AS name, pg_get_statisticsobjdef(s.oid) AS def,
             obj_description(s.oid, 'pg_statistic_ext') AS comment
      FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace
      WHERE ${USER_NAMESPACE('n')} AND ${NOT_EXTENSION_MEMBER('pg_statistic_ext', 's.oid')}`,
  )) {
    const sql = `${x.def};${commentOn(`STATISTICS ${x.name}`, x.comment as string | null)}`;
    add({ key: `stx:${x.oid}`, id: `statistics ${x.name}`, rank: RANK.index, sql, after: [`rel:${x.stxrelid}`] });
  }
  for (const i of indexes) {
    let def = i.def as string;
    // The server writes a partitioned table's index ON ONLY; created without ONLY, it is made on every partition too, as it was.
    if (i.relkind === 'p') def = def.replace(/ ON ONLY /, ' ON ');
    let sql = `${def};`;
    if (i.indisreplident) sql += `\nALTER TABLE ${i.table} REPLICA IDENTITY USING INDEX ${i.index_name};`;
    if (i.indisclustered) sql += `\nALTER TABLE ${i.table} CLUSTER ON ${i.index_name};`;
    if (i.statistics !== null) sql += `\n${i.statistics}`;
    sql += commentOn(`INDEX ${i.name}`, i.comment as string | null);
    add({ key: `rel:${i.indexrelid}`, id: `index ${i.name}`, rank: RANK.index, sql, after: [`rel:${i.indrelid}`] });
  }
}

const TRIGGER_STATE: Record<string, string> = { D: 'DISABLE TRIGGER', R: 'ENABLE REPLICA TRIGGER', A: 'ENABLE ALWAYS TRIGGER' };
const POLICY_COMMAND: Record<string, string> = { r: 'SELECT', a: 'INSERT', w: 'UPDATE', d: 'DELETE' };

async function readTriggersAndPolicies(client: pg.ClientBase, add: (o: SchemaObject) => void): Promise<void> {
  const triggers = await rows(
    client,
    `
      SELECT t.oid, t.tgrelid, t.tgrelid::regclass::text AS "table", quote_ident(t.tgname) AS name, t.tgenabled, pg_get_triggerdef(t.oid) AS def,
             obj_description(t.oid, 'pg_trigger') AS comment
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE NOT t.tgisinternal AND t.tgparentid = 0 AND ${USER_NAMESPACE('n')} AND ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}`,
  );
  for (const t of triggers) {
    let sql = `${t.def};`;
    const state = TRIGGER_STATE[t.tgenabled as string];
    if (state !== undefined) sql += `\nALTER TABLE ${t.table} ${state} ${t.name};`;
    sql += commentOn(`TRIGGER ${t.name} ON ${t.table}`, t.comment as string | null);
    add({ key: `trg:${t.oid}`, id: `trigger ${t.name} on ${t.table}`, rank: RANK.trigger, sql, after: [`rel:${t.tgrelid}`] });
  }
  const policies = await rows(
    client,
    `
      SELECT p.oid, p.polrelid, p.polrelid::regclass::text AS "table", quote_ident(p.polname) AS name, p.polpermissive, p.polcmd,
             CASE WHEN p.polroles = '{0}' THEN NULL
                  ELSE (SELECT string_agg(quote_ident(r.rolname), ', ' ORDER BY r.rolname) FROM pg_roles r WHERE r.oid = ANY (p.polroles)) END AS roles,
             pg_get_expr(p.polqual, p.polrelid) AS qual, pg_get_expr(p.polwithcheck, p.polrelid) AS with_check,
             obj_description(p.oid, 'pg_policy') AS comment
      FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${USER_NAMESPACE('n')}`,
  );
  for (const p of policies) {
    let sql = `CREATE POLICY ${p.name} ON ${p.table}`;
    if (!p.polpermissive) sql += ' AS RESTRICTIVE';
    const command = POLICY_COMMAND[p.polcmd as string];
    if (command !== undefined) sql += ` FOR ${command}`;
    if (p.roles !== null) sql += ` TO ${p.roles}`;
    if (p.qual !== null) sql += ` USING (${p.qual})`;
    if (p.with_check !== null) sql += ` WITH CHECK (${p.with_check})`;
    sql += `;${commentOn(`POLICY ${p.name} ON ${p.table}`, p.comment as string | null)}`;
    add({ key: `pol:${p.oid}`, id: `policy ${p.name} on ${p.table}`, rank: RANK.policy, sql, after: [`rel:${p.polrelid}`] });
  }
}

const RULE_STATE: Record<string, string> = { D: 'DISABLE RULE', R: 'ENABLE REPLICA RULE', A: 'ENABLE ALWAYS RULE' };

/** Rules (CREATE RULE) on tables and views; a view's own `_RETURN` rule is its definition, written with it. */
async function readRules(client: pg.ClientBase, add: (o: SchemaObject) => void): Promise<void> {
  for (const r of await rows(
    client,
    `
      SELECT r.oid, r.ev_class, r.ev_class::regclass::text AS "table", quote_ident(r.rulename) AS name, r.ev_enabled,
             pg_get_ruledef(r.oid) AS def, obj_description(r.oid, 'pg_rewrite') AS comment
      FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE r.rulename <> '_RETURN' AND ${USER_NAMESPACE('n')} AND ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}`,
  )) {
    let sql = r.def as string;
    const state = RULE_STATE[r.ev_enabled as string];
    if (state !== undefined) sql += `\nALTER TABLE ${r.table} ${state} ${r.name};`;
    sql += commentOn(`RULE ${r.name} ON ${r.table}`, r.comment as string | null);
    add({ key: `rule:${r.oid}`, id: `rule ${r.name} on ${r.table}`, rank: RANK.rule, sql, after: [`rel:${r.ev_class}`] });
  }
}

/** `OPTIONS (key 'value', …)` of an options array (a server's, a foreign table's or a column's), in its order. */
const OPTIONS = (array: string) =>
  `(SELECT ' OPTIONS (' || string_agg(quote_ident(o.option_name) || ' ' || quote_literal(o.option_value), ', ') || ')' FROM pg_options_to_table(${array}) o)`;

/**
 * Foreign-data wrappers (an extension's, as postgres_fdw's, come with it) and servers. User
 * mappings are not written: they hold credentials, which do not belong in a schema file.
 */
async function readForeignServers(client: pg.ClientBase, add: (o: SchemaObject) => void): Promise<void> {
  for (const w of await rows(
    client,
    `
      SELECT w.oid, quote_ident(w.fdwname) AS name, CASE WHEN w.fdwhandler <> 0 THEN w.fdwhandler::regproc::text END AS handler,
             CASE WHEN w.fdwvalidator <> 0 THEN w.fdwvalidator::regproc::text END AS validator, ${OPTIONS('w.fdwoptions')} AS options,
             obj_description(w.oid, 'pg_foreign_data_wrapper') AS comment
      FROM pg_foreign_data_wrapper w WHERE ${NOT_EXTENSION_MEMBER('pg_foreign_data_wrapper', 'w.oid')}`,
  )) {
    let sql = `CREATE FOREIGN DATA WRAPPER ${w.name}`;
    if (w.handler !== null) sql += ` HANDLER ${w.handler}`;
    if (w.validator !== null) sql += ` VALIDATOR ${w.validator}`;
    sql += `${w.options ?? ''};${commentOn(`FOREIGN DATA WRAPPER ${w.name}`, w.comment as string | null)}`;
    add({ key: `fdw:${w.oid}`, id: `foreign data wrapper ${w.name}`, rank: RANK.foreignServer, sql, after: [] });
  }
  for (const v of await rows(
    client,
    `
      SELECT s.oid, quote_ident(s.srvname) AS name, s.srvfdw, quote_ident(w.fdwname) AS fdw, s.srvtype, s.srvversion,
             ${OPTIONS('s.srvoptions')} AS options, obj_description(s.oid, 'pg_foreign_server') AS comment
      FROM pg_foreign_server s JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw WHERE ${NOT_EXTENSION_MEMBER('pg_foreign_server', 's.oid')}`,
  )) {
    let sql = `CREATE SERVER ${v.name}`;
    if (v.srvtype !== null) sql += ` TYPE ${literal(v.srvtype as string)}`;
    if (v.srvversion !== null) sql += ` VERSION ${literal(v.srvversion as string)}`;
    sql += ` FOREIGN DATA WRAPPER ${v.fdw}${v.options ?? ''};${commentOn(`SERVER ${v.name}`, v.comment as string | null)}`;
    add({ key: `srv:${v.oid}`, id: `server ${v.name}`, rank: RANK.foreignServer, sql, after: [`fdw:${v.srvfdw}`] });
  }
}

const PROVIDER: Record<string, string> = { c: 'libc', i: 'icu', b: 'builtin' };

/** Collations (CREATE COLLATION), read through to_jsonb: their locale columns differ from one major to the next. */
async function readCollations(client: pg.ClientBase, add: (o: SchemaObject) => void): Promise<void> {
  for (const r of await rows(
    client,
    `
      SELECT co.oid, co.collnamespace, quote_ident(n.nspname) || '.' || quote_ident(co.collname) AS name, to_jsonb(co) AS "row",
             obj_description(co.oid, 'pg_collation') AS comment
      FROM pg_collation co JOIN pg_namespace n ON n.oid = co.collnamespace
      WHERE ${USER_NAMESPACE('n')} AND ${NOT_EXTENSION_MEMBER('pg_collation', 'co.oid')}`,
  )) {
    const c = r.row as Record<string, string | boolean | null>;
    const provider = PROVIDER[c.collprovider as string] ?? 'libc';
    const options = [`provider = ${provider}`];
    if (provider !== 'libc') options.push(`locale = ${literal(String(c.colllocale ?? c.colliculocale ?? c.collcollate))}`);
    else if (c.collcollate === c.collctype) options.push(`locale = ${literal(String(c.collcollate))}`);
    else options.push(`lc_collate = ${literal(String(c.collcollate))}`, `lc_ctype = ${literal(String(c.collctype))}`);
    if (typeof c.collicurules === 'string') options.push(`rules = ${literal(c.collicurules)}`);
    if (c.collisdeterministic === false) options.push('deterministic = false');
    const sql = `CREATE COLLATION ${r.name} (${options.join(', ')});${commentOn(`COLLATION ${r.name}`, r.comment as string | null)}`;
    add({ key: `coll:${r.oid}`, id: `collation ${r.name}`, rank: RANK.collation, sql, after: [`nsp:${r.collnamespace}`] });
  }
}

const CAST_CONTEXT: Record<string, string> = { a: ' AS ASSIGNMENT', i: ' AS IMPLICIT' };

/**
 * User-defined operators (not shells, which the operator naming them as commutator makes) and
 * casts (not those a range type makes to its multirange type).
 */
async function readOperatorsAndCasts(client: pg.ClientBase, add: (o: SchemaObject) => void): Promise<void> {
  const operatorName = (oid: string) =>
    `(SELECT 'OPERATOR(' || quote_ident(xn.nspname) || '.' || x.oprname || ')' FROM pg_operator x JOIN pg_namespace xn ON xn.oid = x.oprnamespace WHERE x.oid = ${oid})`;
  for (const o of await rows(
    client,
    `
      SELECT o.oid, o.oprnamespace, quote_ident(n.nspname) || '.' || o.oprname AS name, o.oid::regoperator::text AS signature,
             o.oprcode::regproc::text AS function, CASE WHEN o.oprleft <> 0 THEN format_type(o.oprleft, NULL) END AS "left",
             format_type(o.oprright, NULL) AS "right", CASE WHEN o.oprcom <> 0 THEN ${operatorName('o.oprcom')} END AS commutator,
             CASE WHEN o.oprnegate <> 0 THEN ${operatorName('o.oprnegate')} END AS negator,
             CASE WHEN o.oprrest <> 0 THEN o.oprrest::regproc::text END AS restrict, CASE WHEN o.oprjoin <> 0 THEN o.oprjoin::regproc::text END AS "join",
             o.oprcanhash, o.oprcanmerge, obj_description(o.oid, 'pg_operator') AS comment
      FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
      WHERE o.oprcode <> 0 AND ${USER_NAMESPACE('n')} AND ${NOT_EXTENSION_MEMBER('pg_operator', 'o.oid')}`,
  )) {
    const options = [`FUNCTION = ${o.function}`];
    if (o.left !== null) options.push(`LEFTARG = ${o.left}`);
    options.push(`RIGHTARG = ${o.right}`);
    if (o.commutator !== null) options.push(`COMMUTATOR = ${o.commutator}`);
    if (o.negator !== null) options.push(`NEGATOR = ${o.negator}`);
    if (o.restrict !== null) options.push(`RESTRICT = ${o.restrict}`);
    if (o.join !== null) options.push(`JOIN = ${o.join}`);
    if (o.oprcanhash) options.push('HASHES');
    if (o.oprcanmerge) options.push('MERGES');
    const sql = `CREATE OPERATOR ${o.name} (\n    ${options.join(',\n    ')}\n);${commentOn(`OPERATOR ${o.signature}`, o.comment as string | null)}`;
    add({ key: `opr:${o.oid}`, id: `operator ${o.signature}`, rank: RANK.operator, sql, after: [`nsp:${o.oprnamespace}`] });
  }
  for (const c of await rows(
    client,
    `
      SELECT c.oid, format_type(c.castsource, NULL) AS source, format_type(c.casttarget, NULL) AS target, c.castmethod, c.castcontext,
             CASE WHEN c.castfunc <> 0 THEN c.castfunc::regprocedure::text END AS function, obj_description(c.oid, 'pg_cast') AS comment
      FROM pg_cast c WHERE c.oid >= 16384 AND ${NOT_EXTENSION_MEMBER('pg_cast', 'c.oid')}
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_cast'::regclass AND d.objid = c.oid AND d.deptype = 'i')`,
  )) {
    const what = `(${c.source} AS ${c.target})`;
    const how = c.castmethod === 'f' ? `WITH FUNCTION ${c.function}` : c.castmethod === 'i' ? 'WITH INOUT' : 'WITHOUT FUNCTION';
    const sql = `CREATE CAST ${what} ${how}${CAST_CONTEXT[c.castcontext as string] ?? ''};${commentOn(`CAST ${what}`, c.comment as string | null)}`;
    add({ key: `cast:${c.oid}`, id: `cast ${what}`, rank: RANK.cast, sql, after: [] });
  }
}

/**
 * Text-search dictionaries and configurations; a configuration's mappings as ADD MAPPING, token
 * types that share their dictionaries in one statement. Parsers and templates need C functions:
 * they come with extensions.
 */
async function readTextSearch(client: pg.ClientBase, add: (o: SchemaObject) => void): Promise<void> {
  const qualified = (catalog: string, alias: string, nameColumn: string, namespaceColumn: string, oid: string) =>
    `(SELECT quote_ident(xn.nspname) || '.' || quote_ident(${alias}.${nameColumn}) FROM ${catalog} ${alias} JOIN pg_namespace xn ON xn.oid = ${alias}.${namespaceColumn} WHERE ${alias}.oid = ${oid})`;
  for (const d of await rows(
    client,
    `
      SELECT d.oid, d.dictnamespace, quote_ident(n.nspname) || '.' || quote_ident(d.dictname) AS name, d.dictinitoption AS options,
             ${qualified('pg_ts_template', 't', 'tmplname', 'tmplnamespace', 'd.dicttemplate')} AS template,
             obj_description(d.oid, 'pg_ts_dict') AS comment
      FROM pg_ts_dict d JOIN pg_namespace n ON n.oid = d.dictnamespace
      WHERE ${USER_NAMESPACE('n')} AND ${NOT_EXTENSION_MEMBER('pg_ts_dict', 'd.oid')}`,
  )) {
    const options = d.options === null ? '' : `,\n    ${d.options}`;
    const sql = `CREATE TEXT SEARCH DICTIONARY ${d.name} (\n    TEMPLATE = ${d.template}${options}\n);${commentOn(`TEXT SEARCH DICTIONARY ${d.name}`, d.comment as string | null)}`;
    add({ key: `tsdict:${d.oid}`, id: `text search dictionary ${d.name}`, rank: RANK.textSearch, sql, after: [`nsp:${d.dictnamespace}`] });
  }
  for (const c of await rows<{
    oid: number;
    cfgnamespace: number;
    name: string;
    parser: string;
    comment: string | null;
    mappings: Array<{ token: string; dictionaries: string }> | null;
  }>(
    client,
    `
      SELECT c.oid, c.cfgnamespace, quote_ident(n.nspname) || '.' || quote_ident(c.cfgname) AS name,
             ${qualified('pg_ts_parser', 'p', 'prsname', 'prsnamespace', 'c.cfgparser')} AS parser,
             (SELECT json_agg(json_build_object('token', t.alias, 'dictionaries', m.dictionaries) ORDER BY t.tokid)
                FROM ts_token_type(c.cfgparser) t
                JOIN (SELECT maptokentype, string_agg(mapdict::regdictionary::text, ', ' ORDER BY mapseqno) AS dictionaries
                        FROM pg_ts_config_map WHERE mapcfg = c.oid GROUP BY maptokentype) m ON m.maptokentype = t.tokid) AS mappings,
             obj_description(c.oid, 'pg_ts_config') AS comment
      FROM pg_ts_config c JOIN pg_namespace n ON n.oid = c.cfgnamespace
      WHERE ${USER_NAMESPACE('n')} AND ${NOT_EXTENSION_MEMBER('pg_ts_config', 'c.oid')}`,
  )) {
    // Token types in the parser's order, grouped by the dictionaries they map to.
    const groups = new Map<string, string[]>();
    for (const m of c.mappings ?? []) groups.set(m.dictionaries, [...(groups.get(m.dictionaries) ?? []), m.token]);
    const mappings = [...groups].map(
      ([dictionaries, tokens]) =>
        `\nALTER TEXT SEARCH CONFIGURATION ${c.name}\n    ADD MAPPING FOR ${tokens.join(', ')} WITH ${dictionaries};`,
    );
    const sql = `CREATE TEXT SEARCH CONFIGURATION ${c.name} (\n    PARSER = ${c.parser}\n);${mappings.join('')}${commentOn(`TEXT SEARCH CONFIGURATION ${c.name}`, c.comment)}`;
    add({ key: `tscfg:${c.oid}`, id: `text search configuration ${c.name}`, rank: RANK.textSearch, sql, after: [`nsp:${c.cfgnamespace}`] });
  }
}

const ALL_ACTIONS = 'insert, update, delete, truncate';

/**
 * Publications with their tables (ONLY each, as the catalog lists them, so an inheritance
 * child is named when it was) and, from 15 on, their schemas, column lists and row filters:
 * one object each, after every table it names. Supabase histories add their tables to one.
 */
async function readPublications(client: pg.ClientBase, add: (o: SchemaObject) => void): Promise<void> {
  const version = Number((await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`)).rows[0]!.v);
  const since15 = version >= 150000;
  const members = await rows<{
    pub: number;
    relid: number | null;
    table: string | null;
    columns: string | null;
    qual: string | null;
    schema: string | null;
  }>(
    client,
    `
      SELECT pr.prpubid AS pub, pr.prrelid AS relid, pr.prrelid::regclass::text AS "table", ${
        since15
          ? `(SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a
               WHERE a.attrelid = pr.prrelid AND a.attnum = ANY (pr.prattrs)) AS columns, pg_get_expr(pr.prqual, pr.prrelid) AS qual`
          : 'NULL AS columns, NULL AS qual'
      }, NULL AS schema
      FROM pg_publication_rel pr
      ${since15 ? `UNION ALL SELECT pn.pnpubid, NULL, NULL, NULL, NULL, quote_ident(n.nspname) FROM pg_publication_namespace pn JOIN pg_namespace n ON n.oid = pn.pnnspid` : ''}
      ORDER BY 6 NULLS FIRST, 3`,
  );
  for (const p of await rows(
    client,
    `SELECT p.oid, quote_ident(p.pubname) AS name, to_jsonb(p) AS "row", obj_description(p.oid, 'pg_publication') AS comment FROM pg_publication p`,
  )) {
    const row = p.row as Record<string, string | boolean>;
    const actions = (['insert', 'update', 'delete', 'truncate'] as const).filter((a) => row[`pub${a}`] === true).join(', ');
    const options: string[] = [];
    if (actions !== ALL_ACTIONS) options.push(`publish = ${literal(actions)}`);
    if (row.pubviaroot === true) options.push('publish_via_partition_root = true');
    if (row.pubgencols === 's') options.push('publish_generated_columns = stored');
    let sql = `CREATE PUBLICATION ${p.name}${row.puballtables === true ? ' FOR ALL TABLES' : ''}${options.length > 0 ? ` WITH (${options.join(', ')})` : ''};`;
    const after: string[] = [];
    for (const m of members.filter((m) => m.pub === p.oid)) {
      if (m.schema !== null) {
        sql += `\nALTER PUBLICATION ${p.name} ADD TABLES IN SCHEMA ${m.schema};`;
        continue;
      }
      after.push(`rel:${m.relid}`);
      sql += `\nALTER PUBLICATION ${p.name} ADD TABLE ONLY ${m.table}${m.columns === null ? '' : ` (${m.columns})`}${m.qual === null ? '' : ` WHERE (${m.qual})`};`;
    }
    sql += commentOn(`PUBLICATION ${p.name}`, p.comment as string | null);
    add({ key: `pub:${p.oid}`, id: `publication ${p.name}`, rank: RANK.publication, sql, after });
  }
}

/** Which catalog's objects are objects of the dump under which key prefix. */
const KEY_PREFIX: Record<string, string> = {
  pg_class: 'rel',
  pg_type: 'type',
  pg_proc: 'proc',
  pg_constraint: 'con',
  pg_trigger: 'trg',
  pg_policy: 'pol',
  pg_namespace: 'nsp',
  pg_extension: 'ext',
  pg_statistic_ext: 'stx',
  pg_rewrite: 'rule',
  pg_collation: 'coll',
  pg_operator: 'opr',
  pg_cast: 'cast',
  pg_ts_dict: 'tsdict',
  pg_ts_config: 'tscfg',
  pg_foreign_data_wrapper: 'fdw',
  pg_foreign_server: 'srv',
};

/**
 * Adds pg_depend's normal edges between objects of the dump: a view on the tables and views it
 * reads, a default on its function or sequence, a function on its argument types, a foreign key
 * on the referenced table. A sub-object (a default, a view's rule, a constraint's index, a row
 * type) stands for the object whose SQL creates it.
 */
async function addDependencies(client: pg.ClientBase, objects: SchemaObject[], owner: Map<string, string>): Promise<void> {
  const keys = new Set(objects.map((o) => o.key));
  for (const r of await rows<{ oid: number; typrelid: number; typelem: number }>(
    client,
    `
      SELECT t.oid, t.typrelid, t.typelem FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE ${USER_NAMESPACE('n')} AND t.typelem <> 0 AND t.typsubscript = 'array_subscript_handler'::regproc`,
  )) {
    owner.set(`pg_type:${r.oid}`, `elem:${r.typelem}`);
  }
  for (const r of await rows<{ oid: number; ev_class: number }>(
    client,
    `SELECT r.oid, r.ev_class FROM pg_rewrite r WHERE r.oid >= 16384 AND r.rulename = '_RETURN'`,
  )) {
    owner.set(`pg_rewrite:${r.oid}`, `rel:${r.ev_class}`);
  }
  const resolve = (catalog: string, oid: number): string | undefined => {
    const mapped = owner.get(`${catalog}:${oid}`);
    if (mapped?.startsWith('elem:')) return resolve('pg_type', Number(mapped.slice(5)));
    if (mapped !== undefined) return mapped;
    const prefix = KEY_PREFIX[catalog];
    const key = prefix === undefined ? undefined : `${prefix}:${oid}`;
    return key !== undefined && keys.has(key) ? key : undefined;
  };
  const edges = new Map<string, Set<string>>();
  for (const d of await rows<{ classid: string; objid: number; refclassid: string; refobjid: number }>(
    client,
    `
      SELECT d.classid::regclass::text AS classid, d.objid, d.refclassid::regclass::text AS refclassid, d.refobjid
      FROM pg_depend d WHERE d.deptype = 'n' AND d.objid >= 16384 AND d.refobjid >= 16384`,
  )) {
    const from = resolve(d.classid, d.objid);
    const to = resolve(d.refclassid, d.refobjid);
    if (from === undefined || to === undefined || from === to) continue;
    const set = edges.get(from) ?? new Set<string>();
    set.add(to);
    edges.set(from, set);
  }
  for (let i = 0; i < objects.length; i++) {
    const o = objects[i]!;
    const extra = edges.get(o.key);
    if (extra !== undefined) objects[i] = { ...o, after: [...new Set([...o.after, ...extra])] };
  }
}

/**
 * The bookkeeping table's rows as one INSERT, in version order, with every value a literal:
 * loading the dump gives a database whose ledger says what this one's says.
 */
async function readLedgerRows(client: pg.ClientBase, oid: number): Promise<string | null> {
  const columns = (
    await client.query<{ name: string }>(
      `SELECT quote_ident(attname) AS name FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum`,
      [oid],
    )
  ).rows.map((r) => r.name);
  const table = (await client.query<{ name: string }>('SELECT $1::regclass::text AS name', [oid])).rows[0]!.name;
  const values = (
    await client.query<{ v: string }>(
      `SELECT '(' || concat_ws(', ', ${columns.map((c) => `quote_nullable(${c})`).join(', ')}) || ')' AS v FROM ${table} ORDER BY 1`,
    )
  ).rows.map((r) => r.v);
  if (values.length === 0) return null;
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES\n    ${values.join(',\n    ')};`;
}

/** How each catalog's objects are named in ALTER … OWNER TO and GRANT, and their acldefault code. */
const PRIVILEGE_SOURCES = [
  {
    prefix: 'nsp',
    sql: `SELECT n.oid, 'SCHEMA' AS alter, 'SCHEMA' AS grant, quote_ident(n.nspname) AS name, n.nspowner AS owner, n.nspacl AS acl, 'n' AS code
      FROM pg_namespace n WHERE ${USER_NAMESPACE('n')} AND n.nspname <> 'public'`,
  },
  {
    prefix: 'rel',
    sql: `SELECT c.oid, CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE'
      ELSE 'TABLE' END AS alter,
      CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS grant, c.oid::regclass::text AS name, c.relowner AS owner, c.relacl AS acl,
      CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END AS code
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND ${USER_NAMESPACE('n')}`,
  },
  {
    prefix: 'srv',
    sql: `SELECT s.oid, 'SERVER' AS alter, 'FOREIGN SERVER' AS grant, quote_ident(s.srvname) AS name, s.srvowner AS owner, s.srvacl AS acl,
      'S' AS code FROM pg_foreign_server s`,
  },
  {
    prefix: 'fdw',
    sql: `SELECT w.oid, 'FOREIGN DATA WRAPPER' AS alter, 'FOREIGN DATA WRAPPER' AS grant, quote_ident(w.fdwname) AS name, w.fdwowner AS owner,
      w.fdwacl AS acl, 'F' AS code FROM pg_foreign_data_wrapper w`,
  },
  {
    prefix: 'pub',
    sql: `SELECT p.oid, 'PUBLICATION' AS alter, NULL AS grant, quote_ident(p.pubname) AS name, p.pubowner AS owner, NULL::aclitem[] AS acl, 'n' AS code
      FROM pg_publication p`,
  },
  // Owners only: these have no privileges of their own.
  {
    prefix: 'coll',
    sql: `SELECT co.oid, 'COLLATION' AS alter, NULL AS grant, quote_ident(n.nspname) || '.' || quote_ident(co.collname) AS name, co.collowner AS owner,
      NULL::aclitem[] AS acl, 'n' AS code FROM pg_collation co JOIN pg_namespace n ON n.oid = co.collnamespace WHERE ${USER_NAMESPACE('n')}`,
  },
  {
    prefix: 'opr',
    sql: `SELECT o.oid, 'OPERATOR' AS alter, NULL AS grant, o.oid::regoperator::text AS name, o.oprowner AS owner, NULL::aclitem[] AS acl, 'n' AS code
      FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace WHERE ${USER_NAMESPACE('n')}`,
  },
  {
    prefix: 'tsdict',
    sql: `SELECT d.oid, 'TEXT SEARCH DICTIONARY' AS alter, NULL AS grant, quote_ident(n.nspname) || '.' || quote_ident(d.dictname) AS name,
      d.dictowner AS owner, NULL::aclitem[] AS acl, 'n' AS code FROM pg_ts_dict d JOIN pg_namespace n ON n.oid = d.dictnamespace WHERE ${USER_NAMESPACE('n')}`,
  },
  {
    prefix: 'tscfg',
    sql: `SELECT c.oid, 'TEXT SEARCH CONFIGURATION' AS alter, NULL AS grant, quote_ident(n.nspname) || '.' || quote_ident(c.cfgname) AS name,
      c.cfgowner AS owner, NULL::aclitem[] AS acl, 'n' AS code FROM pg_ts_config c JOIN pg_namespace n ON n.oid = c.cfgnamespace WHERE ${USER_NAMESPACE('n')}`,
  },
  {
    prefix: 'proc',
    sql: `SELECT p.oid, CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END AS alter,
      CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END AS grant, p.oid::regprocedure::text AS name, p.proowner AS owner, p.proacl AS acl, 'f' AS code
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE ${USER_NAMESPACE('n')}`,
  },
  {
    prefix: 'type',
    sql: `SELECT t.oid, CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END AS alter, 'TYPE' AS grant, format_type(t.oid, NULL) AS name,
      t.typowner AS owner, t.typacl AS acl, 'T' AS code
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.typtype IN ('e', 'd', 'r', 'c') AND ${USER_NAMESPACE('n')}`,
  },
];

/**
 * Owners and grants (`privileges: true`): ALTER … OWNER TO, then what the object's ACL grants
 * beyond its default and revokes from it, one statement per grantee, in name order.
 */
async function readPrivileges(client: pg.ClientBase): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const role = (oid: string) => `CASE WHEN ${oid} = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(${oid})) END`;
  for (const source of PRIVILEGE_SOURCES) {
    const found = await rows<{
      oid: number;
      alter: string;
      grant: string;
      name: string;
      owner: string;
      grants: string[] | null;
      revokes: string[] | null;
    }>(
      client,
      `
        SELECT o.oid, o.alter, o.grant, o.name, quote_ident(pg_get_userbyid(o.owner)) AS owner,
               (SELECT array_agg(g ORDER BY g) FROM (
                  SELECT 'GRANT ' || string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) || ' ON ' || o.grant || ' ' || o.name || ' TO ' || ${role('a.grantee')}
                         || CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END || ';' AS g
                    FROM (SELECT * FROM aclexplode(o.acl) EXCEPT SELECT * FROM aclexplode(acldefault(o.code::"char", o.owner))) a
                   GROUP BY a.grantee, a.is_grantable) grants) AS grants,
               (SELECT array_agg(r ORDER BY r) FROM (
                  SELECT 'REVOKE ' || string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) || ' ON ' || o.grant || ' ' || o.name || ' FROM ' || ${role('a.grantee')} || ';' AS r
                    FROM (SELECT * FROM aclexplode(acldefault(o.code::"char", o.owner)) EXCEPT SELECT * FROM aclexplode(o.acl)) a
                   WHERE o.acl IS NOT NULL GROUP BY a.grantee) revokes) AS revokes
        FROM (${source.sql}) o`,
    );
    for (const o of found) {
      const statements = [`ALTER ${o.alter} ${o.name} OWNER TO ${o.owner};`, ...(o.revokes ?? []), ...(o.grants ?? [])];
      out.set(`${source.prefix}:${o.oid}`, statements.join('\n'));
    }
  }
  return out;
}
