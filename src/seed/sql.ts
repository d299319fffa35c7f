import type { CatalogTable } from './catalog.js';

/**
 * A FROM item `v(c1 … cn, ord)` (and its SELECT, for a WITH item): one text array per column,
 * unnested side by side and cast to the columns' types, `ord` numbering the rows from 1.
 * Values travel as parameters, one array per column (`values[i]` holds column i of every row),
 * numbered from `paramOffset + 1`.
 *
 * @example unnest(agents, ['name'], [['ada', 'bob']]).sql // '(SELECT u.c1::text AS c1, u.ord FROM unnest($1::text[]) WITH ORDINALITY AS u(c1, ord)) AS v'
 */
export function unnest(
  table: CatalogTable,
  columns: readonly string[],
  values: Array<Array<string | null>>,
  paramOffset = 0,
): { sql: string; select: string; params: Array<Array<string | null>> } {
  const casts = columns.map((column, i) => `u.c${i + 1}::${table.columns.get(column)!.type} AS c${i + 1}`);
  const arrays = columns.map((_, i) => `$${paramOffset + i + 1}::text[]`);
  const aliases = columns.map((_, i) => `c${i + 1}`);
  const select = `SELECT ${casts.join(', ')}, u.ord FROM unnest(${arrays.join(', ')}) WITH ORDINALITY AS u(${aliases.join(', ')}, ord)`;
  return {
    sql: `(${select}) AS v`,
    select,
    params: values,
  };
}

/**
 * `left op right` for a column; json has no equality operator, so it compares as jsonb.
 *
 * @example equal(issues, 'meta', 't."meta"', 'v.c2', '=') // 't."meta"::jsonb = v.c2::jsonb'
 */
export function equal(table: CatalogTable, column: string, left: string, right: string, op: '=' | 'IS DISTINCT FROM'): string {
  return table.columns.get(column)!.json ? `${left}::jsonb ${op} ${right}::jsonb` : `${left} ${op} ${right}`;
}
