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
import type { ParseMemo } from '../sql/parse.js';
import type { Session } from '../db/session.js';
import type { CatalogNames, CatalogRelation, LintCatalog } from '../lint/context.js';
import { lintSources, type LintReport, type LintSettings } from '../lint/lint.js';

/**
 * What the live database holds for the names a run mentions: every relation of those names
 * outside the system schemas (with an index's table), the domains of those names that have a
 * CHECK constraint, and the search path. Three small queries; nothing is locked.
 */
export async function readCatalog(client: pg.ClientBase, names: CatalogNames): Promise<LintCatalog> {
  const path = await client.query<{ path: string[] }>('SELECT current_schemas(false)::text[] AS path');
  const relations =
    names.relations.length === 0
      ? { rows: [] }
      : await client.query<{ schema: string; name: string; kind: string; table: string | null }>(
          `SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
            CASE WHEN t.oid IS NULL THEN NULL ELSE tn.nspname || '.' || t.relname END AS table
       FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
       LEFT JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
       LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
      WHERE c.relname = ANY($1::text[])
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'`,
          [names.relations],
        );
  const domains =
    names.types.length === 0
      ? { rows: [] }
      : await client.query<{ name: string }>(
          `SELECT n.nspname || '.' || t.typname AS name
       FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
      WHERE t.typtype = 'd' AND t.typname = ANY($1::text[])
        AND EXISTS (SELECT FROM pg_catalog.pg_constraint k WHERE k.contypid = t.oid AND k.contype = 'c')`,
          [names.types],
        );
  const kindOf = (relkind: string): CatalogRelation['kind'] =>
    'rpm'.includes(relkind) ? 'table' : 'iI'.includes(relkind) ? 'index' : 'other';
  return {
    searchPath: path.rows[0]?.path ?? [],
    relations: relations.rows.map((r) => ({ schema: r.schema, name: r.name, kind: kindOf(r.kind), table: r.table })),
    checkedDomains: domains.rows.map((d) => d.name),
  };
}

/** `server_version_num` of the connected server. */
export async function serverVersionNum(client: pg.ClientBase): Promise<number> {
  return Number((await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`)).rows[0]!.v);
}

/**
 * Lints the steps of an `up` plan as one run, after the applied migrations as history, for the
 * connected server's version (unless `settings.pgVersion` says otherwise), against the live
 * catalog: a lock rule fires only for a relation that exists before the run, so on an empty
 * database none does. A `down` plan is not linted.
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
    (names) => readCatalog(client, names),
  );
  for (const f of report.findings) {
    const line = `${f.file}:${f.line}:${f.column} ${f.rule} ${f.severity}: ${f.message}`;
    const fields = { file: f.file, line: f.line, column: f.column, rule: f.rule };
    if (f.severity === 'error') logger.error(fields, line);
    else logger.warn(fields, line);
  }
  for (const f of report.ignored)
    logger.info({ file: f.file, line: f.line, rule: f.rule, reason: f.reason }, `${f.file}:${f.line} ${f.rule} ignored: ${f.reason}`);
  const errors = report.findings.filter((f) => f.severity === 'error');
  if (errors.length > 0) {
    const first = errors[0]!;
    const more = errors.length > 1 ? ` and ${errors.length - 1} more (logged above)` : '';
    const them = errors.length === 1 ? 'it' : 'them';
    throw new LintError(
      errors.map(({ file, line, column, rule, message }) => ({ file, line, column, rule, message })),
      `refused to run: the pending migrations have ${errors.length} error-level lint finding${errors.length === 1 ? '' : 's'}: ` +
        `fix ${them}, silence ${them} in a lint config file, or run with --no-lint (lint: false); nothing was run\n` +
        `${first.file}:${first.line}:${first.column} ${first.rule}: ${first.message}${more}\n` +
        'slipway lint --write-baseline adds every current finding to the lint config file; see docs/lint.md',
    );
  }
  return report;
}

/** With `lint` on: lints an up plan's steps (see {@link lintPlan}), throwing on an error-level finding. */
export async function lintGate(
  session: Session,
  p: Plan,
  migrations: readonly Migration[],
  applied: readonly AppliedRow[],
  settings: LintSettings & { readonly lockTimeout: number },
  logger: Logger,
  memo: ParseMemo,
): Promise<void> {
  await lintPlan(session.client, p, migrations, applied, settings, logger, memo);
}
