/**
 * maragudk/migrate: `<name>.up.sql` and `<name>.down.sql` (its pattern also takes `<name>_up.sql`),
 * `<name>` of letters, digits, `_` and `-`, applied in the names' character order (`10` before `9`).
 * golang-migrate's `<number>_<name>.up.sql` is slipway's own layout and read by it.
 */
import { SourceError } from '../../errors.js';
import { byBytes, inFolder, inOrder, readText, someNames, type FolderEntries } from './folder.js';
import type { Migration } from '../source.js';

export const MARAGUDK_FILE = /^([\w-]+)[._](up|down)\.sql$/;

export function readMaragudkFolder(entries: FolderEntries): Migration[] {
  const ups = new Map<string, string>();
  const downs = new Map<string, string>();
  const misnamed: string[] = [];
  for (const file of entries.files) {
    if (!/\.sql$/i.test(file)) continue;
    const match = MARAGUDK_FILE.exec(file);
    if (match === null) misnamed.push(file);
    else (match[2] === 'up' ? ups : downs).set(match[1]!, file);
  }
  if (misnamed.length > 0) {
    throw new SourceError(
      `${entries.dir}: ${someNames(misnamed)} fit no maragudk/migrate name (<name>.up.sql, <name>.down.sql): rename or move them`,
    );
  }
  const orphans = [...downs.keys()].filter((version) => !ups.has(version));
  if (orphans.length > 0)
    throw new SourceError(
      `${inFolder(entries.dir, downs.get(orphans[0]!)!)} has no up file ${orphans[0]}.up.sql: rename it after the up file it undoes, or remove it`,
    );
  return inOrder(
    [...ups.keys()].sort(byBytes).map((version) => {
      const upSource = inFolder(entries.dir, ups.get(version)!);
      const { text, checksum } = readText(upSource);
      const downFile = downs.get(version);
      const downSource = downFile === undefined ? null : inFolder(entries.dir, downFile);
      return { version, upSql: text, checksum, upSource, downSql: downSource === null ? null : readText(downSource).text, downSource };
    }),
  );
}
