import { closeSync, openSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { progressAware } from '../../src/cli/logger.js';
import { tempFolder } from '../support/files.js';

describe('the terminal log: progress on one line', () => {
  it('rewrites a progress line in place on a terminal, and the next line takes its place; off a terminal every line stays', () => {
    const record = (msg: string, progressLine = false) => `${JSON.stringify({ msg, ...(progressLine && { progressLine }) })}\n`;
    const run = (isTTY: boolean) => {
      const file = `${tempFolder({})}/log`;
      const fd = openSync(file, 'w');
      const out = progressAware(fd, isTTY, (r) => `${String(r.msg)}\n`);
      for (const line of [record('applied 001'), record('002: 10%', true), record('002: 55%', true), record('applied 002')])
        out.write(line);
      closeSync(fd);
      return readFileSync(file, 'utf8');
    };
    expect(run(true)).toBe('\r\x1b[2Kapplied 001\n\r\x1b[2K002: 10%\r\x1b[2K002: 55%\r\x1b[2Kapplied 002\n');
    expect(run(false)).toBe('applied 001\n002: 10%\n002: 55%\napplied 002\n');
  });
});
