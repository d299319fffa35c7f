import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

/**
 * What the parser said about a text, kept on disk across runs: an unchanged file is not parsed
 * again (nor is the WebAssembly parser loaded when every file is known). An entry is named by a
 * hash of the text and of the versions its user names (the parser's and slipway's), and carries a
 * hash of its own content: one that does not match (a torn or edited entry) is ignored and
 * written again, never trusted.
 *
 * Off until {@link useParseCache} turns it on: the CLI does, the library does not (a service's
 * process writes no files unasked, and keeps one run's parses in memory anyway).
 * `SLIPWAY_CACHE_DIR` moves it, `SLIPWAY_CACHE=off` turns it off.
 */
let config: { readonly dir: string; readonly versions: () => string } | null = null;
let versions: string | null = null;

/** Turns the cache on in `dir` (null: off); `versions` names what the entries depend on, read on first use. */
export function useParseCache(dir: string | null, versionsOf: () => string): void {
  config = dir === null ? null : { dir, versions: versionsOf };
  versions = null;
}

/** The CLI's default: `$XDG_CACHE_HOME/slipway/parse`, else `~/.cache/slipway/parse`. */
export function defaultParseCacheDir(): string {
  return path.join(process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'slipway', 'parse');
}

/** The directory in use, or null when the cache is off. */
export function parseCacheDir(): string | null {
  if (config === null || /^(off|0|false|no)$/i.test(process.env.SLIPWAY_CACHE ?? '')) return null;
  return process.env.SLIPWAY_CACHE_DIR || config.dir;
}

function versionsKey(): string {
  versions ??= `${config!.versions()}\0format 2`;
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
