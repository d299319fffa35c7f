import type pino from 'pino';
import type { Logger } from 'pino';
import { jsonLinesLogger, REDACTED_PATHS } from '../log/lines.js';
import { writeAll } from '../log/write.js';

export type LogFormat = 'json' | 'pretty';

/**
 * JSON lines when the output is not a terminal (or with --log-format json), readable
 * lines on a terminal (messages carry the facts; the fields are in the JSON form), where the
 * progress of a long statement updates one line. With --json, logs go to stderr so stdout
 * holds one JSON document.
 */
export async function cliLogger(options: { level: string; format?: LogFormat | undefined; toStderr: boolean }): Promise<Logger> {
  const fd = options.toStderr ? 2 : 1;
  const isTTY = (fd === 1 ? process.stdout : process.stderr).isTTY === true;
  const format = options.format ?? (isTTY ? 'pretty' : 'json');
  // JSON lines without pino: every replica's startup (JSON logs) skips loading it.
  if (format === 'json') return jsonLinesLogger(fd, options.level);
  const settings: pino.LoggerOptions = { name: 'slipway', level: options.level, redact: { paths: REDACTED_PATHS, censor: '***' } };
  // Loaded only for a terminal.
  const [{ default: pino }, { prettyFactory }] = await Promise.all([import('pino'), import('pino-pretty')]);
  const pretty = prettyFactory({ colorize: isTTY, ignore: 'pid,hostname,name', translateTime: 'SYS:HH:MM:ss', hideObject: true });
  return pino(
    settings,
    progressAware(fd, isTTY, (record) => pretty(record)),
  );
}

/**
 * A destination that writes each record as `format` renders it; on a terminal, a progress
 * record (`progressLine: true`) rewrites one line in place instead of adding lines, and every
 * other record first clears the line it starts on: the one a progress record, or the fleet's
 * progress line (written to the same terminal), left there.
 */
export function progressAware(fd: number, isTTY: boolean, format: (record: Record<string, unknown>) => string): pino.DestinationStream {
  return {
    write(line: string) {
      const record = JSON.parse(line) as Record<string, unknown>;
      const text = format(record);
      if (!isTTY) writeAll(fd, text);
      else if (record.progressLine === true) writeAll(fd, `\r\x1b[2K${text.replace(/\n$/, '')}`);
      else writeAll(fd, `\r\x1b[2K${text}`);
    },
  };
}
