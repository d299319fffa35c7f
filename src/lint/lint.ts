/**
 * The lint run: files in, findings out. History-aware: what the run creates (earlier in the
 * same file, or in an earlier file of the run) is new, and the rules about locking tables that
 * are in use leave it alone; the history (migrations already applied) tells the rules the
 * column types it declared. Pure but for the parser; no database.
 */
import { UsageError } from '../errors.js';
import { LintContext } from './context.js';
import { checkStatement, newFileState, RULES, RULE_IDS, ruleById, type Severity } from './rules.js';
import { parseForLint, type LintSource, type ParsedFile } from './source.js';
import { ParseMemo } from '../migrations/statements.js';

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
}

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
}

/** A finding silenced by `-- slipway:ignore rule-id reason`. */
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
  if (!Number.isFinite(value) || value <= 0) throw new UsageError(`invalid PostgreSQL version ${JSON.stringify(value)}: give a major version (16) or a server_version_num (160004)`);
  if (value >= 10000) return Math.floor(value / 10000);
  return Math.floor(value);
}

/** The ids of the rules these settings turn on; an unknown id is a {@link UsageError}. */
export function enabledRules(settings: LintSettings = {}): Set<string> {
  for (const id of [...(settings.enable ?? []), ...(settings.disable ?? [])]) {
    if (id !== 'all' && !RULE_IDS.has(id)) throw new UsageError(`unknown lint rule ${JSON.stringify(id)}; rules: ${[...RULE_IDS].join(', ')}`);
  }
  const all = settings.enable?.includes('all') === true;
  const on = new Set(RULES.filter((r) => all || !r.style || settings.enable?.includes(r.id)).map((r) => r.id));
  for (const id of settings.disable ?? []) on.delete(id);
  return on;
}

/**
 * Lints `run` as one run of migrations, in the order given, after replaying `history` (the
 * migrations applied before it). Throws a `UsageError` for bad settings or an ignore comment
 * naming an unknown rule, a `SourceError` for SQL that does not parse (both name file and line).
 *
 * @example
 * const report = await lintSources([{ source: '005_index.up.sql', sql: 'CREATE INDEX i ON issues (status);' }]);
 * report.findings[0].rule; // 'require-concurrent-index-creation'
 */
export async function lintSources(run: readonly LintSource[], settings: LintSettings = {}, history: readonly LintSource[] = [], shared?: ParseMemo): Promise<LintReport> {
  const enabled = enabledRules(settings);
  const pgVersion = majorVersion(settings.pgVersion ?? DEFAULT_PG_VERSION);
  const lockTimeout = settings.lockTimeout ?? 5000;
  const ctx = new LintContext(pgVersion);
  const memo = shared ?? new ParseMemo();
  // The run's files first: the history is replayed only when one of their statements asks it.
  const parsed: Array<ParsedFile | null> = [];
  let keptChars = 0;
  let asksHistory = false;
  for (const source of run) {
    const file = await parseForLint(source, RULE_IDS, memo);
    asksHistory ||= file.statements.some((s) => LintContext.asksHistory(s.kind, s.node));
    keptChars += source.sql.length;
    // Parsed files are kept for the rules up to a budget (a tree is many times its text); past it, parsed again.
    parsed.push(keptChars <= KEEP_PARSED_CHARS ? file : null);
  }
  if (asksHistory) {
    for (const source of history) {
      // What already ran parsed when it ran; a file edited since into something unparseable is not the linter's business.
      const file = await parseForLint(source, RULE_IDS, memo).catch(() => null);
      for (const statement of file?.statements ?? []) ctx.replay(statement.kind, statement.node);
    }
  }
  ctx.beginRun();

  const findings: LintFinding[] = [];
  const ignored: IgnoredFinding[] = [];
  for (const [index, source] of run.entries()) {
    const file = parsed[index] ?? (await parseForLint(source, RULE_IDS, memo));
    const state = newFileState();
    for (const statement of file.statements) {
      for (const raw of checkStatement(statement, file, ctx, state, { lockTimeout })) {
        if (!enabled.has(raw.rule)) continue;
        const rule = ruleById(raw.rule)!;
        const at = raw.location === null ? { line: statement.line, column: statement.column } : file.position(raw.location);
        const finding: LintFinding = { file: file.source, line: at.line, column: at.column, rule: rule.id, severity: rule.severity, message: raw.message, fix: rule.fix, sourceLine: file.lineText(at.line) };
        const ignore = statement.ignores.find((i) => i.rule === raw.rule);
        if (ignore === undefined) findings.push(finding);
        else ignored.push({ ...finding, reason: ignore.reason });
      }
      ctx.apply(statement.kind, statement.node);
    }
  }
  const errors = findings.filter((f) => f.severity === 'error').length;
  return { files: run.map((s) => s.source), pgVersion, findings, ignored, errors, warnings: findings.length - errors };
}
