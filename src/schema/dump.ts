/**
 * A snapshot as SQL text, and two snapshots compared. Pure: the catalog comes in as data.
 * Order is the dependency graph's, ties broken by kind then name, so the same schema always
 * gives the same text and a diff in a pull request shows only what changed.
 */
import type { SchemaObject, Snapshot } from './catalog.js';

export const DUMP_HEADER = `-- The database schema, written by slipway dump. Load it into an empty database with slipway load.
SET check_function_bodies = false;
SELECT pg_catalog.set_config('search_path', '', false);
`;

/** Objects in an order that creates each after what it depends on; ties go by rank, then id. */
export function orderObjects(objects: readonly SchemaObject[]): SchemaObject[] {
  const byKey = new Map(objects.map((o) => [o.key, o]));
  const waitingOn = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const o of objects) {
    const after = [...new Set(o.after)].filter((k) => k !== o.key && byKey.has(k));
    waitingOn.set(o.key, after.length);
    for (const k of after) dependents.set(k, [...(dependents.get(k) ?? []), o.key]);
  }
  const before = (a: SchemaObject, b: SchemaObject) => a.rank - b.rank || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const ready = objects.filter((o) => waitingOn.get(o.key) === 0).sort(before);
  const done = new Set<string>();
  const ordered: SchemaObject[] = [];
  const release = (o: SchemaObject) => {
    done.add(o.key);
    ordered.push(o);
    for (const k of dependents.get(o.key) ?? []) {
      const left = waitingOn.get(k)! - 1;
      waitingOn.set(k, left);
      if (left === 0 && !done.has(k)) insertSorted(ready, byKey.get(k)!, before);
    }
  };
  while (ordered.length < objects.length) {
    const next = ready.shift();
    if (next !== undefined) {
      if (!done.has(next.key)) release(next);
      continue;
    }
    // A cycle the catalog allows (a default calling a function that returns the table's rows):
    // the first object left in the usual order breaks it.
    const rest = objects.filter((o) => !done.has(o.key)).sort(before);
    release(rest[0]!);
  }
  return ordered;
}

function insertSorted<T>(list: T[], item: T, before: (a: T, b: T) => number): void {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (before(list[mid]!, item) <= 0) low = mid + 1;
    else high = mid;
  }
  list.splice(low, 0, item);
}

/** The dump's text: a header, each object under a `-- <id>` line, then the bookkeeping rows. */
export function renderDump(snapshot: Snapshot): string {
  const parts = [DUMP_HEADER];
  for (const o of orderObjects(snapshot.objects)) {
    if (o.sql === '') continue;
    parts.push(`-- ${o.id}\n${o.sql}\n`);
  }
  if (snapshot.ledgerRows !== null)
    parts.push(`-- bookkeeping rows: loading this file gives a database slipway sees as up to date\n${snapshot.ledgerRows}\n`);
  return parts.join('\n');
}

/** One object that is not the same in two schemas. */
export interface SchemaDifference {
  /** `index public.users_email_idx` */
  readonly object: string;
  /** `missing`: only in the expected schema; `extra`: only in the actual one; `changed`: in both, different. */
  readonly change: 'missing' | 'extra' | 'changed';
  /** Its SQL in the expected schema, null when missing there. */
  readonly expected: string | null;
  readonly actual: string | null;
}

/** Every object whose SQL differs between two snapshots (the ledgers aside), in the expected schema's order. */
export function compareSnapshots(expected: Snapshot, actual: Snapshot): SchemaDifference[] {
  // Ledgers are bookkeeping, not the schema: one side may not have one yet, and what is a
  // ledger's on either side (a schema that holds only it, say) is left out on both.
  const books = new Set([...expected.objects, ...actual.objects].flatMap((o) => (o.bookkeeping ? [o.id] : [])));
  const compared = (o: SchemaObject) => o.sql !== '' && !books.has(o.id);
  const theirs = new Map(actual.objects.filter(compared).map((o) => [o.id, o.sql]));
  const ours = orderObjects(expected.objects).filter(compared);
  const differences: SchemaDifference[] = [];
  for (const o of ours) {
    const other = theirs.get(o.id);
    theirs.delete(o.id);
    if (other === undefined) differences.push({ object: o.id, change: 'missing', expected: o.sql, actual: null });
    else if (other !== o.sql) differences.push({ object: o.id, change: 'changed', expected: o.sql, actual: other });
  }
  for (const o of orderObjects(actual.objects)) {
    if (theirs.has(o.id)) differences.push({ object: o.id, change: 'extra', expected: null, actual: o.sql });
  }
  return differences;
}

/**
 * Differences as a unified diff, one hunk per object: `-` lines are the expected schema's,
 * `+` lines the actual one's. `labels` name the two sides (`migrations`, `database`).
 */
export function formatDifferences(differences: readonly SchemaDifference[], labels: { expected: string; actual: string }): string {
  if (differences.length === 0) return '';
  const out = [`--- ${labels.expected}`, `+++ ${labels.actual}`];
  for (const d of differences) {
    const what = d.change === 'missing' ? `only in ${labels.expected}` : d.change === 'extra' ? `only in ${labels.actual}` : 'differs';
    out.push(`@@ ${d.object} (${what}) @@`);
    out.push(...diffLines(d.expected?.split('\n') ?? [], d.actual?.split('\n') ?? []));
  }
  return `${out.join('\n')}\n`;
}

/** A line diff by longest common subsequence; objects are short, so the quadratic table is fine. */
function diffLines(a: readonly string[], b: readonly string[]): string[] {
  const n = a.length;
  const m = b.length;
  const common: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--)
      common[i]![j] = a[i] === b[j] ? common[i + 1]![j + 1]! + 1 : Math.max(common[i + 1]![j]!, common[i]![j + 1]!);
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      out.push(` ${a[i]}`);
      i++;
      j++;
    } else if (i < n && (j === m || common[i + 1]![j]! >= common[i]![j + 1]!)) out.push(`-${a[i++]}`);
    else out.push(`+${b[j++]}`);
  }
  return out;
}
