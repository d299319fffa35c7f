/**
 * What the readers of every layout share: the folder's entries, and migrations built from
 * text already read (the layouts other than slipway's own are read whole, up front).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { SourceError } from '../../errors.js';
import { checksumOf, decodeSql, phaseOf, type Migration } from '../source.js';

/** A folder's entries: files (symlinks included) and sub-folders, each sorted byte by byte; hidden ones left out. */
export interface FolderEntries {
  readonly dir: string;
  readonly files: readonly string[];
  readonly folders: readonly string[];
}

export function listEntries(dir: string): FolderEntries {
  const files: string[] = [];
  const folders: string[] = [];
  try {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      // A symlink counts as what it points at: a linked Prisma folder is a migration, not a stray file.
      const folder = entry.isDirectory() || (entry.isSymbolicLink() && isFolder(path.join(dir, entry.name)));
      if (folder) folders.push(entry.name);
      else if (entry.isFile() || entry.isSymbolicLink()) files.push(entry.name);
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SourceError(`migrations folder ${dir} does not exist: create it or pass another folder`);
    if (code === 'ENOTDIR') throw new SourceError(`migrations folder ${dir} is not a folder`);
    throw error;
  }
  return { dir, files: files.sort(byBytes), folders: folders.sort(byBytes) };
}

/** JavaScript's string order, which is byte order for the ASCII names tools generate. */
export function byBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isFolder(file: string): boolean {
  try {
    return statSync(file).isDirectory();
  } catch {
    return false;
  }
}

export function isFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** A file's text and its bytes' checksum, refusing bytes that are not UTF-8. */
export function readText(file: string): { text: string; checksum: string } {
  const bytes = readFileSync(file);
  return { text: decodeSql(bytes, file), checksum: checksumOf(bytes) };
}

/** Names for messages: at most three, then how many more. */
export function someNames(names: readonly string[]): string {
  return names.length <= 3 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
}

/** What a reader knows of one migration. */
export interface MigrationParts {
  /** The ledger key: the whole base name, as the format names the migration. */
  readonly version: string;
  readonly upSql: string;
  /** sha256 of what identifies the applied migration: the up file's bytes, or the up section's text. */
  readonly checksum: string;
  readonly upSource: string;
  readonly downSql: string | null;
  readonly downSource: string | null;
}

/**
 * The migrations of a reader, in the order it gives them (the format's own): each gets its index
 * as `order`, which {@link compareMigrations} follows, and sort keys from its leading digits.
 */
export function inOrder(parts: readonly MigrationParts[]): Migration[] {
  const seen = new Map<string, string>();
  return parts.map((part, order) => {
    const earlier = seen.get(part.version);
    if (earlier !== undefined)
      throw new SourceError(`${earlier} and ${part.upSource} are both migration ${part.version}: rename one of them`);
    seen.set(part.version, part.upSource);
    const digits = /^\d+/.exec(part.version)?.[0];
    const name = digits === undefined ? part.version : part.version.slice(digits.length).replace(/^[_.-]/, '');
    return { ...part, number: digits === undefined ? 0n : BigInt(digits), name, order, phase: phaseOf(part.upSql) };
  });
}

/** `dir/name`, as the messages show it. */
export function inFolder(dir: string, ...names: string[]): string {
  return path.join(dir, ...names);
}
