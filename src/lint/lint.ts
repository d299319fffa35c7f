/**
 * The lint run: files in, findings out. History-aware: what the run creates (earlier in the
 * same file, or in an earlier file of the run) is new, and the rules about locking tables that
 * are in use leave it alone; the history (migrations already applied) tells the rules the
 * column types it declared. Pure but for the parser; no database.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { LintContext, type CatalogNames, type LintCatalog } from './context.js';
import { checkStatement, newFileState, RULES, RULE_IDS, ruleById, type Severity } from './rules.js';
import { parseForLint, type LintSource, type ParsedFile } from './source.js';
import { ParseMemo } from '../sql/parse.js';

/** How much SQL of the run is kept parsed between reading it and linting it. */
const KEEP_PARSED_CHARS = 4_000_000;

/** Which rules run, for which server, for which run settings. */
export interface LintSettings {
  /**
   * Rules to turn on beyond the defaults (the style rules, `prefer-*`, are off by default);
   * `'all'` turns every rule on.
   */
  readonly enable?: readonly string[];
  /** Rules to turn off. */
  readonly disable?: readonly string[];
  /**
   * The target server: a major version (`16`, `9.6`) or a `server_version_num` (`160004`).
   * Default: the connected server's, else 13 (every version from 12 on lints the same).
   */
  readonly pgVersion?: number;
  /**
   * The `lock_timeout` (ms) the run gives every statement, as `migrate`'s `lockTimeout`
   * (default 5000). With 0, require-lock-timeout checks that each file sets one itself.
   */
  readonly lockTimeout?: number;
  /**
   * Findings silenced from outside the migration files (a baseline, a config file: see
   * `readLintConfig`), so that silencing one never changes an applied file's checksum.
   */
  readonly suppressions?: readonly LintSuppression[];
}

/** A finding silenced from outside the files: by file and rule, and by statement when `statement` is given. */
export interface LintSuppression {
  /** The migration file: its base name (`003_drop_legacy.up.sql`) or the path it was linted as. */
  readonly file: string;
  readonly rule: string;
  /** The statement's fingerprint (a finding's `statement`); without it, the rule is silenced in the whole file. */
  readonly statement?: string;
  readonly reason: string;
}

/** Reads the live catalog for the names a run mentions (the gate's; lint itself does no I/O). */
export type CatalogReader = (names: CatalogNames) => Promise<LintCatalog>;

/** One finding: where, which rule, what, and how to write it safely. */
export interface LintFinding {
  readonly file: string;
  /** 1-based line and column. */
  readonly line: number;
  readonly column: number;
  readonly rule: string;
  readonly severity: Severity;
  readonly message: string;
  /** The safe rewrite. */
  readonly fix: string;
  /** The source line the finding points at, for display. */
  readonly sourceLine: string;
  /** The statement's fingerprint: a suppression names the statement by it (it survives lines moving). */
  readonly statement: string;
}

/** A finding silenced by `-- slipway:ignore rule-id reason`, a squawk-ignore comment, or a suppression. */
export interface IgnoredFinding extends LintFinding {
  readonly reason: string;
}

export interface LintReport {
  /** The files linted as the run, in order. */
  readonly files: readonly string[];
  /** The major server version the rules assumed. */
  readonly pgVersion: number;
  /** Every finding, in file order then position. */
  readonly findings: readonly LintFinding[];
  readonly ignored: readonly IgnoredFinding[];
  readonly errors: number;
  readonly warnings: number;
}

/** Without a server to ask: every version from 12 on lints the same. */
export const DEFAULT_PG_VERSION = 13;

/** A major version from `16`, `9.6` or a `server_version_num` (`160004`, `90624`). */
export function majorVersion(value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new UsageError(`invalid PostgreSQL version ${JSON.stringify(value)}: give a major version (16) or a server_version_num (160004)`);
  if (value >= 10000) return Math.floor(value / 10000);
  return Math.floor(value);
}

/** The ids of the rules these settings turn on; an unknown id is a {@link UsageError}. */
export function enabledRules(settings: LintSettings = {}): Set<string> {
  for (const id of [...(settings.enable ?? []), ...(settings.disable ?? []), ...(settings.suppressions ?? []).map((s) => s.rule)]) {
    if (id !== 'all' && !RULE_IDS.has(id))
      throw new UsageError(`unknown lint rule ${JSON.stringify(id)}; rules: ${[...RULE_IDS].join(', ')}`);
  }
  const all = settings.enable?.includes('all') === true;
  const on = new Set(RULES.filter((r) => all || !r.style || settings.enable?.includes(r.id)).map((r) => r.id));
  for (const id of settings.disable ?? []) on.delete(id);
  return on;
}

/**
 * Lints `run` as one run of migrations, in the order given, after replaying `history` (the
 * migrations applied before it). With `catalog` (a reader of the live database), the lock rules
 * fire only for relations that exist before the run. Throws a `UsageError` for bad settings or
 * an ignore comment naming an unknown rule, a `SourceError` for SQL that does not parse (both
 * name file and line).
 *
 * @example
 * const report = await lintSources([{ source: '005_index.up.sql', sql: 'CREATE INDEX i ON issues (status);' }]);
 * report.findings[0].rule; // 'require-concurrent-index-creation'
 */
export async function lintSources(
  run: readonly LintSource[],
  settings: LintSettings = {},
  history: readonly LintSource[] = [],
  shared?: ParseMemo,
  catalog?: CatalogReader,
): Promise<LintReport> {
  const enabled = enabledRules(settings);
  const pgVersion = majorVersion(settings.pgVersion ?? DEFAULT_PG_VERSION);
  const lockTimeout = settings.lockTimeout ?? 5000;
  const memo = shared ?? new ParseMemo();
  // The run's files first: the history is replayed only when one of their statements asks it.
  const parsed: Array<ParsedFile | null> = [];
  const names = { relations: new Set<string>(), types: new Set<string>() };
  let keptChars = 0;
  let asksHistory = false;
  for (const source of run) {
    const file = await parseForLint(source, RULE_IDS, memo);
    asksHistory ||= file.statements.some((s) => LintContext.asksHistory(s.kind, s.node));
    if (catalog !== undefined) for (const statement of file.statements) collectNames(statement.node, names);
    keptChars += source.sql.length;
    // Parsed files are kept for the rules up to a budget (a tree is many times its text); past it, parsed again.
    parsed.push(keptChars <= KEEP_PARSED_CHARS ? file : null);
  }
  const ctx = new LintContext(
    pgVersion,
    catalog === undefined ? null : await catalog({ relations: [...names.relations], types: [...names.types] }),
  );
  // Without a catalog the history is all there is to tell which relations exist; with one, it only declares column types.
  if (asksHistory || catalog === undefined) {
    for (const source of history) {
      // What already ran parsed when it ran; a file edited since into something unparseable is not the linter's business.
      const file = await parseForLint(source, RULE_IDS, memo).catch(() => null);
      for (const statement of file?.statements ?? []) ctx.replay(statement.kind, statement.node);
      ctx.endFile();
    }
  }
  ctx.beginRun();

  const suppressions = settings.suppressions ?? [];
  const findings: LintFinding[] = [];
  const ignored: IgnoredFinding[] = [];
  for (const [index, source] of run.entries()) {
    const file = parsed[index] ?? (await parseForLint(source, RULE_IDS, memo));
    const state = newFileState();
    const base = path.basename(file.source);
    const fileSuppressions = suppressions.filter((s) => s.file === file.source || path.basename(s.file) === base);
    for (const statement of file.statements) {
      let fingerprint: string | null = null;
      for (const raw of checkStatement(statement, file, ctx, state, { lockTimeout })) {
        if (!enabled.has(raw.rule)) continue;
        const rule = ruleById(raw.rule)!;
        fingerprint ??= statementFingerprint(statement.text);
        const at =
          raw.location === null || statement.nested ? { line: statement.line, column: statement.column } : file.position(raw.location);
        const finding: LintFinding = {
          file: file.source,
          line: at.line,
          column: at.column,
          rule: rule.id,
          severity: raw.severity ?? rule.severity,
          message: raw.message,
          fix: rule.fix,
          sourceLine: file.lineText(at.line),
          statement: fingerprint,
        };
        const matches = (i: { rule: string }) => i.rule === raw.rule || i.rule === '*';
        const reason =
          statement.ignores.find(matches)?.reason ??
          file.fileIgnores.find(matches)?.reason ??
          fileSuppressions.find((s) => s.rule === raw.rule && (s.statement === undefined || s.statement === fingerprint))?.reason;
        if (reason === undefined) findings.push(finding);
        else ignored.push({ ...finding, reason });
      }
      ctx.apply(statement.kind, statement.node);
    }
    ctx.endFile();
  }
  const errors = findings.filter((f) => f.severity === 'error').length;
  return { files: run.map((s) => s.source), pgVersion, findings, ignored, errors, warnings: findings.length - errors };
}

/** A statement's fingerprint: its text with runs of whitespace as one space, hashed (16 hex digits). */
export function statementFingerprint(text: string): string {
  return createHash('sha256').update(text.trim().replace(/\s+/g, ' ')).digest('hex').slice(0, 16);
}

/** The relation names (tables, indexes) and type names a statement mentions, for the catalog read. */
function collectNames(node: unknown, into: { relations: Set<string>; types: Set<string> }): void {
  if (Array.isArray(node)) {
    for (const item of node) collectNames(item, into);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const n = node as Record<string, unknown>;
  if (typeof n.relname === 'string') into.relations.add(n.relname);
  if (typeof n.idxname === 'string') into.relations.add(n.idxname);
  if (Array.isArray(n.objects)) {
    for (const o of n.objects as Array<{ List?: { items?: Array<{ String?: { sval?: string } }> } }>) {
      const last = o.List?.items?.at(-1)?.String?.sval;
      if (last !== undefined) into.relations.add(last);
    }
  }
  for (const typeName of [n.typeName, n.TypeName] as Array<{ names?: Array<{ String?: { sval?: string } }> } | undefined>) {
    const last = typeName?.names?.at(-1)?.String?.sval;
    if (last !== undefined) into.types.add(last);
  }
  for (const key of Object.keys(n)) if (typeof n[key] === 'object') collectNames(n[key], into);
}
