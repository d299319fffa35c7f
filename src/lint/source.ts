/**
 * A migration file as the lint rules see it: every top-level statement with its parser node,
 * where it starts (line and column of its first token, not of the comments above it), the
 * `-- slipway:ignore` comments written above it, and whether it runs inside a transaction.
 */
import { SourceError, UsageError } from '../errors.js';
import { cutIntoPieces, hasNoTransactionMarker, loadParser, noTransactionReason, parseStatements, type ParseMemo, type RawStatement } from '../migrations/statements.js';

/** A parser node: the libpg-query JSON of one statement or expression. */
export type Node = Record<string, unknown>;

/** A file to lint: where it came from (for messages) and its text. */
export interface LintSource {
  readonly source: string;
  readonly sql: string;
}

/** One `-- slipway:ignore rule-id reason` comment. */
export interface IgnoreComment {
  readonly rule: string;
  readonly reason: string;
  readonly line: number;
}

export interface LintStatement {
  /** The parser's node type, e.g. `IndexStmt`. */
  readonly kind: string;
  readonly node: Node;
  /** 1-based line and column of the statement's first token. */
  readonly line: number;
  readonly column: number;
  /** Ignore comments between the previous statement and this one. */
  readonly ignores: readonly IgnoreComment[];
  /** Inside a `BEGIN … COMMIT` block the file itself opened (a whole-file wrapper included). */
  readonly inOwnBlock: boolean;
  /** Runs in a transaction together with the rest of its file (slipway's or the author's block). */
  readonly inTransaction: boolean;
  /** For `BEGIN`/`COMMIT`/`ROLLBACK`: what it does to the file's own transaction. */
  readonly control: 'begin' | 'end' | null;
}

export interface ParsedFile {
  readonly source: string;
  readonly text: string;
  readonly statements: readonly LintStatement[];
  /** True when slipway runs the whole file in one transaction (see `parseSql`). */
  readonly transactional: boolean;
  /** 1-based line and column of a parser location (a byte offset into the file). */
  position(byteOffset: number): { line: number; column: number };
  /** The text of a 1-based line, for the caret display. */
  lineText(line: number): string;
}

/** Files longer than this are parsed in pieces cut between statements, as `parseSql` does. */
const PIECE_CHARS = 1_000_000;


/**
 * Parses a file for linting with the real Postgres parser. `knownRules` validates the rule ids
 * of ignore comments: an unknown one, or one without a reason, is a {@link UsageError} naming
 * the file and line; SQL that does not parse is a {@link SourceError} naming them.
 *
 * @example
 * const file = await parseForLint({ source: '005.up.sql', sql: 'CREATE INDEX i ON t (a);' }, new Set(['require-concurrent-index-creation']));
 * file.statements[0].kind; // 'IndexStmt'
 */
export async function parseForLint(input: LintSource, knownRules: ReadonlySet<string>, memo?: ParseMemo): Promise<ParsedFile> {
  const text = input.sql;
  const { parse } = await loadParser();
  const lineStarts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  const toChar = byteToChar(text);
  const position = (byteOffset: number) => charPosition(lineStarts, toChar(byteOffset));

  const raw: Array<{ kind: string; node: Node; start: number; end: number }> = [];
  const pieces = text.length > PIECE_CHARS * 2 ? cutIntoPieces(text, PIECE_CHARS) : [{ start: 0, end: text.length }];
  for (const piece of pieces) {
    const pieceText = pieces.length === 1 ? text : text.slice(piece.start, piece.end);
    let result: { stmts?: RawStatement[] };
    try {
      result = pieces.length === 1 ? { stmts: await parseStatements(text, memo) } : ((await parse(pieceText)) as unknown as { stmts?: RawStatement[] });
    } catch (error) {
      const cursor = (error as { sqlDetails?: { cursorPosition?: number } }).sqlDetails?.cursorPosition;
      const where = cursor === undefined ? '' : `:${charPosition(lineStarts, piece.start + codePointsToIndex(pieceText, cursor)).line}`;
      throw new SourceError(`${input.source}${where}: ${(error as Error).message}; fix the SQL before linting it`);
    }
    const base = pieces.length === 1 ? 0 : Buffer.byteLength(text.slice(0, piece.start), 'utf8');
    const pieceBytes = pieces.length === 1 ? null : Buffer.byteLength(pieceText, 'utf8');
    for (const entry of result.stmts ?? []) {
      const [kind, node] = Object.entries(entry.stmt)[0]!;
      const start = base + (entry.stmt_location ?? 0);
      const end = entry.stmt_len === undefined || entry.stmt_len === 0 ? base + (pieceBytes ?? Buffer.byteLength(text, 'utf8')) : start + entry.stmt_len;
      raw.push({ kind, node, start, end });
      // Locations inside the node are relative to the piece: shift them to the file.
      if (base !== 0) shiftLocations(node, base);
    }
  }

  // Leading comments: between the previous statement's end and this one's first token.
  const gaps: Array<{ first: number; ignores: IgnoreComment[] }> = raw.map((r, i) => scanGap(text, i === 0 ? 0 : toChar(raw[i - 1]!.end), toChar(r.end), lineStarts, input.source, knownRules));
  const lastEnd = raw.length === 0 ? 0 : toChar(raw.at(-1)!.end);
  const trailing = scanGap(text, lastEnd, text.length, lineStarts, input.source, knownRules);
  if (trailing.ignores.length > 0) {
    const at = trailing.ignores[0]!;
    throw new UsageError(`${input.source}:${at.line}: slipway:ignore ${at.rule} is followed by no statement: put it on the line above the statement it is about`);
  }

  // Transactions: a file either runs in slipway's transaction, or manages its own (see parseSql).
  const controls = raw.map((r) => transactionControl(r.kind, r.node));
  const last = raw.length - 1;
  const wrapped = raw.length >= 2 && controls[0] === 'begin' && controls[last] === 'end' && controls.slice(1, last).every((c) => c === null);
  const ownTransactions = !wrapped && controls.some((c) => c !== null);
  const refusesTransaction = raw.some((r) => noTransactionReason(r.kind, r.node) !== null);
  const transactional = !ownTransactions && !refusesTransaction && !hasNoTransactionMarker(text);

  let open = false;
  const statements: LintStatement[] = raw.map((r, i) => {
    const control = controls[i]!;
    const inOwnBlock = open && control === null;
    if (control === 'begin') open = true;
    else if (control === 'end') open = false;
    const { line, column } = charPosition(lineStarts, gaps[i]!.first);
    return { kind: r.kind, node: r.node, line, column, ignores: gaps[i]!.ignores, inOwnBlock, inTransaction: transactional || inOwnBlock, control };
  });
  return {
    source: input.source,
    text,
    statements,
    transactional,
    position,
    lineText: (line) => text.slice(lineStarts[line - 1] ?? text.length, (lineStarts[line] ?? text.length + 1) - 1).replace(/\r$/, ''),
  };
}

function transactionControl(kind: string, node: Node): 'begin' | 'end' | null {
  if (kind !== 'TransactionStmt') return null;
  switch (node.kind) {
    case 'TRANS_STMT_BEGIN':
    case 'TRANS_STMT_START':
      return 'begin';
    case 'TRANS_STMT_COMMIT':
    case 'TRANS_STMT_ROLLBACK':
      return node.chain === true ? null : 'end';
    default:
      return null;
  }
}

const IGNORE = /^--\s*slipway:ignore\b[ \t]*(\S*)[ \t]*(.*)$/;

/**
 * Skips whitespace and comments from `from`; returns where the statement's first token is, and
 * the ignore comments on the way (validated).
 */
function scanGap(text: string, from: number, to: number, lineStarts: readonly number[], source: string, knownRules: ReadonlySet<string>): { first: number; ignores: IgnoreComment[] } {
  const ignores: IgnoreComment[] = [];
  let i = from;
  while (i < to) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 0x3b /* ; */) i++;
    else if (c === 45 && text.charCodeAt(i + 1) === 45) {
      let end = text.indexOf('\n', i);
      if (end === -1) end = text.length;
      const match = IGNORE.exec(text.slice(i, end).trimEnd());
      if (match !== null) {
        const line = charPosition(lineStarts, i).line;
        const rule = match[1]!;
        if (rule === '') throw new UsageError(`${source}:${line}: slipway:ignore needs a rule id and a reason, e.g. -- slipway:ignore require-concurrent-index-creation the table is empty`);
        if (!knownRules.has(rule)) throw new UsageError(`${source}:${line}: unknown rule ${JSON.stringify(rule)} in slipway:ignore; slipway lint --list-rules names them`);
        if (match[2]!.trim() === '') throw new UsageError(`${source}:${line}: slipway:ignore ${rule} needs a reason after the rule id, e.g. -- slipway:ignore ${rule} the table is empty`);
        ignores.push({ rule, reason: match[2]!.trim(), line });
      }
      i = end;
    } else if (c === 47 && text.charCodeAt(i + 1) === 42) {
      let depth = 1;
      i += 2;
      while (i < to && depth > 0) {
        if (text.charCodeAt(i) === 47 && text.charCodeAt(i + 1) === 42) (depth++, (i += 2));
        else if (text.charCodeAt(i) === 42 && text.charCodeAt(i + 1) === 47) (depth--, (i += 2));
        else i++;
      }
    } else break;
  }
  return { first: Math.min(i, text.length), ignores };
}

/** Maps byte offsets (the parser's) to string indexes; the identity for ASCII text. */
function byteToChar(text: string): (byteOffset: number) => number {
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 127) {
      ascii = false;
      break;
    }
  }
  if (ascii) return (b) => Math.min(b, text.length);
  const bytes = Buffer.byteLength(text, 'utf8');
  const map = new Uint32Array(bytes + 1);
  let b = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.codePointAt(i)!;
    const size = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    for (let k = 0; k < size; k++) map[b + k] = i;
    b += size;
    if (code > 0xffff) i++;
  }
  map[bytes] = text.length;
  return (offset) => map[Math.max(0, Math.min(offset, bytes))]!;
}

function charPosition(lineStarts: readonly number[], index: number): { line: number; column: number } {
  let lo = 0;
  let hi = lineStarts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (lineStarts[mid]! <= index) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, column: index - lineStarts[lo]! + 1 };
}

function codePointsToIndex(text: string, codePoints: number): number {
  let index = 0;
  for (let n = 0; n < codePoints && index < text.length; n++) index += text.codePointAt(index)! > 0xffff ? 2 : 1;
  return index;
}

function shiftLocations(value: unknown, by: number): void {
  if (Array.isArray(value)) for (const item of value) shiftLocations(item, by);
  else if (value !== null && typeof value === 'object') {
    const node = value as Record<string, unknown>;
    for (const key of Object.keys(node)) {
      if (key === 'location' && typeof node[key] === 'number' && (node[key] as number) >= 0) node[key] = (node[key] as number) + by;
      else shiftLocations(node[key], by);
    }
  }
}
