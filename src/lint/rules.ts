/**
 * The lint rules: each has an id (squawk's name where squawk has the rule), a severity, the
 * reason in one sentence and the safe rewrite. {@link checkStatement} runs them on one parsed
 * statement with what the {@link LintContext} knows at that point; it is pure.
 */
import { columnTypeOf, objectNames, relationName, type ColumnType, type LintContext } from './context.js';
import type { LintStatement, Node, ParsedFile } from './source.js';

export type Severity = 'error' | 'warning';

/** A rule as documented: what it catches, why it matters, and what to write instead. */
export interface LintRule {
  readonly id: string;
  readonly severity: Severity;
  /** Style rules (`prefer-*`) are off unless enabled. */
  readonly style: boolean;
  /** Why it matters, in one sentence. */
  readonly reason: string;
  /** What to write instead. */
  readonly fix: string;
}

const rule = (id: string, severity: Severity, reason: string, fix: string, style = false): LintRule => ({
  id,
  severity,
  style,
  reason,
  fix,
});

/** Every rule, in the order the README lists them. */
export const RULES: readonly LintRule[] = [
  rule(
    'require-concurrent-index-creation',
    'error',
    'CREATE INDEX without CONCURRENTLY blocks every write to the table for the whole build.',
    'CREATE INDEX CONCURRENTLY, in a file of its own (slipway runs it outside a transaction).',
  ),
  rule(
    'require-concurrent-index-deletion',
    'error',
    'DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the table, queueing every query behind it.',
    'DROP INDEX CONCURRENTLY, in a file of its own.',
  ),
  rule(
    'adding-foreign-key-constraint',
    'error',
    'A foreign key added in one step scans the table to validate it while blocking writes to both tables.',
    'ADD CONSTRAINT … FOREIGN KEY … NOT VALID, then ALTER TABLE … VALIDATE CONSTRAINT in a later migration.',
  ),
  rule(
    'constraint-missing-not-valid',
    'error',
    'A CHECK constraint added without NOT VALID (or validated in the same transaction) scans the table under an ACCESS EXCLUSIVE lock.',
    'ADD CONSTRAINT … CHECK (…) NOT VALID, then VALIDATE CONSTRAINT in a later migration (it takes a lock that lets reads and writes go on).',
  ),
  rule(
    'adding-not-nullable-field',
    'error',
    'SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock.',
    'On PostgreSQL 12+: ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT c in a later migration; ' +
      'then SET NOT NULL (it uses the constraint and skips the scan) and DROP CONSTRAINT c.',
  ),
  rule(
    'adding-required-field',
    'error',
    'ADD COLUMN … NOT NULL without a DEFAULT fails on a table that has rows, and the code deployed before it does not fill the column.',
    'Add the column with a constant DEFAULT, or add it nullable, backfill it, then make it NOT NULL.',
  ),
  rule(
    'adding-field-with-default',
    'error',
    'ADD COLUMN with a volatile DEFAULT (or a stored generated, identity or serial column) rewrites the whole table under an ACCESS EXCLUSIVE lock; constant defaults are instant since PostgreSQL 11.',
    'Add the column without a default (or with a constant one), set the default with ALTER COLUMN … SET DEFAULT, and backfill existing rows in batches.',
  ),
  rule(
    'changing-column-type',
    'error',
    'ALTER COLUMN … TYPE rewrites the table and its indexes under an ACCESS EXCLUSIVE lock, ' +
      'unless the change is binary-coercible (varchar(n) to text or a longer varchar, numeric to a wider precision).',
    'Add a column of the new type, backfill it in batches, switch the code over, then drop the old column.',
  ),
  rule(
    'renaming-column',
    'error',
    'Renaming a column breaks the replicas still running the code deployed before the migration.',
    'Add the new column with a trigger that keeps it and the old one equal, backfill; then drop the old one in a post-deploy migration (-- slipway:post-deploy); see docs/rolling-deploys.md.',
  ),
  rule(
    'renaming-table',
    'error',
    'Renaming a table breaks the replicas still running the code deployed before the migration.',
    'Create the new table (or a view with the old name over it) and move the code over; then drop the old name in a post-deploy migration (-- slipway:post-deploy).',
  ),
  rule(
    'ban-drop-column',
    'error',
    'Dropping a column breaks the replicas still running code that reads or writes it.',
    'Stop using the column in a release first; drop it in a post-deploy migration (-- slipway:post-deploy), which runs once every replica runs that release.',
  ),
  rule(
    'ban-drop-table',
    'error',
    'Dropping a table breaks the replicas still running code that uses it, and loses its data.',
    'Stop using the table in a release first; drop it in a post-deploy migration (-- slipway:post-deploy), which runs once every replica runs that release.',
  ),
  rule(
    'ban-drop-default',
    'error',
    "Dropping a column's DEFAULT breaks the replicas still running code that inserts without naming the column: their rows get NULL, or fail on NOT NULL.",
    'Deploy code that writes the column first; drop the default in a post-deploy migration (-- slipway:post-deploy), which runs once every replica runs that code.',
  ),
  rule(
    'ban-drop-not-null',
    'warning',
    'Dropping NOT NULL lets NULLs in that the code deployed before the migration does not expect.',
    'Deploy code that handles NULL first, then drop the constraint.',
  ),
  rule(
    'disallowed-unique-constraint',
    'error',
    'ADD CONSTRAINT … UNIQUE builds its index under an ACCESS EXCLUSIVE lock, blocking reads and writes for the whole build.',
    'CREATE UNIQUE INDEX CONCURRENTLY in one migration, then ADD CONSTRAINT … UNIQUE USING INDEX in the next.',
  ),
  rule(
    'adding-serial-primary-key-field',
    'error',
    'Adding a PRIMARY KEY to an existing table builds its index under an ACCESS EXCLUSIVE lock, blocking reads and writes for the whole build.',
    'CREATE UNIQUE INDEX CONCURRENTLY in one migration, then ADD CONSTRAINT … PRIMARY KEY USING INDEX in the next.',
  ),
  rule(
    'ban-char-field',
    'warning',
    'char(n) pads with blanks and is no faster than text: its values surprise every comparison.',
    'text (with a CHECK on the length if one is needed).',
  ),
  rule(
    'prefer-bigint-over-int',
    'warning',
    'integer and smallint keys run out (2^31 rows), and widening them later rewrites the table.',
    'bigint.',
    true,
  ),
  rule(
    'prefer-text-field',
    'warning',
    'Changing the length of varchar(n) later may need a table rewrite; a CHECK constraint can be changed without one.',
    'text, with CHECK (length(col) <= n) if a limit is needed.',
    true,
  ),
  rule(
    'prefer-timestamptz',
    'warning',
    "timestamp without time zone stores local times that change meaning with the session's TimeZone.",
    'timestamptz.',
    true,
  ),
  rule(
    'prefer-identity',
    'warning',
    'serial columns own a sequence with loose permissions and ownership; identity columns are the SQL-standard replacement.',
    'bigint GENERATED ALWAYS AS IDENTITY (or BY DEFAULT).',
    true,
  ),
  rule(
    'require-lock-timeout',
    'warning',
    'Without lock_timeout, a statement waiting for its lock queues every query on the table behind it; ' +
      'slipway sets lock_timeout (default 5 s) on every migration, so this fires only when linting for --lock-timeout 0.',
    "SET lock_timeout = '5s' at the top of the file, or keep slipway's default --lock-timeout.",
  ),
  rule(
    'prefer-robust-stmts',
    'warning',
    'A file that runs outside a transaction can stop half-way; statements that tolerate a second run can simply be run again ' +
      '(slipway itself resumes where it stopped, and finishes an interrupted CREATE INDEX CONCURRENTLY from the catalog).',
    'CREATE … IF NOT EXISTS, DROP … IF EXISTS, ADD COLUMN IF NOT EXISTS.',
    true,
  ),
  rule(
    'transaction-nesting',
    'error',
    'A BEGIN inside an open transaction, or a COMMIT/ROLLBACK with none open, does not do what it says: Postgres only warns, and the statements around it are not atomic.',
    'Leave transactions to slipway (it runs each file in one), or write one BEGIN … COMMIT pair per block.',
  ),
  rule(
    'ban-concurrent-index-creation-in-transaction',
    'error',
    "CREATE/DROP INDEX CONCURRENTLY cannot run in a transaction block: inside the file's own BEGIN … COMMIT it fails " +
      '(or, when the block wraps the whole file, slipway has to drop the wrapper, so the file is not atomic).',
    'Put the concurrent index statement in a file of its own, without BEGIN/COMMIT.',
  ),
  rule(
    'identifier-too-long',
    'warning',
    'Postgres cuts names longer than 63 bytes, so the object gets a name other than the one written; an error when two names written differently are cut to the same one.',
    'A name of 63 bytes or fewer.',
  ),
  rule(
    'adding-exclusion-constraint',
    'error',
    'ADD CONSTRAINT … EXCLUDE builds its index under an ACCESS EXCLUSIVE lock, blocking reads and writes for the whole build; there is no concurrent form.',
    'Create the table with the constraint, or add it in a maintenance window and suppress the finding with its reason (see docs/lint.md).',
  ),
];

/** Rules about what only the code deployed before the migration still uses: not findings in a post-deploy migration. */
const BREAKS_PREVIOUS_CODE: ReadonlySet<string> = new Set([
  'renaming-column',
  'renaming-table',
  'ban-drop-column',
  'ban-drop-table',
  'ban-drop-default',
]);

export const RULE_IDS: ReadonlySet<string> = new Set(RULES.map((r) => r.id));
const BY_ID = new Map(RULES.map((r) => [r.id, r]));

/** The rule with this id, or undefined. */
export function ruleById(id: string): LintRule | undefined {
  return BY_ID.get(id);
}

/** What a rule reports: its message, and the parser location (a byte offset) it points at. */
export interface RawFinding {
  readonly rule: string;
  readonly message: string;
  /** Byte offset into the file, or null for the statement's start. */
  readonly location: number | null;
  /** When this finding is graver (or lighter) than the rule's usual severity. */
  readonly severity?: Severity;
}

/** State the rules keep across the statements of one file. */
export interface FileState {
  /** Own `BEGIN` open. */
  open: boolean;
  /** A `SET lock_timeout` seen. */
  lockTimeoutSet: boolean;
  lockTimeoutReported: boolean;
  /** Constraints added NOT VALID in this file, by name, and whether that ran in a transaction. */
  readonly notValid: Map<string, boolean>;
}

export function newFileState(): FileState {
  return { open: false, lockTimeoutSet: false, lockTimeoutReported: false, notValid: new Map() };
}

export interface CheckOptions {
  /** Milliseconds of lock_timeout the run sets; 0 turns require-lock-timeout on. */
  readonly lockTimeout: number;
}

/**
 * Runs every rule on one statement, with the context as it is before the statement.
 *
 * @example
 * const findings = checkStatement(file.statements[0], file, new LintContext(16), newFileState(), { lockTimeout: 5000 });
 * findings.map((f) => f.rule); // ['require-concurrent-index-creation']
 */
export function checkStatement(
  statement: LintStatement,
  file: ParsedFile,
  ctx: LintContext,
  state: FileState,
  options: CheckOptions,
): RawFinding[] {
  const out: RawFinding[] = [];
  const emit = (ruleId: string, message: string, location: unknown = null, severity?: Severity) => {
    if (BREAKS_PREVIOUS_CODE.has(ruleId)) {
      // A post-deploy migration runs once no replica runs the previous code: nothing left to break.
      if (file.postDeploy) return;
      message += ': make it a post-deploy migration (-- slipway:post-deploy), run once every replica runs the new release';
    }
    out.push({
      rule: ruleId,
      message,
      location: typeof location === 'number' && location >= 0 ? location : null,
      ...(severity !== undefined && { severity }),
    });
  };
  const { kind, node } = statement;

  if (hasLongWord(file)) checkIdentifiers(node, file.text, ctx, emit);
  checkTransactions(statement, state, emit);
  if (options.lockTimeout === 0) checkLockTimeout(statement, ctx, state, emit);
  if (!file.transactional && !statement.inOwnBlock && !statement.nested) checkRobust(kind, node, emit);

  switch (kind) {
    case 'IndexStmt': {
      const table = relationName(node.relation);
      if (node.concurrent === true) {
        if (statement.inOwnBlock)
          emit(
            'ban-concurrent-index-creation-in-transaction',
            `CREATE INDEX CONCURRENTLY inside the file's own BEGIN … COMMIT: Postgres refuses it in a transaction block`,
            loc(node.relation),
          );
      } else if (ctx.inUse(node.relation)) {
        emit(
          'require-concurrent-index-creation',
          `CREATE ${node.unique === true ? 'UNIQUE ' : ''}INDEX${typeof node.idxname === 'string' ? ` ${node.idxname}` : ''} ` +
            `on existing table ${table} blocks its writes for the whole build: use CREATE INDEX CONCURRENTLY`,
          loc(node.relation),
        );
      }
      break;
    }
    case 'DropStmt': {
      if (node.removeType === 'OBJECT_INDEX') {
        if (node.concurrent === true) {
          if (statement.inOwnBlock)
            emit(
              'ban-concurrent-index-creation-in-transaction',
              `DROP INDEX CONCURRENTLY inside the file's own BEGIN … COMMIT: Postgres refuses it in a transaction block`,
            );
        } else {
          const existing = objectNames(node)
            .filter((parts) => ctx.inUseByParts(parts))
            .map((parts) => parts.join('.'));
          if (existing.length > 0)
            emit(
              'require-concurrent-index-deletion',
              `DROP INDEX ${existing.join(', ')} locks its table against every query: use DROP INDEX CONCURRENTLY`,
            );
        }
      } else if (node.removeType === 'OBJECT_TABLE') {
        const existing = objectNames(node)
          .filter((parts) => ctx.inUseByParts(parts))
          .map((parts) => parts.join('.'));
        if (existing.length > 0)
          emit('ban-drop-table', `DROP TABLE ${existing.join(', ')}: replicas still running the previous code use it`);
      }
      break;
    }
    case 'RenameStmt': {
      if (!ctx.inUse(node.relation)) break;
      if (node.renameType === 'OBJECT_COLUMN' && node.relationType === 'OBJECT_TABLE') {
        emit(
          'renaming-column',
          `renaming column ${relationName(node.relation)}.${String(node.subname)} to ${String(node.newname)} breaks the replicas still running the previous code`,
          loc(node.relation),
        );
      } else if (node.renameType === 'OBJECT_TABLE') {
        emit(
          'renaming-table',
          `renaming table ${relationName(node.relation)} to ${String(node.newname)} breaks the replicas still running the previous code`,
          loc(node.relation),
        );
      }
      break;
    }
    case 'CreateStmt':
      for (const element of (node.tableElts as Node[] | undefined) ?? []) {
        const def = element.ColumnDef as Node | undefined;
        if (def !== undefined) checkColumnStyle(def, emit);
      }
      break;
    case 'AlterTableStmt':
      if (node.objtype === 'OBJECT_TABLE') checkAlterTable(statement, ctx, state, emit);
      break;
    default:
      break;
  }
  return out;
}

type Emit = (rule: string, message: string, location?: unknown, severity?: Severity) => void;

function loc(node: unknown): unknown {
  return (node as { location?: unknown } | undefined)?.location;
}

function checkAlterTable(statement: LintStatement, ctx: LintContext, state: FileState, emit: Emit): void {
  const { node } = statement;
  const table = relationName(node.relation) ?? '?';
  const isNew = !ctx.inUse(node.relation);
  for (const { AlterTableCmd: cmd } of (node.cmds as Array<{ AlterTableCmd?: Node }> | undefined) ?? []) {
    if (cmd === undefined) continue;
    const def = cmd.def as Node | undefined;
    const column = String(cmd.name ?? '');
    switch (cmd.subtype) {
      case 'AT_AddColumn': {
        const columnDef = def?.ColumnDef as Node | undefined;
        if (columnDef === undefined) break;
        checkColumnStyle(columnDef, emit);
        if (!isNew) checkAddColumn(table, columnDef, ctx, emit);
        break;
      }
      case 'AT_AddConstraint': {
        const constraint = def?.Constraint as Node | undefined;
        if (constraint === undefined) break;
        if (constraint.skip_validation === true && typeof constraint.conname === 'string')
          state.notValid.set(constraint.conname, statement.inTransaction);
        if (isNew) break;
        checkAddConstraint(table, constraint, emit);
        break;
      }
      case 'AT_ValidateConstraint':
        if (!isNew && state.notValid.get(column) === true && statement.inTransaction) {
          emit(
            'constraint-missing-not-valid',
            `VALIDATE CONSTRAINT ${column} in the same transaction that added it NOT VALID keeps that ADD's ACCESS EXCLUSIVE lock on ${table} during the scan: validate in a later migration`,
            loc(node.relation),
          );
        }
        break;
      case 'AT_SetNotNull':
        if (!isNew && !(ctx.pgVersion >= 12 && ctx.hasNotNullCheck(node.relation, column))) {
          emit(
            'adding-not-nullable-field',
            `SET NOT NULL on ${table}.${column} scans the table under an ACCESS EXCLUSIVE lock` +
              (ctx.pgVersion >= 12 ? `: validate a CHECK (${column} IS NOT NULL) constraint in an earlier migration first` : ''),
            loc(node.relation),
          );
        }
        break;
      case 'AT_ColumnDefault':
        // SET DEFAULT carries the expression; DROP DEFAULT none.
        if (!isNew && def === undefined)
          emit(
            'ban-drop-default',
            `DROP DEFAULT on ${table}.${column}: replicas still running the previous code may insert without it`,
            loc(node.relation),
          );
        break;
      case 'AT_DropNotNull':
        if (!isNew)
          emit('ban-drop-not-null', `DROP NOT NULL on ${table}.${column}: the code running now may not expect NULLs`, loc(node.relation));
        break;
      case 'AT_DropColumn':
        if (!isNew)
          emit(
            'ban-drop-column',
            `DROP COLUMN ${table}.${column}: replicas still running the previous code may use it`,
            loc(node.relation),
          );
        break;
      case 'AT_AlterColumnType': {
        const columnDef = def?.ColumnDef as Node | undefined;
        if (columnDef === undefined) break;
        checkColumnStyle({ ...columnDef, colname: column }, emit);
        if (isNew) break;
        const to = columnTypeOf(columnDef.typeName);
        const from = ctx.columnType(node.relation, column);
        if (to === null) break;
        if (columnDef.raw_default === undefined && from !== null && binaryCoercible(from, to)) break;
        const what =
          from === null
            ? '(its current type is not declared by any migration slipway saw; if the change is binary-coercible, ' +
              'e.g. varchar(n) to text, silence this with -- slipway:ignore changing-column-type and the reason)'
            : `from ${typeText(from)} to ${typeText(to)}`;
        emit(
          'changing-column-type',
          `changing the type of ${table}.${column} ${what} rewrites the table under an ACCESS EXCLUSIVE lock`,
          loc(columnDef.typeName) ?? loc(node.relation),
        );
        break;
      }
      default:
        break;
    }
  }
}

function checkAddColumn(table: string, def: Node, ctx: LintContext, emit: Emit): void {
  const column = String(def.colname);
  const constraints = ((def.constraints as Array<{ Constraint?: Node }> | undefined) ?? [])
    .map((c) => c.Constraint)
    .filter((c): c is Node => c !== undefined);
  const type = columnTypeOf(def.typeName);
  const defaultOf = constraints.find((c) => c.contype === 'CONSTR_DEFAULT');
  const generated = constraints.find((c) => c.contype === 'CONSTR_GENERATED');
  const identity = constraints.find((c) => c.contype === 'CONSTR_IDENTITY');
  const serial = type !== null && SERIAL_TYPES.has(type.name);
  const fills = defaultOf !== undefined || generated !== undefined || identity !== undefined || serial;

  if (generated !== undefined) {
    emit(
      'adding-field-with-default',
      `ADD COLUMN ${table}.${column} GENERATED ALWAYS AS (…) STORED computes every row: a table rewrite under an ACCESS EXCLUSIVE lock`,
      loc(generated),
    );
  } else if (identity !== undefined || serial) {
    emit(
      'adding-field-with-default',
      `ADD COLUMN ${table}.${column} ${identity !== undefined ? 'GENERATED … AS IDENTITY' : type!.name} numbers every existing row: a table rewrite under an ACCESS EXCLUSIVE lock`,
      loc(identity ?? def.typeName),
    );
  } else if (defaultOf !== undefined) {
    const expression = defaultOf.raw_expr;
    const isNull = (expression as { A_Const?: { isnull?: boolean } } | undefined)?.A_Const?.isnull === true;
    if (ctx.pgVersion < 11 && !isNull) {
      emit(
        'adding-field-with-default',
        `ADD COLUMN ${table}.${column} with a DEFAULT rewrites the table before PostgreSQL 11 (target: ${ctx.pgVersion})`,
        loc(defaultOf),
      );
    } else if (!isNull && !nonVolatile(expression)) {
      emit(
        'adding-field-with-default',
        `ADD COLUMN ${table}.${column} DEFAULT ${describeExpression(expression)} is volatile (or not known to be stable): ` +
          'every existing row gets its own value, a table rewrite under an ACCESS EXCLUSIVE lock',
        loc(defaultOf),
      );
    }
  }
  if (constraints.some((c) => c.contype === 'CONSTR_NOTNULL') && !fills) {
    emit(
      'adding-required-field',
      `ADD COLUMN ${table}.${column} NOT NULL without a DEFAULT fails on a table with rows: give it a constant DEFAULT, or add it nullable and backfill`,
      loc(def),
    );
  }
  if (ctx.isCheckedDomain(def.typeName)) {
    emit(
      'adding-field-with-default',
      `ADD COLUMN ${table}.${column} of domain ${type?.name ?? '?'}, which has a CHECK constraint: the table is rewritten (every row checked) under an ACCESS EXCLUSIVE lock`,
      loc(def.typeName),
    );
  }
  for (const constraint of constraints) {
    if (constraint.contype === 'CONSTR_CHECK')
      emit(
        'constraint-missing-not-valid',
        `ADD COLUMN ${table}.${column} CHECK (…) scans the table under an ACCESS EXCLUSIVE lock: add the column, then ADD CONSTRAINT … CHECK (…) NOT VALID and VALIDATE it in a later migration`,
        loc(constraint),
      );
    if (constraint.contype === 'CONSTR_FOREIGN')
      emit(
        'adding-foreign-key-constraint',
        `ADD COLUMN ${table}.${column} REFERENCES ${relationName(constraint.pktable) ?? '?'} validates under locks on both tables: add the column, then the constraint NOT VALID`,
        loc(constraint),
      );
    if (constraint.contype === 'CONSTR_UNIQUE')
      emit(
        'disallowed-unique-constraint',
        `ADD COLUMN ${table}.${column} UNIQUE builds its index under an ACCESS EXCLUSIVE lock`,
        loc(constraint),
      );
    if (constraint.contype === 'CONSTR_PRIMARY')
      emit(
        'adding-serial-primary-key-field',
        `ADD COLUMN ${table}.${column} PRIMARY KEY builds its index under an ACCESS EXCLUSIVE lock`,
        loc(constraint),
      );
  }
}

function checkAddConstraint(table: string, constraint: Node, emit: Emit): void {
  const name = typeof constraint.conname === 'string' ? ` ${constraint.conname}` : '';
  switch (constraint.contype) {
    case 'CONSTR_FOREIGN':
      if (constraint.skip_validation !== true)
        emit(
          'adding-foreign-key-constraint',
          `ADD CONSTRAINT${name} FOREIGN KEY on ${table} validates every row while blocking writes to ${table} ` +
            `and ${relationName(constraint.pktable) ?? '?'}: add it NOT VALID, VALIDATE it in a later migration`,
          loc(constraint),
        );
      break;
    case 'CONSTR_CHECK':
      if (constraint.skip_validation !== true)
        emit(
          'constraint-missing-not-valid',
          `ADD CONSTRAINT${name} CHECK on ${table} scans the table under an ACCESS EXCLUSIVE lock: add it NOT VALID, VALIDATE it in a later migration`,
          loc(constraint),
        );
      break;
    case 'CONSTR_UNIQUE':
      if (constraint.indexname === undefined)
        emit(
          'disallowed-unique-constraint',
          `ADD CONSTRAINT${name} UNIQUE on ${table} builds its index under an ACCESS EXCLUSIVE lock: CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … UNIQUE USING INDEX`,
          loc(constraint),
        );
      break;
    case 'CONSTR_PRIMARY':
      if (constraint.indexname === undefined)
        emit(
          'adding-serial-primary-key-field',
          `ADD CONSTRAINT${name} PRIMARY KEY on ${table} builds its index under an ACCESS EXCLUSIVE lock: CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … PRIMARY KEY USING INDEX`,
          loc(constraint),
        );
      break;
    case 'CONSTR_EXCLUSION':
      emit(
        'adding-exclusion-constraint',
        `ADD CONSTRAINT${name} EXCLUDE on ${table} builds its index under an ACCESS EXCLUSIVE lock, blocking reads and writes for the whole build (no concurrent form exists)`,
        loc(constraint),
      );
      break;
    default:
      break;
  }
}

const SERIAL_TYPES = new Set(['serial', 'serial2', 'serial4', 'serial8', 'smallserial', 'bigserial']);
const SMALL_INTS = new Set(['int4', 'int2', 'serial', 'serial4', 'serial2', 'smallserial']);

/** Style rules on a column's declared type (off unless enabled, except ban-char-field). */
function checkColumnStyle(def: Node, emit: Emit): void {
  const type = columnTypeOf(def.typeName);
  if (type === null) return;
  const column = String(def.colname ?? '');
  const at = loc(def.typeName) ?? loc(def);
  // `"char"` (one byte, the catalog's type) is `char`; char(n) and character(n) are bpchar.
  if (type.name === 'bpchar') emit('ban-char-field', `column ${column} is char(${type.mods[0] ?? 1}): use text`, at);
  if (SMALL_INTS.has(type.name)) emit('prefer-bigint-over-int', `column ${column} is ${typeText(type)}: use bigint`, at);
  if (type.name === 'varchar' && type.mods.length > 0)
    emit('prefer-text-field', `column ${column} is varchar(${type.mods[0]}): use text with a CHECK on its length`, at);
  if (type.name === 'timestamp') emit('prefer-timestamptz', `column ${column} is timestamp without time zone: use timestamptz`, at);
  if (SERIAL_TYPES.has(type.name)) emit('prefer-identity', `column ${column} is ${type.name}: use bigint GENERATED ALWAYS AS IDENTITY`, at);
}

function typeText(type: ColumnType): string {
  const names: Record<string, string> = {
    int4: 'integer',
    int2: 'smallint',
    int8: 'bigint',
    bpchar: 'char',
    float8: 'double precision',
    float4: 'real',
    bool: 'boolean',
  };
  return `${names[type.name] ?? type.name}${type.mods.length > 0 ? `(${type.mods.join(',')})` : ''}${type.array ? '[]' : ''}`;
}

/**
 * Is `from` → `to` a change Postgres makes without rewriting the table (binary-coercible, with
 * a modifier that only widens)? varchar(n) → varchar(m ≥ n), varchar or text; text ↔ varchar;
 * numeric(p,s) → numeric(q ≥ p, s) or numeric; varbit(n) → varbit(m ≥ n); cidr → inet.
 */
export function binaryCoercible(from: ColumnType, to: ColumnType): boolean {
  if (from.array !== to.array) return false;
  const widens = () => to.mods.length === 0 || (from.mods.length > 0 && to.mods[0]! >= from.mods[0]!);
  if (from.name === to.name) {
    if (from.name === 'numeric')
      return to.mods.length === 0 || (from.mods.length > 0 && to.mods[0]! >= from.mods[0]! && (to.mods[1] ?? 0) === (from.mods[1] ?? 0));
    if (from.name === 'varchar' || from.name === 'varbit') return widens();
    return from.mods.join() === to.mods.join();
  }
  if (from.name === 'varchar' && to.name === 'text') return true;
  if (from.name === 'text' && to.name === 'varchar') return to.mods.length === 0;
  if (from.name === 'cidr' && to.name === 'inet') return true;
  return false;
}

/** Functions known not to be volatile (immutable or stable), whose call as a default is evaluated once. */
const NON_VOLATILE = new Set([
  'now',
  'transaction_timestamp',
  'statement_timestamp',
  'current_timestamp',
  'localtimestamp',
  'current_date',
  'current_setting',
  'lower',
  'upper',
  'btrim',
  'trim',
  'ltrim',
  'rtrim',
  'concat',
  'concat_ws',
  'length',
  'substr',
  'substring',
  'replace',
  'md5',
  'abs',
  'round',
  'floor',
  'ceil',
  'date_trunc',
  'make_date',
  'make_time',
  'make_timestamp',
  'make_timestamptz',
  'make_interval',
  'to_timestamp',
  'to_date',
  'to_char',
  'jsonb_build_object',
  'json_build_object',
  'jsonb_build_array',
  'json_build_array',
  'to_jsonb',
  'to_json',
  'array_fill',
  'int4range',
  'int8range',
  'tstzrange',
  'daterange',
  'numrange',
]);

/** Is a default expression known to give every row the same value (not volatile)? Unknown functions count as volatile. */
export function nonVolatile(expression: unknown): boolean {
  if (expression === null || typeof expression !== 'object') return true;
  const [kind, value] = Object.entries(expression as Node)[0] ?? [];
  const node = value as Node | undefined;
  switch (kind) {
    case 'A_Const':
    case 'SQLValueFunction':
    case 'ColumnRef':
      return true;
    case 'TypeCast':
      return nonVolatile(node?.arg);
    case 'A_Expr':
      return nonVolatile(node?.lexpr) && nonVolatile(node?.rexpr);
    case 'BoolExpr':
    case 'CoalesceExpr':
    case 'MinMaxExpr':
      return ((node?.args as unknown[] | undefined) ?? []).every(nonVolatile);
    case 'A_ArrayExpr':
      return ((node?.elements as unknown[] | undefined) ?? []).every(nonVolatile);
    case 'List':
      return ((node?.items as unknown[] | undefined) ?? []).every(nonVolatile);
    case 'FuncCall': {
      const name = (node?.funcname as Array<{ String?: { sval?: string } }> | undefined)?.at(-1)?.String?.sval ?? '';
      return NON_VOLATILE.has(name) && ((node?.args as unknown[] | undefined) ?? []).every(nonVolatile);
    }
    default:
      return false;
  }
}

function describeExpression(expression: unknown): string {
  const call = (expression as { FuncCall?: { funcname?: Array<{ String?: { sval?: string } }> } } | undefined)?.FuncCall;
  if (call !== undefined) return `${call.funcname?.map((n) => n.String?.sval).join('.')}()`;
  return 'expression';
}

/**
 * Names longer than 63 bytes. The parser has already cut them (as the server does), so a name of
 * 60 bytes or more is looked up in the file: followed there by more identifier characters, it was cut.
 */
function checkIdentifiers(node: unknown, text: string, ctx: LintContext, emit: Emit): void {
  const visit = (value: unknown, location: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item, location);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const n = value as Node;
    const here = n.location ?? location;
    for (const key of IDENTIFIER_KEYS) {
      const name = n[key];
      if (typeof name === 'string' && Buffer.byteLength(name, 'utf8') >= 60) {
        // Every way the file writes a name that is cut to this one: two different ones name one object.
        const forms = [...text.matchAll(new RegExp(`${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[A-Za-z0-9_$\u0080-\uffff]+`, 'gi'))].map(
          (m) => m[0],
        );
        const written = forms[0];
        if (written === undefined) continue;
        let other: string | null = null;
        for (const form of forms) other ??= ctx.noteLongName(name, form.toLowerCase());
        if (other === null)
          emit(
            'identifier-too-long',
            `name ${written.slice(0, 20)}… is ${Buffer.byteLength(written, 'utf8')} bytes: Postgres cuts it to the 63-byte ${name}`,
            here,
          );
        else
          emit(
            'identifier-too-long',
            `names ${written.slice(0, 20)}… and ${other.slice(0, 20)}… are both cut to the 63-byte ${name}: they name one object`,
            here,
            'error',
          );
      }
    }
    for (const key of Object.keys(n)) if (typeof n[key] === 'object') visit(n[key], here);
  };
  visit(node, null);
}

const longWords = new WeakMap<ParsedFile, boolean>();
/** Does the file hold any run of identifier characters of 60 bytes or more? Only then are names checked. */
function hasLongWord(file: ParsedFile): boolean {
  let found = longWords.get(file);
  if (found === undefined) {
    found = false;
    for (const match of file.text.matchAll(/[\w$\u0080-\uffff]{20,}/g)) {
      if (Buffer.byteLength(match[0], 'utf8') >= 60) {
        found = true;
        break;
      }
    }
    longWords.set(file, found);
  }
  return found;
}

const IDENTIFIER_KEYS = ['relname', 'schemaname', 'colname', 'conname', 'idxname', 'newname', 'indexname', 'subname', 'name'];

function checkTransactions(statement: LintStatement, state: FileState, emit: Emit): void {
  if (statement.control === 'begin') {
    if (state.open)
      emit(
        'transaction-nesting',
        'BEGIN inside a transaction the file already opened: Postgres ignores it (with a warning), so the COMMIT that follows ends the outer one',
      );
    state.open = true;
  } else if (statement.control === 'end') {
    if (!state.open)
      emit(
        'transaction-nesting',
        `${statement.node.kind === 'TRANS_STMT_ROLLBACK' ? 'ROLLBACK' : 'COMMIT'} with no transaction the file opened: in slipway's own transaction it would end it early`,
      );
    state.open = false;
  }
}

/** Statements that take a lock that blocks the table's queries while they wait for it. */
function locksTable(statement: LintStatement, ctx: LintContext): boolean {
  const { kind, node } = statement;
  switch (kind) {
    case 'AlterTableStmt':
    case 'RenameStmt':
      return ctx.inUse(node.relation);
    case 'IndexStmt':
      return node.concurrent !== true && ctx.inUse(node.relation);
    case 'DropStmt':
      return (
        node.concurrent !== true &&
        (node.removeType === 'OBJECT_TABLE' || node.removeType === 'OBJECT_INDEX') &&
        objectNames(node).some((parts) => ctx.inUseByParts(parts))
      );
    default:
      return false;
  }
}

function checkLockTimeout(statement: LintStatement, ctx: LintContext, state: FileState, emit: Emit): void {
  const { kind, node } = statement;
  if (kind === 'VariableSetStmt' && node.name === 'lock_timeout') state.lockTimeoutSet = true;
  if (state.lockTimeoutSet || state.lockTimeoutReported || !locksTable(statement, ctx)) return;
  state.lockTimeoutReported = true;
  emit(
    'require-lock-timeout',
    'this statement waits for a lock with no lock_timeout (the run sets none): SET lock_timeout at the top of the file',
  );
}

function checkRobust(kind: string, node: Node, emit: Emit): void {
  if (kind === 'IndexStmt' && node.if_not_exists !== true && typeof node.idxname === 'string') {
    emit(
      'prefer-robust-stmts',
      `CREATE INDEX ${node.idxname} runs outside a transaction: IF NOT EXISTS lets it run again`,
      loc(node.relation),
    );
  } else if (kind === 'DropStmt' && node.missing_ok !== true) {
    emit('prefer-robust-stmts', 'DROP runs outside a transaction: IF EXISTS lets it run again');
  } else if (kind === 'CreateStmt' && node.if_not_exists !== true) {
    emit(
      'prefer-robust-stmts',
      `CREATE TABLE ${relationName(node.relation)} runs outside a transaction: IF NOT EXISTS lets it run again`,
      loc(node.relation),
    );
  } else if (kind === 'AlterTableStmt') {
    for (const { AlterTableCmd: cmd } of (node.cmds as Array<{ AlterTableCmd?: Node }> | undefined) ?? []) {
      if ((cmd?.subtype === 'AT_AddColumn' || cmd?.subtype === 'AT_DropColumn') && cmd.missing_ok !== true) {
        emit(
          'prefer-robust-stmts',
          `${cmd.subtype === 'AT_AddColumn' ? 'ADD COLUMN' : 'DROP COLUMN'} runs outside a transaction: ${cmd.subtype === 'AT_AddColumn' ? 'IF NOT EXISTS' : 'IF EXISTS'} lets it run again`,
          loc(node.relation),
        );
      }
    }
  }
}
