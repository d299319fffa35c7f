import type pg from 'pg';
import { quoteIdentifier } from '../db/identifier.js';
import { AbortedError, SeedError, SlipwayError } from '../errors.js';
import type { Batch, SeedPlan, SeedStep } from './plan.js';
import { isReference, resolveReferences, textOf, type ReferenceUse } from './references.js';
import type { SeedConflict, SeedTableResult } from './report.js';
import { equal, unnest } from './sql.js';

interface Tally {
  table: string;
  inserted: number;
  skipped: number;
  conflicts: SeedConflict[];
  updated: number;
}

/**
 * Writes every step, level by level: references resolved, then the level in one statement.
 * Call inside a transaction, holding the seed lock; any error leaves the rollback to the caller.
 *
 * @example
 * await client.query('BEGIN');
 * const tables = await writePlan(client, planSeed(files, catalog), { update: false });
 * await client.query('COMMIT');
 */
export async function writePlan(
  client: pg.ClientBase,
  plan: SeedPlan,
  options: { update: boolean; signal?: AbortSignal },
): Promise<SeedTableResult[]> {
  const tallies = new Map<string, Tally>();
  const ids = new Map<string, string>(); // reference id → primary key, for the whole run: a row, once found, stays
  for (const step of plan.steps) {
    const name = step.table.name;
    const tally = tallies.get(name) ?? tallies.set(name, { table: name, inserted: 0, skipped: 0, conflicts: [], updated: 0 }).get(name)!;
    try {
      for (const level of step.levels) {
        if (options.signal?.aborted)
          throw new AbortedError(`stopped while seeding ${name} from ${step.at.file}; rolled back, nothing was written`);
        // Each reference not yet resolved, with the first row (in writing order) that gives it.
        const uses = new Map<string, ReferenceUse>();
        for (const batch of level) {
          for (const row of batch.rows) {
            for (const value of row.values.values())
              if (isReference(value) && !ids.has(value.id) && !uses.has(value.id)) uses.set(value.id, { ref: value, at: row.at });
          }
        }
        await resolveReferences(client, [...uses.values()], ids);
        await writeLevel(client, step, level, ids, options.update, tally);
      }
    } catch (error) {
      if (error instanceof SlipwayError) throw error;
      const pgError = error as { message?: string; detail?: string; code?: string };
      throw new SeedError(
        `seeding ${name} from ${step.at.file} failed: ${pgError.message ?? String(error)}${pgError.code ? ` [${pgError.code}]` : ''}; ` +
          `rolled back, nothing was written${pgError.detail ? `\ndetail: ${pgError.detail}` : ''}`,
        step.at,
        { cause: error },
      );
    }
  }
  return [...tallies.values()];
}

/**
 * Writes one level in ONE statement, each batch's rows sent once: per batch, the rows are
 * looked up by key, the missing ones inserted (`ON CONFLICT (key) DO NOTHING`, so a run that
 * does not share the lock and inserts the same key meanwhile costs no duplicate and no error)
 * and, with `update`, the differing ones updated; the statement returns only what the report
 * needs (per batch the number of rows found and inserted, the differing rows with the
 * database's values). Insert-only columns are inserted, never compared or updated. Foreign
 * keys among the level's rows (a reply's plain `parent_key`) are checked at the statement's
 * end, in any order.
 */
async function writeLevel(
  client: pg.ClientBase,
  step: SeedStep,
  level: readonly Batch[],
  ids: ReadonlyMap<string, string>,
  update: boolean,
  tally: Tally,
): Promise<void> {
  const { table, key, insertOnly } = step;
  const conflictTarget = key.map(quoteIdentifier).join(', ');
  const params: string[] = [];
  const items: string[] = [];
  const results: string[] = [];
  const prepared = level.map((batch, b) => {
    // One array per column, filled row by row: the statement's parameters as they are sent.
    const texts = batch.columns.map((column, c) => {
      const values = new Array<string | null>(batch.rows.length);
      for (let r = 0; r < batch.rows.length; r++) {
        const row = batch.rows[r]!.values;
        // A row that gives the batch's columns in the batch's order (most do) has the value at the same index.
        values[r] = textOf(row.columns === batch.columns ? row.cells[c]! : row.get(column)!, ids);
      }
      return values;
    });
    const compared = batch.columns.filter((column) => !key.includes(column) && !insertOnly.includes(column));
    const alias = (column: string) => `v.c${batch.columns.indexOf(column) + 1}`;
    const keyMatches = key.map((column) => equal(table, column, `t.${quoteIdentifier(column)}`, alias(column), '=')).join(' AND ');
    // Per column, whether it differs, and the database's values: only for rows where one does (few), NULL for equal rows.
    const differences = compared.map((c) => equal(table, c, `t.${quoteIdentifier(c)}`, alias(c), 'IS DISTINCT FROM'));
    const anyDiffers = differences.length > 0 ? differences.join(' OR ') : 'false';
    const source = unnest(table, batch.columns, texts, params.length);
    params.push(...source.params);
    items.push(
      `v${b} AS (${source.select})`,
      `f${b} AS (SELECT v.ord,
                CASE WHEN ${anyDiffers} THEN ARRAY[${differences.join(', ')}]::boolean[] END AS differs,
                CASE WHEN ${anyDiffers} THEN ARRAY[${compared.map((c) => `t.${quoteIdentifier(c)}::text`).join(', ')}]::text[] END AS current
           FROM v${b} AS v JOIN ${table.sqlName} AS t ON ${keyMatches})`,
      `i${b} AS (INSERT INTO ${table.sqlName} (${batch.columns.map(quoteIdentifier).join(', ')})
         SELECT ${batch.columns.map(alias).join(', ')} FROM v${b} AS v
          WHERE NOT EXISTS (SELECT FROM f${b} AS f WHERE f.ord = v.ord) ORDER BY v.ord
         ON CONFLICT (${conflictTarget}) DO NOTHING RETURNING 1)`,
    );
    if (update && compared.length > 0) {
      items.push(
        `u${b} AS (UPDATE ${table.sqlName} AS t SET ${compared.map((c) => `${quoteIdentifier(c)} = ${alias(c)}`).join(', ')}
           FROM v${b} AS v WHERE ${keyMatches} AND (${anyDiffers}))`,
      );
    }
    results.push(
      `SELECT ${b} AS b, NULL::bigint AS ord, (SELECT count(*) FROM f${b}) AS found, (SELECT count(*) FROM i${b}) AS inserted, NULL::boolean[] AS differs, NULL::text[] AS current`,
      `SELECT ${b}, ord, NULL, NULL, differs, current FROM f${b} WHERE differs IS NOT NULL`,
    );
    return { batch, texts, compared };
  });
  const { rows } = await client.query<{
    b: number;
    ord: string | null;
    found: string | null;
    inserted: string | null;
    differs: boolean[] | null;
    current: Array<string | null> | null;
  }>(`WITH ${items.join(',\n')}\n${results.join('\nUNION ALL ')}`, params);

  const inserted = level.map(() => 0);
  const differing = level.map(() => [] as Array<{ ord: number; differs: boolean[]; current: Array<string | null> }>);
  for (const row of rows) {
    if (row.ord === null) inserted[row.b] = Number(row.inserted);
    else differing[row.b]!.push({ ord: Number(row.ord), differs: row.differs!, current: row.current! });
  }
  prepared.forEach(({ batch, texts, compared }, b) => {
    const conflicts = differing[b]!.sort((x, y) => x.ord - y.ord);
    tally.inserted += inserted[b]!;
    // Found with equal values, or inserted by another run meanwhile (its insert conflicted).
    tally.skipped += batch.rows.length - inserted[b]! - conflicts.length;
    for (const { ord, differs, current } of conflicts) {
      const index = ord - 1;
      const row = batch.rows[index]!;
      const columns = compared.flatMap((column, i) =>
        differs[i] ? [{ column, seed: texts[batch.columns.indexOf(column)]![index] ?? null, database: current[i] ?? null }] : [],
      );
      tally.conflicts.push({ at: row.at, key: row.key, columns });
    }
    if (update) tally.updated += conflicts.length;
  });
}
