import { UsageError } from '../errors.js';

/** A table name split into its optional schema and its table part, both unquoted. */
export interface TableName {
  readonly schema: string | null;
  readonly table: string;
}

/**
 * Splits `schema.table` or `table` into parts. Refuses an empty name, an empty part
 * and more than one dot, rather than quoting them into something the caller did not mean.
 *
 * @example parseTableName('ops.schema_migrations') // { schema: 'ops', table: 'schema_migrations' }
 */
export function parseTableName(name: string): TableName {
  const parts = name.split('.');
  if (name.length === 0 || parts.some((part) => part.length === 0) || parts.length > 2) {
    throw new UsageError(`invalid table name ${JSON.stringify(name)}: use "table" or "schema.table" (one dot at most, no empty part)`);
  }
  if (name.includes('\0')) throw new UsageError(`invalid table name ${JSON.stringify(name)}: contains a NUL byte`);
  return parts.length === 2 ? { schema: parts[0]!, table: parts[1]! } : { schema: null, table: parts[0]! };
}

/** Quotes one identifier: wraps it in double quotes and doubles any embedded quote. */
export function quoteIdentifier(part: string): string {
  return `"${part.replaceAll('"', '""')}"`;
}

/**
 * The one way a table name from options reaches SQL.
 *
 * @example quoteTableName('ops.schema_migrations') // '"ops"."schema_migrations"'
 */
export function quoteTableName(name: string | TableName): string {
  const parsed = typeof name === 'string' ? parseTableName(name) : name;
  return parsed.schema === null ? quoteIdentifier(parsed.table) : `${quoteIdentifier(parsed.schema)}.${quoteIdentifier(parsed.table)}`;
}

/** Database names `--database` takes: they go into a URL and an identifier unchanged. */
const DATABASE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function checkDatabaseName(name: string): string {
  if (!DATABASE_NAME.test(name))
    throw new UsageError(
      `invalid database name ${JSON.stringify(name)}: use lowercase letters, digits and underscores, starting with a letter`,
    );
  return name;
}
