/**
 * A lint report as text (one line per finding, `file:line:col rule-id severity: message`, with
 * the source line and a caret when asked), as JSON, or as GitHub workflow annotations.
 */
import { ruleById, RULES } from './rules.js';
import type { LintReport } from './lint.js';

export type LintFormat = 'text' | 'json' | 'github';

/**
 * Plain text: a line per finding, then the source line with a caret under the column and the
 * safe rewrite when `source` is true (on a terminal), and a summary line.
 *
 * @example
 * process.stdout.write(formatLintText(report, { source: process.stdout.isTTY }));
 */
export function formatLintText(report: LintReport, options: { source?: boolean } = {}): string {
  const lines: string[] = [];
  for (const f of report.findings) {
    lines.push(`${f.file}:${f.line}:${f.column} ${f.rule} ${f.severity}: ${f.message}`);
    if (options.source === true) {
      const gutter = String(f.line);
      lines.push(`  ${gutter} | ${f.sourceLine}`);
      lines.push(`  ${' '.repeat(gutter.length)} | ${caretPadding(f.sourceLine, f.column)}^`);
      lines.push(`  fix: ${f.fix}`);
    }
  }
  lines.push(summary(report));
  return `${lines.join('\n')}\n`;
}

/** The caret's indentation: tabs kept, so it lines up under the column in a terminal. */
function caretPadding(line: string, column: number): string {
  return line.slice(0, column - 1).replace(/[^\t]/g, ' ');
}

function summary(report: LintReport): string {
  const n = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;
  const ignored = report.ignored.length > 0 ? `, ${report.ignored.length} ignored` : '';
  const findings = report.findings.length === 0 ? 'no findings' : `${n(report.errors, 'error')}, ${n(report.warnings, 'warning')}`;
  return `${findings}${ignored} in ${n(report.files.length, 'file')} (rules for PostgreSQL ${report.pgVersion})`;
}

/** The report as one JSON document: every finding with its fix, and every ignored one with its reason. */
export function formatLintJson(report: LintReport): string {
  const strip = <T extends { sourceLine: string }>({ sourceLine: _omit, ...rest }: T) => rest;
  return `${JSON.stringify({ ...report, findings: report.findings.map(strip), ignored: report.ignored.map(strip) }, null, 2)}\n`;
}

/** GitHub workflow commands: `::error file=…,line=…,col=…,title=rule-id::message`, shown on the pull request's diff. */
export function formatLintGithub(report: LintReport): string {
  const property = (value: string) => data(value).replace(/:/g, '%3A').replace(/,/g, '%2C');
  const lines = report.findings.map(
    (f) =>
      `::${f.severity} file=${property(f.file)},line=${f.line},col=${f.column},title=${property(f.rule)}::${data(`${f.message}. Fix: ${f.fix}`)}`,
  );
  lines.push(summary(report));
  return `${lines.join('\n')}\n`;
}

function data(value: string): string {
  return value.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** The rule list as a table: id, severity, on by default, reason, safe rewrite. */
export function formatRules(): string {
  return `${RULES.map((r) => `${r.id}  ${r.severity}${r.style ? ' (off by default)' : ''}\n  why: ${r.reason}\n  fix: ${ruleById(r.id)!.fix}`).join('\n')}\n`;
}
