/**
 * Drizzle Kit: `NNNN_tag.sql` files, their statements separated by `--> statement-breakpoint`
 * comments, and `meta/_journal.json`, whose entries say which files run and in what order.
 * A file the journal does not list is never run by Drizzle: slipway skips it too, and says so.
 */
import { readFileSync } from 'node:fs';
import { SourceError } from '../../errors.js';
import { inFolder, inOrder, isFile, readText, someNames, type FolderEntries } from './folder.js';
import type { Migration } from '../source.js';

export const DRIZZLE_JOURNAL = 'meta/_journal.json';

export function hasDrizzleJournal(entries: FolderEntries): boolean {
  return entries.folders.includes('meta') && isFile(inFolder(entries.dir, 'meta', '_journal.json'));
}

/** The journal's migrations in its order, and a warning naming the .sql files it does not list (skipped, as Drizzle skips them). */
export function readDrizzleFolder(entries: FolderEntries): { migrations: Migration[]; warnings: string[] } {
  const journalFile = inFolder(entries.dir, 'meta', '_journal.json');
  const tags = journalTags(journalFile);
  const listed = new Set(tags);
  const orphans = entries.files.filter((file) => /\.sql$/i.test(file) && !listed.has(file.replace(/\.sql$/i, '')));
  // Real histories keep such files (a migration dropped from the journal by hand): the schema Drizzle builds leaves them out.
  const warnings =
    orphans.length === 0
      ? []
      : [
          `${inFolder(entries.dir, orphans[0]!)}${orphans.length > 1 ? ` (and ${someNames(orphans.slice(1))})` : ''} ` +
            `is not in ${journalFile}, so Drizzle never runs it: skipped; add it with drizzle-kit generate --custom, or delete it`,
        ];
  const missing = tags.filter((tag) => !isFile(inFolder(entries.dir, `${tag}.sql`)));
  if (missing.length > 0) {
    throw new SourceError(
      `${journalFile} lists ${someNames(missing)} but ${inFolder(entries.dir, `${missing[0]}.sql`)} does not exist: restore the file, or remove its journal entry`,
    );
  }
  const migrations = inOrder(
    tags.map((tag) => {
      const file = inFolder(entries.dir, `${tag}.sql`);
      const { text, checksum } = readText(file);
      return { version: tag, upSql: text, checksum, upSource: file, downSql: null, downSource: null };
    }),
  );
  return { migrations, warnings };
}

/** The journal's tags in its entries' order, which is Drizzle's order of application. */
function journalTags(journalFile: string): string[] {
  let journal: unknown;
  try {
    journal = JSON.parse(readFileSync(journalFile, 'utf8'));
  } catch (error) {
    throw new SourceError(`${journalFile} is not valid JSON (${(error as Error).message}): restore it from version control`);
  }
  const entries = (journal as { entries?: unknown }).entries;
  if (
    !Array.isArray(entries) ||
    entries.some((e) => typeof (e as { tag?: unknown })?.tag !== 'string' || /[/\\]/.test((e as { tag: string }).tag))
  ) {
    throw new SourceError(`${journalFile} has no entries list of { "tag": "<file name without .sql>" }: restore it from version control`);
  }
  return entries.map((e) => (e as { tag: string }).tag);
}
