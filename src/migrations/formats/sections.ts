/**
 * Layouts of one `.sql` file per migration with up and down sections marked by comment lines:
 * dbmate, goose, sql-migrate and node-pg-migrate. Each section is handed over as the file's
 * text with every line outside it blanked, so Postgres's positions still point at the file's
 * lines; a section its format runs outside a transaction opens with slipway's marker.
 */
import { SourceError } from '../../errors.js';
import { checksumOf } from '../source.js';
import { NO_TRANSACTION_MARKER } from '../../sql/parse.js';
import { byBytes, inFolder, inOrder, readText, type FolderEntries, type MigrationParts } from './folder.js';
import type { Migration } from '../source.js';

export type SectionFormat = 'dbmate' | 'goose' | 'sql-migrate' | 'node-pg-migrate';

/** What one line of a file says to its format. */
type Marker =
  | { readonly kind: 'up' | 'down'; readonly noTransaction: boolean }
  /** goose's `NO TRANSACTION`: both directions. */
  | { readonly kind: 'no-transaction' }
  /** A line the format reads and slipway need not (goose's StatementBegin): kept as the comment it is. */
  | { readonly kind: 'comment' }
  | { readonly kind: 'refuse'; readonly why: string };

interface Grammar {
  /** How the format's up marker is written, for messages. */
  readonly up: string;
  /** Does a line of a file say this format? (Any of its markers.) */
  readonly says: RegExp;
  markerOf(line: string): Marker | null;
  /** The order the format runs its files in. */
  compare(a: string, b: string): number;
}

const leadingNumber = (name: string) => {
  const digits = /^\d+/.exec(name)?.[0];
  return digits === undefined ? null : BigInt(digits);
};
/** By leading number, then by name; names without one after those with one (sql-migrate's and goose's order). */
const byNumberThenName = (a: string, b: string) => {
  const [x, y] = [leadingNumber(a), leadingNumber(b)];
  if (x !== null && y !== null && x !== y) return x < y ? -1 : 1;
  if ((x === null) !== (y === null)) return x === null ? 1 : -1;
  return byBytes(a, b);
};

export const GRAMMARS: Record<SectionFormat, Grammar> = {
  // pkg/dbmate/migration.go: `-- migrate:up transaction:false`; files run in name order.
  dbmate: {
    up: '-- migrate:up',
    says: /^--\s*migrate:(up|down)(\s*$|\s+\S+)/m,
    markerOf(line) {
      const match = /^--\s*migrate:(up|down)(\s*$|\s+\S.*)$/.exec(line);
      if (match === null) return null;
      const options = match[2]!.trim().split(/\s+/);
      return { kind: match[1] as 'up' | 'down', noTransaction: options.includes('transaction:false') };
    },
    compare: byBytes,
  },
  // goose: `-- +goose Up`, `Down`, `StatementBegin`/`StatementEnd`, `NO TRANSACTION`, any case; files run in version order.
  goose: {
    up: '-- +goose Up',
    says: /^--.*\+goose\s+(up|down)\b/im,
    markerOf(line) {
      if (!line.trimStart().startsWith('--') || !line.includes('+goose')) return null;
      // goose refuses an indented annotation rather than read it as SQL: so does slipway.
      if (!line.startsWith('--'))
        return {
          kind: 'refuse',
          why: `an indented goose annotation, which goose refuses: start it at the beginning of the line (${line.trim()})`,
        };
      const command = line.replaceAll('--', '').replace('+goose', '').trim().toLowerCase().replace(/\s+/g, ' ');
      if (command === 'up' || command === 'down') return { kind: command, noTransaction: false };
      if (command === 'no transaction') return { kind: 'no-transaction' };
      if (command === 'statementbegin' || command === 'statementend' || command === 'envsub off') return { kind: 'comment' };
      if (command === 'envsub on')
        return {
          kind: 'refuse',
          why: 'ENVSUB ON asks goose to expand environment variables, which slipway does not do: write the values into the SQL',
        };
      return { kind: 'refuse', why: `an annotation goose does not know (${line.trim()})` };
    },
    compare: byNumberThenName,
  },
  // sql-migrate: `-- +migrate Up [notransaction]`, StatementBegin/End; numbered files in number order, then the others by name.
  'sql-migrate': {
    up: '-- +migrate Up',
    says: /^-- \+migrate (Up|Down)\b/m,
    markerOf(line) {
      if (!line.startsWith('-- +migrate ')) return null;
      const [command, ...options] = line.slice('-- +migrate '.length).trim().split(/\s+/);
      if (command === 'Up' || command === 'Down')
        return { kind: command === 'Up' ? 'up' : 'down', noTransaction: options.includes('notransaction') };
      if (command === 'StatementBegin' || command === 'StatementEnd') return { kind: 'comment' };
      return { kind: 'refuse', why: `a command sql-migrate does not know (${line.trim()})` };
    },
    compare: byNumberThenName,
  },
  // node-pg-migrate's SQL files: `-- Up Migration` / `-- Down Migration`, in number order.
  'node-pg-migrate': {
    up: '-- Up Migration',
    says: /^\s*--[\s-]*(up|down)\s+migration/im,
    markerOf(line) {
      const match = /^\s*--[\s-]*(up|down)\s+migration/i.exec(line);
      return match === null ? null : { kind: match[1]!.toLowerCase() as 'up' | 'down', noTransaction: false };
    },
    compare: byNumberThenName,
  },
};

/**
 * Reads a folder of one-file migrations in `format`: every `.sql` file must have the format's
 * up marker. The version is the file's base name without `.sql`.
 */
export function readSectionFolder(entries: FolderEntries, format: SectionFormat): Migration[] {
  const grammar = GRAMMARS[format];
  const files = entries.files.filter((f) => /\.sql$/i.test(f)).sort(grammar.compare);
  return inOrder(files.map((file) => readSectionFile(inFolder(entries.dir, file), file.replace(/\.sql$/i, ''), format)));
}

/** One file of a section layout, split into its up and down sections. */
export function readSectionFile(file: string, version: string, format: SectionFormat): MigrationParts {
  const { text } = readText(file);
  const { up, down } = splitSections(text, file, format);
  return { version, upSql: up, checksum: checksumOf(up), upSource: file, downSql: down, downSource: down === null ? null : file };
}

/** The up and down sections of a file's text (down null when it has none). Pure. */
export function splitSections(text: string, source: string, format: SectionFormat): { up: string; down: string | null } {
  const grammar = GRAMMARS[format];
  const lines = text.split('\n');
  const owner: Array<'up' | 'down' | null> = lines.map(() => null);
  const noTransaction = { up: false, down: false };
  let fileNoTransaction = false;
  let current: 'up' | 'down' | null = null;
  /** The first line of SQL outside every section. */
  let stray: number | null = null;
  const seen = new Set<string>();
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    const marker = grammar.markerOf(line);
    if (marker?.kind === 'refuse') throw new SourceError(`${source}:${i + 1}: ${marker.why}`);
    if (marker?.kind === 'no-transaction') fileNoTransaction = true;
    else if (marker?.kind === 'up' || marker?.kind === 'down') {
      if (seen.has(marker.kind)) {
        throw new SourceError(
          `${source}:${i + 1}: a second ${marker.kind} section: slipway reads one up and one down section per ${format} file; split it into two migrations`,
        );
      }
      seen.add(marker.kind);
      current = marker.kind;
      noTransaction[marker.kind] = marker.noTransaction;
    } else if (current !== null) owner[i] = current;
    else if (line.trim() !== '' && !line.trim().startsWith('--')) stray ??= i + 1;
  });
  if (!seen.has('up'))
    throw new SourceError(`${source} has no ${grammar.up} line, which every ${format} migration has: add it above the SQL to apply`);
  if (stray !== null)
    throw new SourceError(`${source}:${stray}: SQL before the first section, which ${format} would not run: move it under ${grammar.up}`);
  const section = (kind: 'up' | 'down') => {
    const kept = lines.map((line, i) => (owner[i] === kind ? line : ''));
    // Line 1 is never in a section (a marker comes first): it carries the marker without moving a line.
    if (noTransaction[kind] || fileNoTransaction) kept[0] = NO_TRANSACTION_MARKER;
    return kept.join('\n');
  };
  return { up: section('up'), down: seen.has('down') ? section('down') : null };
}

/** Which section formats a file's text says, by their markers (none, one, or several for a confusing file). */
export function sectionFormatsOf(text: string): SectionFormat[] {
  return (Object.keys(GRAMMARS) as SectionFormat[]).filter((format) => GRAMMARS[format].says.test(text));
}
