/**
 * `slipway new` in the folder's own layout: the next version as the folder numbers them, and a
 * file (or folder) shaped as its tool writes one. Until edited, what it holds is refused when
 * run (see `isUnwritten`), never applied as an empty migration.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../../errors.js';
import { createMigrationFiles, newFileText, nextVersionNumber } from '../source.js';
import { listEntries } from './folder.js';
import { detectFormat, type MigrationFormat } from './index.js';
import { prismaFolders } from './prisma.js';

/** The section headers of the one-file layouts, as their tools write them. */
const HEADERS = {
  dbmate: ['-- migrate:up', '-- migrate:down'],
  goose: ['-- +goose Up', '-- +goose Down'],
  'sql-migrate': ['-- +migrate Up', '-- +migrate Down'],
  'node-pg-migrate': ['-- Up Migration', '-- Down Migration'],
} as const;

/**
 * Creates the next migration in `dir` (made when missing), in `format` or the layout the folder
 * shows (slipway's own for an empty or new folder). Returns the version and the files written.
 *
 * @example
 * const { files } = await createMigration('./db/migrations', 'add_users'); // ['db/migrations/20240601123456_add_users.sql'] in a dbmate folder
 */
export async function createMigration(
  dir: string,
  name: string,
  options: { format?: MigrationFormat; now?: Date; timestamp?: boolean } = {},
): Promise<{ version: string; format: MigrationFormat; files: string[] }> {
  const now = options.now ?? new Date();
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(name)) {
    throw new UsageError(
      `invalid migration name ${JSON.stringify(name)}: use lowercase letters, digits, _ and - ([a-z0-9_-]+), e.g. create_users`,
    );
  }
  const entries = existsSync(dir) ? listEntries(dir) : null;
  const format = options.format ?? (entries === null ? null : detectFormat(entries)) ?? 'slipway';
  // A name's leading digits, whatever follows them: what the readers order by (sql-migrate's
  // files are often `20180816095155-change-log.sql`).
  const numbers = (names: readonly string[]) => names.flatMap((n) => /^\d+/.exec(n)?.[0] ?? []);
  switch (format) {
    case 'slipway':
    case 'golang-migrate': {
      const created = await createMigrationFiles(dir, name, now, options.timestamp === true ? 'timestamp' : 'follow');
      return { version: created.version, format, files: [created.up, created.down] };
    }
    case 'prisma': {
      const version = `${nextVersionNumber(numbers(entries === null ? [] : prismaFolders(entries)), now, 'timestamp')}_${name}`;
      const file = path.join(dir, version, 'migration.sql');
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, newFileText(version, 'up'), { flag: 'wx' });
      return { version, format, files: [file] };
    }
    case 'dbmate':
    case 'goose':
    case 'sql-migrate':
    case 'node-pg-migrate': {
      const sqlFiles = (entries?.files ?? []).filter((f) => f.endsWith('.sql'));
      const existing = numbers(sqlFiles);
      // dbmate always stamps to the second; node-pg-migrate to the millisecond; goose and sql-migrate follow the folder.
      const number =
        format === 'dbmate'
          ? nextVersionNumber(existing, now, 'timestamp')
          : format === 'node-pg-migrate'
            ? nextMillis(existing, now)
            : nextVersionNumber(existing, now);
      const version = `${number}${separatorOf(sqlFiles, format)}${name}`;
      const [up, down] = HEADERS[format];
      const file = path.join(dir, `${version}.sql`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(file, `${up}\n${newFileText(version, 'up')}\n${down}\n${newFileText(version, 'down')}`, { flag: 'wx' });
      return { version, format, files: [file] };
    }
    default:
      throw new UsageError(
        format === 'drizzle'
          ? `${dir} is a Drizzle folder, whose journal drizzle-kit keeps: create the migration with drizzle-kit generate --custom --name ${name}`
          : `${dir} is a ${format} folder: slipway new writes slipway, golang-migrate, Prisma, dbmate, goose, sql-migrate and node-pg-migrate migrations; write this one by hand`,
      );
  }
}

/**
 * What goes between the number and the name: what the folder's newest numbered file has, or
 * what the tool writes in an empty one (sql-migrate `20240601123456-name.sql`, the others `_`).
 */
function separatorOf(files: readonly string[], format: keyof typeof HEADERS): '-' | '_' {
  let newest: { number: bigint; separator: string } | undefined;
  for (const file of files) {
    const match = /^(\d+)([-_])/.exec(file);
    if (match !== null && (newest === undefined || BigInt(match[1]!) >= newest.number))
      newest = { number: BigInt(match[1]!), separator: match[2]! };
  }
  return (newest?.separator ?? (format === 'sql-migrate' ? '-' : '_')) as '-' | '_';
}

/** node-pg-migrate's prefix: milliseconds since 1970, after the newest one. */
function nextMillis(existing: readonly string[], now: Date): string {
  const newest = existing.reduce((max, n) => (BigInt(n) > max ? BigInt(n) : max), 0n);
  const stamp = BigInt(now.getTime());
  return (stamp > newest ? stamp : newest + 1n).toString();
}
