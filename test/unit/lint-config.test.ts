import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { readLintConfig, writeBaseline } from '../../src/lint/config.js';
import { lintSources } from '../../src/lint/lint.js';
import { thrown } from '../support/errors.js';
import { tempFolder } from '../support/files.js';

const RUN = [
  { source: 'migrations/007_index.up.sql', sql: 'CREATE INDEX users_email_idx ON users (email);\nALTER TABLE users DROP COLUMN legacy;\n' },
];

describe('the lint config file', () => {
  it('reads rules and suppressions; a missing default file is an empty config, a named one is an error', () => {
    const dir = tempFolder({
      'ok.json': JSON.stringify({
        disable: ['ban-char-field'],
        ignore: [{ file: '003_drop.up.sql', rule: 'ban-drop-table', reason: 'unused since 41' }],
      }),
    });
    expect(readLintConfig(path.join(dir, 'ok.json'))).toEqual({
      disable: ['ban-char-field'],
      suppressions: [{ file: '003_drop.up.sql', rule: 'ban-drop-table', reason: 'unused since 41' }],
    });
    expect(readLintConfig(path.join(dir, 'absent.json'), true)).toEqual({ suppressions: [] });
    expect(thrown(() => readLintConfig(path.join(dir, 'absent.json')), UsageError).message).toMatch(/absent\.json: no such file$/);
  });

  it('refuses what it cannot read with one line naming the file and the entry', () => {
    const cases: Array<[string, RegExp]> = [
      ['{"ignore": [', /bad\.json: not valid JSON/],
      ['[]', /bad\.json: expected a JSON object/],
      ['{"ignores": []}', /bad\.json: unknown key "ignores"; known: enable, disable, ignore/],
      ['{"disable": ["nope"]}', /bad\.json: unknown rule "nope" in "disable"/],
      ['{"ignore": [{"file": "a.sql", "rule": "ban-drop-table"}]}', /bad\.json: ignore\[0\] \(ban-drop-table in a\.sql\) needs a "reason"/],
      ['{"ignore": [{"rule": "ban-drop-table", "reason": "r"}]}', /bad\.json: ignore\[0\] needs "file"/],
    ];
    for (const [text, message] of cases) {
      const dir = tempFolder({ 'bad.json': text });
      const error = thrown(() => readLintConfig(path.join(dir, 'bad.json')), UsageError);
      expect(error.message, text).toMatch(message);
      expect(error.message.split('\n')).toHaveLength(1);
    }
  });

  it("a baseline silences today's findings by statement, keeps what the file held, and lets new findings through", async () => {
    const dir = tempFolder({ 'slipway-lint.json': JSON.stringify({ disable: ['ban-char-field'] }) });
    const file = path.join(dir, 'slipway-lint.json');
    const before = await lintSources(RUN);
    expect(before.findings.map((f) => f.rule)).toEqual(['require-concurrent-index-creation', 'ban-drop-column']);
    expect(writeBaseline(file, before, new Date('2026-12-04T00:00:00Z'))).toBe(2);
    const written = JSON.parse(readFileSync(file, 'utf8'));
    expect(written.disable).toEqual(['ban-char-field']);
    expect(written.ignore[0]).toEqual({
      file: '007_index.up.sql',
      rule: 'require-concurrent-index-creation',
      statement: before.findings[0]!.statement,
      line: 1,
      reason: 'baseline: present when the baseline was written (2026-12-04)',
    });

    const config = readLintConfig(file);
    const after = await lintSources([{ ...RUN[0]!, sql: `${RUN[0]!.sql}CREATE INDEX users_name_idx ON users (name);\n` }], config);
    expect(after.findings.map((f) => [f.rule, f.line])).toEqual([['require-concurrent-index-creation', 3]]);
    expect(after.ignored).toHaveLength(2);
  });

  it('a baseline is never written over a config it cannot read', async () => {
    const dir = tempFolder({ 'slipway-lint.json': '{"ignore": {}}' });
    thrown(
      () =>
        writeBaseline(path.join(dir, 'slipway-lint.json'), { files: [], pgVersion: 13, findings: [], ignored: [], errors: 0, warnings: 0 }),
      UsageError,
    );
    expect(readFileSync(path.join(dir, 'slipway-lint.json'), 'utf8')).toBe('{"ignore": {}}');
  });
});
