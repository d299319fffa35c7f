import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/** Object keys whose values are never logged. */
export const REDACTED_PATHS = ['password', 'databaseUrl', 'connectionString', '*.password', '*.databaseUrl', '*.connectionString'];

/**
 * Replaces the password of a `postgres://user:password@host/db` string with `***`,
 * and a `password=...` keyword in a key/value connection string.
 *
 * @example redactConnectionString('postgres://app:s3cret@db/app') // 'postgres://app:***@db/app'
 */
export function redactConnectionString(text: string): string {
  return text
    // Up to the LAST @ of the authority: a password may itself contain @.
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)[^\s/?#]*@/gi, '$1***@')
    .replace(/(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)/gi, '$1***');
}

/** The logger slipway uses when the caller gives none: JSON lines on stdout, level from `SLIPWAY_LOG_LEVEL` (default info). */
export function createLogger(options: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  const settings: pino.LoggerOptions = {
    name: 'slipway',
    level: options.level ?? process.env.SLIPWAY_LOG_LEVEL ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '***' },
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}
