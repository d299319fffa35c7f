import type pg from 'pg';
import { parseTableName, quoteIdentifier, quoteTableName, type TableName } from '../db/identifier.js';
import type { AppliedRow } from './plan.js';

const UNDEFINED_TABLE = '42P01';
const UNDEFINED_SCHEMA = '3F000';

/** Columns slipway adds to a table it adopts (one that has only `version` and `applied_at`). */
const COLUMNS: ReadonlyArray<readonly [name: string, definition: string]> = [
  ['applied_at', 'timestamptz NOT NULL DEFAULT now()'],
  ['checksum', 'text'],
  ['duration_ms', 'integer'],
  ['state', `text NOT NULL DEFAULT 'applied' CHECK (state IN ('applied', 'in_flight'))`],
];

/**
 * The bookkeeping table: which migrations are applied, with checksum, duration and
 * state. Table names reach SQL through `quoteTableName` only; values are parameters.
 */
export class Ledger {
  readonly name: TableName;
  /** The quoted, possibly schema-qualified name used in every statement. */
  readonly sqlName: string;

  constructor(table: string) {
    this.name = parseTableName(table);
    this.sqlName = quoteTableName(this.name);
  }

  /**
   * Reads every row in ONE query. A missing table (or schema) reads as empty: everything is pending.
   * Works on an adopted table that lacks slipway's columns, so the lock-free fast path can read it.
   */
  async read(client: pg.ClientBase): Promise<AppliedRow[]> {
    try {
      const { rows } = await client.query<{ version: string; checksum: string | null; state: string | null; applied_at: string | null; duration_ms: string | null }>(
        `SELECT m.version::text AS version, j->>'checksum' AS checksum, j->>'state' AS state, j->>'applied_at' AS applied_at, j->>'duration_ms' AS duration_ms
           FROM ${this.sqlName} AS m, LATERAL to_jsonb(m) AS j`,
      );
      return rows.map((row) => ({
        version: row.version,
        checksum: row.checksum,
        state: row.state === 'in_flight' ? 'in_flight' : 'applied',
        appliedAt: row.applied_at === null ? null : new Date(row.applied_at),
        durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
      }));
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === UNDEFINED_TABLE || code === UNDEFINED_SCHEMA) return [];
      throw error;
    }
  }

  /**
   * Creates the table (and its schema) or adds the columns an adopted table lacks.
   * Call only while holding the migration lock: concurrent `CREATE ... IF NOT EXISTS` races.
   */
  async ensure(client: pg.ClientBase): Promise<void> {
    const { rows } = await client.query<{ columns: string[] | null }>(
      `SELECT (SELECT array_agg(attname::text) FROM pg_attribute WHERE attrelid = r.oid AND attnum > 0 AND NOT attisdropped) AS columns
         FROM (SELECT to_regclass($1) AS oid) AS r`,
      [this.sqlName],
    );
    const columns = rows[0]?.columns ?? null;
    if (columns === null) {
      const createSchema = this.name.schema === null ? '' : `CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(this.name.schema)};\n`;
      await client.query(
        `${createSchema}CREATE TABLE IF NOT EXISTS ${this.sqlName} (version text PRIMARY KEY, ${COLUMNS.map(([n, d]) => `${n} ${d}`).join(', ')})`,
      );
      return;
    }
    const missing = COLUMNS.filter(([n]) => !columns.includes(n));
    if (missing.length > 0) {
      await client.query(`ALTER TABLE ${this.sqlName} ${missing.map(([n, d]) => `ADD COLUMN IF NOT EXISTS ${n} ${d}`).join(', ')}`);
    }
  }

  /** Records a transactional migration as applied (inside its transaction). */
  recordApplied(client: pg.ClientBase, version: string, checksum: string, durationMs: number): Promise<unknown> {
    return client.query(`INSERT INTO ${this.sqlName} (version, checksum, duration_ms, state, applied_at) VALUES ($1, $2, $3, 'applied', now())`, [
      version,
      checksum,
      Math.round(durationMs),
    ]);
  }

  /** Marks a migration that runs outside a transaction as in flight, before its first statement. */
  markInFlight(client: pg.ClientBase, version: string, checksum: string): Promise<unknown> {
    return client.query(
      `INSERT INTO ${this.sqlName} (version, checksum, state, applied_at) VALUES ($1, $2, 'in_flight', now())
       ON CONFLICT (version) DO UPDATE SET state = 'in_flight'`,
      [version, checksum],
    );
  }

  /** Turns an in-flight mark into applied once the last statement succeeded. */
  finishInFlight(client: pg.ClientBase, version: string, durationMs: number): Promise<unknown> {
    return client.query(`UPDATE ${this.sqlName} SET state = 'applied', duration_ms = $2, applied_at = now() WHERE version = $1`, [
      version,
      Math.round(durationMs),
    ]);
  }

  /** Deletes a reverted migration's row. */
  remove(client: pg.ClientBase, version: string): Promise<unknown> {
    return client.query(`DELETE FROM ${this.sqlName} WHERE version = $1`, [version]);
  }

  /** Records checksums of adopted rows in one statement. */
  recordChecksums(client: pg.ClientBase, entries: ReadonlyArray<{ version: string; checksum: string }>): Promise<unknown> {
    return client.query(
      `UPDATE ${this.sqlName} AS m SET checksum = c.checksum
         FROM unnest($1::text[], $2::text[]) AS c(version, checksum)
        WHERE m.version = c.version AND m.checksum IS NULL`,
      [entries.map((e) => e.version), entries.map((e) => e.checksum)],
    );
  }
}
