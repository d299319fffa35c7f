import { describe, expect, it } from 'vitest';
import { examplesOf, matches } from '../support/doc-examples.js';

/** The docs test's reading of a page and its comparison (test/support/doc-examples.ts): what passes, and what must not. */
describe('the examples of a page', () => {
  const page = [
    '```sql',
    '-- migrations/001_a.up.sql',
    'CREATE TABLE a (id int);',
    '-- migrations/001_a.down.sql',
    'DROP TABLE a;',
    '```',
    '',
    '```console',
    '$ npx slipway up',
    '[13:40:41] INFO: applied 001_a (9 ms)',
    '$ npx slipway up --database-url postgres://x@127.0.0.1:1/x \\',
    '    --wait 1   # exit 1',
    'slipway: cannot connect',
    '$ false',
    '$ echo $?',
    '1',
    '```',
    '',
    '```console',
    '$ make setup',
    '```',
    '',
    '(Not run by the docs test: test/example/readme.test.ts runs it (make database).)',
  ].join('\n');

  it('reads files, commands with their output and exit code, and the not-run marker', () => {
    expect(examplesOf(page)).toEqual([
      {
        kind: 'files',
        line: 1,
        files: [
          { path: 'migrations/001_a.up.sql', text: 'CREATE TABLE a (id int);\n' },
          { path: 'migrations/001_a.down.sql', text: 'DROP TABLE a;\n' },
        ],
      },
      {
        kind: 'console',
        line: 8,
        notRun: null,
        commands: [
          { text: 'npx slipway up', line: 9, exit: 0, output: '[13:40:41] INFO: applied 001_a (9 ms)' },
          {
            text: 'npx slipway up --database-url postgres://x@127.0.0.1:1/x \\\n    --wait 1   # exit 1',
            line: 11,
            exit: 1,
            output: 'slipway: cannot connect',
          },
          { text: 'false', line: 14, exit: null, output: '' },
          { text: 'echo $?', line: 15, exit: 0, output: '1' },
        ],
      },
      {
        kind: 'console',
        line: 19,
        notRun: 'test/example/readme.test.ts runs it (make database).',
        commands: [{ text: 'make setup', line: 20, exit: 0, output: '' }],
      },
    ]);
  });

  it('matches what varies as placeholders, and … as any text or any lines', () => {
    expect(matches('[13:40:41] INFO: applied 001_a (9 ms)', '\x1b[32m[09:01:02]\x1b[39m INFO: applied 001_a (1234 ms)\r\n')).toBe(true);
    expect(
      matches('at 127.0.0.1:5432 (pid 10913) since 2026-11-26 12:44:34Z', 'at 127.0.0.1:40115 (pid 7) since 2027-01-02 03:04:05Z'),
    ).toBe(true);
    expect(matches('first\n…\nlast', 'first\nsecond\nthird\nlast')).toBe(true);
    expect(matches('first\n…\nlast', 'first\nlast')).toBe(true);
    expect(matches('{"level":30,…,"msg":"done"}', '{"level":30,"time":1795615120845,"pid":3069,"msg":"done"}')).toBe(true);
    expect(matches('tenants: 3/3 done', 'tenants: 1/3 done\r\x1b[Ktenants: 3/3 done')).toBe(true);
  });

  it('does not match other text, other numbers, missing or extra lines', () => {
    expect(matches('applied 001_a (9 ms)', 'applied 002_b (9 ms)')).toBe(false);
    expect(matches('2 applied', '3 applied')).toBe(false);
    expect(matches('one\ntwo', 'one')).toBe(false);
    expect(matches('one', 'one\ntwo')).toBe(false);
    expect(matches('', 'something')).toBe(false);
    expect(matches('first\n…\nlast', 'first\nsecond')).toBe(false);
    expect(matches('a … z', 'a b\nc z')).toBe(false);
  });
});
