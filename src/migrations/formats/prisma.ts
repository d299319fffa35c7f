/**
 * Prisma Migrate: a folder per migration, `<timestamp>_<name>/migration.sql`, applied in the
 * folders' name order (so an 8-digit `20250625_x` sorts by its characters, not its number).
 * `migration_lock.toml` is Prisma's own; Prisma writes no down SQL.
 */
import { SourceError } from '../../errors.js';
import { inFolder, inOrder, isFile, readText, someNames, type FolderEntries } from './folder.js';
import type { Migration } from '../source.js';

export const PRISMA_LOCK_FILE = 'migration_lock.toml';

/** The sub-folders holding a `migration.sql`: what says a folder is Prisma's. */
export function prismaFolders(entries: FolderEntries): string[] {
  return entries.folders.filter((folder) => isFile(inFolder(entries.dir, folder, 'migration.sql')));
}

export function readPrismaFolder(entries: FolderEntries): Migration[] {
  const without = entries.folders.filter((folder) => !isFile(inFolder(entries.dir, folder, 'migration.sql')));
  if (without.length > 0) {
    throw new SourceError(
      `${inFolder(entries.dir, without[0]!)} has no migration.sql (Prisma layout: <timestamp>_<name>/migration.sql): ` +
        `add it, or move ${without.length === 1 ? 'the folder' : `${someNames(without)}`} out of ${entries.dir}`,
    );
  }
  const loose = entries.files.filter((file) => /\.sql$/i.test(file));
  if (loose.length > 0) {
    throw new SourceError(
      `${entries.dir} holds Prisma migration folders and loose SQL files (${someNames(loose)}), which Prisma never runs: move them into a <timestamp>_<name>/migration.sql folder, or out`,
    );
  }
  return inOrder(
    entries.folders.map((folder) => {
      const file = inFolder(entries.dir, folder, 'migration.sql');
      const { text, checksum } = readText(file);
      return { version: folder, upSql: text, checksum, upSource: file, downSql: null, downSource: null };
    }),
  );
}
