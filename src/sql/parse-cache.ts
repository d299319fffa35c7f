import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import path from 'node:path';

/**
 * What the parser said about a text, kept on disk across runs: an unchanged file is not parsed
 * again (nor is the WebAssembly parser loaded when every file is known). An entry is named by a
 * hash of the text, the parser's version and slipway's, and carries a hash of its own content:
 * one that does not match (a torn or edited entry) is ignored and written again, never trusted.
 *
 * Off unless a directory is set: `SLIPWAY_CACHE_DIR` (for the library too), or the CLI's default
 * (see {@link defaultParseCacheDir}); `SLIPWAY_CACHE=off` turns it off everywhere.
 */
let chosen: string | null = null;
let versions: string | null = null;

/** Sets the directory used when `SLIPWAY_CACHE_DIR` is not set (null: none). */
export function useParseCache(dir: string | null): void {
  chosen = dir;
}

/** The CLI's default: `$XDG_CACHE_HOME/slipway/parse`, else `~/.cache/slipway/parse`. */
export function defaultParseCacheDir(): string {
  return path.join(process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'slipway', 'parse');
}

/** The directory in use, or null when the cache is off. */
export function parseCacheDir(): string | null {
  if (/^(off|0|false|no)$/i.test(process.env.SLIPWAY_CACHE ?? '')) return null;
  return process.env.SLIPWAY_CACHE_DIR || chosen;
}

function versionsKey(): string {
  if (versions === null) {
    const require = createRequire(import.meta.url);
    const parser = (require('libpg-query/package.json') as { version: string }).version;
    const slipway = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    versions = `libpg-query ${parser}\0slipway ${slipway}\0format 1`;
  }
  return versions;
}

function entryPath(dir: string, text: string): string {
  const key = createHash('sha256').update(versionsKey()).update('\0').update(text).digest('hex');
  return path.join(dir, key.slice(0, 2), `${key.slice(2)}.json`);
}

/** The parser's output for `text` from the cache, or undefined when absent, off or not trustworthy. */
export function readParsed<T>(text: string): T | undefined {
  const dir = parseCacheDir();
  if (dir === null) return undefined;
  let content: string;
  try {
    content = readFileSync(entryPath(dir, text), 'utf8');
  } catch {
    return undefined;
  }
  // `<sha256 of the payload>\n<payload>`
  const newline = content.indexOf('\n');
  const payload = content.slice(newline + 1);
  if (newline !== 64 || createHash('sha256').update(payload).digest('hex') !== content.slice(0, 64)) return undefined;
  try {
    return JSON.parse(payload) as T;
  } catch {
    return undefined;
  }
}

/** Keeps the parser's output for `text`; a cache that cannot be written is only a slower next run. */
export function writeParsed(text: string, parsed: unknown): void {
  const dir = parseCacheDir();
  if (dir === null) return;
  try {
    const file = entryPath(dir, text);
    const payload = JSON.stringify(parsed);
    mkdirSync(path.dirname(file), { recursive: true });
    // Written aside, then renamed: a reader sees a whole entry or none, whoever else writes it.
    const aside = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    writeFileSync(aside, `${createHash('sha256').update(payload).digest('hex')}\n${payload}`);
    renameSync(aside, file);
  } catch {
    // read-only or full disk: nothing to do
  }
}
