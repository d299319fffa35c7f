import type { LockHolder } from '../db/lock.js';
import { describeEntry } from '../migrations/foreign.js';
import type { AdoptResult } from '../commands/adopt.js';
import type { StatusReport } from '../commands/status.js';
import type { Preview } from '../commands/plan.js';
import type { SeedResult } from '../seed/report.js';
import { describeLocation } from '../errors.js';

function pad(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}

function time(date: Date | null): string {
  return date === null
    ? '-'
    : date
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z');
}

export function describeLock(lock: LockHolder | null): string {
  if (lock === null) return 'migration lock: free';
  const who = [lock.applicationName && `application ${lock.applicationName}`, lock.clientAddress && `from ${lock.clientAddress}`]
    .filter(Boolean)
    .join(', ');
  return `migration lock: held by backend pid ${lock.pid}${who ? ` (${who})` : ''}, connected since ${time(lock.backendStart)}, current statement since ${time(lock.queryStart)}`;
}

export function formatStatus(report: StatusReport): string {
  const rows = [['VERSION', 'STATE', 'APPLIED AT', 'DURATION']];
  for (const m of report.migrations) {
    // Regular migrations are the usual kind: only the post-deploy ones say their phase.
    const kind = m.phase === 'post-deploy' ? `${m.state} post-deploy` : m.state;
    const state = m.progress === undefined ? kind : `${kind} (${m.progress} statement${m.progress === 1 ? '' : 's'} done)`;
    rows.push([m.version, state, time(m.appliedAt), m.durationMs === null ? '-' : `${m.durationMs} ms`]);
  }
  const counts = new Map<string, number>();
  for (const m of report.migrations) {
    const kind = m.phase === 'post-deploy' && m.state === 'pending' ? 'pending post-deploy' : m.state;
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  const summary = report.migrations.length === 0 ? 'no migrations' : [...counts].map(([state, n]) => `${n} ${state}`).join(', ');
  return `${report.migrations.length > 0 ? `${pad(rows)}\n` : ''}${summary} (table ${report.table})\n${describeLock(report.lock)}`;
}

export function formatPreview(p: Preview): string {
  const deferred = p.deferred.map((v) => `leave ${v}  (post-deploy: slipway up --post-deploy, once every replica runs this release)`);
  if (p.steps.length === 0) return [`nothing to ${p.direction === 'up' ? 'apply' : 'revert'}`, ...deferred].join('\n');
  const lines = p.steps.map((s) => {
    const verb = s.direction === 'up' ? 'apply' : 'revert';
    const notes = [
      s.phase === 'post-deploy' && 'post-deploy',
      s.folded && "in its table's transaction: CONCURRENTLY not needed",
      !s.transactional && 'outside a transaction',
    ]
      .filter(Boolean)
      .join(', ');
    return s.resumed
      ? `finish ${verb === 'apply' ? 'applying' : 'reverting'} ${s.version}  (interrupted: resumed where it stopped)`
      : `${verb} ${s.version}${notes === '' ? '' : `  (${notes})`}`;
  });
  return [...p.warnings.map((w) => `warning: ${w}`), ...lines, ...deferred].join('\n');
}

/** `plan --sql`: each step's SQL under a comment naming it, in the order the run would take. */
export function formatPreviewSql(p: Preview): string {
  if (p.steps.length === 0) return `-- nothing to ${p.direction === 'up' ? 'apply' : 'revert'}\n`;
  return p.steps
    .map((s) => {
      const how = [
        s.direction,
        s.folded
          ? "in its table's transaction: CONCURRENTLY not needed"
          : s.transactional
            ? 'in a transaction'
            : 'outside a transaction, statement by statement',
        ...(s.resumed ? ['resumed where it stopped'] : []),
      ];
      return `-- ${s.version} (${how.join(', ')})\n${s.sql.endsWith('\n') ? s.sql : `${s.sql}\n`}`;
    })
    .join('\n');
}

export function formatSeed(result: SeedResult): string {
  const lines = result.tables.map(
    (t) =>
      `${t.table}: ${t.inserted} inserted, ${t.skipped} skipped, ${t.updated} updated, ${t.conflicts.length} conflict${t.conflicts.length === 1 ? '' : 's'}`,
  );
  for (const t of result.tables) {
    for (const c of t.conflicts) {
      const columns = c.columns
        .map((col) => `${col.column}: seed ${JSON.stringify(col.seed)}, database ${JSON.stringify(col.database)}`)
        .join('; ');
      lines.push(`${t.updated > 0 ? 'updated' : 'conflict'} ${t.table} ${JSON.stringify(c.key)} at ${describeLocation(c.at)}: ${columns}`);
    }
  }
  if (result.dryRun) lines.push('dry run: nothing was written');
  return lines.join('\n');
}

export function formatAdoption(result: AdoptResult): string {
  const rows = [['VERSION', 'STATE', 'FROM']];
  for (const m of result.migrations)
    rows.push([m.version, m.state, m.from === null ? '-' : `${result.tool} ${describeEntry(result.tool, m.from)}`]);
  const applied = result.migrations.filter((m) => m.state === 'applied').length;
  const kept =
    result.keptAs === result.foreignTable
      ? `${result.foreignTable} is kept as it is`
      : `${result.foreignTable} is renamed to ${result.keptAs}`;
  const summary = result.dryRun
    ? `${applied} applied, ${result.migrations.length - applied} pending; adopt would record them in ${result.table} and ${kept.replace(' is ', ' would be ')}\ndry run: nothing was changed`
    : `${applied} applied, ${result.migrations.length - applied} pending: recorded in ${result.table}; ${kept}, rows and all`;
  return `${result.says}\n${result.migrations.length > 0 ? `${pad(rows)}\n` : ''}${summary}`;
}
