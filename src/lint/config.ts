/**
 * The lint config file (`slipway-lint.json`): rules turned on or off, and findings silenced from
 * outside the migration files. A `-- slipway:ignore` comment changes the file it is written in,
 * and so the checksum of a migration already applied; an entry here changes nothing applied.
 * `slipway lint --write-baseline` records today's findings in it, so that only new ones fail.
 *
 * ```json
 * {
 *   "disable": ["ban-char-field"],
 *   "ignore": [
 *     { "file": "003_drop_legacy.up.sql", "rule": "ban-drop-table", "reason": "nothing reads it since release 41" },
 *     { "file": "007_index.up.sql", "rule": "require-concurrent-index-creation", "statement": "3f1c0a9be2d47c55", "reason": "baseline" }
 *   ]
 * }
 * ```
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';
import type { LintReport, LintSuppression } from './lint.js';
import { RULE_IDS } from './rules.js';

/** What a config file holds, as {@link LintSettings} take it. */
export interface LintConfig {
  readonly enable?: readonly string[];
  readonly disable?: readonly string[];
  readonly suppressions: readonly LintSuppression[];
}

const KEYS = new Set(['enable', 'disable', 'ignore']);

/**
 * Reads a lint config file. A missing file is an empty config when `optional` (the default
 * file name, looked for in the current folder); anything it cannot read is a {@link UsageError}
 * naming the file and the entry.
 *
 * @example
 * const config = readLintConfig('slipway-lint.json');
 * await migrate({ databaseUrl, dir: './migrations', direction: 'up', lint: config });
 */
export function readLintConfig(file: string, optional = false): LintConfig {
  if (optional && !existsSync(file)) return { suppressions: [] };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(
      `lint config ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`lint config ${file}: not valid JSON (${(error as Error).message}); see docs/lint.md for its shape`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError(`lint config ${file}: expected a JSON object with "enable", "disable" and "ignore"`);
  }
  const object = value as Record<string, unknown>;
  for (const key of Object.keys(object)) {
    if (!KEYS.has(key)) throw new UsageError(`lint config ${file}: unknown key ${JSON.stringify(key)}; known: enable, disable, ignore`);
  }
  const ruleList = (key: 'enable' | 'disable'): string[] | undefined => {
    const list = object[key];
    if (list === undefined) return undefined;
    if (!Array.isArray(list) || !list.every((id) => typeof id === 'string'))
      throw new UsageError(`lint config ${file}: "${key}" must be a list of rule ids`);
    const unknown = list.find((id) => id !== 'all' && !RULE_IDS.has(id));
    if (unknown !== undefined)
      throw new UsageError(
        `lint config ${file}: unknown rule ${JSON.stringify(unknown)} in "${key}"; slipway lint --list-rules names them`,
      );
    return list;
  };
  const ignore = object.ignore ?? [];
  if (!Array.isArray(ignore)) throw new UsageError(`lint config ${file}: "ignore" must be a list of { file, rule, reason } entries`);
  const suppressions = ignore.map((entry: unknown, index): LintSuppression => {
    const e = (entry ?? {}) as Record<string, unknown>;
    const where = `lint config ${file}: ignore[${index}]`;
    if (typeof e.file !== 'string' || e.file === '') throw new UsageError(`${where} needs "file", the migration's file name`);
    if (typeof e.rule !== 'string' || !RULE_IDS.has(e.rule))
      throw new UsageError(`${where}: unknown rule ${JSON.stringify(e.rule)}; slipway lint --list-rules names them`);
    if (typeof e.reason !== 'string' || e.reason.trim() === '') throw new UsageError(`${where} (${e.rule} in ${e.file}) needs a "reason"`);
    if (e.statement !== undefined && typeof e.statement !== 'string') {
      throw new UsageError(`${where}: "statement" must be a fingerprint string, as slipway lint --format json prints it`);
    }
    return { file: e.file, rule: e.rule, reason: e.reason, ...(typeof e.statement === 'string' && { statement: e.statement }) };
  });
  const enable = ruleList('enable');
  const disable = ruleList('disable');
  return { ...(enable !== undefined && { enable }), ...(disable !== undefined && { disable }), suppressions };
}

/**
 * Adds every finding of `report` to the config file as a suppression of its statement (the file
 * is created when missing; what it held is kept). Returns how many entries were added.
 *
 * @example
 * const added = writeBaseline('slipway-lint.json', await lint({ dir: './migrations' }));
 */
export function writeBaseline(file: string, report: LintReport, today = new Date()): number {
  // What the file holds is checked first: a baseline is never written over a config it cannot read.
  if (existsSync(file)) readLintConfig(file);
  const existing: Record<string, unknown> = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  const ignore = [...((existing.ignore as unknown[] | undefined) ?? [])];
  const reason = `baseline: present when the baseline was written (${today.toISOString().slice(0, 10)})`;
  const seen = new Set<string>();
  for (const f of report.findings) {
    const name = path.basename(f.file);
    const key = `${name}\0${f.rule}\0${f.statement}`;
    if (seen.has(key)) continue;
    seen.add(key);
    ignore.push({ file: name, rule: f.rule, statement: f.statement, line: f.line, reason });
  }
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify({ ...existing, ignore }, null, 2)}\n`);
  renameSync(temporary, file);
  return seen.size;
}
