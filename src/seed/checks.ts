import type pg from 'pg';
import { SeedError, type SeedLocation } from '../errors.js';
import { describeLocation } from './files.js';

/** A literal for the server to parse as its column's type before anything is written. */
export interface ValueCheck {
  readonly value: string;
  readonly type: string;
  /** `table.column`, for the message. */
  readonly column: string;
  readonly at: SeedLocation;
}

/**
 * Has the server parse every literal as its column's type in ONE query, so a bad value is
 * reported with its file and row before anything is written. Needs PostgreSQL 16
 * (`pg_input_is_valid`); on older servers a bad value fails its batch, naming the file.
 *
 * @example
 * await checkValues(client, [{ value: '2024-02-30', type: 'date', column: 'issues.opened_on', at: { file: 'seeds/03.yaml', line: 9, row: 2 } }]);
 * // throws SeedError: seeds/03.yaml:9 (row 2): column issues.opened_on: date/time field value out of range: "2024-02-30"; fix the value
 */
export async function checkValues(client: pg.ClientBase, checks: readonly ValueCheck[]): Promise<void> {
  if (checks.length === 0) return;
  let rows: Array<{ ord: string; message: string }>;
  try {
    ({ rows } = await client.query(
      `SELECT v.ord, (pg_input_error_info(v.value, v.type)).message
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS v(value, type, ord)
        WHERE NOT pg_input_is_valid(v.value, v.type)
        ORDER BY v.ord LIMIT 1`,
      [checks.map((c) => c.value), checks.map((c) => c.type)],
    ));
  } catch (error) {
    if ((error as { code?: string }).code === '42883') return; // undefined_function: before PostgreSQL 16
    throw error;
  }
  const bad = rows[0];
  if (bad === undefined) return;
  const check = checks[Number(bad.ord) - 1]!;
  throw new SeedError(`${describeLocation(check.at)}: column ${check.column}: ${bad.message}; fix the value`, check.at);
}
