import { quoteIdentifier } from '../db/identifier.js';
import { SeedError, type SeedLocation } from '../errors.js';
import type { Catalog, CatalogColumn, CatalogTable } from './catalog.js';
import type { ValueCheck } from './checks.js';
import { describeLocation, isPlainObject, type SeedFile } from './files.js';
import { isReference, ReferenceReader, type Reference, type Value } from './references.js';

const NONE: ReadonlySet<number> = new Set();

export interface PlannedRow {
  readonly at: SeedLocation;
  /** The key columns' values as written, for reports. */
  readonly key: Readonly<Record<string, unknown>>;
  readonly values: RowValues;
}

/**
 * A row's values by column, read like a Map: the column list shared by the rows that give the
 * same columns in the same order, the values the row's own, in that order. A Map per row
 * costs several times the memory, and 10^5 of them are GC work.
 *
 * @example new RowValues(['slug', 'name'], ['acme', 'Acme']).get('name') // 'Acme'
 */
export class RowValues {
  constructor(
    readonly columns: readonly string[],
    readonly cells: readonly Value[],
  ) {}

  get size(): number {
    return this.columns.length;
  }

  get(column: string): Value | undefined {
    const index = this.columns.indexOf(column);
    // Stryker disable next-line ConditionalExpression: equivalent, cells[-1] is undefined too
    return index < 0 ? undefined : this.cells[index];
  }

  keys(): IterableIterator<string> {
    return this.columns.values();
  }

  values(): IterableIterator<Value> {
    return this.cells.values();
  }

  *[Symbol.iterator](): IterableIterator<[string, Value]> {
    for (let i = 0; i < this.columns.length; i++) yield [this.columns[i]!, this.cells[i]!];
  }
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
  /** Columns written on insert only: never compared, never updated. */
  readonly insertOnly: readonly string[];
  /** Rows in dependency order: a row refers to rows of its own file only in earlier levels. */
  readonly levels: ReadonlyArray<readonly Batch[]>;
}

export interface SeedPlan {
  readonly steps: readonly SeedStep[];
  /** One per distinct literal and type, where it first appears: seed data repeats values (every reference to one row does). */
  readonly checks: readonly ValueCheck[];
}

/**
 * Checks the files against the catalog and turns them into batches: unknown tables and
 * columns, a seed key without a unique index on exactly its columns, wrong types, missing
 * required columns, references to rows a later file seeds, and rows of one file that refer to
 * each other in a cycle are refused, naming file and row. Each value becomes text in
 * PostgreSQL input syntax, to be cast to its column's type. Linear in the size of the files,
 * however deep references nest. Pure: the catalog comes in, nothing goes out but the plan.
 *
 * @example
 * const plan = planSeed(await readSeedDir('./seeds'), catalog);
 * plan.steps.map((s) => `${s.table.name}: ${s.levels.length} level(s)`);
 */
export function planSeed(files: readonly SeedFile[], catalog: Catalog): SeedPlan {
  const checks: ValueCheck[] = [];
  const checked = new Map<string, Set<string>>(); // type → literals
  const namesByOid = new Map<number, string>();

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
      return references.read(value, at);
    }
    if (Array.isArray(value) !== column.array)
      wrong(column.array ? `got ${JSON.stringify(value)}; write a list` : 'got a list; write one value');
    if (Array.isArray(value)) return literal(arrayLiteral(value, wrong), table, column, at);
    if (column.text && typeof value !== 'string') wrong(`got ${JSON.stringify(value)}, not a string; quote it`);
    // Stryker disable next-line ConditionalExpression: equivalent, Number.isInteger is false for anything but a number
    if (typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value))
      wrong(`${value} is past 2^53 and loses digits; quote it`);
    return literal(String(value), table, column, at);
  };
  const references = new ReferenceReader({ tableNamed, columnOf, encode });

  // Each file's table, key (with its unique index) and insert-only columns, before any row.
  const tables = files.map((file) => {
    const table = tableNamed(file.table, file.at);
    for (const column of file.key) columnOf(table, column, file.keyAt);
    const sorted = [...file.key].sort();
    if (!table.uniqueKeys.some((columns) => columns.length === sorted.length && columns.every((column, i) => column === sorted[i]))) {
      const statement = `CREATE UNIQUE INDEX ON ${table.sqlName} (${file.key.map(quoteIdentifier).join(', ')})`;
      fail(
        file.keyAt,
        `table ${table.name} has no unique index on the seed key (${file.key.join(', ')}), so runs that do not share the lock could insert a row twice; add one with a migration: ${statement}`,
      );
    }
    for (const column of file.insertOnly) columnOf(table, column, file.insertOnlyAt);
    return table;
  });

  // Every row's values, every file before any dependency: a reference is matched with the rows this run seeds by id.
  const encoded = files.map((file, fileIndex) => {
    const table = tables[fileIndex]!;
    const required = [...table.columns.values()].filter((column) => column.required);
    // Stryker disable next-line ArrayDeclaration: equivalent, no column is named so: the first row takes its own list
    let columns: string[] = []; // the previous row's, shared by the next row that gives the same in the same order
    // Stryker disable next-line ArrayDeclaration: equivalent, emptied before each row
    const scratch: Value[] = [];
    return file.rows.map((row): PlannedRow => {
      for (const column of required) {
        if (row.values[column.name] === undefined || row.values[column.name] === null) {
          fail(row.at, `column ${table.name}.${column.name} is required (NOT NULL, no default); give it a value`);
        }
      }
      scratch.length = 0;
      let same = true;
      for (const name in row.values) {
        same &&= columns[scratch.length] === name;
        scratch.push(encode(row.values[name], table, columnOf(table, name, row.at), row.at));
      }
      if (!same || scratch.length !== columns.length) columns = Object.keys(row.values);
      // A copy of exactly its length: an array grown by push keeps room for 17 values.
      return { at: row.at, key: row.key, values: new RowValues(columns, scratch.slice()) };
    });
  });

  // The last file that seeds each table: a reference to a table no file from this one on seeds needs no lookup in `seeded`.
  const lastFile = new Map<number, number>(); // oid → file index
  for (const [fileIndex, table] of tables.entries()) lastFile.set(table.oid, fileIndex);
  // Where each seeded row is, to tell a reference into this run's own rows from one to the database:
  // table oid → the id of a reference to the row by its key → where, built for a table when a reference needs it.
  const seeded = new Map<number, Map<string, { file: number; row: number }>>();
  const seededRows = (table: CatalogTable) => {
    let rows = seeded.get(table.oid);
    // Stryker disable next-line ConditionalExpression: equivalent, building the map again gives the same map
    if (rows === undefined) {
      seeded.set(table.oid, (rows = new Map()));
      files.forEach((file, fileIndex) => {
        if (tables[fileIndex]!.oid !== table.oid) return;
        const sortedKey = [...file.key].sort();
        encoded[fileIndex]!.forEach((row, rowIndex) => {
          rows!.set(
            references.idOfSorted(table, sortedKey, (column) => row.values.get(column)!),
            { file: fileIndex, row: rowIndex },
          );
        });
      });
    }
    return rows;
  };

  const steps = files.map((file, fileIndex): SeedStep => {
    const table = tables[fileIndex]!;
    const rows = encoded[fileIndex]!;
    // Rows of this file each row refers to; most refer to none, and share one empty set.
    const dependencies = rows.map((row, rowIndex) => {
      let needs: Set<number> | undefined;
      // The reference, then those inside its key.
      const visit = (ref: Reference) => {
        // Stryker disable next-line UnaryOperator,ConditionalExpression: equivalent, a shortcut: a row found in an earlier file is skipped below
        const target = (lastFile.get(ref.table.oid) ?? -1) < fileIndex ? undefined : seededRows(ref.table).get(ref.id);
        if (target !== undefined && target.file >= fileIndex) {
          if (target.file > fileIndex) {
            fail(
              row.at,
              `refers to a ${ref.table.name} row that ${files[target.file]!.path} seeds later; rename the files so that one sorts first`,
            );
          }
          if (target.row === rowIndex) fail(row.at, 'the row refers to itself');
          (needs ??= new Set()).add(target.row);
        }
        for (const value of ref.key.values()) if (isReference(value)) visit(value);
      };
      for (const value of row.values.values()) if (isReference(value)) visit(value);
      return needs ?? NONE;
    });
    return { at: file.at, table, key: file.key, insertOnly: file.insertOnly, levels: levelsOf(dependencies, rows).map(batches) };
  });
  return { steps, checks };
}

/**
 * Groups rows into levels: level 0 refers to no row of its own file, level n only to rows
 * in levels below n (Kahn's algorithm). Rows left over refer to each other in a cycle.
 */
function levelsOf(dependencies: ReadonlyArray<ReadonlySet<number>>, rows: readonly PlannedRow[]): PlannedRow[][] {
  // Most files' rows refer to none of their own file: one level, in file order, with no bookkeeping per row.
  // Stryker disable next-line ConditionalExpression,ArrowFunction,BlockStatement: equivalent, a shortcut: the general path gives the same one level
  if (dependencies.every((needs) => needs.size === 0)) {
    return rows.length === 0 ? [] : [[...rows]];
  }
  const waiting = dependencies.map((needs) => needs.size);
  const dependents = dependencies.map(() => [] as number[]);
  for (const [row, needs] of dependencies.entries()) for (const target of needs) dependents[target]!.push(row);
  const levels: PlannedRow[][] = [];
  let current = waiting.flatMap((count, row) => (count === 0 ? [row] : []));
  while (current.length > 0) {
    levels.push(current.sort((a, b) => a - b).map((row) => rows[row]!));
    current = current.flatMap((row) => dependents[row]!.filter((next) => --waiting[next]! === 0));
  }
  const cycle = waiting.flatMap((count, row) => (count > 0 ? [rows[row]!.at] : []));
  if (cycle.length > 0)
    fail(
      cycle[0]!,
      `rows refer to each other in a cycle (or to a row in one): ${cycle.map(describeLocation).join(', ')}; break it with a row that refers to none of them`,
    );
  return levels;
}

/** Splits a level by the set of columns its rows give: rows that give the same columns share one lookup and one INSERT. */
function batches(rows: readonly PlannedRow[]): Batch[] {
  const bySet = new Map<string, { columns: readonly string[]; rows: PlannedRow[] }>();
  const byOrder = new Map<string, { columns: readonly string[]; rows: PlannedRow[] }>(); // the same, by the columns in the order a row gives them
  let last: { columns: readonly string[]; rows: PlannedRow[] } | undefined; // rows mostly give the columns the row before gave, in its order
  for (const row of rows) {
    // Stryker disable next-line ConditionalExpression,LogicalOperator,BlockStatement: equivalent, a shortcut: the lookup below finds the same batch
    if (last !== undefined && (row.values.columns === last.columns || sameColumns(row.values, last.columns))) {
      last.rows.push(row);
      continue;
    }
    // Stryker disable next-line StringLiteral: equivalent, a prefix common to every key keeps them apart
    let order = '';
    for (const column of row.values.keys()) order += `${column}\0`;
    let batch = byOrder.get(order);
    // Stryker disable next-line ConditionalExpression: equivalent, the lookup by set finds the same batch again
    if (batch === undefined) {
      const columns = row.values.columns;
      const id = [...columns].sort().join('\0');
      batch = bySet.get(id) ?? bySet.set(id, { columns, rows: [] }).get(id)!;
      byOrder.set(order, batch);
    }
    batch.rows.push(row);
    last = { columns: row.values.columns, rows: batch.rows };
  }
  return [...bySet.values()];
}

/** Whether the row gives exactly these columns, in this order. */
// Stryker disable next-line BlockStatement: equivalent, only the shortcut in batches() asks: false takes the lookup, to the same batch
function sameColumns(values: RowValues, columns: readonly string[]): boolean {
  // Stryker disable next-line ConditionalExpression,ArrowFunction: equivalent, as above: false only takes the lookup
  return values.columns.length === columns.length && values.columns.every((column, i) => column === columns[i]);
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
