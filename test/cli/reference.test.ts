import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

/**
 * docs/cli.md's command reference is written from the commands (npm run docs:cli), as their
 * --help is: one source for commands, flags, defaults and help text.
 */
const script = path.resolve('scripts/docs-cli.mjs');
const { updated } = (await import(script)) as { updated: (text: string) => Promise<string> };

describe('the CLI reference in docs/cli.md', () => {
  it('is what the code says (else: npm run docs:cli)', async () => {
    const text = readFileSync('docs/cli.md', 'utf8');
    expect(await updated(text)).toBe(text);
  });

  it('a reference edited by hand, or left behind by a new flag, is found out and rewritten; --check passes the docs as they are', async () => {
    const text = readFileSync('docs/cli.md', 'utf8');
    const stale = text.replace('| `--to <version>` |  |  | stop after this version, e.g. 020_add_index |\n', '');
    expect(stale).not.toBe(text);
    expect(await updated(stale)).not.toBe(stale);
    expect(await updated(stale)).toBe(text);
    const check = await promisify(execFile)(process.execPath, [script, '--check']).then(
      () => 0,
      (e: { code: number }) => e.code,
    );
    expect(check).toBe(0);
  });

  it('lists every flag that slipway <command> --help prints', async () => {
    const text = readFileSync('docs/cli.md', 'utf8');
    for (const command of ['up', 'lint', 'seed']) {
      const help = await runCli([command, '--help']);
      expect(help.code).toBe(0);
      const section = text.slice(
        text.indexOf(`### slipway ${command}\n`),
        text.indexOf('\n### ', text.indexOf(`### slipway ${command}\n`) + 1),
      );
      const flags = [...help.stdout.matchAll(/^ {2}(-[^ ].*?) {2,}(\S.*)$/gm)].map((m) => m[1]!.trim()).filter((f) => f !== '-h, --help');
      expect(flags.length).toBeGreaterThan(5);
      for (const flag of flags) expect([command, flag, section.includes(`\`${flag}\``)]).toEqual([command, flag, true]);
    }
  });
});
