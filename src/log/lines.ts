import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { writeAll } from './write.js';

/** Object keys whose values are never logged. */
export const REDACTED_PATHS = ['password', 'databaseUrl', 'connectionString', '*.password', '*.databaseUrl', '*.connectionString'];

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

/** Keys whose values are never written: top-level ones, and `*.key` one level down (as pino's redact paths say). */
const TOP = new Set(REDACTED_PATHS.filter((p) => !p.includes('.')));
const NESTED = new Set(REDACTED_PATHS.filter((p) => p.startsWith('*.')).map((p) => p.slice(2)));

/**
 * slipway's JSON-lines logger (the library's default, the CLI's when not on a terminal): pino's
 * line format (level number, time, pid, hostname, name, the fields, msg), written synchronously
 * to `fd` ({@link writeAll}), with the same redaction, without loading pino (a run with one
 * line to say would spend more starting pino than running). Implements what slipway calls on
 * a logger: the level methods, `child`, `level`, `isLevelEnabled`.
 */
export function jsonLinesLogger(fd: number, level: string, bindings: Record<string, unknown> = { name: 'slipway' }): Logger {
  if (!(level in LEVELS))
    throw new Error(`unknown log level ${JSON.stringify(level)}: give trace, debug, info, warn, error, fatal or silent`);
  let threshold = LEVELS[level]!;
  let levelName = level;
  const head = `"pid":${process.pid},"hostname":${JSON.stringify(hostname())}`;
  const bound = Object.keys(bindings).length === 0 ? '' : `,${JSON.stringify(redact(bindings)).slice(1, -1)}`;
  const write = (value: number) =>
    function (this: unknown, first?: unknown, message?: unknown): void {
      if (value < threshold) return;
      const fields =
        typeof first === 'object' && first !== null ? (first instanceof Error ? { err: first } : (first as Record<string, unknown>)) : {};
      const msg =
        typeof first === 'string'
          ? first
          : typeof message === 'string'
            ? message
            : first instanceof Error && message === undefined
              ? first.message
              : undefined;
      const body = JSON.stringify(redact(fields), replacer).slice(1, -1);
      writeAll(
        fd,
        `{"level":${value},"time":${Date.now()},${head}${bound}${body === '' ? '' : `,${body}`}${msg === undefined ? '' : `,"msg":${JSON.stringify(msg)}`}}\n`,
      );
    };
  const logger = {
    trace: write(10),
    debug: write(20),
    info: write(30),
    warn: write(40),
    error: write(50),
    fatal: write(60),
    silent: () => {},
    get level() {
      return levelName;
    },
    set level(name: string) {
      if (!(name in LEVELS)) throw new Error(`unknown log level ${JSON.stringify(name)}`);
      levelName = name;
      threshold = LEVELS[name]!;
    },
    isLevelEnabled: (name: string) => (LEVELS[name] ?? Infinity) >= threshold,
    child: (more: Record<string, unknown>, options?: { level?: string }) =>
      jsonLinesLogger(fd, options?.level ?? levelName, { ...bindings, ...more }),
    flush: () => {},
  };
  return logger as unknown as Logger;
}

function redact(fields: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | null = null;
  for (const [key, value] of Object.entries(fields)) {
    let next = value;
    if (TOP.has(key)) next = '***';
    else if (
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      !(value instanceof Error) &&
      Object.keys(value).some((k) => NESTED.has(k))
    ) {
      next = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, NESTED.has(k) ? '***' : v]));
    }
    if (next !== value) (out ??= { ...fields })[key] = next;
  }
  return out ?? fields;
}

/** Errors as pino writes them (type, message, stack and their own fields); bigints as digits. */
function replacer(this: unknown, _key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { ...value, type: value.constructor.name, message: value.message, stack: value.stack };
  return value;
}

/** The logger slipway uses when the caller gives none: JSON lines on stdout, level from `SLIPWAY_LOG_LEVEL` (default info). */
export function defaultLogger(): Logger {
  return jsonLinesLogger(1, process.env.SLIPWAY_LOG_LEVEL ?? 'info');
}
