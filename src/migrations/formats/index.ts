/**
 * Migrations folders in the layouts teams switch from, read as they are: one reader per layout,
 * each giving `Migration[]` in the format's own order with its own down sections and
 * no-transaction markers, and detection from the folder's contents. A folder no layout
 * explains, or one that mixes layouts, is refused with a line naming what was found.
 */
import { SourceError, UsageError } from '../../errors.js';
import { listMigrationsFolder, readListedMigrations, type Migration } from '../source.js';
import { hasDrizzleJournal, readDrizzleFolder } from './drizzle.js';
import { inFolder, listEntries, readText, someNames, type FolderEntries } from './folder.js';
import { MARAGUDK_FILE, readMaragudkFolder } from './maragudk.js';
import { PRISMA_LOCK_FILE, prismaFolders, readPrismaFolder } from './prisma.js';
import { readSectionFolder, sectionFormatsOf, type SectionFormat } from './sections.js';
import { readSupabaseFolder, SUPABASE_FILE } from './supabase.js';

/** The layouts slipway reads. `golang-migrate` is slipway's own (`<digits>_<name>.up.sql` / `.down.sql`). */
export const MIGRATION_FORMATS = [
  'slipway',
  'golang-migrate',
  'maragudk',
  'prisma',
  'drizzle',
  'dbmate',
  'goose',
  'sql-migrate',
  'node-pg-migrate',
  'supabase',
] as const;
export type MigrationFormat = (typeof MIGRATION_FORMATS)[number];

/** How each layout looks, for messages. */
const LOOKS: Record<MigrationFormat, string> = {
  slipway: 'slipway/golang-migrate: <digits>_<name>.up.sql',
  'golang-migrate': 'slipway/golang-migrate: <digits>_<name>.up.sql',
  maragudk: 'maragudk/migrate: <name>.up.sql',
  prisma: 'Prisma: <timestamp>_<name>/migration.sql',
  drizzle: 'Drizzle: meta/_journal.json',
  dbmate: 'dbmate: -- migrate:up',
  goose: 'goose: -- +goose Up',
  'sql-migrate': 'sql-migrate: -- +migrate Up',
  'node-pg-migrate': 'node-pg-migrate: -- Up Migration',
  supabase: 'Supabase: <timestamp>_<name>.sql',
};

const SLIPWAY_FILE = /^\d+_.+\.(up|down)\.sql$/;
/** Migrations written as code, which slipway cannot run: refused by name rather than skipped. */
const CODE_MIGRATION = /^\d+[\w.-]*\.(go|js|cjs|mjs|ts|cts|mts)$/;
/** Files a migrations folder may hold besides migrations: notes, not layouts. */
const NOTES = /\.(md|txt)$|^(readme|license|notice)$/i;

/** A migrations folder opened: its layout, what to warn about, and its migrations read on demand. */
export interface OpenedFolder {
  /** The layout read; null for an empty folder. */
  readonly format: MigrationFormat | null;
  readonly warnings: string[];
  readMigrations(): Migration[];
}

/**
 * Reads a migrations folder as `up` reads it: in its own layout (detected from its contents, or
 * `format`) and its own order.
 *
 * @example
 * const migrations = await readMigrationsDir('./prisma/migrations');
 * migrations.map((m) => m.version); // ['20240101120000_init', ...]
 */
export async function readMigrationsDir(dir: string, format?: MigrationFormat): Promise<Migration[]> {
  return openMigrationsFolder(dir, checkFormat(format)).readMigrations();
}

/** Refuses a `format` option slipway does not know. */
export function checkFormat(format: unknown): MigrationFormat | undefined {
  if (format === undefined) return undefined;
  if (!(MIGRATION_FORMATS as readonly unknown[]).includes(format)) {
    throw new UsageError(`unknown migrations format ${JSON.stringify(format)}: use one of ${MIGRATION_FORMATS.join(', ')}`);
  }
  return format as MigrationFormat;
}

/**
 * Opens a migrations folder in `format`, or in the layout its contents show. Names are checked
 * now; slipway's own files are read when `readMigrations` is called (the others now: telling
 * their layout takes their text).
 *
 * @example
 * const folder = openMigrationsFolder('./prisma/migrations');
 * folder.format; // 'prisma'
 * folder.readMigrations().map((m) => m.version); // ['20240101120000_init', ...]
 */
export function openMigrationsFolder(dir: string, format?: MigrationFormat): OpenedFolder {
  const entries = listEntries(dir);
  refuseCode(entries);
  const layout = format ?? detectFormat(entries);
  if (layout === null) return { format: null, warnings: [], readMigrations: () => [] };
  if (layout === 'slipway' || layout === 'golang-migrate') {
    const listing = listMigrationsFolder(dir);
    return { format: layout, warnings: listing.warnings, readMigrations: () => readListedMigrations(listing) };
  }
  const { migrations, warnings } = readAs(entries, layout);
  return { format: layout, warnings, readMigrations: () => migrations };
}

function readAs(
  entries: FolderEntries,
  format: Exclude<MigrationFormat, 'slipway' | 'golang-migrate'>,
): { migrations: Migration[]; warnings: string[] } {
  const read = (migrations: Migration[]) => ({ migrations, warnings: [] });
  switch (format) {
    case 'prisma':
      return read(readPrismaFolder(entries));
    case 'drizzle':
      if (!hasDrizzleJournal(entries))
        throw new SourceError(
          `${inFolder(entries.dir, 'meta', '_journal.json')} does not exist: Drizzle's journal says which files run; restore it`,
        );
      return readDrizzleFolder(entries);
    case 'maragudk':
      return read(readMaragudkFolder(entries));
    case 'supabase':
      return read(readSupabaseFolder(entries));
    default:
      return read(readSectionFolder(entries, format));
  }
}

function refuseCode(entries: FolderEntries): void {
  const code = entries.files.filter((file) => CODE_MIGRATION.test(file));
  if (code.length === 0) return;
  const goose = code.filter((file) => file.endsWith('.go'));
  const what =
    goose.length > 0
      ? `${inFolder(entries.dir, goose[0]!)} is a goose Go migration`
      : `${inFolder(entries.dir, code[0]!)} is a migration written as code`;
  throw new SourceError(
    `${what}${code.length > 1 ? ` (with ${someNames(code.slice(1))})` : ''}: slipway runs SQL migrations only; ` +
      "rewrite it as SQL in the folder's layout, or apply it with its tool first and move it out",
  );
}

/**
 * The layout a folder's contents show, or null for an empty one (notes and hidden files only).
 * Throws, with a line naming what was found, for a folder that mixes layouts or that no layout
 * explains (then, on a second line, the layouts --format takes).
 */
export function detectFormat(entries: FolderEntries): MigrationFormat | null {
  const found = new Map<MigrationFormat, string>();
  const note = (format: MigrationFormat, example: string) => found.has(format) || found.set(format, example);
  if (hasDrizzleJournal(entries)) note('drizzle', 'meta/_journal.json');
  const prisma = prismaFolders(entries);
  if (prisma.length > 0) note('prisma', `${prisma[0]}/migration.sql`);
  else if (entries.files.includes(PRISMA_LOCK_FILE)) note('prisma', PRISMA_LOCK_FILE);

  const unexplained: string[] = [];
  // Drizzle's journal says what each .sql file is: its reader skips, with a warning, those it does not list.
  const sqlFiles = found.has('drizzle') ? [] : entries.files.filter((file) => /\.sql$/i.test(file));
  for (const file of sqlFiles) {
    if (SLIPWAY_FILE.test(file)) note('slipway', file);
    else if (MARAGUDK_FILE.test(file)) note('maragudk', file);
    else {
      const says = sectionFormatsOf(readText(inFolder(entries.dir, file)).text);
      if (says.length > 1)
        throw new SourceError(
          `${inFolder(entries.dir, file)} has the markers of ${says.join(' and ')}: keep one tool's markers, or name the layout with --format`,
        );
      if (says.length === 1) note(says[0]!, file);
      else if (SUPABASE_FILE.test(file)) note('supabase', file);
      else unexplained.push(file);
    }
  }
  if (found.size > 1) {
    const seen = [...found].slice(0, 3).map(([format, example]) => `${example} (${LOOKS[format]})`);
    throw new SourceError(
      `${entries.dir} mixes migration layouts: ${seen.join(', ')}: keep one layout per folder, or name the one to read with --format`,
    );
  }
  // One layout: its reader refuses, by name, the files it cannot explain.
  if (found.size === 1) return [...found.keys()][0]!;
  const others = [
    ...unexplained,
    ...entries.files.filter((file) => !/\.sql$/i.test(file) && !NOTES.test(file)),
    ...entries.folders.map((f) => `${f}/`),
  ];
  if (others.length === 0) return null;
  throw new SourceError(
    `${entries.dir}: no migration layout explains ${someNames(others)}: ` +
      "name files <digits>_<name>.up.sql, or give your tool's layout with --format\n" +
      `the layouts --format takes: ${MIGRATION_FORMATS.filter((f) => f !== 'golang-migrate').join(', ')}`,
  );
}

export type { SectionFormat };
