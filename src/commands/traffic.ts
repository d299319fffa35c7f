import { quoteIdentifier } from '../db/identifier.js';
import { readOwnLedger } from '../migrations/foreign.js';
import { breakingChanges, describeTrafficUse, trafficUse, type ServerStatement, type TrafficUse } from '../lint/traffic.js';
import { connect, prepare, type InspectOptions } from './context.js';

export interface TrafficReport {
  /** Null when the server cannot say (no `pg_stat_statements`): `why` says what is missing. */
  readonly uses: readonly TrafficUse[] | null;
  readonly why: string | null;
  /** One line per dropped or renamed column or table that statements the server ran still use. */
  readonly lines: readonly string[];
}

/**
 * Checks each column and table the pending migrations (of both phases) drop or rename against the
 * statements the server has run, as `pg_stat_statements` counts them since its last reset: only
 * their normalized texts are read (no values), and nothing leaves this process. Without the
 * extension it says so once (a warning) and reports nothing. Takes no lock.
 *
 * @example
 * const { lines } = await checkTraffic({ databaseUrl, dir: './migrations' });
 */
export async function checkTraffic(options: InspectOptions): Promise<TrafficReport> {
  const { tableName, logger, migrations } = prepare(options);
  const session = await connect(options, logger);
  try {
    const { contents } = await readOwnLedger(session.client, tableName);
    const applied = new Set(contents.rows.map((row) => row.version));
    const changes = (await Promise.all(migrations.filter((m) => !applied.has(m.version)).map((m) => breakingChanges(m.upSql)))).flat();
    if (changes.length === 0) return { uses: [], why: null, lines: [] };
    const statements = await serverStatements(session.client);
    if (!Array.isArray(statements)) {
      logger.warn({ traffic: false }, `not checking which statements still use what the pending migrations drop or rename: ${statements}`);
      return { uses: null, why: statements, lines: [] };
    }
    const uses = await trafficUse(changes, statements);
    return { uses, why: null, lines: describeTrafficUse(uses) };
  } finally {
    await session.close();
  }
}

/** This database's statements from `pg_stat_statements`, or why they cannot be read. */
async function serverStatements(client: import('pg').ClientBase): Promise<ServerStatement[] | string> {
  const { rows } = await client.query<{ schema: string }>(`SELECT n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'`);
  if (rows.length === 0) return 'the pg_stat_statements extension is not installed in this database (CREATE EXTENSION pg_stat_statements, with it in shared_preload_libraries)';
  try {
    const result = await client.query<{ query: string; calls: string }>(
      `SELECT query, calls::text AS calls FROM ${quoteIdentifier(rows[0]!.schema)}.pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    return result.rows.map((row) => ({ query: row.query, calls: Number(row.calls) }));
  } catch (error) {
    return `pg_stat_statements cannot be read: ${(error as Error).message}`;
  }
}
