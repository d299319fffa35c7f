import { quoteTableName } from '../db/identifier.js';
import { canonical, describeLocation, isPlainObject, SeedError, type SeedFile, type SeedLocation } from './files.js';

/** A column as the catalog describes it: enough to check and cast a seed value. */
export interface CatalogColumn {
  readonly name: string;
  /** The type as `format_type` spells it (`character varying(40)`, `integer[]`, `"Mood"`): used in casts. */
  readonly type: string;
  /** json or jsonb (or a domain over one): takes any value, mappings included, as JSON. */
  readonly json: boolean;
  /** An array type: takes a list. */
  readonly array: boolean;
  /** A string type (text, varchar, char, …): takes strings only, so YAML `01234` or `true` cannot slip in. */
  readonly text: boolean;
  /** NOT NULL with no default, identity or generation: every row must give it. */
  readonly required: boolean;
}

export interface CatalogTable {
  /** The name as the seed files write it. */
  readonly name: string;
  /** The name quoted for SQL. */
  readonly sqlName: string;
  readonly oid: number;
  /** The single-column primary key that references resolve to, or null. */
  readonly primaryKey: string | null;
  readonly columns: ReadonlyMap<string, CatalogColumn>;
}

/** The tables that exist among those the seed files name, by the name the files use. */
export type Catalog = ReadonlyMap<string, CatalogTable>;

/** A row named by column values, resolved to its primary key when its batch is written. */
export interface Reference {
  readonly table: CatalogTable;
  /** Column → value; a value may itself be a reference. */
  readonly key: ReadonlyMap<string, Value>;
  /** The reference as written, for messages. */
  readonly written: Readonly<Record<string, unknown>>;
  readonly at: SeedLocation;
  /**
   * Equal for two references that look a row up by the same table, columns and values (inner
   * references by their ids): seed data refers to one row from many places, and it is looked up once.
   */
  readonly id: string;
}

/** A value in PostgreSQL input syntax, NULL, or a reference still to resolve. */
export type Value = string | null | Reference;

export interface PlannedRow {
  readonly at: SeedLocation;
  /** The key columns' values as written, for reports. */
  readonly key: Readonly<Record<string, unknown>>;
  readonly values: ReadonlyMap<string, Value>;
}

/** Rows written together: same file, same dependency level, same columns. */
export interface Batch {
  readonly columns: readonly string[];
  readonly rows: readonly PlannedRow[];
}

/** One seed file, ready to write. */
export interface SeedStep {
  /** Where the file names its table. */
  readonly at: SeedLocation;
  readonly table: CatalogTable;
  readonly key: readonly string[];
  /** Rows in dependency order: a row refers to rows of its own file only in earlier levels. */
  readonly levels: ReadonlyArray<readonly Batch[]>;
}

/** A literal for the server to parse as its column's type before anything is written. */
export interface ValueCheck {
  readonly value: string;
  readonly type: string;
  /** `table.column`, for the message. */
  readonly column: string;
  readonly at: SeedLocation;
}

export interface SeedPlan {
  readonly steps: readonly SeedStep[];
  /** One per distinct literal and type, where it first appears: seed data repeats values (every reference to one row does). */
  readonly checks: readonly ValueCheck[];
}

export function isReference(value: Value | undefined): value is Reference {
  return typeof value === 'object' && value !== null;
}

/**
 * Every table the files seed or refer to, with its quoted name, for the one catalog query.
 * A `$ref` that cannot be a table name is left out: it is reported as unknown where it is used.
 */
export function tablesToLookUp(files: readonly SeedFile[]): Array<{ name: string; sqlName: string }> {
  const names = new Set<string>();
  const visit = (value: unknown) => {
    if (!isPlainObject(value) || typeof value.$ref !== 'string') return;
    names.add(value.$ref);
    Object.values(value).forEach(visit);
  };
  for (const file of files) {
    names.add(file.table);
    for (const row of file.rows) Object.values(row.values).forEach(visit);
  }
  return [...names].flatMap((name) => {
    try {
      return [{ name, sqlName: quoteTableName(name) }];
    } catch {
      return [];
    }
  });
}

/**
 * Checks the files against the catalog and turns them into batches: unknown tables and
 * columns, wrong types, missing required columns, references to rows a later file seeds,
 * and rows of one file that refer to each other in a cycle are refused, naming file and row.
 * Each value becomes text in PostgreSQL input syntax, to be cast to its column's type.
 * Pure: the catalog comes in, nothing goes out but the plan.
 *
 * @example
 * const plan = planSeed(await readSeedDir('./seeds'), catalog);
 * plan.steps.map((s) => `${s.table.name}: ${s.levels.length} level(s)`);
 */
export function planSeed(files: readonly SeedFile[], catalog: Catalog): SeedPlan {
  const checks: ValueCheck[] = [];
  const checked = new Map<string, Set<string>>(); // type → literals
  const namesByOid = new Map<number, string>();
  const keysByTable = new Map<string, readonly string[]>();
  // Where each seeded row is, to tell a reference into this run's own rows from one to the database:
  // table → keyText → where, built for a table when a reference needs it.
  const seeded = new Map<string, Map<string, { file: number; row: number }>>();
  const seededRows = (table: string) => {
    let rows = seeded.get(table);
    if (rows === undefined) {
      seeded.set(table, (rows = new Map()));
      files.forEach((file, fileIndex) => file.table === table && file.rows.forEach((row, rowIndex) => rows!.set(row.keyText, { file: fileIndex, row: rowIndex })));
    }
    return rows;
  };
  // The last file that seeds each table: a reference to a table no file from this one on seeds needs no lookup in `seeded`.
  const lastFile = new Map<string, number>();

  const tableNamed = (name: string, at: SeedLocation): CatalogTable => {
    const table = catalog.get(name) ?? fail(at, `unknown table ${name}: create it with a migration, or check the name and search_path`);
    const other = namesByOid.get(table.oid);
    if (other !== undefined && other !== name) fail(at, `${name} and ${other} are the same table; write it one way in every seed file`);
    namesByOid.set(table.oid, name);
    return table;
  };
  const columnOf = (table: CatalogTable, name: string, at: SeedLocation): CatalogColumn =>
    table.columns.get(name) ?? fail(at, `table ${table.name} has no column ${name}; check the spelling or add it with a migration`);

  const literal = (text: string, table: CatalogTable, column: CatalogColumn, at: SeedLocation): string => {
    const literals = checked.get(column.type) ?? checked.set(column.type, new Set()).get(column.type)!;
    if (!literals.has(text)) {
      literals.add(text);
      checks.push({ value: text, type: column.type, column: `${table.name}.${column.name}`, at });
    }
    return text;
  };

  const encode = (value: unknown, table: CatalogTable, column: CatalogColumn, at: SeedLocation): Value => {
    const wrong = (problem: string): never => fail(at, `column ${table.name}.${column.name} is ${column.type}: ${problem}`);
    if (value === null) return null;
    if (column.json) return literal(JSON.stringify(value), table, column, at);
    if (isPlainObject(value)) {
      if (typeof value.$ref !== 'string') wrong('got a mapping; write a value, or { $ref: table, column: value } to refer to a row');
      return reference(value, at);
    }
    if (Array.isArray(value) !== column.array) wrong(column.array ? `got ${JSON.stringify(value)}; write a list` : 'got a list; write one value');
    if (Array.isArray(value)) return literal(arrayLiteral(value, wrong), table, column, at);
    if (column.text && typeof value !== 'string') wrong(`got ${JSON.stringify(value)}, not a string; quote it`);
    if (typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value)) wrong(`${value} is past 2^53 and loses digits; quote it`);
    return literal(String(value), table, column, at);
  };

  // References as written (JSON) → the checked and encoded reference: seed data refers to one row from
  // many rows, writing the reference the same way each time, so it is checked and encoded once and each
  // place shares its key (inner references keep the first place). JSON writes NaN and Infinity as null,
  // so a reference with null in it is not shared (it is refused if a value is null).
  const byText = new Map<string, Reference>();
  const reference = (written: Record<string, unknown>, at: SeedLocation): Reference => {
    const text = JSON.stringify(written);
    const known = byText.get(text);
    if (known !== undefined) return { table: known.table, key: known.key, written, at, id: known.id };
    const ref = checkReference(written, at);
    if (!text.includes('null')) byText.set(text, ref);
    return ref;
  };
  const checkReference = (written: Record<string, unknown>, at: SeedLocation): Reference => {
    const table = tableNamed(written.$ref as string, at);
    if (table.primaryKey === null) fail(at, `cannot refer to ${table.name}: it has no single-column primary key`);
    const entries = Object.entries(written).filter(([name]) => name !== '$ref');
    if (entries.length === 0) fail(at, `reference to ${table.name} names no column; add the columns that identify the row`);
    const values = entries.map(([name, value]): [string, Value] => {
      if (value === null) fail(at, `reference to ${table.name} has ${name}: null, which matches no row`);
      return [name, encode(value, table, columnOf(table, name, at), at)];
    });
    // A literal is a string, an inner reference its id in a list: [table, [column, value], …] by column name.
    const parts = values.map(([name, value]) => [name, isReference(value) ? [value.id] : value]).sort(([a], [b]) => (a! < b! ? -1 : 1));
    return { table, key: new Map(values), written, at, id: JSON.stringify([table.name, ...parts]) };
  };

  files.forEach((file, fileIndex) => {
    const table = tableNamed(file.table, file.at);
    for (const column of file.key) columnOf(table, column, file.at);
    keysByTable.set(file.table, file.key);
    lastFile.set(file.table, fileIndex);
  });

  const steps = files.map((file, fileIndex): SeedStep => {
    const table = catalog.get(file.table)!;
    const dependencies: Array<Set<number>> = [];
    const rows = file.rows.map((row, rowIndex): PlannedRow => {
      for (const column of table.columns.values()) {
        if (column.required && (row.values[column.name] === undefined || row.values[column.name] === null)) {
          fail(row.at, `column ${table.name}.${column.name} is required (NOT NULL, no default); give it a value`);
        }
      }
      const values = new Map<string, Value>();
      for (const name in row.values) values.set(name, encode(row.values[name], table, columnOf(table, name, row.at), row.at));
      const needs = new Set<number>();
      for (const ref of referencesIn(values.values())) {
        if ((lastFile.get(ref.written.$ref as string) ?? -1) < fileIndex) continue;
        const { $ref, ...key } = ref.written;
        const declared = keysByTable.get($ref as string);
        const sameKey = declared !== undefined && declared.length === Object.keys(key).length && declared.every((c) => c in key);
        const target = sameKey ? seededRows($ref as string).get(canonical(key)) : undefined;
        if (target === undefined || target.file < fileIndex) continue;
        if (target.file > fileIndex) {
          fail(row.at, `refers to a ${ref.table.name} row that ${files[target.file]!.path} seeds later; rename the files so that one sorts first`);
        }
        if (target.row === rowIndex) fail(row.at, 'the row refers to itself');
        needs.add(target.row);
      }
      dependencies.push(needs);
      return { at: row.at, key: row.key, values };
    });
    return { at: file.at, table, key: file.key, levels: levelsOf(dependencies, rows).map(batches) };
  });
  return { steps, checks };
}

/**
 * Groups rows into levels: level 0 refers to no row of its own file, level n only to rows
 * in levels below n (Kahn's algorithm). Rows left over refer to each other in a cycle.
 */
function levelsOf(dependencies: ReadonlyArray<ReadonlySet<number>>, rows: readonly PlannedRow[]): PlannedRow[][] {
  const waiting = dependencies.map((needs) => needs.size);
  const dependents = dependencies.map(() => [] as number[]);
  dependencies.forEach((needs, row) => needs.forEach((target) => dependents[target]!.push(row)));
  const levels: PlannedRow[][] = [];
  let current = waiting.flatMap((count, row) => (count === 0 ? [row] : []));
  while (current.length > 0) {
    levels.push(current.sort((a, b) => a - b).map((row) => rows[row]!));
    current = current.flatMap((row) => dependents[row]!.filter((next) => --waiting[next]! === 0));
  }
  const cycle = waiting.flatMap((count, row) => (count > 0 ? [rows[row]!.at] : []));
  if (cycle.length > 0) fail(cycle[0]!, `rows refer to each other in a cycle (or to a row in one): ${cycle.map(describeLocation).join(', ')}; break it with a row that refers to none of them`);
  return levels;
}

/** Splits a level by the set of columns its rows give: rows that give the same columns share one lookup and one INSERT. */
function batches(rows: readonly PlannedRow[]): Batch[] {
  const bySet = new Map<string, { columns: string[]; rows: PlannedRow[] }>();
  const byOrder = new Map<string, { columns: string[]; rows: PlannedRow[] }>(); // the same, by the columns in the order a row gives them
  for (const row of rows) {
    let order = '';
    for (const column of row.values.keys()) order += `${column}\0`;
    let batch = byOrder.get(order);
    if (batch === undefined) {
      const columns = [...row.values.keys()];
      const id = [...columns].sort().join('\0');
      batch = bySet.get(id) ?? bySet.set(id, { columns, rows: [] }).get(id)!;
      byOrder.set(order, batch);
    }
    batch.rows.push(row);
  }
  return [...bySet.values()];
}

/** Every reference in `values`, including those inside other references' keys. */
function referencesIn(values: Iterable<Value>, into: Reference[] = []): Reference[] {
  for (const value of values) {
    if (isReference(value)) {
      into.push(value);
      referencesIn(value.key.values(), into);
    }
  }
  return into;
}

/** A PostgreSQL array literal, `{"a","b\\"c",NULL}`: every element double-quoted and escaped. */
function arrayLiteral(list: readonly unknown[], wrong: (problem: string) => never): string {
  const element = (value: unknown): string => {
    if (value === null) return 'NULL';
    if (Array.isArray(value)) return arrayLiteral(value, wrong);
    if (typeof value === 'object') return wrong('a list element is a mapping; lists hold values only');
    return `"${String(value).replace(/["\\]/g, '\\$&')}"`;
  };
  return `{${list.map(element).join(',')}}`;
}

function fail(at: SeedLocation, message: string): never {
  throw new SeedError(`${describeLocation(at)}: ${message}`, at);
}
