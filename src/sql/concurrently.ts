/**
 * `CREATE [UNIQUE] INDEX CONCURRENTLY …` with the keyword turned into blanks: the same index,
 * built in one pass under a SHARE lock, and allowed in a transaction block. Null for any text
 * that does not start so (comments and whitespace between the words are fine). Blanks, not a
 * cut: the rest of the text keeps its place.
 *
 * @example withoutConcurrently('CREATE INDEX CONCURRENTLY i ON t (a)') // 'CREATE INDEX              i ON t (a)'
 */
export function withoutConcurrently(statement: string): string | null {
  let at = 0;
  /** The next word, lowercased, after whitespace and comments; `at` moves past it. */
  const word = (): { text: string; start: number } | null => {
    at = pastBlanks(statement, at);
    const start = at;
    while (at < statement.length && /[A-Za-z0-9_$]/.test(statement[at]!)) at++;
    return at === start ? null : { text: statement.slice(start, at).toLowerCase(), start };
  };
  if (word()?.text !== 'create') return null;
  let next = word();
  if (next?.text === 'unique') next = word();
  if (next?.text !== 'index') return null;
  const keyword = word();
  if (keyword?.text !== 'concurrently') return null;
  return `${statement.slice(0, keyword.start)}${' '.repeat(at - keyword.start)}${statement.slice(at)}`;
}

/** The index past whitespace, `--` comments and (nested) block comments from `at`, as PostgreSQL's lexer skips them. */
function pastBlanks(text: string, at: number): number {
  for (;;) {
    while (at < text.length && ' \t\n\r\f\v'.includes(text[at]!)) at++;
    if (text.startsWith('--', at)) {
      const end = text.indexOf('\n', at);
      at = end < 0 ? text.length : end + 1;
    } else if (text.startsWith('/*', at)) {
      let depth = 0;
      do {
        if (text.startsWith('/*', at)) depth++, (at += 2);
        else if (text.startsWith('*/', at)) depth--, (at += 2);
        else at++;
      } while (depth > 0 && at < text.length);
    } else {
      return at;
    }
  }
}
