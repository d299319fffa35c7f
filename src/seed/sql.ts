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
  values: ReadonlyArray<ReadonlyArray<string | null>>,
  paramOffset = 0,
): { sql: string; select: string; params: string[] } {
  const casts = columns.map((column, i) => `u.c${i + 1}::${table.columns.get(column)!.type} AS c${i + 1}`);
  const arrays = columns.map((_, i) => `$${paramOffset + i + 1}::text[]`);
  const aliases = columns.map((_, i) => `c${i + 1}`);
  const select = `SELECT ${casts.join(', ')}, u.ord FROM unnest(${arrays.join(', ')}) WITH ORDINALITY AS u(${aliases.join(', ')}, ord)`;
  return {
    sql: `(${select}) AS v`,
    select,
    params: values.map(textArrayLiteral),
  };
}

/**
 * The `text[]` literal of `values` (`{"a","b \\"c\\"",NULL}`), every element quoted: what
 * node-postgres would send for the array, built in one pass as one flat string (its builder
 * appends piece by piece, slow for the 10^5 elements of a seed column).
 *
 * @example textArrayLiteral(['a', 'say "hi"', null]) // '{"a","say \\"hi\\"",NULL}'
 */
export function textArrayLiteral(values: ReadonlyArray<string | null>): string {
  if (values.length === 0) return '{}';
  // Mostly no NULL and nothing to escape: then two native joins and one scan do it.
  if (!values.includes(null) && !values.includes(undefined as unknown as string) && !NEEDS_ESCAPE.test(values.join('')))
    return `{"${values.join('","')}"}`;
  const parts: string[] = ['{'];
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (i > 0) parts.push(',');
    if (value === null || value === undefined) parts.push('NULL');
    else parts.push('"', NEEDS_ESCAPE.test(value) ? value.replace(ESCAPED, '\\$&') : value, '"');
  }
  parts.push('}');
  return parts.join('');
}

const NEEDS_ESCAPE = /["\\]/;
const ESCAPED = /["\\]/g;

/**
 * `left op right` for a column; json has no equality operator, so it compares as jsonb.
 *
 * @example equal(issues, 'meta', 't."meta"', 'v.c2', '=') // 't."meta"::jsonb = v.c2::jsonb'
 */
export function equal(table: CatalogTable, column: string, left: string, right: string, op: '=' | 'IS DISTINCT FROM'): string {
  return table.columns.get(column)!.json ? `${left}::jsonb ${op} ${right}::jsonb` : `${left} ${op} ${right}`;
}
