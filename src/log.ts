import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

import { REDACTED_PATHS } from './log/lines.js';

export { REDACTED_PATHS };

export { redactConnectionString, passwordsOf, scrubSecrets } from './secrets.js';

/** The logger slipway uses when the caller gives none: JSON lines on stdout, level from `SLIPWAY_LOG_LEVEL` (default info). */
export function createLogger(options: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  const settings: pino.LoggerOptions = {
    name: 'slipway',
    level: options.level ?? process.env.SLIPWAY_LOG_LEVEL ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '***' },
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}
