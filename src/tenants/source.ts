/**
 * Where the tenants of a fleet come from: a file of database URLs, the schemas of one database
 * whose names match a pattern, or the schemas a query returns. Read once, before anything runs.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type pg from 'pg';
import { checkConnectionString, targetOf } from '../db/errors.js';
import { backendPid, openSession } from '../db/session.js';
import { withCancellation } from '../db/cancel.js';
import { AbortedError, type SlipwayError, TenantError, UsageError } from '../errors.js';
import { passwordsOf, scrubSecrets } from '../secrets.js';
import { parseStatements } from '../sql/parse.js';

/** One tenant: a whole database, or one schema of a database. */
export interface Tenant {
  /** How reports name it: the schema for a schema tenant, the database name for a database tenant. */
  readonly id: string;
  /** Where it lives. For a schema tenant, the database that holds the schema. */
  readonly databaseUrl: string;
  /** The tenant's schema, or null for a database tenant (the whole database). */
  readonly schema: string | null;
  /** Set when the source already knows this tenant cannot run (a line that is not a URL): it is reported failed. */
  readonly problem?: SlipwayError;
}

/**
 * Reads a tenant source. Three forms:
 *
 * - `schema:<pattern>`: every schema of the database `databaseUrl` whose name matches the SQL
 *   `LIKE` pattern (`schema:tenant_%`; `_` matches any one character, `\_` a literal one).
 *   `pg_*` and `information_schema` never match.
 * - `query:<SQL>`: the schemas named by the first column of the rows the query returns, run on
 *   `databaseUrl` in a read-only transaction (`query:SELECT schema_name FROM accounts WHERE active`).
 *   It must be one `SELECT` (or `VALUES`, `TABLE`, `WITH … SELECT`); several statements are refused.
 * - `file:<path>`, or just a path: one PostgreSQL URL per line, each a database tenant; blank
 *   lines and `#` comments (a whole line, or after a space) are skipped.
 *
 * Names are deduplicated, in source order. An empty source is a {@link TenantError}
 * (`empty-source`); a line that is not a URL becomes a tenant with a `problem`, reported failed.
 *
 * @example
 * const tenants = await readTenants('schema:tenant_%', { databaseUrl: process.env.DATABASE_URL });
 * tenants.map((t) => t.schema); // ['tenant_a', 'tenant_b', …]
 */
export async function readTenants(
  source: string,
  options: {
    readonly databaseUrl?: string | undefined /** Aborting cancels the query that reads the schemas. */;
    readonly signal?: AbortSignal | undefined;
  } = {},
): Promise<Tenant[]> {
  const spec = source.trim();
  if (spec === '') throw new UsageError('the tenant source is empty: give schema:<pattern>, query:<SQL> or a file of database URLs');
  const kind = /^(schema|query|file):/i.exec(spec)?.[1]?.toLowerCase();
  const rest = kind === undefined ? spec : spec.slice(kind.length + 1).trim();
  if (kind === 'schema' || kind === 'query') {
    if (rest === '')
      throw new UsageError(
        `${kind}: needs ${kind === 'schema' ? 'a pattern, e.g. schema:tenant_%' : 'a query, e.g. query:SELECT name FROM tenants'}`,
      );
    if (options.databaseUrl === undefined || options.databaseUrl === '') {
      throw new UsageError(`--tenants ${kind}:… reads the schemas of one database: give it with --database-url (or DATABASE_URL)`);
    }
    const schemas = await readSchemas(options.databaseUrl, kind, rest, options.signal);
    if (schemas.length === 0) {
      throw new TenantError(
        'empty-source',
        kind === 'schema'
          ? `no schema matches ${JSON.stringify(rest)} in the database: no tenants to run`
          : 'the tenants query returned no rows: no tenants to run',
      );
    }
    return schemas.map((schema) => ({ id: schema, databaseUrl: options.databaseUrl!, schema }));
  }
  return readTenantsFile(rest);
}

async function readSchemas(
  databaseUrl: string,
  kind: 'schema' | 'query',
  text: string,
  signal: AbortSignal | undefined,
): Promise<string[]> {
  if (kind === 'query') await checkTenantsQuery(text);
  const stopped = () => new AbortedError('stopped while reading the tenants; nothing was changed');
  if (signal?.aborted) throw stopped();
  const session = await openSession({ databaseUrl });
  const { client } = session;
  // An abort cancels the running query from a side connection: the server does not notice a closed socket.
  // Through a pooler the backend is not known at connect time: a cancel then finds nothing to stop.
  const pid = backendPid(client) ?? 0;
  try {
    return await withCancellation(session, pid, signal, async () => {
      if (signal?.aborted) throw stopped();
      if (kind === 'schema') {
        const { rows } = await client.query<{ name: string }>(
          `SELECT nspname::text AS name FROM pg_catalog.pg_namespace
          WHERE nspname LIKE $1 AND nspname !~ '^pg_' AND nspname <> 'information_schema' ORDER BY nspname`,
          [text],
        );
        return rows.map((r) => r.name);
      }
      await client.query('BEGIN READ ONLY');
      let result: pg.QueryResult;
      try {
        // The extended protocol, where the server takes one statement only: even text the parser
        // misjudged cannot COMMIT and go on outside the transaction. Unnamed, it leaves nothing
        // behind on a pooler's server connection. (queryMode is missing from @types/pg.)
        result = await client.query({ text, rowMode: 'array', queryMode: 'extended' } as pg.QueryArrayConfig);
      } catch (error) {
        throw new TenantError('bad-source', `the tenants query failed: ${(error as Error).message}`);
      } finally {
        await client.query('ROLLBACK').catch(() => {});
      }
      const names: string[] = [];
      for (const [index, row] of (result.rows as unknown[][]).entries()) {
        const value = row[0];
        if (typeof value !== 'string' || value === '') {
          throw new TenantError(
            'bad-source',
            `the tenants query's row ${index + 1} has ${JSON.stringify(value ?? null)} in its first column: it must return schema names (text)`,
          );
        }
        names.push(value);
      }
      return [...new Set(names)];
    });
  } catch (error) {
    // What a cancelled query fails with says nothing of why: the abort does.
    throw signal?.aborted && !(error instanceof AbortedError) ? stopped() : error;
  } finally {
    await session.close();
  }
}

/**
 * Refuses, before connecting, a tenants query that is not one SELECT: tenants are read, never
 * changed, and a second statement (`COMMIT; DROP …`) could end the read-only transaction.
 */
async function checkTenantsQuery(text: string): Promise<void> {
  let statements: Awaited<ReturnType<typeof parseStatements>>;
  try {
    statements = await parseStatements(text);
  } catch (error) {
    throw new TenantError('bad-source', `the tenants query is not valid SQL: ${(error as Error).message}`);
  }
  const words = statements.map((s) => firstWord(text.slice(s.stmt_location ?? 0)));
  if (statements.length === 1 && Object.keys(statements[0]!.stmt)[0] === 'SelectStmt') return;
  throw new TenantError(
    'bad-source',
    statements.length === 1
      ? `the tenants query must be a SELECT (or VALUES, TABLE, WITH … SELECT), not ${words[0]}: tenants are only read`
      : `the tenants query must be one SELECT statement; it has ${statements.length}${words.length > 0 ? ` (${words.join(', ')})` : ''}`,
  );
}

async function readTenantsFile(file: string): Promise<Tenant[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    // A database URL given where the file goes is named without its password.
    const name = scrubSecrets(file, passwordsOf(file));
    throw new TenantError(
      'bad-source',
      code === 'ENOENT'
        ? `tenants file ${name} does not exist: give schema:<pattern>, query:<SQL> or a file of database URLs, one per line`
        : `cannot read tenants file ${name}: ${scrubSecrets((error as Error).message, passwordsOf(file))}`,
    );
  }
  const entries: Array<{ url: string; line: number }> = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (line !== '') entries.push({ url: line, line: index + 1 });
  }
  if (entries.length === 0)
    throw new TenantError('empty-source', `tenants file ${file} names no database: write one PostgreSQL URL per line`);
  const seen = new Set<string>();
  const unique = entries.filter((e) => !seen.has(e.url) && seen.add(e.url));
  const names = unique.map((e) => databaseLabel(e.url));
  const counts = new Map<string, number>();
  for (const n of names) counts.set(n.database, (counts.get(n.database) ?? 0) + 1);
  return unique.map((entry, i) => {
    const label = names[i]!;
    const id = label.database === '' ? `${file}:${entry.line}` : counts.get(label.database)! > 1 ? label.full : label.database;
    try {
      checkConnectionString(entry.url);
      if (!/^postgres(ql)?:\/\//i.test(entry.url)) throw new UsageError('not a postgres:// URL');
      return { id, databaseUrl: entry.url, schema: null };
    } catch (error) {
      const why = scrubSecrets((error as Error).message, passwordsOf(entry.url));
      return { id, databaseUrl: entry.url, schema: null, problem: new TenantError('bad-source', `${file}:${entry.line}: ${why}`) };
    }
  });
}

/** The keyword a statement starts with, after comments: `COMMIT`, `DROP`. */
function firstWord(statement: string): string {
  return statement
    .replace(/^(?:\s+|--[^\n]*|\/\*[\s\S]*?\*\/)*/, '')
    .split(/[\s(;]/, 1)[0]!
    .toUpperCase();
}

/** A database URL's name for reports: its database, and host:port/database to tell two servers apart. */
function databaseLabel(url: string): { database: string; full: string } {
  try {
    const target = targetOf({ connectionString: url });
    const database = target.database ?? '';
    return { database, full: `${target.host}:${target.port}/${database}` };
  } catch {
    return { database: '', full: '' };
  }
}

/**
 * The advisory-lock key of a schema tenant: the first 8 bytes of
 * `sha256("slipway-tenant\0" + database + "\0" + schema)`, read as a signed big-endian 64-bit
 * integer. Every run that migrates that schema (a fleet run, or a service for that tenant
 * passing this key to `migrate`) takes the same key, and no two schemas share one in practice
 * (a collision only serializes two tenants, it never lets one run twice).
 *
 * @example tenantLockKey('app', 'tenant_42') // the bigint key fleet runs take for app's schema tenant_42
 */
export function tenantLockKey(database: string, schema: string): bigint {
  return createHash('sha256').update(`slipway-tenant\0${database}\0${schema}`).digest().readBigInt64BE(0);
}
