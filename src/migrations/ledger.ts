import { createHash } from 'node:crypto';
import pg from 'pg';
import { quoteIdentifier, quoteTableName, type TableName } from '../db/identifier.js';
import { ConflictError, IntegrityError, SessionError } from '../errors.js';
import type { AppliedRow } from './plan.js';
import { checksumOf } from './source.js';

const UNDEFINED_TABLE = '42P01';
const UNDEFINED_SCHEMA = '3F000';
const UNIQUE_VIOLATION = '23505';
/** SQLSTATEs of slipway's own claims: run on a backend that does not hold the lock; no applied row to revert. */
const WRONG_BACKEND = 'SW001';
const NO_ROW = 'SW002';

/** The states slipway writes: applied, being applied outside a transaction, being reverted outside one. */
const STATES = `CHECK (state IN ('applied', 'in_flight', 'reverting'))`;

/** Columns slipway adds to a table it adopts (one that has only `version` and `applied_at`). */
const COLUMNS: ReadonlyArray<readonly [name: string, definition: string]> = [
  ['applied_at', 'timestamptz NOT NULL DEFAULT now()'],
  ['checksum', 'text'],
  ['duration_ms', 'integer'],
  ['state', `text NOT NULL DEFAULT 'applied' ${STATES}`],
  // Statements done of a migration run outside a transaction: where an interrupted run resumes.
  ['progress', 'integer'],
  // Which server session marked a row in flight or reverting (`pid@backend start`): while it
  // lives, the migration is running, whatever locks it holds or let go of.
  ['run_by', 'text'],
];

/** Slipway's columns with their types, as `(name, type)` pairs for a catalog query. */
const SLIPWAY_COLUMN_TYPES = `('checksum', 'text'::regtype), ('state', 'text'::regtype), ('applied_at', 'timestamptz'::regtype), ('duration_ms', 'int4'::regtype), ('progress', 'int4'::regtype)`;
const SLIPWAY_COLUMN_COUNT = 5;

/** This server session, as a row's writer: `pid@backend start` (seconds since the epoch). */
const RUN_BY = `pg_backend_pid()::text || '@' || (SELECT extract(epoch FROM backend_start)::text FROM pg_catalog.pg_stat_activity WHERE pid = pg_backend_pid())`;

/** A DO block's body (with its dollar quotes) that runs `body` only on the lock's backend (`pid`). */
function guarded(body: string, pid: number): string {
  const guard = `IF pg_backend_pid() <> ${Math.trunc(pid)} THEN RAISE EXCEPTION 'slipway: not the lock''s backend' USING ERRCODE = '${WRONG_BACKEND}'; END IF;`;
  let tag = '$slipway$';
  while (body.includes(tag)) tag = `$slipway${tag.length}$`;
  return `${tag}BEGIN ${guard} ${body} END${tag}`;
}

/** The transaction's age in ms: the time a migration took, measured by the server. */
const ELAPSED_MS = `round(extract(epoch FROM clock_timestamp() - now()) * 1000)::integer`;

/** What the bookkeeping table says, read in one query. */
export interface LedgerContents {
  readonly rows: AppliedRow[];
  /** The table exists but has no checksum column yet: it is being adopted, and its rows get checksums now. */
  readonly adopting: boolean;
}

/**
 * The columns a ledger is read with, whatever its shape (an adopted table may lack slipway's
 * columns): `SELECT ${LEDGER_COLUMNS} FROM <ledger> AS m, LATERAL to_jsonb(m) AS j`.
 */
export const LEDGER_COLUMNS = `m.version::text AS version, j->>'checksum' AS checksum, j->>'state' AS state, j->>'applied_at' AS applied_at,
       j->>'duration_ms' AS duration_ms, j->>'progress' AS progress, j ? 'checksum' AS has_checksum`;

/** A ledger row as {@link LEDGER_COLUMNS} reads it. */
export interface LedgerRow {
  readonly version: string;
  readonly checksum: string | null;
  readonly state: string | null;
  readonly applied_at: string | null;
  readonly duration_ms: string | null;
  readonly progress: string | null;
  readonly has_checksum: boolean;
}

/** A ledger row as the planner takes it. A table without a state column (being adopted) holds applied migrations only. */
export function appliedRow(row: LedgerRow): AppliedRow {
  return {
    version: row.version,
    checksum: row.checksum,
    state: row.state ?? 'applied',
    appliedAt: row.applied_at === null ? null : new Date(row.applied_at),
    durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
    progress: row.progress === null ? null : Number(row.progress),
  };
}

/** A row of a table with slipway's columns, read with their types (no per-row JSON on the server). */
interface TypedLedgerRow {
  readonly version: string;
  readonly checksum: string | null;
  readonly state: string | null;
  readonly applied_ms: number | null;
  readonly duration_ms: number | null;
  readonly progress: number | null;
}

function typedAppliedRow(row: TypedLedgerRow): AppliedRow {
  return {
    version: row.version,
    checksum: row.checksum,
    state: row.state ?? 'applied',
    appliedAt: row.applied_ms === null ? null : new Date(row.applied_ms),
    durationMs: row.duration_ms,
    progress: row.progress,
  };
}

/** The migration a bookkeeping write is about. */
interface Entry {
  readonly version: string;
  readonly checksum: string;
}

/**
 * Where the bookkeeping table of an unqualified name is: the one table of that name in the
 * database, whatever schema it is in, so that every role finds the same one whatever its
 * `search_path`; when there is none yet, the schema it would be created in (`current_schema()`).
 * Two tables of that name are refused: the run cannot know which one is meant.
 */
export async function locateLedger(client: pg.ClientBase, name: TableName): Promise<Ledger> {
  const { rows } = await client.query<Whereabouts>(locateSql(name));
  return ledgerAt(name, rows[0]!);
}

/** A ledger found and read. */
export interface OpenedLedger {
  readonly ledger: Ledger;
  readonly contents: LedgerContents;
}

/**
 * {@link locateLedger} then `read`, in one round trip when the table is where its name as
 * written leads (the search path, for an unqualified name) and has slipway's columns: the
 * catalog query and the read go in one message. Otherwise (no table yet, an adopted table,
 * a table off the search path) the read fails or is not trusted, and the two run one by one.
 */
export async function openLedger(client: pg.ClientBase, name: TableName): Promise<OpenedLedger> {
  const found = await locateAnd(client, name, plainReadSql);
  if (found.rows === null) return { ledger: found.ledger, contents: await found.ledger.read(client) };
  return { ledger: found.ledger, contents: { adopting: false, rows: (found.rows as TypedLedgerRow[]).map(typedAppliedRow) } };
}

/**
 * What a run with nothing to do compares instead of reading every row: how many rows the
 * ledger has, and a sha256 (hex) of their versions, checksums and states, in version order.
 */
export interface LedgerDigest {
  readonly count: number;
  readonly hash: string;
}

/**
 * The rows as {@link ledgerDigestOf} joins them: version, checksum, state, a line each, in the
 * versions' byte order (COLLATE "C": JavaScript's order too, for a UTF-8 database and names
 * without characters beyond U+FFFF; otherwise the digests differ and the rows are read).
 */
const DIGEST_SQL = (table: string) =>
  `SELECT count(*)::int AS count,
          encode(sha256(convert_to(coalesce(string_agg(version::text || E'\\n' || coalesce(checksum, '') || E'\\n' || state, E'\\n' ORDER BY version::text COLLATE "C"), ''), 'UTF8')), 'hex') AS hash
     FROM ${table}`;

/**
 * The digest of a ledger holding exactly these migrations, each applied from its file as it
 * is now: when the ledger's digest is this, an `up` has nothing to do and nothing to refuse.
 *
 * @example
 * const expected = ledgerDigestOf(await readMigrationsDir('./migrations'));
 */
export function ledgerDigestOf(migrations: ReadonlyArray<{ readonly version: string; readonly checksum: string }>): LedgerDigest {
  const rows = migrations.map((m) => `${m.version}\n${m.checksum}\napplied`).sort();
  return { count: migrations.length, hash: checksumOf(rows.join('\n')) };
}

/**
 * {@link locateLedger} and the ledger's {@link LedgerDigest}, in one round trip when the table
 * is where its name as written leads and has slipway's columns; `digest` is null otherwise
 * (read the rows instead).
 */
export async function ledgerDigest(client: pg.ClientBase, name: TableName): Promise<{ ledger: Ledger; digest: LedgerDigest | null }> {
  const found = await locateAnd(client, name, DIGEST_SQL);
  return { ledger: found.ledger, digest: found.rows === null ? null : (found.rows[0] as LedgerDigest) };
}

/**
 * Sends {@link locateSql} and `then(table)` in one message, `table` being the name as written.
 * `rows` is what `then` returned when the name led to the table found and it has slipway's
 * columns, and null when the statement failed for the table's shape or is not to be trusted.
 */
async function locateAnd(
  client: pg.ClientBase,
  name: TableName,
  then: (table: string) => string,
): Promise<{ ledger: Ledger; rows: unknown[] | null }> {
  let results: pg.QueryResult[];
  try {
    results = (await client.query(
      `${locateSql(name)};\n${then(name.schema === null ? quoteIdentifier(name.table) : quoteTableName(name))}`,
    )) as unknown as pg.QueryResult[];
  } catch (error) {
    // The server refused it (no table yet, another shape, an encoding it cannot convert...):
    // the statements one by one say what is wrong, if anything. A lost connection is thrown.
    if (!(error instanceof pg.DatabaseError)) throw error;
    return { ledger: await locateLedger(client, name), rows: null };
  }
  const where = results[0]!.rows[0] as Whereabouts;
  const ledger = ledgerAt(name, where);
  return { ledger, rows: where.complete && where.resolved ? results[1]!.rows : null };
}

/** What {@link locateSql} finds. */
interface Whereabouts {
  readonly current: string | null;
  readonly found: string[];
  /** The table has slipway's columns and types: it can be read plainly. */
  readonly complete: boolean;
  /** The name as written (through the search path, when unqualified) leads to that table. */
  readonly resolved: boolean;
}

/**
 * The catalog query behind {@link locateLedger}: the schemas holding a table of that name
 * (in the named schema only, when qualified), whether it has slipway's columns, and whether
 * the name as written resolves to it. Values are quoted literals, so that it can share a
 * simple-protocol message with the read.
 */
function locateSql(name: TableName): string {
  const written = literal(name.schema === null ? quoteIdentifier(name.table) : quoteTableName(name));
  // An unqualified name never leads to the Supabase CLI's own schema_migrations (another tool's ledger, kept apart).
  const inSchema =
    name.schema === null
      ? `n.nspname <> 'information_schema' AND n.nspname <> 'supabase_migrations' AND n.nspname !~ '^pg_(catalog|toast|temp_|toast_temp_)'`
      : `n.nspname = ${literal(name.schema)}`;
  return `WITH found AS (
       SELECT c.oid, n.nspname::text AS schema FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relname = ${literal(name.table)} AND c.relkind IN ('r', 'p') AND ${inSchema}),
     first AS (SELECT oid FROM found ORDER BY schema LIMIT 1)
     SELECT current_schema() AS current, ARRAY(SELECT schema FROM found ORDER BY 1) AS found,
            (SELECT count(*) FROM pg_catalog.pg_attribute a
              WHERE a.attrelid = (SELECT oid FROM first) AND a.attnum > 0 AND NOT a.attisdropped
                AND (a.attname::text, a.atttypid) IN (${SLIPWAY_COLUMN_TYPES})) = ${SLIPWAY_COLUMN_COUNT} AS complete,
            coalesce(pg_catalog.to_regclass(${written})::oid = (SELECT oid FROM first), false) AS resolved`;
}

/** The ledger {@link locateSql} found for `name`; refuses two tables of an unqualified name. */
function ledgerAt(name: TableName, where: Whereabouts): Ledger {
  const { current, found, complete } = where;
  if (name.schema !== null) return new Ledger(name, name, complete);
  if (found.length > 1) {
    const tables = found.map((schema) => quoteTableName({ schema, table: name.table }));
    throw new IntegrityError(
      'ambiguous-ledger',
      '',
      `${found.length} bookkeeping tables named ${name.table} in this database (${tables.join(', ')}): pass the one these migrations use as the table, e.g. --table ${found[0]}.${name.table}`,
    );
  }
  return new Ledger({ schema: found[0] ?? current, table: name.table }, name, complete);
}

/** Reads a table with slipway's columns, typed: no per-row JSON on the server. */
function plainReadSql(table: string): string {
  return `SELECT version::text AS version, checksum, state, (extract(epoch FROM applied_at) * 1000)::float8 AS applied_ms, duration_ms, progress FROM ${table}`;
}

/**
 * The bookkeeping table: which migrations are applied, with checksum, duration and state.
 * Always written schema-qualified; table names reach SQL through `quoteTableName` only and
 * values through the driver's quoting (`escapeLiteral`) or as parameters.
 *
 * Every write that starts a migration is also its claim: a plain INSERT (the primary key lets
 * one runner in) or an UPDATE/DELETE conditioned on the row's state, and each runs only on
 * the server backend that holds the lock (`pg_backend_pid()`), so a migration never runs twice,
 * whatever the lock keys or the pooler in between.
 */
export class Ledger {
  /** The table, schema-qualified when the schema is known (null: `current_schema()` named none). */
  readonly name: TableName;
  /** The quoted name used in every statement. */
  readonly sqlName: string;
  /** The name as the caller gave it, for messages. */
  readonly requested: TableName;

  /** The table has every column slipway writes, with slipway's types: it is read without to_jsonb. */
  readonly complete: boolean;

  /**
   * The advisory-lock key of this ledger (see {@link ledgerLockKey}): every run that writes it
   * holds it, whatever lock key it was given, so two runs on one ledger always exclude each other.
   */
  readonly lockKey: bigint;

  constructor(name: TableName, requested: TableName = name, complete = false) {
    this.name = name;
    this.requested = requested;
    this.sqlName = quoteTableName(name);
    this.complete = complete;
    this.lockKey = ledgerLockKey(name);
  }

  /**
   * Reads every row in ONE query. A missing table (or schema) reads as empty: everything is pending.
   * Works on an adopted table that lacks slipway's columns, so the lock-free fast path can read it.
   */
  async read(client: pg.ClientBase): Promise<LedgerContents> {
    try {
      if (this.complete) {
        const { rows } = await client.query<TypedLedgerRow>(plainReadSql(this.sqlName));
        return { adopting: false, rows: rows.map(typedAppliedRow) };
      }
      const { rows } = await client.query<LedgerRow>(`SELECT ${LEDGER_COLUMNS} FROM ${this.sqlName} AS m, LATERAL to_jsonb(m) AS j`);
      return { adopting: rows.length > 0 && !rows[0]!.has_checksum, rows: rows.map(appliedRow) };
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === UNDEFINED_TABLE || code === UNDEFINED_SCHEMA) return { rows: [], adopting: false };
      throw error;
    }
  }

  /**
   * Creates the table (and its schema), or brings an older or adopted one to slipway's shape;
   * an adopted table's rows get the checksums of their files in the same transaction.
   * Call only while holding the migration lock: concurrent `CREATE ... IF NOT EXISTS` races.
   */
  async ensure(client: pg.ClientBase, adoptedChecksums: readonly Entry[] = []): Promise<void> {
    if (this.name.schema === null) {
      throw new IntegrityError(
        'ambiguous-ledger',
        '',
        `no schema to create ${this.name.table} in: the search_path names no existing schema; pass a schema-qualified table, e.g. --table public.${this.name.table}`,
      );
    }
    const { rows } = await client.query<{ columns: string[] | null; old_checks: string[] | null; schema_exists: boolean }>(
      `SELECT (SELECT array_agg(attname::text) FROM pg_attribute WHERE attrelid = r.oid AND attnum > 0 AND NOT attisdropped) AS columns,
              (SELECT array_agg(conname::text) FROM pg_constraint
                WHERE conrelid = r.oid AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%in_flight%' AND pg_get_constraintdef(oid) NOT LIKE '%reverting%') AS old_checks,
              EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $2) AS schema_exists
         FROM (SELECT to_regclass($1) AS oid) AS r`,
      [this.sqlName, this.name.schema],
    );
    const columns = rows[0]?.columns ?? null;
    if (columns === null) {
      // CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege on the database even when the schema exists.
      const createSchema = rows[0]?.schema_exists ? '' : `CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(this.name.schema)};\n`;
      await client.query(
        `${createSchema}CREATE TABLE IF NOT EXISTS ${this.sqlName} (version text PRIMARY KEY, ${COLUMNS.map(([n, d]) => `${n} ${d}`).join(', ')})`,
      );
      return;
    }
    const changes = [
      ...COLUMNS.filter(([n]) => !columns.includes(n)).map(([n, d]) => `ADD COLUMN IF NOT EXISTS ${n} ${d}`),
      // A table from before the 'reverting' state: widen its check.
      ...(rows[0]?.old_checks ?? []).flatMap((name) => [`DROP CONSTRAINT ${quoteIdentifier(name)}`, `ADD ${STATES}`]),
    ];
    if (changes.length === 0 && adoptedChecksums.length === 0) return;
    const statements = ['BEGIN'];
    if (changes.length > 0) statements.push(`ALTER TABLE ${this.sqlName} ${changes.join(', ')}`);
    if (adoptedChecksums.length > 0) {
      statements.push(
        `UPDATE ${this.sqlName} AS m SET checksum = c.checksum
           FROM unnest(ARRAY[${adoptedChecksums.map((e) => literal(e.version)).join(', ')}]::text[],
                       ARRAY[${adoptedChecksums.map((e) => literal(e.checksum)).join(', ')}]::text[]) AS c(version, checksum)
          WHERE m.version = c.version AND m.checksum IS NULL`,
      );
    }
    statements.push('COMMIT');
    try {
      await client.query(statements.join(';\n'));
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
  }

  /**
   * The two ends of a migration's transaction, to send around its file in ONE query:
   * `open` (one line, so the file keeps its line numbers) begins the transaction with `begin`
   * and writes the row first: a claim that runs only on the lock's backend (`pid`) and fails
   * when another runner's row is there (the primary key for an apply; a revert finds no
   * `applied` row), so the file never runs for a second runner. `close(before)` runs `before`
   * (the session's restoration), records the duration and commits. A failed claim is turned
   * into its error by {@link claimError}.
   *
   * In a batch (several migrations in one transaction), `begin` opens it only for the first
   * (otherwise it is what runs before the claim, or ''), only the last `close` commits, and each
   * row's time is its own: it is stamped when its migration starts, not when the batch did.
   */
  transaction(
    direction: 'up' | 'down',
    entry: Entry,
    pid: number,
    begin = 'BEGIN',
    batch?: { readonly commit: boolean },
  ): { open: string; close: (before: string) => string } {
    const version = literal(entry.version);
    const claim =
      direction === 'up'
        ? `INSERT INTO ${this.sqlName} (version, checksum, state, applied_at) VALUES (${version}, ${literal(entry.checksum)}, 'applied', ${batch ? 'clock_timestamp()' : 'now()'});`
        : `DELETE FROM ${this.sqlName} WHERE version = ${version} AND state = 'applied'; IF NOT FOUND THEN RAISE EXCEPTION 'slipway: no applied row' USING ERRCODE = '${NO_ROW}'; END IF;`;
    const opening = begin
      .replace(/--[^\n]*/g, '')
      .replace(/\s*\n\s*/g, ' ')
      .trim();
    const elapsed = batch ? `round(extract(epoch FROM clock_timestamp() - applied_at) * 1000)::integer` : ELAPSED_MS;
    return {
      open: `${opening === '' ? '' : `${opening}; `}DO ${guarded(claim, pid)};`,
      close: (before) =>
        `\n;\n${before === '' ? '' : `${before};\n`}UPDATE ${this.sqlName} SET duration_ms = ${elapsed} WHERE version = ${version}${batch && !batch.commit ? '' : ';\nCOMMIT'}`,
    };
  }

  /**
   * What a failed migration transaction's error means for the bookkeeping: another runner's row
   * (a {@link ConflictError}), the wrong backend (a {@link SessionError}), or null when the
   * migration's own SQL failed. Call after the rollback.
   */
  async claimError(client: pg.ClientBase, error: unknown, entry: Entry, pid: number, direction: 'up' | 'down'): Promise<Error | null> {
    const code = (error as { code?: string }).code;
    if (code === WRONG_BACKEND) return wrongBackend(entry.version, pid);
    if (code === NO_ROW) return this.explainMissedRevert(client, entry.version, pid);
    if (direction === 'up' && this.isRowTaken(error)) return claimedByOther(entry.version, this.sqlName, 'apply');
    return null;
  }

  async rollback(client: pg.ClientBase): Promise<void> {
    await client.query('ROLLBACK').catch(() => {});
  }

  /**
   * {@link markInFlight}'s row as SQL, to send with the commit of the file before the migration
   * (one commit less). Like every bookkeeping write it runs only on the lock's backend (`pid`);
   * a row already there fails that transaction.
   */
  inFlightSql(entry: Entry, pid: number): string {
    const values = `${literal(entry.version)}, ${literal(entry.checksum)}, 'in_flight', clock_timestamp(), 0, ${RUN_BY}`;
    const insert = `INSERT INTO ${this.sqlName} (version, checksum, state, applied_at, progress, run_by) VALUES (${values});`;
    return `DO ${guarded(insert, pid)}`;
  }

  /** Removes an in-flight mark that no statement ran under (the run stopped before the migration). */
  async unmarkInFlight(client: pg.ClientBase, entry: Entry): Promise<void> {
    await client.query(`DELETE FROM ${this.sqlName} WHERE version = $1 AND state = 'in_flight' AND progress = 0`, [entry.version]);
  }

  /** Marks a migration that runs outside a transaction as in flight, before its first statement. */
  async markInFlight(client: pg.ClientBase, entry: Entry, pid: number): Promise<void> {
    const result = await this.claim(entry, () =>
      client.query(
        `INSERT INTO ${this.sqlName} (version, checksum, state, applied_at, progress, run_by)
         SELECT $1, $2, 'in_flight', now(), 0, ${RUN_BY} WHERE pg_backend_pid() = $3`,
        [entry.version, entry.checksum, pid],
      ),
    );
    if (result.rowCount !== 1) throw wrongBackend(entry.version, pid);
  }

  /**
   * SQL that records `done` statements of a migration marked `state`, to send in the same
   * transaction as the statement that made it so (the progress then commits with the work).
   * It runs as the session's own user and without the file's statement_timeout (SET LOCAL ends
   * with the transaction, leaving what the file set for its next statements).
   */
  progressSql(entry: Entry, state: 'in_flight' | 'reverting', done: number): string {
    return `SET LOCAL ROLE NONE;\nSET LOCAL statement_timeout = 0;\nUPDATE ${this.sqlName} SET progress = ${Math.trunc(done)} WHERE version = ${literal(entry.version)} AND state = '${state}'`;
  }

  /**
   * Settles this run's mark once the last statement succeeded, in one round trip after `before`
   * (the session's restoration): an in-flight row becomes applied, a reverting row is deleted.
   */
  async finish(
    client: pg.ClientBase,
    entry: Entry,
    state: 'in_flight' | 'reverting',
    durationMs: number,
    before: string,
    // The next file's in-flight row (see inFlightSql), written in the same implicit transaction.
    after: string | null = null,
  ): Promise<void> {
    const version = literal(entry.version);
    const settle =
      state === 'in_flight'
        ? `UPDATE ${this.sqlName} SET state = 'applied', progress = NULL, duration_ms = ${Math.round(durationMs)}, applied_at = now() WHERE version = ${version} AND state = 'in_flight'`
        : `DELETE FROM ${this.sqlName} WHERE version = ${version} AND state = 'reverting'`;
    const sql = [before, settle, after].filter(Boolean).join(';\n');
    const results = (await client.query(sql)) as pg.QueryResult | pg.QueryResult[];
    const settled = Array.isArray(results) ? results.at(after ? -2 : -1) : results;
    if (settled?.rowCount !== 1) throw markChanged(entry.version, this.sqlName);
  }

  /** Marks an applied migration that is reverted outside a transaction, before its first statement. */
  async markReverting(client: pg.ClientBase, entry: Entry, pid: number): Promise<void> {
    const result = await client.query(
      `UPDATE ${this.sqlName} SET state = 'reverting', progress = 0, run_by = ${RUN_BY} WHERE version = $1 AND state = 'applied' AND pg_backend_pid() = $2`,
      [entry.version, pid],
    );
    if (result.rowCount !== 1) throw await this.explainMissedRevert(client, entry.version, pid);
  }

  /** How many rows the table holds. */
  async count(client: pg.ClientBase): Promise<number> {
    return (await client.query<{ n: number }>(`SELECT count(*)::integer AS n FROM ${this.sqlName}`)).rows[0]!.n;
  }

  /**
   * Records migrations as applied, each with its checksum, on the lock's backend only (`pid`):
   * how many rows were written (fewer means another backend ran it). For adopt, in its transaction.
   */
  async recordApplied(client: pg.ClientBase, entries: readonly Entry[], pid: number): Promise<number> {
    const { rowCount } = await client.query(
      `INSERT INTO ${this.sqlName} (version, checksum, state, applied_at)
       SELECT v, c, 'applied', now() FROM unnest($1::text[], $2::text[]) AS t(v, c) WHERE pg_backend_pid() = $3`,
      [entries.map((e) => e.version), entries.map((e) => e.checksum), pid],
    );
    return rowCount ?? 0;
  }

  /** resolve --applied: the migration took effect; its row (`hasRow`: in flight, say), or a new one, says applied. */
  async settleApplied(client: pg.ClientBase, entry: Entry, hasRow: boolean): Promise<void> {
    await client.query(
      hasRow
        ? `UPDATE ${this.sqlName} SET state = 'applied', progress = NULL, checksum = coalesce(checksum, $2) WHERE version = $1`
        : `INSERT INTO ${this.sqlName} (version, checksum, state, applied_at) VALUES ($1, $2, 'applied', now())`,
      [entry.version, entry.checksum],
    );
  }

  /** resolve --pending: nothing of the migration remains; its row goes. */
  async forget(client: pg.ClientBase, version: string): Promise<void> {
    await client.query(`DELETE FROM ${this.sqlName} WHERE version = $1`, [version]);
  }

  /** resolve --accept-edit: the file as it is now is the one recorded. */
  async acceptChecksum(client: pg.ClientBase, entry: Entry): Promise<void> {
    await client.query(`UPDATE ${this.sqlName} SET checksum = $2 WHERE version = $1`, [entry.version, entry.checksum]);
  }

  /**
   * The rows in flight or reverting whose writer still runs: the server session that marked it
   * (`run_by`) is alive. Holding this ledger's lock is not enough to call such a row interrupted:
   * a migration can let go of advisory locks (`pg_advisory_unlock_all()`), not of its session.
   * A session whose start this role may not see counts as the writer while its pid lives.
   */
  async liveWriters(client: pg.ClientBase): Promise<Array<{ version: string; pid: number }>> {
    const { rows } = await client.query<{ version: string; pid: number }>(
      `SELECT m.version::text AS version, a.pid
         FROM ${this.sqlName} AS m, LATERAL to_jsonb(m) AS j
         JOIN pg_catalog.pg_stat_activity a ON a.pid::text = split_part(j->>'run_by', '@', 1)
              AND (a.backend_start IS NULL OR extract(epoch FROM a.backend_start)::text = split_part(j->>'run_by', '@', 2))
        WHERE j->>'state' IN ('in_flight', 'reverting') AND a.pid <> pg_backend_pid()
        ORDER BY 1`,
    );
    return rows;
  }

  /**
   * Takes over a row a stopped run left in flight or reverting, before resuming it: the row
   * names this session as its writer from now on, so a third run waits for this one. Fails
   * with a {@link ConflictError} when the row changed since it was read.
   */
  async takeOver(client: pg.ClientBase, version: string, state: 'in_flight' | 'reverting', pid: number): Promise<void> {
    const result = await client.query(
      `UPDATE ${this.sqlName} SET run_by = ${RUN_BY} WHERE version = $1 AND state = $2 AND pg_backend_pid() = $3`,
      [version, state, pid],
    );
    if (result.rowCount !== 1) throw markChanged(version, this.sqlName);
  }

  /** Runs a claiming INSERT; the primary key refusing it means another runner got there first. */
  private async claim<T>(entry: Entry, insert: () => Promise<T>): Promise<T> {
    try {
      return await insert();
    } catch (error) {
      if (this.isRowTaken(error)) throw claimedByOther(entry.version, this.sqlName, 'apply');
      throw error;
    }
  }

  /** Did this table's primary key refuse a row (another runner's row for that version is there)? */
  private isRowTaken(error: unknown): boolean {
    const e = error as { code?: string; table?: string; schema?: string };
    return e.code === UNIQUE_VIOLATION && e.table === this.name.table && (e.schema === undefined || e.schema === this.name.schema);
  }

  /** Why a revert's claim changed nothing: the row changed (another runner), or the wrong backend ran it. */
  private async explainMissedRevert(client: pg.ClientBase, version: string, pid: number): Promise<Error> {
    const { rows } = await client.query<{ state: string }>(`SELECT state FROM ${this.sqlName} WHERE version = $1`, [version]);
    const state = rows[0]?.state;
    if (state === 'applied') return wrongBackend(version, pid);
    return claimedByOther(version, this.sqlName, 'revert', state);
  }
}

/**
 * The advisory-lock key that follows from a ledger itself: 64 bits of a sha256 of its schema and
 * table (advisory locks are per database, so the database is part of it already). Runs given
 * different lock keys, a fleet and a single run on one tenant's ledger, `resolve` and `adopt`:
 * whoever writes this table takes this key.
 *
 * @example ledgerLockKey({ schema: 'public', table: 'schema_migrations' }) // a bigint
 */
export function ledgerLockKey(name: TableName): bigint {
  const digest = createHash('sha256')
    .update(`slipway ledger\0${name.schema ?? ''}\0${name.table}`)
    .digest();
  return digest.readBigInt64BE(0);
}

/** A value as an SQL literal, quoted by the driver (simple-protocol messages cannot carry parameters). */
function literal(value: string): string {
  return pg.escapeLiteral(value);
}

const SAME_RUNNERS =
  'every runner must use the same database, bookkeeping table and lock key, through a direct or session-pooling connection';

function claimedByOther(version: string, table: string, action: 'apply' | 'revert', state?: string): ConflictError {
  const what =
    action === 'apply'
      ? `another runner applied ${version} or is running it (its row in ${table} appeared while this run held the lock)`
      : state === undefined
        ? `another runner reverted ${version} while this run held the lock (its row in ${table} is gone)`
        : `another runner is running ${version} (its row in ${table} is ${state})`;
  return new ConflictError(version, `${what}: this run did not run it; ${SAME_RUNNERS}`);
}

function wrongBackend(version: string, pid: number): SessionError {
  return new SessionError(
    `the connection does not keep one server session: use a direct or session-pooling connection; nothing of ${version} was run\n` +
      `the bookkeeping write for ${version} ran on another server backend than pid ${pid}, which holds the migration lock ` +
      '(a pooler in transaction mode?)',
  );
}

function markChanged(version: string, table: string): ConflictError {
  return new ConflictError(
    version,
    `the mark of ${version} in ${table} was changed by someone else while this run ran it: check ${version}'s effects; ${SAME_RUNNERS}`,
  );
}

// ---- Many ledgers at once: one per schema tenant ----

/**
 * The ledgers of every schema tenant of one database, read without a connection per tenant:
 * one catalog query (which schemas exist, which hold a ledger) and one `UNION ALL` over the
 * ledgers found (a query per 500 tenants), so a fleet with nothing pending costs two queries per database.
 * When the `UNION ALL` fails (a ledger the role may not read, one of another shape), that chunk's
 * ledgers are read one by one, and only the ones that fail carry the error.
 */
/** One schema tenant's ledger as read. */
export interface SchemaLedger {
  readonly schemaExists: boolean;
  /** Its rows; empty when the schema or the table does not exist (everything pending). */
  readonly rows: AppliedRow[];
  /** The table has no checksum column (another tool's shape, being adopted). */
  readonly adopting: boolean;
  /** Why this ledger could not be read (what the server said); its tenant cannot run. */
  readonly error?: unknown;
}

/** How many ledgers one UNION ALL reads: keeps the statement (and the server's parse of it) bounded. */
const PER_QUERY = 500;

/**
 * Reads the ledger `table` (unqualified: the name inside each schema) of every schema in
 * `schemas`, on one connection. A schema dropped between the two queries makes the read start
 * over once.
 *
 * @example
 * const { database, ledgers } = await readSchemaLedgers(client, ['tenant_a', 'tenant_b'], 'schema_migrations');
 * ledgers.get('tenant_a')?.rows.length; // migrations applied in tenant_a
 */
export async function readSchemaLedgers(
  client: pg.ClientBase,
  schemas: readonly string[],
  table: string,
): Promise<{ database: string; ledgers: Map<string, SchemaLedger> }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await readOnce(client, schemas, table);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (attempt >= 2 || (code !== UNDEFINED_TABLE && code !== UNDEFINED_SCHEMA)) throw error;
    }
  }
}

async function readOnce(client: pg.ClientBase, schemas: readonly string[], table: string) {
  const { rows: catalog } = await client.query<{ database: string; name: string; schema_exists: boolean; has_ledger: boolean }>(
    `SELECT current_database()::text AS database, s.name, n.oid IS NOT NULL AS schema_exists, c.oid IS NOT NULL AS has_ledger
       FROM unnest($1::text[]) AS s(name)
       LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = s.name
       LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
    [schemas, table],
  );
  const database = catalog[0]?.database ?? '';
  const rowsBy = new Map<string, AppliedRow[]>();
  const adopting = new Set<string>();
  const errors = new Map<string, unknown>();
  const collect = (rows: ReadonlyArray<LedgerRow & { t: number }>, schemas: readonly string[]) => {
    for (const row of rows) {
      const schema = schemas[row.t]!;
      if (!row.has_checksum) adopting.add(schema);
      let list = rowsBy.get(schema);
      if (list === undefined) rowsBy.set(schema, (list = []));
      list.push(appliedRow(row));
    }
  };
  const withLedger = catalog.filter((c) => c.has_ledger).map((c) => c.name);
  for (let start = 0; start < withLedger.length; start += PER_QUERY) {
    const chunk = withLedger.slice(start, start + PER_QUERY);
    try {
      collect(
        (await client.query<LedgerRow & { t: number }>(chunk.map((schema, i) => ledgerSelect(i, schema, table)).join('\nUNION ALL\n')))
          .rows,
        chunk,
      );
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === UNDEFINED_TABLE || code === UNDEFINED_SCHEMA) throw error;
      // One ledger failed the whole statement: each alone, so that it fails its own tenant only.
      for (const schema of chunk) {
        try {
          collect((await client.query<LedgerRow & { t: number }>(ledgerSelect(0, schema, table))).rows, [schema]);
        } catch (own) {
          errors.set(schema, own);
        }
      }
    }
  }
  const ledgers = new Map<string, SchemaLedger>();
  for (const c of catalog) {
    const error = errors.get(c.name);
    ledgers.set(c.name, {
      schemaExists: c.schema_exists,
      rows: rowsBy.get(c.name) ?? [],
      adopting: adopting.has(c.name),
      ...(error !== undefined && { error }),
    });
  }
  return { database, ledgers };
}

/** The rows of one schema's ledger, tagged `t` with its place in the statement. */
function ledgerSelect(t: number, schema: string, table: string): string {
  return `SELECT ${t} AS t, ${LEDGER_COLUMNS} FROM ${quoteTableName({ schema, table })} AS m, LATERAL to_jsonb(m) AS j`;
}
