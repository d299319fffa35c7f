/**
 * What the lint rules know about the schema at each statement: which tables and indexes are
 * new (created by this run, earlier in the same file or in an earlier file of the run) and
 * which existed before it, the types of the columns the history declared, and the validated
 * `CHECK (col IS NOT NULL)` constraints that make `SET NOT NULL` skip its scan (PostgreSQL 12+).
 *
 * The history (migrations already applied) is replayed first with {@link LintContext.replay};
 * then every statement of the run goes through the rules and then {@link LintContext.apply}.
 * Tables are known by their name without schema: two tables of one name in two schemas count as one.
 */
import type { Node } from './source.js';

/** A column type as written: its base name (`varchar`, `int4`, `text`), its modifiers, and whether it is an array. */
export interface ColumnType {
  readonly name: string;
  readonly mods: readonly number[];
  readonly array: boolean;
}

interface TableInfo {
  /** Created by the run being linted (not by the history). */
  isNew: boolean;
  /** Columns whose type the migrations declared; a missing one is unknown. */
  readonly columns: Map<string, ColumnType>;
  /** Columns with a validated `CHECK (col IS NOT NULL)`. */
  readonly notNullChecked: Set<string>;
  /** `CHECK (col IS NOT NULL) NOT VALID` constraints, by name, waiting for VALIDATE. */
  readonly pendingChecks: Map<string, string>;
}

export class LintContext {
  private readonly tables = new Map<string, TableInfo>();
  private readonly indexes = new Map<string, { table: string; isNew: boolean }>();
  private phase: 'history' | 'run' = 'history';

  /**
   * @param pgVersion the target server's major version (e.g. 16): what is safe depends on it.
   */
  constructor(readonly pgVersion: number) {}

  /**
   * Does this statement ask what the history declared (a column's type, a NOT NULL check)?
   * Only then is the history replayed: nothing else the rules ask depends on it, since a table
   * no migration created counts as existing, like one the history created.
   */
  static asksHistory(kind: string, node: Node): boolean {
    if (kind !== 'AlterTableStmt') return false;
    return ((node.cmds as Array<{ AlterTableCmd?: Node }> | undefined) ?? []).some((c) => c.AlterTableCmd?.subtype === 'AT_AlterColumnType' || c.AlterTableCmd?.subtype === 'AT_SetNotNull');
  }

  /** Replays an applied migration: whatever it creates exists before the run. */
  replay(kind: string, node: Node): void {
    this.apply(kind, node);
  }

  /** From now on, whatever is created is new: the run being linted begins. */
  beginRun(): void {
    this.phase = 'run';
  }

  /** Was this table created by the run being linted (so nothing else uses it yet)? */
  isNewTable(relation: unknown): boolean {
    const name = relationName(relation);
    return name !== null && this.tables.get(name)?.isNew === true;
  }

  /** Was this index created by the run, or does it belong to a table the run created? */
  isNewIndex(name: string): boolean {
    const index = this.indexes.get(name);
    return index !== undefined && (index.isNew || this.tables.get(index.table)?.isNew === true);
  }

  /** The declared type of a column, when a migration seen so far declared it. */
  columnType(relation: unknown, column: string): ColumnType | null {
    const name = relationName(relation);
    return name === null ? null : (this.tables.get(name)?.columns.get(column) ?? null);
  }

  /** Does a validated `CHECK (column IS NOT NULL)` already guard this column? */
  hasNotNullCheck(relation: unknown, column: string): boolean {
    const name = relationName(relation);
    return name !== null && this.tables.get(name)?.notNullChecked.has(column) === true;
  }

  /** Records what a statement creates, renames or drops. Called after the rules saw it. */
  apply(kind: string, node: Node): void {
    switch (kind) {
      case 'CreateStmt': {
        const table = this.create(node.relation);
        if (table === null) break;
        for (const element of (node.tableElts as Node[] | undefined) ?? []) {
          const def = element.ColumnDef as Node | undefined;
          if (def !== undefined && typeof def.colname === 'string') {
            const type = columnTypeOf(def.typeName);
            if (type !== null) table.columns.set(def.colname, type);
          }
        }
        break;
      }
      case 'CreateTableAsStmt':
        this.create((node.into as Node | undefined)?.rel);
        break;
      case 'SelectStmt':
        if (node.intoClause !== undefined) this.create((node.intoClause as Node).rel);
        break;
      case 'IndexStmt': {
        const table = relationName(node.relation);
        if (typeof node.idxname === 'string' && table !== null) this.indexes.set(node.idxname, { table, isNew: this.phase === 'run' });
        break;
      }
      case 'DropStmt': {
        for (const parts of objectNames(node)) {
          const name = parts.at(-1)!;
          if (node.removeType === 'OBJECT_TABLE') this.tables.delete(name);
          if (node.removeType === 'OBJECT_INDEX') this.indexes.delete(name);
        }
        break;
      }
      case 'RenameStmt': {
        const name = relationName(node.relation);
        const table = name === null ? undefined : this.tables.get(name);
        if (node.renameType === 'OBJECT_TABLE' && name !== null && table !== undefined && typeof node.newname === 'string') {
          this.tables.delete(name);
          this.tables.set(node.newname, table);
        } else if (node.renameType === 'OBJECT_COLUMN' && table !== undefined && typeof node.subname === 'string' && typeof node.newname === 'string') {
          const type = table.columns.get(node.subname);
          table.columns.delete(node.subname);
          if (type !== undefined) table.columns.set(node.newname, type);
        } else if (node.renameType === 'OBJECT_INDEX' && name !== null && typeof node.newname === 'string') {
          const index = this.indexes.get(name);
          if (index !== undefined) (this.indexes.delete(name), this.indexes.set(node.newname, index));
        }
        break;
      }
      case 'AlterTableStmt':
        this.alterTable(node);
        break;
      default:
        break;
    }
  }

  private create(relation: unknown): TableInfo | null {
    const name = relationName(relation);
    if (name === null) return null;
    const table: TableInfo = { isNew: this.phase === 'run', columns: new Map(), notNullChecked: new Set(), pendingChecks: new Map() };
    this.tables.set(name, table);
    return table;
  }

  private alterTable(node: Node): void {
    const name = relationName(node.relation);
    if (name === null || node.objtype !== 'OBJECT_TABLE') return;
    let table = this.tables.get(name);
    if (table === undefined) {
      // A table no migration seen created: it exists already (history slipway cannot see).
      table = { isNew: false, columns: new Map(), notNullChecked: new Set(), pendingChecks: new Map() };
      this.tables.set(name, table);
    }
    for (const { AlterTableCmd: cmd } of (node.cmds as Array<{ AlterTableCmd?: Node }> | undefined) ?? []) {
      if (cmd === undefined) continue;
      const def = cmd.def as Node | undefined;
      switch (cmd.subtype) {
        case 'AT_AddColumn': {
          const column = def?.ColumnDef as Node | undefined;
          const type = columnTypeOf(column?.typeName);
          if (typeof column?.colname === 'string' && type !== null) table.columns.set(column.colname, type);
          break;
        }
        case 'AT_AlterColumnType': {
          const type = columnTypeOf((def?.ColumnDef as Node | undefined)?.typeName);
          if (typeof cmd.name === 'string' && type !== null) table.columns.set(cmd.name, type);
          break;
        }
        case 'AT_DropColumn':
          if (typeof cmd.name === 'string') (table.columns.delete(cmd.name), table.notNullChecked.delete(cmd.name));
          break;
        case 'AT_AddConstraint': {
          const constraint = def?.Constraint as Node | undefined;
          const column = constraint === undefined ? null : notNullCheckColumn(constraint);
          if (column === null) break;
          if (constraint!.skip_validation === true) table.pendingChecks.set(String(constraint!.conname ?? ''), column);
          else table.notNullChecked.add(column);
          break;
        }
        case 'AT_ValidateConstraint': {
          const column = typeof cmd.name === 'string' ? table.pendingChecks.get(cmd.name) : undefined;
          if (column !== undefined) (table.notNullChecked.add(column), table.pendingChecks.delete(cmd.name as string));
          break;
        }
        default:
          break;
      }
    }
  }
}

/** A relation's name as the rules key it (without schema), or null. */
export function relationName(relation: unknown): string | null {
  const r = relation as { relname?: unknown } | undefined;
  return typeof r?.relname === 'string' ? r.relname : null;
}

/** `DROP …` objects as name parts (`[schema, name]` or `[name]`). */
export function objectNames(node: Node): string[][] {
  const objects = (node.objects as Array<{ List?: { items?: Array<{ String?: { sval?: string } }> } }> | undefined) ?? [];
  return objects.map((o) => (o.List?.items ?? []).map((i) => i.String?.sval ?? '')).filter((parts) => parts.length > 0);
}

/** A `TypeName` node as a {@link ColumnType}: `pg_catalog.varchar(20)` → `{ name: 'varchar', mods: [20] }`. */
export function columnTypeOf(typeName: unknown): ColumnType | null {
  const t = typeName as { names?: Array<{ String?: { sval?: string } }>; typmods?: Array<{ A_Const?: { ival?: { ival?: number } } }>; arrayBounds?: unknown[] } | undefined;
  const name = t?.names?.at(-1)?.String?.sval;
  if (name === undefined) return null;
  const mods = (t!.typmods ?? []).map((m) => m.A_Const?.ival?.ival ?? 0);
  return { name, mods, array: (t!.arrayBounds?.length ?? 0) > 0 };
}

/** The column of a `CHECK (column IS NOT NULL)` constraint, or null for any other constraint. */
export function notNullCheckColumn(constraint: Node): string | null {
  if (constraint.contype !== 'CONSTR_CHECK') return null;
  const test = (constraint.raw_expr as { NullTest?: { nulltesttype?: string; arg?: { ColumnRef?: { fields?: Array<{ String?: { sval?: string } }> } } } } | undefined)?.NullTest;
  if (test?.nulltesttype !== 'IS_NOT_NULL') return null;
  const fields = test.arg?.ColumnRef?.fields ?? [];
  return fields.length === 1 ? (fields[0]!.String?.sval ?? null) : null;
}
