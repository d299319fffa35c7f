/**
 * The ledgers of every schema tenant of one database, read without a connection per tenant:
 * one catalog query (which schemas exist, which hold a ledger) and one `UNION ALL` over the
 * ledgers found (a query per 500 tenants), so a fleet with nothing pending costs two queries per database.
 * When the `UNION ALL` fails (a ledger the role may not read, one of another shape), that chunk's
 * ledgers are read one by one, and only the ones that fail carry the error.
 */
import type pg from 'pg';
import { quoteTableName } from '../db/identifier.js';
import type { AppliedRow } from '../migrations/plan.js';
import { appliedRow, LEDGER_COLUMNS, type LedgerRow } from '../migrations/ledger.js';

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
const UNDEFINED_TABLE = '42P01';
const UNDEFINED_SCHEMA = '3F000';

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
      collect((await client.query<LedgerRow & { t: number }>(chunk.map((schema, i) => ledgerSelect(i, schema, table)).join('\nUNION ALL\n'))).rows, chunk);
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
    ledgers.set(c.name, { schemaExists: c.schema_exists, rows: rowsBy.get(c.name) ?? [], adopting: adopting.has(c.name), ...(error !== undefined && { error }) });
  }
  return { database, ledgers };
}

/** The rows of one schema's ledger, tagged `t` with its place in the statement. */
function ledgerSelect(t: number, schema: string, table: string): string {
  return `SELECT ${t} AS t, ${LEDGER_COLUMNS} FROM ${quoteTableName({ schema, table })} AS m, LATERAL to_jsonb(m) AS j`;
}
