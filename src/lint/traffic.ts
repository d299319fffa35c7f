/**
 * The traffic-aware check: which statements the server has actually run still use a column or
 * table a migration drops or renames. Pure but for the parser: the statements come in as data
 * (normalized texts from `pg_stat_statements`, never values), read by the command that calls it.
 */
import { parseStatements } from '../sql/parse.js';

type Node = Record<string, unknown>;

/** A column or table a migration drops or renames, as written (schema null when unqualified). */
export interface BreakingChange {
  /** `DROP COLUMN users.legacy_name`, `RENAME TABLE app.orders`: for messages. */
  readonly what: string;
  readonly schema: string | null;
  readonly table: string;
  /** Null for a whole table. */
  readonly column: string | null;
  /** 1-based line of the statement in its migration. */
  readonly line: number;
}

/** One normalized statement the server ran, and how often. */
export interface ServerStatement {
  readonly query: string;
  readonly calls: number;
}

/** The statements that still use one change's column or table. */
export interface TrafficUse {
  readonly change: BreakingChange;
  /** Statements naming it. */
  readonly statements: number;
  readonly calls: number;
  readonly example: string | null;
  /** Statements that reach the column only through `*` (they may not need it; a column list would say). */
  readonly throughStar: number;
  readonly starCalls: number;
  readonly starExample: string | null;
}

/** The columns and tables `sql` drops or renames. */
export async function breakingChanges(sql: string): Promise<BreakingChange[]> {
  const changes: BreakingChange[] = [];
  const bytes = Buffer.from(sql, 'utf8');
  for (const { stmt, stmt_location } of await parseStatements(sql)) {
    // The parser's location is a byte offset; the statement starts at its first non-blank character.
    const before = bytes.subarray(0, stmt_location ?? 0).toString('utf8');
    const line = before.split('\n').length + (sql.slice(before.length).match(/^\s*/)![0].split('\n').length - 1);
    const change = (verb: string, relation: RangeVar, column: string | null) => changeOf(verb, relation, column, line);
    const alter = stmt.AlterTableStmt as
      | { relation?: RangeVar; cmds?: Array<{ AlterTableCmd?: { subtype?: string; name?: string } }> }
      | undefined;
    const rename = stmt.RenameStmt as { relation?: RangeVar; renameType?: string; subname?: string } | undefined;
    const drop = stmt.DropStmt as
      | { removeType?: string; objects?: Array<{ List?: { items?: Array<{ String?: { sval?: string } }> } }> }
      | undefined;
    if (alter?.relation !== undefined) {
      for (const { AlterTableCmd: cmd } of alter.cmds ?? []) {
        if (cmd?.subtype === 'AT_DropColumn' && cmd.name !== undefined) changes.push(change('DROP COLUMN', alter.relation, cmd.name));
      }
    } else if (rename?.relation !== undefined && rename.renameType === 'OBJECT_COLUMN' && rename.subname !== undefined) {
      changes.push(change('RENAME COLUMN', rename.relation, rename.subname));
    } else if (rename?.relation !== undefined && rename.renameType === 'OBJECT_TABLE') {
      changes.push(change('RENAME TABLE', rename.relation, null));
    } else if (drop?.removeType === 'OBJECT_TABLE') {
      for (const object of drop.objects ?? []) {
        const parts = (object.List?.items ?? []).map((i) => i.String?.sval ?? '');
        const relation = { relname: parts.at(-1)!, ...(parts.length > 1 && { schemaname: parts.at(-2)! }) };
        changes.push(change('DROP TABLE', relation, null));
      }
    }
  }
  return changes;
}

interface RangeVar {
  relname?: string;
  schemaname?: string;
  alias?: { aliasname?: string };
}

function changeOf(verb: string, relation: RangeVar, column: string | null, line: number): BreakingChange {
  const table = relation.relname ?? '';
  const schema = relation.schemaname ?? null;
  const qualified = schema === null ? table : `${schema}.${table}`;
  return { what: `${verb} ${column === null ? qualified : `${qualified}.${column}`}`, schema, table, column, line };
}

/** What one statement reads or writes, from its parse tree: relations (with aliases), column references, stars. */
interface Uses {
  readonly relations: Array<{ schema: string | null; name: string; alias: string | null }>;
  /** Column references: `[qualifier, column]`, the qualifier null when unqualified. */
  readonly columns: Array<[string | null, string]>;
  /** `*` (null) and `t.*` (t). */
  readonly stars: Array<string | null>;
}

function usesOf(tree: unknown): Uses {
  const uses: Uses = { relations: [], columns: [], stars: [] };
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) walk(item);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const record = node as Node;
    if (typeof record.relname === 'string') {
      const r = record as RangeVar;
      uses.relations.push({ schema: r.schemaname ?? null, name: r.relname!, alias: r.alias?.aliasname ?? null });
    }
    const ref = record.ColumnRef as { fields?: Array<{ String?: { sval?: string }; A_Star?: unknown }> } | undefined;
    if (ref !== undefined) {
      const fields = ref.fields ?? [];
      const last = fields.at(-1);
      const qualifier = fields.length > 1 ? (fields.at(-2)?.String?.sval ?? null) : null;
      if (last?.A_Star !== undefined) uses.stars.push(qualifier);
      else if (last?.String?.sval !== undefined) uses.columns.push([qualifier, last.String.sval]);
    }
    // INSERT INTO t (a, b) and UPDATE t SET a = …: the target columns are names, not references.
    for (const key of ['InsertStmt', 'UpdateStmt'] as const) {
      const target = record[key] as { cols?: unknown[]; targetList?: unknown[] } | undefined;
      for (const item of (key === 'InsertStmt' ? target?.cols : target?.targetList) ?? []) {
        const name = (item as { ResTarget?: { name?: string } }).ResTarget?.name;
        if (name !== undefined) uses.columns.push([null, name]);
      }
    }
    for (const value of Object.values(record)) walk(value);
  };
  walk(tree);
  return uses;
}

const DATA_STATEMENTS = new Set(['SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

/**
 * For each change, the statements of `statements` that still use its column or table. A column
 * counts as used by a statement that reads a table of its name (schema-qualified names must agree)
 * and names the column, unqualified or through that table's name or alias; one reaching it only
 * through `*` is counted apart. Statements that do not parse (a text cut at
 * `track_activity_query_size`) and statements other than SELECT/INSERT/UPDATE/DELETE/MERGE are left out.
 */
export async function trafficUse(changes: readonly BreakingChange[], statements: readonly ServerStatement[]): Promise<TrafficUse[]> {
  const parsed: Array<{ statement: ServerStatement; uses: Uses }> = [];
  for (const statement of statements) {
    const tree = await parseStatements(statement.query).catch(() => null);
    if (tree === null || tree.length !== 1 || !DATA_STATEMENTS.has(Object.keys(tree[0]!.stmt)[0]!)) continue;
    parsed.push({ statement, uses: usesOf(tree) });
  }
  return changes.map((c) => {
    const named: ServerStatement[] = [];
    const starred: ServerStatement[] = [];
    for (const { statement, uses } of parsed) {
      const tables = uses.relations.filter((r) => r.name === c.table && (r.schema === null || c.schema === null || r.schema === c.schema));
      if (tables.length === 0) continue;
      if (c.column === null) {
        named.push(statement);
        continue;
      }
      const names = new Set(tables.flatMap((t) => [t.name, ...(t.alias === null ? [] : [t.alias])]));
      if (uses.columns.some(([qualifier, column]) => column === c.column && (qualifier === null || names.has(qualifier))))
        named.push(statement);
      else if (uses.stars.some((qualifier) => qualifier === null || names.has(qualifier))) starred.push(statement);
    }
    const sum = (list: ServerStatement[]) => list.reduce((n, s) => n + s.calls, 0);
    const busiest = (list: ServerStatement[]) => [...list].sort((a, b) => b.calls - a.calls)[0]?.query ?? null;
    return {
      change: c,
      statements: named.length,
      calls: sum(named),
      example: busiest(named),
      throughStar: starred.length,
      starCalls: sum(starred),
      starExample: busiest(starred),
    };
  });
}

/** One line per change still in use: what, how many statements and calls, the busiest one. Empty when none is. */
export function describeTrafficUse(uses: readonly TrafficUse[]): string[] {
  return trafficLines(uses).map((l) => l.message);
}

/** {@link describeTrafficUse}'s lines with the change each is about, and whether it is seen for sure (named) or only through `*`. */
export function trafficLines(uses: readonly TrafficUse[]): Array<{ change: BreakingChange; named: boolean; message: string }> {
  const short = (query: string) => (query.length > 120 ? `${query.slice(0, 117).replace(/\s+/g, ' ')}…` : query.replace(/\s+/g, ' '));
  const calls = (n: number) => `${n.toLocaleString('en-US')} call${n === 1 ? '' : 's'}`;
  return uses.flatMap((u) => {
    const lines: Array<{ change: BreakingChange; named: boolean; message: string }> = [];
    if (u.statements > 0) {
      lines.push({
        change: u.change,
        named: true,
        message:
          `${u.change.what}: ${u.statements} statement${u.statements === 1 ? '' : 's'} this server ran ` +
          `still use${u.statements === 1 ? 's' : ''} it (${calls(u.calls)}), e.g. ${short(u.example!)}: ` +
          'the code that runs them is still deployed',
      });
    }
    if (u.throughStar > 0) {
      lines.push({
        change: u.change,
        named: false,
        message:
          `${u.change.what}: ${u.throughStar} statement${u.throughStar === 1 ? '' : 's'} this server ran ` +
          `read${u.throughStar === 1 ? 's' : ''} it only through * (${calls(u.starCalls)}), e.g. ${short(u.starExample!)}: ` +
          'whether the code needs the column cannot be seen from the query',
      });
    }
    return lines;
  });
}
