import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SourceError, UsageError } from '../errors.js';

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

export function checksumOf(content: string | Uint8Array): string {
  return createHash('sha256').update(content).digest('hex');
}

/** Sort order: the number, then the name, then the raw version (so `01_a` and `1_a` still order stably). */
export function compareMigrations(a: Pick<Migration, 'number' | 'name' | 'version'>, b: Pick<Migration, 'number' | 'name' | 'version'>): number {
  if (a.number !== b.number) return a.number < b.number ? -1 : 1;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return a.version < b.version ? -1 : a.version > b.version ? 1 : 0;
}

/** Splits a base name into its sort keys, or returns null when it does not fit `<digits>_<name>`. */
export function parseVersion(version: string): { number: bigint; name: string } | null {
  const match = VERSION_PATTERN.exec(version);
  if (!match) return null;
  return { number: BigInt(match[1]!), name: match[2]! };
}

/**
 * Reads a migrations folder: `<digits>_<name>.up.sql` with optional `.down.sql`.
 * Files that do not end in `.sql` are ignored; a `.sql` file that does not fit the
 * pattern, a down file without its up file, or an empty up file is refused.
 *
 * @example
 * const migrations = await readMigrationsDir('./migrations');
 * migrations.map((m) => m.version); // ['001_create_users', '002_add_email', ...]
 */
export async function readMigrationsDir(dir: string): Promise<Migration[]> {
  let entries: string[];
  try {
    // Symlinked files count (shared migrations); folders do not.
    entries = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile() || e.isSymbolicLink()).map((e) => e.name);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SourceError(`migrations folder ${dir} does not exist: create it or pass another folder`);
    if (code === 'ENOTDIR') throw new SourceError(`migrations folder ${dir} is not a folder`);
    throw error;
  }

  const ups = new Map<string, string>();
  const downs = new Map<string, string>();
  const misnamed: string[] = [];
  for (const file of entries.sort()) {
    if (!file.toLowerCase().endsWith('.sql')) continue;
    const match = FILE_PATTERN.exec(file);
    if (!match) {
      misnamed.push(file);
      continue;
    }
    (match[2] === 'up' ? ups : downs).set(match[1]!, file);
  }
  if (misnamed.length > 0) {
    throw new SourceError(
      `${misnamed.map((f) => path.join(dir, f)).join(', ')}: migration files must be named <digits>_<name>.up.sql or <digits>_<name>.down.sql`,
    );
  }
  const orphans = [...downs.keys()].filter((version) => !ups.has(version));
  if (orphans.length > 0) {
    throw new SourceError(
      `${orphans.map((v) => path.join(dir, downs.get(v)!)).join(', ')}: down file without an up file; add ${orphans.map((v) => `${v}.up.sql`).join(', ')} or remove the down file`,
    );
  }

  // Synchronous reads: hundreds of small files read faster in a loop than through the thread pool.
  const migrations = [...ups].map(([version, upFile]) => {
    const downFile = downs.get(version);
    const upPath = path.join(dir, upFile);
    const downPath = downFile === undefined ? null : path.join(dir, downFile);
    return buildMigration(version, readFileSync(upPath), downPath === null ? null : readFileSync(downPath, 'utf8'), upPath, downPath);
  });
  return migrations.sort(compareMigrations);
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
    return buildMigration(input.version, Buffer.from(input.up, 'utf8'), input.down ?? null, `<memory>/${input.version}.up.sql`, input.down == null ? null : `<memory>/${input.version}.down.sql`);
  });
  return migrations.sort(compareMigrations);
}

function buildMigration(version: string, upBytes: Buffer, downSql: string | null, upSource: string, downSource: string | null): Migration {
  const upSql = upBytes.toString('utf8');
  if (upSql.trim().length === 0) throw new SourceError(`${upSource} is empty: write the migration's SQL or remove the file`);
  const { number, name } = parseVersion(version)!;
  return { version, number, name, upSql, downSql, checksum: checksumOf(upBytes), upSource, downSource };
}

/**
 * The version number for a new migration, following the folder's style: a 14-digit UTC
 * timestamp when the newest files use one, otherwise the next zero-padded sequence number
 * (`001` in an empty folder). Pure.
 *
 * @example nextVersionNumber(['001', '002'], new Date()) // '003'
 */
export function nextVersionNumber(existingNumbers: readonly string[], now: Date): string {
  const newest = [...existingNumbers].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0)).at(-1);
  if (newest !== undefined && newest.length === 14) {
    const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
    return BigInt(stamp) > BigInt(newest) ? stamp : (BigInt(newest) + 1n).toString();
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
export async function createMigrationFiles(dir: string, name: string, now = new Date()): Promise<{ version: string; up: string; down: string }> {
  if (!/^[a-z0-9_]+$/.test(name)) {
    throw new UsageError(`invalid migration name ${JSON.stringify(name)}: use lowercase letters, digits and underscores ([a-z0-9_]+), e.g. create_users`);
  }
  await mkdir(dir, { recursive: true });
  // The leading digits as written, so their width (zero padding, timestamps) is kept.
  const numbers = (await readdir(dir)).flatMap((file) => (FILE_PATTERN.test(file) ? [/^\d+/.exec(file)![0]] : []));
  const version = `${nextVersionNumber(numbers, now)}_${name}`;
  const up = path.join(dir, `${version}.up.sql`);
  const down = path.join(dir, `${version}.down.sql`);
  await writeFile(up, `-- ${version}: write the change here.\n`, { flag: 'wx' });
  await writeFile(down, `-- ${version}: undo the change here.\n`, { flag: 'wx' });
  return { version, up, down };
}
