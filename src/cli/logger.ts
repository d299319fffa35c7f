import pino, { type Logger } from 'pino';
import { REDACTED_PATHS } from '../log.js';

export type LogFormat = 'json' | 'pretty';

/**
 * JSON lines when the output is not a terminal (or with --log-format json), readable
 * lines on a terminal (messages carry the facts; the fields are in the JSON form). With --json, logs go to stderr so stdout holds one JSON document.
 */
export async function cliLogger(options: { level: string; format?: LogFormat | undefined; toStderr: boolean }): Promise<Logger> {
  const fd = options.toStderr ? 2 : 1;
  const isTTY = (fd === 1 ? process.stdout : process.stderr).isTTY === true;
  const format = options.format ?? (isTTY ? 'pretty' : 'json');
  const settings: pino.LoggerOptions = { name: 'slipway', level: options.level, redact: { paths: REDACTED_PATHS, censor: '***' } };
  if (format === 'json') return pino(settings, pino.destination({ fd, sync: true }));
  // Loaded only for a terminal: every replica's startup (JSON logs) skips it.
  const { PinoPretty } = await import('pino-pretty');
  return pino(
    settings,
    PinoPretty({ destination: fd, sync: true, colorize: isTTY, ignore: 'pid,hostname,name', translateTime: 'SYS:HH:MM:ss', hideObject: true }),
  );
}
