/**
 * Lint before running: `migrate` and `preview` with `lint` on call {@link lintPlan} once the
 * pending files are read, before the migration lock is taken. Findings are logged; an
 * error-level one stops the run with a {@link LintError} before anything changes.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { LintError } from '../errors.js';
import type { AppliedRow, Plan } from '../migrations/plan.js';
import type { Migration } from '../migrations/source.js';
import type { ParseMemo } from '../migrations/statements.js';
import { lintSources, type LintReport, type LintSettings } from './lint.js';

/** `server_version_num` of the connected server. */
export async function serverVersionNum(client: pg.ClientBase): Promise<number> {
  return Number((await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`)).rows[0]!.v);
}

/**
 * Lints the steps of an `up` plan as one run, after the applied migrations as history, for the
 * connected server's version (unless `settings.pgVersion` says otherwise). A `down` plan is not linted.
 *
 * @example
 * await lintPlan(client, plan, migrations, appliedRows, { lockTimeout: 5000 }, logger); // throws LintError on an error-level finding
 */
export async function lintPlan(
  client: pg.ClientBase,
  p: Plan,
  migrations: readonly Migration[],
  applied: readonly AppliedRow[],
  settings: LintSettings,
  logger: Logger,
  memo?: ParseMemo,
): Promise<LintReport | null> {
  if (p.direction !== 'up' || p.steps.length === 0) return null;
  const pending = new Set(p.steps.map((m) => m.version));
  const done = new Set(applied.map((row) => row.version));
  const history = migrations.filter((m) => done.has(m.version) && !pending.has(m.version));
  const report = await lintSources(
    p.steps.map((m) => ({ source: m.upSource, sql: m.upSql })),
    { ...settings, pgVersion: settings.pgVersion ?? (await serverVersionNum(client)) },
    history.map((m) => ({ source: m.upSource, sql: m.upSql })),
    memo,
  );
  for (const f of report.findings) {
    const line = `${f.file}:${f.line}:${f.column} ${f.rule} ${f.severity}: ${f.message}`;
    const fields = { file: f.file, line: f.line, column: f.column, rule: f.rule };
    if (f.severity === 'error') logger.error(fields, line);
    else logger.warn(fields, line);
  }
  for (const f of report.ignored) logger.info({ file: f.file, line: f.line, rule: f.rule, reason: f.reason }, `${f.file}:${f.line} ${f.rule} ignored: ${f.reason}`);
  const errors = report.findings.filter((f) => f.severity === 'error');
  if (errors.length > 0) {
    const first = errors[0]!;
    const more = errors.length > 1 ? ` and ${errors.length - 1} more (logged above)` : '';
    throw new LintError(
      errors.map(({ file, line, column, rule, message }) => ({ file, line, column, rule, message })),
      `refused to run: the pending migrations have ${errors.length} error-level lint finding${errors.length === 1 ? '' : 's'}: ${first.file}:${first.line}:${first.column} ${first.rule}: ${first.message}${more}; nothing was run. Fix ${errors.length === 1 ? 'it' : 'them'}, silence one with "-- slipway:ignore <rule> <reason>" on the line above the statement, or run with --no-lint (lint: false)`,
    );
  }
  return report;
}
