/**
 * The examples of a Markdown page, as the docs test runs them (docs/contributing.md, "Examples
 * in the docs"):
 *
 * - a ```console block is a shell session: each `$ ` line is a command (a trailing `\` goes on
 *   to the next line), the lines after it, up to the next command, what it prints (stdout and
 *   stderr, as a terminal shows them). It must exit 0, or with the code its trailing `# exit N`
 *   comment names; a command followed by `$ echo $?` may exit with the code that shows.
 * - a code block whose first line is a comment naming a file (`-- migrations/001_x.up.sql`,
 *   `# seeds/01_x.yaml`, `// main.ts`) is that file in the reader's project; in a SQL block each
 *   such line starts another file. It is written when the page reaches it.
 * - a ```ts or ```js block without a file name is a program: it runs, and must exit 0.
 * - a block followed by a paragraph `(Not run by the docs test: <reason>)` is not run; the test
 *   keeps the list of those, each with the test that covers it.
 *
 * What differs from run to run is compared as a placeholder (see {@link normalize}); `…` in the
 * shown output stands for any text on its line, and on a line of its own for any lines.
 */

export interface Command {
  /** The command as the reader types it (continuation lines joined with their `\`). */
  readonly text: string;
  /** Line of the `$` in the page, from 1. */
  readonly line: number;
  /** The exit code it must end with; null: whatever the `echo $?` after it shows. */
  readonly exit: number | null;
  /** What the page shows it prints. */
  readonly output: string;
}

/** A block's `line` is its opening fence's. */
export type Block =
  | { readonly kind: 'console'; readonly line: number; readonly commands: readonly Command[]; readonly notRun: string | null }
  | { readonly kind: 'files'; readonly line: number; readonly files: ReadonlyArray<{ path: string; text: string }> }
  | { readonly kind: 'program'; readonly line: number; readonly lang: 'ts' | 'js'; readonly code: string; readonly notRun: string | null };

const ESC = String.fromCharCode(0x1b);
const FILE_HEADER = /^(?:--|#|\/\/) ([\w.-]+(?:\/[\w.-]+)*\.[a-z]+)$/;
const NOT_RUN = /^\(Not run by the docs test: (.+)\)$/;

/** The runnable blocks of a page, in order. */
export function examplesOf(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\w*)/.exec(lines[i]!);
    if (open === null) continue;
    const indent = open[1]!.length;
    const lang = open[2]!;
    const start = i + 1;
    const body: string[] = [];
    for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]!); i++) body.push(lines[i]!.slice(indent));
    let next = i + 1;
    while (next < lines.length && lines[next]!.trim() === '') next++;
    const notRun = NOT_RUN.exec(lines[next]?.trim() ?? '')?.[1] ?? null;
    if (lang === 'console') blocks.push({ kind: 'console', line: start, commands: commandsOf(body, start + 1), notRun });
    else if (FILE_HEADER.test(body[0] ?? '')) blocks.push({ kind: 'files', line: start, files: filesOf(body, lang) });
    else if (lang === 'ts' || lang === 'js') blocks.push({ kind: 'program', line: start, lang, code: `${body.join('\n')}\n`, notRun });
  }
  return blocks;
}

function filesOf(body: readonly string[], lang: string): Array<{ path: string; text: string }> {
  const files: Array<{ path: string; text: string }> = [];
  for (const line of body) {
    const header = FILE_HEADER.exec(line);
    // A SQL block may hold several files; elsewhere the header is the first line only.
    if (header !== null && (lang === 'sql' || files.length === 0)) files.push({ path: header[1]!, text: '' });
    else files[files.length - 1]!.text += `${line}\n`;
  }
  return files;
}

function commandsOf(body: readonly string[], firstLine: number): Command[] {
  const commands: Array<{ text: string; line: number; output: string[] }> = [];
  for (let i = 0; i < body.length; i++) {
    const line = body[i]!;
    if (line.startsWith('$ ')) {
      let text = line.slice(2);
      const at = i;
      while (text.endsWith('\\') && i + 1 < body.length) text = `${text}\n${body[++i]!}`;
      commands.push({ text, line: firstLine + at, output: [] });
    } else if (commands.length > 0) commands[commands.length - 1]!.output.push(line);
    else throw new Error(`line ${firstLine + i}: a console block starts with a command ($ …), not with output`);
  }
  return commands.map((c, i) => {
    const stated = /#\s*exit (\d+)\s*$/.exec(c.text);
    const echoed = commands[i + 1]?.text.trim() === 'echo $?';
    return { text: c.text, line: c.line, exit: stated ? Number(stated[1]) : echoed ? null : 0, output: c.output.join('\n') };
  });
}

/**
 * What varies between runs, replaced by a placeholder in the shown and in the real output alike:
 * terminal escapes and carriage returns (a line rewritten in place shows as its last state),
 * clock times `[13:40:41]`, timestamps `2026-11-25 13:40:41Z` and ISO ones, durations with a unit
 * (`9 ms`, `4.5 s`), ports of 127.0.0.1 and localhost (`-p 5432` too), backend pids (`pid 29431`),
 * and the JSON fields `time`, `pid`, `durationMs`. Trailing spaces and blank lines at either end
 * are dropped.
 */
export function normalize(text: string): string {
  return text
    .replace(new RegExp(`${ESC}\\[[0-9;?]*[A-Za-z]`, 'g'), '')
    .replace(/\r\n/g, '\n')
    .split('\n')
    .map((line) => line.slice(line.lastIndexOf('\r') + 1).trimEnd())
    .join('\n')
    .replace(/\[\d\d:\d\d:\d\d(?:\.\d+)?\]/g, '[<clock>]')
    .replace(/\b\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?Z/g, '<timestamp>')
    .replace(/(?<![\w.])\d+(?:\.\d+)? ?(?:ms|s)\b/g, '<duration>')
    .replace(/\b(127\.0\.0\.1|localhost):\d+/g, '$1:<port>')
    .replace(/ -p \d+\b/g, ' -p <port>')
    .replace(/\bpid \d+/g, 'pid <pid>')
    .replace(/"(time|pid|durationMs)":\d+/g, '"$1":<n>')
    .replace(/^\n+|\n+$/g, '');
}

/** Whether `actual` prints what `shown` shows, placeholders and `…` aside. */
export function matches(shown: string, actual: string): boolean {
  const expected = normalize(shown);
  const pattern = expected
    .split('\n')
    .map((line) =>
      line.trim() === '…' ? '(?:[^\\n]*\\n)*?' : `${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/…/g, '[^\\n]*?')}\\n`,
    )
    .join('');
  return new RegExp(`^${pattern}$`).test(`${normalize(actual)}\n`) || (expected === '' && normalize(actual) === '');
}
