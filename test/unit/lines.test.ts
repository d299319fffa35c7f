import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { jsonLinesLogger, REDACTED_PATHS } from '../../src/log/lines.js';

// slipway's JSON lines (the library's default logger, the CLI's JSON logs) are pino's lines,
// written without loading pino: the same fields, in the same order, with the same redaction.

function linesOf(write: (fd: number) => void): Array<Record<string, unknown>> {
  const file = path.join(os.tmpdir(), `slipway-lines-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const fd = openSync(file, 'w');
  write(fd);
  closeSync(fd);
  const text = readFileSync(file, 'utf8');
  rmSync(file);
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const error = Object.assign(new Error('it broke'), { code: '42P01' });

function calls(logger: pino.Logger): void {
  logger.info(
    { version: '001_a', durationMs: 3, databaseUrl: 'postgres://u:secret@h/db', options: { password: 'secret', table: 't' } },
    'applied 001_a (3 ms)',
  );
  logger.warn('a message alone');
  logger.debug({ hidden: true }, 'below the level');
  logger.child({ tenant: 'acme' }, { level: 'warn' }).warn({ n: 1 }, 'from a child');
  logger.error({ err: error }, error.message);
}

describe('JSON lines without pino', () => {
  it('writes what pino writes, field for field, with the secrets redacted', () => {
    const ours = linesOf((fd) => calls(jsonLinesLogger(fd, 'info')));
    const theirs = linesOf((fd) =>
      calls(
        pino({ name: 'slipway', level: 'info', redact: { paths: REDACTED_PATHS, censor: '***' } }, pino.destination({ fd, sync: true })),
      ),
    );
    const comparable = (lines: Array<Record<string, unknown>>) => lines.map(({ time, ...rest }) => ({ ...rest, time: typeof time }));
    expect(comparable(ours)).toEqual(comparable(theirs));
    expect(ours.map((l) => Object.keys(l))).toEqual(theirs.map((l) => Object.keys(l)));
    expect(JSON.stringify(ours)).not.toContain('secret');
    expect(ours).toHaveLength(4);
  });

  it('refuses an unknown level, names it, and knows which levels are on', () => {
    expect(() => jsonLinesLogger(1, 'loud')).toThrow(/unknown log level "loud"/);
    const logger = jsonLinesLogger(1, 'warn');
    expect([logger.isLevelEnabled('info'), logger.isLevelEnabled('error'), logger.level]).toEqual([false, true, 'warn']);
  });
});
