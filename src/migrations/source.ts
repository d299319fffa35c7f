import * as crypto from 'node:crypto';
import { isUtf8 } from 'node:buffer';
// Synchronous fs calls throughout: a folder of small files reads faster in a loop than through the thread pool.
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
  writeFileSync,
  type Dirent,
  type Stats,
} from 'node:fs';
import path from 'node:path';
import { SourceError, UsageError } from '../errors.js';
import { hasPostDeployMarker } from '../sql/parse.js';

/**
 * When a migration runs in a rolling deploy: `regular` before the new release rolls out (it must
 * suit the code still running), `post-deploy` once every replica runs the new release (it is
 * marked `-- slipway:post-deploy` in its leading comments, and applied by `up --post-deploy`).
 */
export type Phase = 'regular' | 'post-deploy';

/** The phase a migration's up SQL says, by its leading comments. */
export function phaseOf(upSql: string): Phase {
  return hasPostDeployMarker(upSql) ? 'post-deploy' : 'regular';
}

/**
 * One migration as found on disk (or given in memory).
 * Its identity is `version`, the whole base name: `020_add_issue_index`.
 */
export interface Migration {
  /** The base name without `.up.sql`, e.g. `020_add_issue_index`; the key in the bookkeeping table. */
  readonly version: string;
  /** The numeric value of the leading digits; the first sort key. */
  readonly number: bigint;
  /** The part after the first underscore; the second sort key. */
  readonly name: string;
  readonly upSql: string;
  readonly downSql: string | null;
  /** sha256 (hex) of the up file's bytes. */
  readonly checksum: string;
  /** Where the up SQL came from, for messages: a file path or `<memory>/version`. */
  readonly upSource: string;
  readonly downSource: string | null;
  /**
   * Its place in its format's own order, for layouts that do not sort by number then name
   * (Prisma's folder names, Drizzle's journal): set on every migration of such a folder.
   */
  readonly order?: number;
  /** Read from the up SQL's leading comments when first asked for (see {@link Phase}). */
  readonly phase: Phase;
}

/** A migration given in memory rather than read from a folder. */
export interface MigrationInput {
  /** Base name in the same `<digits>_<name>` form as a file, e.g. `001_create_users`. */
  readonly version: string;
  readonly up: string;
  readonly down?: string | null;
}

const VERSION_PATTERN = /^(\d+)_(.+)$/;
const FILE_PATTERN = /^(\d+_.+)\.(up|down)\.sql$/;
/** Any `.sql` file, whatever the case of its extension: one that is not named like a migration is refused, not skipped. */
const SQL_FILE = /\.sql$/i;

export function checksumOf(content: string | Uint8Array): string {
  // crypto.hash (Node 20.12+) hashes in one call, without a Hash object per file.
  return typeof crypto.hash === 'function'
    ? crypto.hash('sha256', content, 'hex')
    : crypto.createHash('sha256').update(content).digest('hex');
}

/**
 * Sort order: the format's own order when both have one, else the number, then the name, then
 * the raw version (so `01_a` and `1_a` still order stably).
 */
export function compareMigrations(
  a: Pick<Migration, 'number' | 'name' | 'version' | 'order'>,
  b: Pick<Migration, 'number' | 'name' | 'version' | 'order'>,
): number {
  if (a.order !== undefined && b.order !== undefined) return a.order - b.order;
  // Stryker disable next-line EqualityOperator: equivalent, the numbers differ here, so < and <= agree
  if (a.number !== b.number) return a.number < b.number ? -1 : 1;
  // Stryker disable next-line EqualityOperator: equivalent, the names differ here, so < and <= agree
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return a.version < b.version ? -1 : a.version > b.version ? 1 : 0;
}

/** Splits a base name into its sort keys, or returns null when it does not fit `<digits>_<name>`. */
export function parseVersion(version: string): { number: bigint; name: string } | null {
  const match = VERSION_PATTERN.exec(version);
  if (!match) return null;
  return { number: BigInt(match[1]!), name: match[2]! };
}

/** A migrations folder as read: the migrations, and what is worth a warning about how they were paired. */
export interface MigrationsFolder {
  readonly migrations: Migration[];
  readonly warnings: string[];
}

/**
 * Reads a migrations folder: `<digits>_<name>.up.sql` with optional `.down.sql`.
 * Files that do not end in `.sql` are ignored; a `.sql` file that does not fit the
 * pattern, a down file that pairs with no up file, or a file that is not UTF-8 is refused.
 * Empty and comment-only files are deliberate no-ops.
 *
 * @example
 * const migrations = await readMigrationsDir('./migrations');
 * migrations.map((m) => m.version); // ['001_create_users', '002_add_email', ...]
 */
export async function readMigrationsDir(dir: string): Promise<Migration[]> {
  return (await readMigrationsFolder(dir)).migrations;
}

/**
 * {@link readMigrationsDir}, with the warnings: a down file whose name differs from its up
 * file's is paired with it by number (golang-migrate's rule) when the number has exactly one
 * of each, and that is said once.
 */
export async function readMigrationsFolder(dir: string): Promise<MigrationsFolder> {
  const listing = listMigrationsFolder(dir);
  return { migrations: readListedMigrations(listing), warnings: listing.warnings };
}

/** A migrations folder's files, named and paired, not yet read. */
export interface FolderListing {
  /** `regular`: a regular file, not a symlink (whose target could be anything). */
  readonly files: ReadonlyArray<{
    readonly version: string;
    readonly upPath: string;
    readonly downPath: string | null;
    readonly regular: boolean;
  }>;
  readonly warnings: string[];
}

/**
 * Lists a migrations folder and checks its file names and pairs, reading no file: the
 * folder's name errors come before any connection, its files are read meanwhile.
 */
export function listMigrationsFolder(dir: string): FolderListing {
  // Stryker disable next-line ArrayDeclaration: equivalent, a name that does not end in .sql is skipped below
  const entries: string[] = [];
  const symlinks = new Set<string>();
  const notFiles: string[] = [];
  try {
    // Symlinked files count (shared migrations); folders do not, but one named like SQL is refused.
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isFile()) entries.push(entry.name);
      else if (entry.isSymbolicLink()) entries.push(entry.name), symlinks.add(entry.name);
      else if (SQL_FILE.test(entry.name)) notFiles.push(`${path.join(dir, entry.name)} is ${kindOf(entry)}, not a file`);
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SourceError(`migrations folder ${dir} does not exist: create it or pass another folder`);
    if (code === 'ENOTDIR') throw new SourceError(`migrations folder ${dir} is not a folder`);
    throw error;
  }
  if (notFiles.length > 0)
    throw new SourceError(`${notFiles.join('; ')}: a migration must be a file (or a symlink to one); rename or remove it`);

  const ups = new Map<string, string>();
  const downs = new Map<string, string>();
  const misnamed: string[] = [];
  // Stryker disable next-line MethodExpression: equivalent, libuv's scandir already lists names sorted byte by byte
  for (const file of entries.sort()) {
    if (!SQL_FILE.test(file)) continue;
    if (!FILE_PATTERN.test(file)) {
      misnamed.push(file);
      continue;
    }
    // What FILE_PATTERN captures, without its match array: the name before `.up.sql` / `.down.sql`.
    const up = file.endsWith('.up.sql');
    (up ? ups : downs).set(file.slice(0, file.length - (up ? 7 : 9)), file);
  }
  if (misnamed.length > 0) {
    throw new SourceError(
      `${misnamed
        .slice(0, 3)
        .map((f) => path.join(dir, f))
        .join(
          ', ',
        )}${misnamed.length > 3 ? ` and ${misnamed.length - 3} more` : ''}: migration files must be named <digits>_<name>.up.sql or <digits>_<name>.down.sql`,
    );
  }
  const { pairs, warnings } = pairDownFiles([...ups.keys()], [...downs.keys()], (v) => path.join(dir, downs.get(v)!));
  // Every name matched FILE_PATTERN (no separator, no dot segment): joining it is appending it.
  const prefix = path.join(dir, '_').slice(0, -1);
  const files = [...ups].map(([version, upFile]) => {
    const downVersion = pairs.get(version);
    // Stryker disable next-line BooleanLiteral: equivalent, a regular file read as if it could be anything costs one more read that returns 0
    return {
      version,
      upPath: prefix + upFile,
      downPath: downVersion === undefined ? null : prefix + downs.get(downVersion)!,
      regular: !symlinks.has(upFile),
    };
  });
  return { files, warnings };
}

/**
 * Reads the up files of a listing, in order. Each file's bytes are checked (UTF-8) and hashed
 * now; its text is decoded when first asked for, so a run with nothing to do decodes none.
 * A down file is read when its SQL is first asked for: an up run never reads one.
 */
export function readListedMigrations(listing: FolderListing): Migration[] {
  const arena = new Arena();
  const changedSince = Date.now() - UNSEEN_CHANGE_MS;
  // Synchronous reads: hundreds of small files read faster in a loop than through the thread pool.
  const migrations = listing.files.map(({ version, upPath, downPath, regular }) => {
    const stat = statOf(upPath, changedSince);
    const known = readBefore.get(upPath);
    const up =
      stat !== null && known !== undefined && sameFile(known.stat, stat)
        ? known
        : { bytes: readable(upPath, () => arena.readFile(upPath, regular)), memo: {} };
    const migration = migrationOf(version, up.bytes, upPath, downPath, up.memo, () =>
      decodeSql(
        readable(downPath!, () => readFileSync(aFile(downPath!))),
        downPath!,
      ),
    );
    if (stat !== null) readBefore.set(upPath, { stat, bytes: up.bytes, memo: up.memo });
    return migration;
  });
  return migrations.sort(compareMigrations);
}

/**
 * The up files this process has read, by path, with their stat at the time: a file whose stat
 * is unchanged is not read again, so a long-lived process's run with nothing to do reads no file
 * (a stat costs a fifth of an open, read and close). Down files are read when asked for, always.
 */
const readBefore = new Map<string, { readonly stat: Stats; readonly bytes: Uint8Array; readonly memo: MigrationMemo }>();

/**
 * A file changed this recently may change again with the same size and timestamps (file
 * timestamps are coarse: a clock tick on Linux, 2 s on FAT), so it is read again next time.
 */
const UNSEEN_CHANGE_MS = 2_000;

/**
 * A regular file's stat, or null when it changed since `changedSince` (ms since the epoch) or its
 * stat fails (the read then says why). Not a bigint stat: a file is kept only once its ctime is
 * 2 s old, so any later change moves its ctime by more than the ms (to the µs) can miss, and a
 * stat in numbers, compared field by field, allocates a fraction of one in bigints made a text.
 */
function statOf(file: string, changedSince: number): Stats | null {
  let stat: Stats | undefined;
  try {
    stat = statSync(file, { throwIfNoEntry: false });
  } catch {
    return null;
  }
  return stat?.isFile() && stat.mtimeMs < changedSince && stat.ctimeMs < changedSince ? stat : null;
}

/**
 * The same file with the same content, as far as its stat tells: identity, size and last change
 * (ctime too: a program can set a file's mtime back, not its ctime).
 */
function sameFile(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

const EMPTY = Buffer.alloc(0);

/**
 * One buffer the files of a folder are read into, end to end: no buffer (and no garbage) per
 * file. A file's bytes stay a view of it for as long as its migration is kept.
 */
class Arena {
  // Small to start (a folder of 432 migrations is ~150 KB): a large buffer allocated per call
  // counts as external memory and brings the next garbage collection forward.
  // Allocated at the first read: a run that reads no file (all known, see readBefore) allocates none.
  private buffer = EMPTY;
  private used = 0;

  /**
   * Reads a whole file synchronously. For a regular file a short read is its end (Linux never
   * splits a regular file's read short of the end); anything else is read until a read returns 0.
   */
  readFile(file: string, regular: boolean): Uint8Array {
    const start = this.used;
    const fd = openSync(regular ? file : aFile(file), 'r');
    try {
      for (;;) {
        // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, growing sooner or later changes the buffer's size, never the bytes read
        if (this.buffer.length - this.used < 1 << 13) this.grow();
        const room = this.buffer.length - this.used;
        const n = readSync(fd, this.buffer, this.used, room, null);
        this.used += n;
        // Stryker disable next-line ConditionalExpression: equivalent, without the short-read shortcut the next read returns 0
        if (n === 0 || (regular && n < room)) break;
      }
    } finally {
      closeSync(fd);
    }
    return this.buffer.subarray(start, this.used);
  }

  /** A new buffer twice as large (64 KB the first); earlier files' views keep the old one. */
  private grow(): void {
    const next = Buffer.allocUnsafeSlow(Math.max(1 << 16, this.buffer.length * 2));
    this.buffer.copy(next, 0, 0, this.used);
    this.buffer = next;
  }
}

/** `file`, once sure it leads to a file: a symlink may point at a folder, or a FIFO whose open would wait for a writer. */
function aFile(file: string): string {
  const target = statSync(file);
  if (!target.isFile())
    throw new SourceError(
      `${file} is a symlink to ${kindOf(target)}, not to a file: a migration must be a file; fix the link or remove it`,
    );
  return file;
}

/** What a folder entry or a symlink's target is, for messages about one that is not a file. */
function kindOf(entry: Dirent | Stats): string {
  return entry.isDirectory() ? 'a folder' : entry.isFIFO() ? 'a FIFO' : entry.isSocket() ? 'a socket' : 'a device';
}

/** `read()`'s bytes; a file the system cannot read (a symlink that loops or leads nowhere, no permission) is refused by name. */
function readable<T>(file: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof SourceError) throw error;
    const { code, message } = error as NodeJS.ErrnoException;
    const why =
      code === 'ELOOP'
        ? 'it is a symlink that loops (ELOOP)'
        : code === 'ENOENT'
          ? 'it is gone, or a symlink to nothing (ENOENT)'
          : message;
    throw new SourceError(`${file} cannot be read: ${why}: fix or remove it`);
  }
}

/**
 * Pairs down files with up files: by the whole base name, else by number when that number
 * has exactly one up file and one down file. Pure. Throws for a down file that pairs with none.
 */
export function pairDownFiles(
  upVersions: readonly string[],
  downVersions: readonly string[],
  describe: (downVersion: string) => string = (v) => `${v}.down.sql`,
): { pairs: Map<string, string>; warnings: string[] } {
  const ups = new Set(upVersions);
  const pairs = new Map<string, string>();
  // The usual folder: every down file has its up file's name.
  // Stryker disable next-line ArrowFunction,BlockStatement,ConditionalExpression: equivalent, a shortcut: the general path pairs them alike
  if (downVersions.every((down) => ups.has(down))) {
    for (const down of downVersions) pairs.set(down, down);
    return { pairs, warnings: [] };
  }
  const numberOf = (v: string) => BigInt(VERSION_PATTERN.exec(v)![1]!);
  const byNumber = (list: readonly string[]) => {
    const map = new Map<bigint, string[]>();
    for (const v of list) map.set(numberOf(v), [...(map.get(numberOf(v)) ?? []), v]);
    return map;
  };
  const upsByNumber = byNumber(upVersions);
  const downsByNumber = byNumber(downVersions);
  const paired: string[] = [];
  const orphans: string[] = [];
  for (const down of downVersions) {
    if (ups.has(down)) {
      pairs.set(down, down);
      continue;
    }
    const sameNumberUps = upsByNumber.get(numberOf(down)) ?? [];
    const sameNumberDowns = downsByNumber.get(numberOf(down))!;
    if (sameNumberUps.length === 1 && sameNumberDowns.length === 1 && !pairs.has(sameNumberUps[0]!)) {
      pairs.set(sameNumberUps[0]!, down);
      paired.push(`${down}.down.sql with ${sameNumberUps[0]}.up.sql`);
    } else {
      orphans.push(down);
    }
  }
  if (orphans.length > 0) {
    const advice = orphans.map((down) => {
      const candidates = upsByNumber.get(numberOf(down)) ?? [];
      return candidates.length === 0
        ? `${describe(down)} has no up file with its number: rename it after the up file it undoes (<version>.down.sql), or remove it`
        : `${describe(down)} matches no up file by name and its number has ${candidates.length} up files ` +
            `(${candidates.map((v) => `${v}.up.sql`).join(', ')}): rename it to the one it undoes, e.g. ${candidates[0]}.down.sql`;
    });
    throw new SourceError(`down file without an up file: ${advice.join('; ')}`);
  }
  // Unreachable with nothing paired: the general path runs only for a down file not named like an up file, paired or refused above.
  const warnings =
    // Stryker disable next-line ConditionalExpression: equivalent, unreachable (see above)
    paired.length === 0
      ? // Stryker disable next-line ArrayDeclaration: equivalent, unreachable (see above)
        []
      : [
          `paired ${paired.length} down file(s) with the up file of the same number although their names differ: ${paired.join(', ')}; renaming them to match silences this`,
        ];
  return { pairs, warnings };
}

/**
 * The text a file holds, refusing bytes that are not UTF-8 (psql refuses them too) and a NUL
 * byte (Postgres reads a query up to its first NUL: the rest would be dropped unseen); a leading BOM is dropped.
 */
export function decodeSql(bytes: Uint8Array, source: string): string {
  const nul = bytes.indexOf(0);
  if (nul !== -1) {
    throw new SourceError(
      `${source}:${lineAt(bytes, nul)}: byte ${nul + 1} is a NUL byte (0x00), which would cut the SQL short there: remove it`,
    );
  }
  if (!isUtf8(bytes)) {
    const at = firstInvalidUtf8(bytes);
    throw new SourceError(
      // Stryker disable next-line StringLiteral: equivalent, a byte that is not UTF-8 is at least 0x80: two hex digits without padding
      `${source}:${lineAt(bytes, at)}: byte ${at + 1} (0x${bytes[at]!.toString(16).padStart(2, '0')}) is not valid UTF-8: convert the file to UTF-8, e.g. iconv -f LATIN1 -t UTF-8`,
    );
  }
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** The 1-based line of a byte offset. */
function lineAt(bytes: Uint8Array, offset: number): number {
  let line = 1;
  // Stryker disable next-line EqualityOperator: equivalent, the byte at offset is a NUL or not UTF-8, never a newline
  for (let i = 0; i < offset; i++) if (bytes[i] === 0x0a) line++;
  return line;
}

/** Offset of the first byte that breaks UTF-8 (called only on bytes that are not valid UTF-8). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  // Stryker disable next-line EqualityOperator: equivalent, unreachable: the loop returns before the end (see below)
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!;
    // Stryker disable next-line ConditionalExpression,LogicalOperator: equivalent, a byte that leads nothing fails isUtf8 below all the same
    const size = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (size === 0) return i;
    // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, an ASCII byte alone is UTF-8
    if (size > 1 && !isUtf8(bytes.subarray(i, i + size))) return i;
    i += size;
  }
  // Stryker disable next-line ArithmeticOperator: equivalent, unreachable: called only on bytes that are not UTF-8, and bytes made of valid sequences only are UTF-8, so the loop returns first
  return bytes.length - 1;
}

/**
 * Builds the same `Migration[]` from SQL held in memory, validated and sorted like a folder.
 *
 * @example
 * const migrations = defineMigrations([{ version: '001_create_users', up: 'CREATE TABLE users (id int)', down: 'DROP TABLE users' }]);
 */
export function defineMigrations(inputs: readonly MigrationInput[]): Migration[] {
  const seen = new Set<string>();
  const migrations = inputs.map((input) => {
    if (!parseVersion(input.version) || input.version.includes('/')) {
      throw new SourceError(`migration version ${JSON.stringify(input.version)} must look like <digits>_<name>, e.g. 001_create_users`);
    }
    if (seen.has(input.version)) throw new SourceError(`migration ${input.version} is given twice`);
    seen.add(input.version);
    return migrationOf(
      input.version,
      Buffer.from(input.up, 'utf8'),
      `<memory>/${input.version}.up.sql`,
      input.down == null ? null : `<memory>/${input.version}.down.sql`,
      {},
      () => input.down!,
    );
  });
  return migrations.sort(compareMigrations);
}

/**
 * A migration from its up file's bytes, checked (UTF-8) and hashed now, its text decoded when
 * first asked for; its down SQL is `readDown()`'s, asked for at most once.
 */
function migrationOf(
  version: string,
  upBytes: Uint8Array,
  upSource: string,
  downSource: string | null,
  // What was worked out from these bytes before, kept with them: they are checked and hashed once.
  memo: MigrationMemo,
  readDown: () => string,
): Migration {
  // Stryker disable next-line ConditionalExpression: equivalent, decoding UTF-8 bytes without NUL throws nothing; the check spares the decode
  if (memo.checksum === undefined && (!isUtf8(upBytes) || upBytes.indexOf(0) !== -1)) decodeSql(upBytes, upSource); // throws, naming the line and byte
  const { number, name } = parseVersion(version)!;
  const checksum = (memo.checksum ??= checksumOf(upBytes));
  let upSql: string | undefined;
  let downSql: string | undefined;
  return {
    version,
    number,
    name,
    get upSql() {
      return (upSql ??= decodeSql(upBytes, upSource));
    },
    get phase() {
      // Only the leading comments say it: a run that decodes no file (nothing to do) decodes only those.
      return (memo.phase ??= phaseOf(upSql ?? leadingComments(upBytes)));
    },
    get downSql() {
      return downSource === null ? null : (downSql ??= readDown());
    },
    checksum,
    upSource,
    downSource,
  };
}

/** What a migration works out from its up file's bytes, kept with them: the checksum, and the phase once asked. */
interface MigrationMemo {
  checksum?: string;
  phase?: Phase;
}

/** The comment and blank lines a file opens with, decoded without the rest (the bytes are UTF-8, checked). */
function leadingComments(bytes: Uint8Array): string {
  const text = (from: number, to: number) => Buffer.from(bytes.buffer, bytes.byteOffset + from, to - from).toString('utf8');
  let start = 0;
  // Stryker disable next-line EqualityOperator: equivalent, at the end the line is empty and the loop ends after it
  while (start < bytes.length) {
    const newline = bytes.indexOf(0x0a, start);
    // Stryker disable next-line ConditionalExpression: equivalent, the rest of the file starts as its first line does: it decodes more, to the same phase
    const end = newline === -1 ? bytes.length : newline;
    const line = text(start, end).trim();
    if (line !== '' && !line.startsWith('--')) break;
    start = end + 1;
  }
  return text(0, Math.min(start, bytes.length));
}

/**
 * The version number for a new migration, following the folder's style: a 14-digit UTC
 * timestamp when the newest files use one, otherwise the next zero-padded sequence number
 * (`001` in an empty folder). Pure.
 *
 * @example nextVersionNumber(['001', '002'], new Date()) // '003'
 */
// Stryker disable next-line StringLiteral: equivalent, a style other than 'timestamp' follows the folder
export function nextVersionNumber(existingNumbers: readonly string[], now: Date, style: 'follow' | 'timestamp' = 'follow'): string {
  // The largest number; of one number written two ways, the one listed last.
  let newest: string | undefined;
  for (const n of existingNumbers) if (newest === undefined || BigInt(n) >= BigInt(newest)) newest = n;
  // `timestamp`: for the tools whose new files always carry one (Prisma, dbmate).
  if (style === 'timestamp' || (newest !== undefined && newest.length === 14)) {
    const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
    return newest === undefined || BigInt(stamp) > BigInt(newest) ? stamp : (BigInt(newest) + 1n).toString();
  }
  const width = Math.max(3, ...existingNumbers.map((n) => n.length));
  const next = newest === undefined ? 1n : BigInt(newest) + 1n;
  return next.toString().padStart(width, '0');
}

/**
 * Creates `<version>_<name>.up.sql` and `.down.sql` in `dir` (made when missing).
 *
 * @example
 * const { up, down } = await createMigrationFiles('./migrations', 'create_users');
 */
export async function createMigrationFiles(
  dir: string,
  name: string,
  now = new Date(),
  // Stryker disable next-line StringLiteral: equivalent, a style other than 'timestamp' follows the folder
  style: 'follow' | 'timestamp' = 'follow',
): Promise<{ version: string; up: string; down: string }> {
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(name)) {
    throw new UsageError(
      `invalid migration name ${JSON.stringify(name)}: use lowercase letters, digits, _ and - ([a-z0-9_-]+), e.g. create_users`,
    );
  }
  mkdirSync(dir, { recursive: true });
  // The leading digits as written, so their width (zero padding, timestamps) is kept.
  // Stryker disable next-line Regex: equivalent, the name matched FILE_PATTERN, so it starts with its digits and the first run of digits is the leading one
  const numbers = readdirSync(dir).flatMap((file) => (FILE_PATTERN.test(file) ? [/^\d+/.exec(file)![0]] : []));
  const version = `${nextVersionNumber(numbers, now, style)}_${name}`;
  const up = path.join(dir, `${version}.up.sql`);
  const down = path.join(dir, `${version}.down.sql`);
  writeFileSync(up, newFileText(version, 'up'), { flag: 'wx' });
  writeFileSync(down, newFileText(version, 'down'), { flag: 'wx' });
  return { version, up, down };
}

/** Is this SQL still only what `slipway new` wrote (blank lines aside, as a section of a one-file layout has them)? */
export function isUnwritten(sql: string, version: string, direction: 'up' | 'down'): boolean {
  return sql.trim() === newFileText(version, direction).trim();
}

/** What `slipway new` writes into a new file: a file still exactly like this is not written yet. */
export function newFileText(version: string, direction: 'up' | 'down'): string {
  return direction === 'up' ? `-- ${version}: write the change here.\n` : `-- ${version}: undo the change here.\n`;
}
