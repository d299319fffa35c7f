/**
 * What the lint rules know about the schema at each statement: which relations (tables, indexes)
 * exist and whether they existed before the run (so production may be using them), the types of
 * the columns the history declared, and the validated `CHECK (col IS NOT NULL)` constraints that
 * make `SET NOT NULL` skip its scan (PostgreSQL 12+).
 *
 * Names are resolved as the server resolves them: a qualified name in its schema, an unqualified
 * one in `pg_temp` first (where `CREATE TEMP TABLE` puts it), then along the search path.
 *
 * With a {@link LintCatalog} (read from the live database by the gate), existence is the
 * catalog's: a relation the catalog lacks does not exist and is in use by nobody. Without one,
 * a relation no migration seen created is assumed to exist and to be in use.
 *
 * The history (migrations already applied) is replayed first with {@link LintContext.replay};
 * then every statement of the run goes through the rules and then {@link LintContext.apply}.
 */
import type { Node } from './source.js';

/** A column type as written: its base name (`varchar`, `int4`, `text`), its modifiers, and whether it is an array. */
export interface ColumnType {
  readonly name: string;
  readonly mods: readonly number[];
  readonly array: boolean;
}

/** One relation of the live catalog, as the gate reads it. */
export interface CatalogRelation {
  readonly schema: string;
  readonly name: string;
  readonly kind: 'table' | 'index' | 'other';
  /** For an index: its table, as `schema.name`. */
  readonly table?: string | null;
}

/** What the live database holds before the run: the relations the run names, and where names are looked up. */
export interface LintCatalog {
  /** `current_schemas(false)`: where unqualified names are looked up, in order; new relations go to the first. */
  readonly searchPath: readonly string[];
  /** Every relation of a name the run mentions, in every schema (system schemas left out). */
  readonly relations: readonly CatalogRelation[];
  /** Domains with a CHECK constraint, as `schema.name`. */
  readonly checkedDomains: readonly string[];
}

/** The names a run mentions, for which the gate reads the catalog. */
export interface CatalogNames {
  readonly relations: readonly string[];
  readonly types: readonly string[];
}

interface RelationInfo {
  kind: 'table' | 'index' | 'other';
  /** Existed before the run (in the catalog, created by the history, or assumed without a catalog). */
  before: boolean;
  /** For an index: its table's key. */
  table: string | null;
  /** Columns whose type the migrations declared; a missing one is unknown. */
  readonly columns: Map<string, ColumnType>;
  /** Columns with a validated `CHECK (col IS NOT NULL)`. */
  readonly notNullChecked: Set<string>;
  /** `CHECK (col IS NOT NULL) NOT VALID` constraints, by name, waiting for VALIDATE. */
  readonly pendingChecks: Map<string, string>;
}

/** A relation as the parser gives it (a `RangeVar`), or as name parts. */
interface RelationRef {
  readonly schemaname?: unknown;
  readonly relname?: unknown;
  readonly relpersistence?: unknown;
}

const TEMP = 'pg_temp';
/** Without a catalog: where an unqualified name is assumed to live. */
const DEFAULT_PATH = ['public'];

function info(kind: RelationInfo['kind'], before: boolean, table: string | null = null): RelationInfo {
  return { kind, before, table, columns: new Map(), notNullChecked: new Set(), pendingChecks: new Map() };
}

export class LintContext {
  /** Relations by `schema.name`. */
  private readonly relations = new Map<string, RelationInfo>();
  /** Without a catalog: relations dropped by a migration seen, no longer assumed to exist. */
  private readonly gone = new Set<string>();
  /** Domains with a CHECK constraint, by `schema.name` and by bare name. */
  private readonly checkedDomains = new Set<string>();
  /** Long names as the server cuts them, with the name written, to tell two that collide. */
  private readonly longNames = new Map<string, string>();
  private readonly sessionPath: readonly string[];
  private path: readonly string[];
  private phase: 'history' | 'run' = 'history';

  /**
   * @param pgVersion the target server's major version (e.g. 16): what is safe depends on it.
   * @param catalog what the live database holds; without it, relations are assumed to exist.
   */
  constructor(
    readonly pgVersion: number,
    private readonly catalog: LintCatalog | null = null,
  ) {
    this.sessionPath = catalog === null || catalog.searchPath.length === 0 ? DEFAULT_PATH : catalog.searchPath;
    this.path = this.sessionPath;
    for (const r of catalog?.relations ?? []) this.relations.set(`${r.schema}.${r.name}`, info(r.kind, true, r.table ?? null));
    for (const d of catalog?.checkedDomains ?? []) this.checkedDomains.add(d), this.checkedDomains.add(d.slice(d.indexOf('.') + 1));
  }

  /**
   * Does this statement ask what the history declared (a column's type, a NOT NULL check, a table)?
   * Only then is the history replayed: with a catalog, existence is the catalog's; without one,
   * a table no migration created counts as existing, like one the history created.
   */
  static asksHistory(kind: string, node: Node): boolean {
    // CREATE TABLE IF NOT EXISTS does nothing to a table the history created: only the history tells.
    if (kind === 'CreateStmt' || kind === 'CreateTableAsStmt') return node.if_not_exists === true;
    if (kind !== 'AlterTableStmt') return false;
    return ((node.cmds as Array<{ AlterTableCmd?: Node }> | undefined) ?? []).some(
      (c) => c.AlterTableCmd?.subtype === 'AT_AlterColumnType' || c.AlterTableCmd?.subtype === 'AT_SetNotNull',
    );
  }

  /** Replays an applied migration: whatever it creates exists before the run. */
  replay(kind: string, node: Node): void {
    this.apply(kind, node);
  }

  /** Each file starts with the session as the run started it (the runner resets it): its own `SET search_path` ends with it. */
  endFile(): void {
    this.path = this.sessionPath;
  }

  /**
   * From now on, whatever is created is new: the run being linted begins. With a catalog,
   * what the history created counts only where the catalog has it (it may have been dropped by hand).
   */
  beginRun(): void {
    this.endFile();
    this.phase = 'run';
    if (this.catalog === null) return;
    const present = new Map(this.catalog.relations.map((r) => [`${r.schema}.${r.name}`, r]));
    for (const [key, relation] of this.relations) {
      const live = present.get(key);
      if (live === undefined) this.relations.delete(key);
      else Object.assign(relation, { kind: live.kind, before: true, table: live.table ?? null });
    }
    for (const [key, r] of present) if (!this.relations.has(key)) this.relations.set(key, info(r.kind, true, r.table ?? null));
  }

  /**
   * Is this relation (a table, or an index by its name parts) in use: did it exist before the
   * run? One created by the run, dropped by it, or (with a catalog) absent is in use by nobody.
   */
  inUse(relation: unknown): boolean {
    return this.find(relation)?.info?.before === true;
  }

  /** The same for `DROP`'s name parts (`[schema, name]` or `[name]`). */
  inUseByParts(parts: readonly string[]): boolean {
    return this.inUse(partsToRef(parts));
  }

  /** The declared type of a column, when a migration seen so far declared it. */
  columnType(relation: unknown, column: string): ColumnType | null {
    return this.find(relation)?.info?.columns.get(column) ?? null;
  }

  /** Does a validated `CHECK (column IS NOT NULL)` already guard this column? */
  hasNotNullCheck(relation: unknown, column: string): boolean {
    return this.find(relation)?.info?.notNullChecked.has(column) === true;
  }

  /** Is this type (a `TypeName` node) a domain with a CHECK constraint? */
  isCheckedDomain(typeName: unknown): boolean {
    const names = ((typeName as { names?: Array<{ String?: { sval?: string } }> } | undefined)?.names ?? []).map(
      (n) => n.String?.sval ?? '',
    );
    return names.length > 0 && this.checkedDomains.has(names.join('.'));
  }

  /**
   * Notes a name the server cuts to `cut` (written `written`); returns the other name written
   * that the server cuts the same way, if one was seen in this run: both become one object.
   */
  noteLongName(cut: string, written: string): string | null {
    const other = this.longNames.get(cut);
    if (other === undefined) this.longNames.set(cut, written);
    return other !== undefined && other !== written ? other : null;
  }

  /**
   * Resolves a relation as the server would: its key and what is known of it (null: it does not
   * exist). Without a catalog, an unknown name is assumed to exist, in the first schema of the path.
   */
  private find(relation: unknown): { key: string; info: RelationInfo | null } | null {
    const ref = relation as RelationRef | undefined;
    if (typeof ref?.relname !== 'string') return null;
    const name = ref.relname;
    if (typeof ref.schemaname === 'string') return this.lookup(`${ref.schemaname}.${name}`);
    for (const schema of [TEMP, ...this.path]) {
      const known = this.relations.get(`${schema}.${name}`);
      if (known !== undefined) return { key: `${schema}.${name}`, info: known };
    }
    if (this.catalog === null) {
      // Without a catalog the session's search path is a guess: a relation of this name that a migration
      // seen put in another schema (`CREATE INDEX i ON auth.users`, then `DROP INDEX i`) is the one meant.
      for (const [key, known] of this.relations) if (key.endsWith(`.${name}`)) return { key, info: known };
    }
    return this.lookup(`${this.path[0] ?? 'public'}.${name}`);
  }

  private lookup(key: string): { key: string; info: RelationInfo | null } {
    let known = this.relations.get(key) ?? null;
    if (known === null && this.catalog === null && !this.gone.has(key)) {
      // A relation no migration seen created: it exists already (history slipway cannot see).
      known = info('table', true);
      this.relations.set(key, known);
    }
    return { key, info: known };
  }

  /** Where `CREATE` puts a relation: its schema, `pg_temp` for TEMP, else the first schema of the path. */
  private creationKey(relation: unknown): string | null {
    const ref = relation as RelationRef | undefined;
    if (typeof ref?.relname !== 'string') return null;
    const schema = typeof ref.schemaname === 'string' ? ref.schemaname : ref.relpersistence === 't' ? TEMP : (this.path[0] ?? 'public');
    return `${schema}.${ref.relname}`;
  }

  private create(key: string | null, kind: RelationInfo['kind'], ifNotExists: boolean, table: string | null = null): RelationInfo | null {
    if (key === null) return null;
    // CREATE … IF NOT EXISTS of a relation that exists does nothing: it stays as it was (in use, if it was).
    // In the history it ran when it did create (the catalog, read today, already has it): its columns are recorded.
    if (ifNotExists && this.phase === 'run' && this.relations.has(key)) return null;
    const created = info(kind, this.phase === 'history', table);
    this.relations.set(key, created);
    this.gone.delete(key);
    return created;
  }

  private drop(key: string): void {
    const dropped = this.relations.get(key);
    this.relations.delete(key);
    this.gone.add(key);
    if (dropped?.kind !== 'table') return;
    for (const [other, r] of this.relations) if (r.table === key) this.relations.delete(other), this.gone.add(other);
  }

  private move(from: string, to: string): void {
    const moved = this.relations.get(from);
    if (moved === undefined) return;
    this.drop(from);
    this.gone.delete(to);
    this.relations.set(to, moved);
    for (const r of this.relations.values()) if (r.table === from) r.table = to;
  }

  /** Records what a statement creates, renames or drops. Called after the rules saw it. */
  apply(kind: string, node: Node): void {
    switch (kind) {
      case 'CreateStmt': {
        const table = this.create(this.creationKey(node.relation), 'table', node.if_not_exists === true);
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
      case 'CreateTableAsStmt': {
        const into = node.into as Node | undefined;
        this.create(this.creationKey(into?.rel), 'table', node.if_not_exists === true);
        break;
      }
      case 'SelectStmt':
        if (node.intoClause !== undefined) this.create(this.creationKey((node.intoClause as Node).rel), 'table', false);
        break;
      case 'IndexStmt': {
        const table = this.find(node.relation);
        if (typeof node.idxname !== 'string' || table === null) break;
        // An index lives in its table's schema.
        this.create(
          `${schemaOf(table.key, (node.relation as RelationRef).relname)}.${node.idxname}`,
          'index',
          node.if_not_exists === true,
          table.key,
        );
        break;
      }
      case 'DropStmt': {
        if (!DROPPED_RELATIONS.has(String(node.removeType))) break;
        for (const parts of objectNames(node)) {
          const found = this.find(partsToRef(parts));
          if (found?.info != null) this.drop(found.key);
        }
        break;
      }
      case 'RenameStmt': {
        const found = this.find(node.relation);
        if (found?.info == null || typeof node.newname !== 'string') break;
        if (node.renameType === 'OBJECT_TABLE' || node.renameType === 'OBJECT_INDEX') {
          this.move(found.key, `${schemaOf(found.key, (node.relation as RelationRef).relname)}.${node.newname}`);
        } else if (node.renameType === 'OBJECT_COLUMN' && typeof node.subname === 'string') {
          const type = found.info.columns.get(node.subname);
          found.info.columns.delete(node.subname);
          if (type !== undefined) found.info.columns.set(node.newname, type);
        }
        break;
      }
      case 'AlterObjectSchemaStmt': {
        const found = this.find(node.relation);
        if (found?.info != null && typeof node.newschema === 'string')
          this.move(found.key, `${node.newschema}.${String((node.relation as RelationRef).relname)}`);
        break;
      }
      case 'AlterTableStmt':
        this.alterTable(node);
        break;
      case 'CreateDomainStmt':
        if (constraintsOf(node.constraints).some((c) => c.contype === 'CONSTR_CHECK')) this.noteDomain(node.domainname);
        break;
      case 'AlterDomainStmt':
        if (node.subtype === 'C' && (node.def as { Constraint?: Node } | undefined)?.Constraint?.contype === 'CONSTR_CHECK')
          this.noteDomain(node.typeName);
        break;
      case 'VariableSetStmt':
        if (node.name === 'search_path') this.setPath(node);
        break;
      default:
        break;
    }
  }

  private noteDomain(names: unknown): void {
    const parts = ((names as Array<{ String?: { sval?: string } }> | undefined) ?? []).map((n) => n.String?.sval ?? '');
    if (parts.length === 0) return;
    this.checkedDomains.add(parts.at(-1)!);
    this.checkedDomains.add(parts.length > 1 ? parts.join('.') : `${this.path[0] ?? 'public'}.${parts[0]}`);
  }

  private setPath(node: Node): void {
    if (node.kind === 'VAR_SET_VALUE') {
      const schemas = ((node.args as Array<{ A_Const?: { sval?: { sval?: string } } }> | undefined) ?? []).map(
        (a) => a.A_Const?.sval?.sval,
      );
      // "$user" is a schema named as the role, seldom there; a list the parser cannot read leaves the path as it is.
      if (!schemas.every((s) => typeof s === 'string')) return;
      this.path = (schemas as string[]).flatMap((s) => s.split(',').map((p) => p.trim())).filter((s) => s !== '' && s !== '$user');
    } else if (node.kind === 'VAR_SET_DEFAULT' || node.kind === 'VAR_RESET') {
      this.path = this.sessionPath;
    }
  }

  private alterTable(node: Node): void {
    if (node.objtype !== 'OBJECT_TABLE') return;
    const table = this.find(node.relation)?.info;
    if (table == null) return;
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
          if (typeof cmd.name === 'string') table.columns.delete(cmd.name), table.notNullChecked.delete(cmd.name);
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
          if (column !== undefined) table.notNullChecked.add(column), table.pendingChecks.delete(cmd.name as string);
          break;
        }
        default:
          break;
      }
    }
  }
}

/** `DROP` kinds that remove a relation (and, for a table, its indexes). */
const DROPPED_RELATIONS = new Set([
  'OBJECT_TABLE',
  'OBJECT_INDEX',
  'OBJECT_MATVIEW',
  'OBJECT_VIEW',
  'OBJECT_SEQUENCE',
  'OBJECT_FOREIGN_TABLE',
]);

function schemaOf(key: string, name: unknown): string {
  return key.slice(0, key.length - String(name).length - 1);
}

function partsToRef(parts: readonly string[]): RelationRef {
  return parts.length > 1 ? { schemaname: parts.at(-2), relname: parts.at(-1) } : { relname: parts[0] };
}

function constraintsOf(list: unknown): Node[] {
  return ((list as Array<{ Constraint?: Node }> | undefined) ?? []).map((c) => c.Constraint).filter((c): c is Node => c !== undefined);
}

/** A relation's name as written (without schema), or null: for messages. */
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
  const t = typeName as
    | {
        names?: Array<{ String?: { sval?: string } }>;
        typmods?: Array<{ A_Const?: { ival?: { ival?: number } } }>;
        arrayBounds?: unknown[];
      }
    | undefined;
  const name = t?.names?.at(-1)?.String?.sval;
  if (name === undefined) return null;
  const mods = (t!.typmods ?? []).map((m) => m.A_Const?.ival?.ival ?? 0);
  return { name, mods, array: (t!.arrayBounds?.length ?? 0) > 0 };
}

/** The column of a `CHECK (column IS NOT NULL)` constraint, or null for any other constraint. */
export function notNullCheckColumn(constraint: Node): string | null {
  if (constraint.contype !== 'CONSTR_CHECK') return null;
  const test = (
    constraint.raw_expr as
      | { NullTest?: { nulltesttype?: string; arg?: { ColumnRef?: { fields?: Array<{ String?: { sval?: string } }> } } } }
      | undefined
  )?.NullTest;
  if (test?.nulltesttype !== 'IS_NOT_NULL') return null;
  const fields = test.arg?.ColumnRef?.fields ?? [];
  return fields.length === 1 ? (fields[0]!.String?.sval ?? null) : null;
}
