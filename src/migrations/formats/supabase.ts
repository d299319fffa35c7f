/**
 * The Supabase CLI: `supabase/migrations/<timestamp>_<name>.sql`, each file the whole migration
 * (no sections, no down), applied in the versions' order. A plain `<digits>_<name>.sql` with no
 * tool's markers is read so; the file's version is its whole base name.
 */
import { SourceError } from '../../errors.js';
import { inFolder, inOrder, readText, someNames, type FolderEntries } from './folder.js';
import type { Migration } from '../source.js';

export const SUPABASE_FILE = /^(\d+)_[^/]+\.sql$/;

export function readSupabaseFolder(entries: FolderEntries): Migration[] {
  const sql = entries.files.filter((file) => /\.sql$/i.test(file));
  const misnamed = sql.filter((file) => !SUPABASE_FILE.test(file));
  if (misnamed.length > 0) {
    throw new SourceError(
      `${entries.dir}: ${someNames(misnamed)} fit no Supabase migration name (<timestamp>_<name>.sql): rename or move them`,
    );
  }
  const byVersion = (a: string, b: string) => {
    const [x, y] = [BigInt(SUPABASE_FILE.exec(a)![1]!), BigInt(SUPABASE_FILE.exec(b)![1]!)];
    return x === y ? (a < b ? -1 : a > b ? 1 : 0) : x < y ? -1 : 1;
  };
  return inOrder(
    sql.sort(byVersion).map((file) => {
      const upSource = inFolder(entries.dir, file);
      const { text, checksum } = readText(upSource);
      return { version: file.slice(0, -'.sql'.length), upSql: text, checksum, upSource, downSql: null, downSource: null };
    }),
  );
}
