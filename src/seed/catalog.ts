import type pg from 'pg';

/** A column as the catalog describes it: enough to check and cast a seed value. */
export interface CatalogColumn {
  readonly name: string;
  /** The type as `format_type` spells it (`character varying(40)`, `integer[]`, `"Mood"`): used in casts. */
  readonly type: string;
  /** json or jsonb (or a domain over one): takes any value, mappings included, as JSON. */
  readonly json: boolean;
  /** An array type: takes a list. */
  readonly array: boolean;
  /** A string type (text, varchar, char, …): takes strings only, so YAML `01234` or `true` cannot slip in. */
  readonly text: boolean;
  /** NOT NULL with no default, identity or generation: every row must give it. */
  readonly required: boolean;
}

export interface CatalogTable {
  /** The name as the seed files write it. */
  readonly name: string;
  /** The name quoted for SQL. */
  readonly sqlName: string;
  readonly oid: number;
  /** The single-column primary key that references resolve to, or null. */
  readonly primaryKey: string | null;
  /**
   * The column sets (sorted) of the unique indexes that `INSERT … ON CONFLICT (columns)` can
   * use: valid, not deferrable, not partial, on plain columns; the primary key among them.
   */
  readonly uniqueKeys: ReadonlyArray<readonly string[]>;
  readonly columns: ReadonlyMap<string, CatalogColumn>;
}

/** The tables that exist among those the seed files name, by the name the files use. */
export type Catalog = ReadonlyMap<string, CatalogTable>;

/**
 * Reads every named table's columns, primary key and unique indexes in ONE query. Tables
 * that do not exist are absent.
 *
 * @example
 * const catalog = await readCatalog(client, [{ name: 'agents', sqlName: quoteTableName('agents') }]);
 * catalog.get('agents')?.uniqueKeys; // [['id'], ['name', 'workspace_id']]
 */
export async function readCatalog(client: pg.ClientBase, tables: ReadonlyArray<{ name: string; sqlName: string }>): Promise<Catalog> {
  const { rows } = await client.query<{
    name: string;
    sql_name: string;
    oid: number;
    primary_key: string | null;
    unique_keys: string[][] | null;
    columns: CatalogColumn[] | null;
  }>(
    `SELECT n.name, n.sql_name, c.oid,
            (SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
              WHERE i.indrelid = c.oid AND i.indisprimary AND i.indnkeyatts = 1) AS primary_key,
            (SELECT json_agg((SELECT array_agg(a.attname::text ORDER BY a.attname)
                                FROM generate_series(0, i.indnkeyatts - 1) AS k(n)
                                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k.n]))
               FROM pg_index i
              WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid AND i.indimmediate
                AND i.indpred IS NULL AND i.indexprs IS NULL) AS unique_keys,
            (SELECT json_agg(json_build_object(
                      'name', a.attname,
                      'type', format_type(a.atttypid, a.atttypmod),
                      'json', b.oid IN ('json'::regtype, 'jsonb'::regtype),
                      'array', b.typcategory = 'A',
                      'text', b.typcategory = 'S',
                      'required', a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = '') ORDER BY a.attnum)
               FROM pg_attribute a
               JOIN pg_type t ON t.oid = a.atttypid
               JOIN pg_type b ON b.oid = CASE t.typtype WHEN 'd' THEN t.typbasetype ELSE t.oid END
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
       FROM unnest($1::text[], $2::text[]) AS n(name, sql_name)
       JOIN pg_class c ON c.oid = to_regclass(n.sql_name) AND c.relkind IN ('r', 'p')`,
    [tables.map((t) => t.name), tables.map((t) => t.sqlName)],
  );
  return new Map(
    rows.map((row) => [
      row.name,
      {
        name: row.name,
        sqlName: row.sql_name,
        oid: row.oid,
        primaryKey: row.primary_key,
        uniqueKeys: row.unique_keys ?? [],
        columns: new Map((row.columns ?? []).map((c) => [c.name, c])),
      },
    ]),
  );
}
