/**
 * `lint()`: the migrations a run would apply, checked for statements that lock production
 * tables (see `src/lint/rules.ts` for the rules). Three ways to say which files:
 *
 * - `files`: linted as one run, in the order given; nothing else is read.
 * - `dir` (or `migrations`) without a connection: every up file of the folder, as one run.
 * - `dir` with a connection: what `up` would apply now, after the applied ones as history;
 *   the server's version picks the rules' version.
 *
 * With a connection, existence comes from the live catalog: the lock rules fire only for
 * relations that exist before the run (on an empty database, none does).
 */
import { readFileSync } from 'node:fs';
import { SourceError, UsageError } from '../errors.js';
import { readOwnLedger } from '../migrations/foreign.js';
import { plan, validateRequest } from '../migrations/plan.js';
import { connect, loadMigrations, prepare } from './context.js';
import { decodeSql, type MigrationInput } from '../migrations/source.js';
import type { ConnectionSource } from '../db/session.js';
import { quoteTableName } from '../db/identifier.js';
import type { Logger } from 'pino';
import { readCatalog, serverVersionNum } from './lint-gate.js';
import { lintSources, type LintReport, type LintSettings } from '../lint/lint.js';
import type { MigrationFormat } from '../migrations/formats/index.js';
import type { LintSource } from '../lint/source.js';

export interface LintOptions extends LintSettings, ConnectionSource {
  /** Files to lint as one run, in this order. */
  readonly files?: readonly string[];
  /** A migrations folder: its up files (every one, or with a connection the pending ones). */
  readonly dir?: string;
  /** The layout of `dir`, as for `migrate`; default: the one its contents show. */
  readonly format?: MigrationFormat;
  /** Migrations in memory instead of a folder. */
  readonly migrations?: readonly MigrationInput[];
  /** With a connection: the bookkeeping table, as for `migrate`. */
  readonly table?: string;
  /** With `databaseUrl`: keep retrying a transient connection failure this many ms. */
  readonly connectWait?: number;
  readonly logger?: Logger;
  readonly signal?: AbortSignal;
}

function connected(options: LintOptions): boolean {
  return options.databaseUrl !== undefined || options.pool !== undefined || options.client !== undefined;
}

/**
 * Lints migrations for statements that would lock production tables, and for what breaks the
 * replicas still running the previous release. Returns every finding (an error-level one
 * should stop the deploy: `report.errors > 0`); throws for input it cannot read.
 *
 * @example
 * import { lint } from 'slipway';
 * const report = await lint({ dir: './migrations', databaseUrl: process.env.DATABASE_URL });
 * for (const f of report.findings) console.log(`${f.file}:${f.line}:${f.column} ${f.rule} ${f.message}`);
 *
 * @example
 * // the files a pull request adds, as one run, for PostgreSQL 11
 * await lint({ files: ['migrations/042_add_plan.up.sql'], pgVersion: 11 });
 */
export async function lint(options: LintOptions): Promise<LintReport> {
  const given = [options.files, options.dir, options.migrations].filter((x) => x !== undefined).length;
  if (given !== 1) throw new UsageError('pass exactly one of files, dir (a migrations folder) or migrations (a list)');
  if (options.files !== undefined) {
    const run = options.files.map(readSource);
    if (!connected(options)) return lintSources(run, options);
    return withSession(options, async (client) =>
      lintSources(run, { ...options, pgVersion: options.pgVersion ?? (await serverVersionNum(client)) }, [], undefined, (names) =>
        readCatalog(client, names),
      ),
    );
  }
  if (!connected(options)) {
    const { migrations } = loadMigrations(options);
    return lintSources(
      migrations.map((m) => ({ source: m.upSource, sql: m.upSql })),
      options,
    );
  }
  const { tableName, logger, migrations } = prepare(options);
  const session = await connect(options, logger);
  try {
    const {
      contents: { rows, adopting },
    } = await readOwnLedger(session.client, tableName);
    // Both phases: a post-deploy migration pending now is linted now, before its phase comes.
    const p = plan(migrations, rows, validateRequest({ direction: 'up', postDeploy: true }), {
      table: quoteTableName(tableName),
      adopting,
    });
    const pending = new Set(p.steps.map((m) => m.version));
    const applied = new Set(rows.map((r) => r.version));
    const runSources: LintSource[] = p.steps.map((m) => ({ source: m.upSource, sql: m.upSql }));
    const history = migrations
      .filter((m) => applied.has(m.version) && !pending.has(m.version))
      .map((m) => ({ source: m.upSource, sql: m.upSql }));
    const pgVersion = options.pgVersion ?? (await serverVersionNum(session.client));
    // Existence from the live catalog: the lock rules fire only for what exists before the run.
    return await lintSources(runSources, { ...options, pgVersion }, history, undefined, (names) => readCatalog(session.client, names));
  } finally {
    await session.close();
  }
}

async function withSession<T>(options: LintOptions, work: (client: import('pg').ClientBase) => Promise<T>): Promise<T> {
  const { logger } = prepare({ ...options, migrations: [] });
  const session = await connect(options, logger);
  try {
    return await work(session.client);
  } finally {
    await session.close();
  }
}

function readSource(file: string): LintSource {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new SourceError(
      code === 'ENOENT'
        ? `${file}: no such file`
        : code === 'EISDIR'
          ? `${file}: is a folder; lint a folder with --dir`
          : `${file}: ${(error as Error).message}`,
    );
  }
  return { source: file, sql: decodeSql(bytes, file) };
}

export {
  lintSources,
  enabledRules,
  majorVersion,
  statementFingerprint,
  DEFAULT_PG_VERSION,
  type LintSettings,
  type LintSuppression,
  type LintReport,
  type LintFinding,
  type IgnoredFinding,
} from '../lint/lint.js';
export { RULES, type LintRule, type Severity } from '../lint/rules.js';
export { formatLintText, formatLintJson, formatLintGithub, formatRules, type LintFormat } from '../lint/format.js';
export { lintPlan, readCatalog } from './lint-gate.js';
export { readLintConfig, writeBaseline, type LintConfig } from '../lint/config.js';
export type { LintCatalog, CatalogRelation, CatalogNames } from '../lint/context.js';
