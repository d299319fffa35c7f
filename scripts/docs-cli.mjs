#!/usr/bin/env node
// Writes the command reference of docs/cli.md from the commands themselves (dist/cli/main.js, built
// by npm run build): every command, argument and flag with its environment variable, default and
// help text, the same that `slipway <command> --help` prints. `--check` writes nothing and exits 1
// when docs/cli.md is not what this would write (test/cli/reference.test.ts runs it).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const file = path.join(root, 'docs/cli.md');
const BEGIN = '<!-- reference: written by npm run docs:cli from src/cli/main.ts; do not edit by hand -->';
const END = '<!-- end of reference -->';

/** The reference section, from the program's commands. */
export async function reference() {
  const { main } = await import(path.join(root, 'dist/cli/main.js'));
  let program;
  await main([], { describe: (p) => (program = p) });
  const lines = [BEGIN, '', '## Commands', ''];
  const walk = (command, prefix) => {
    for (const sub of command.commands) {
      const name = `${prefix} ${sub.name()}`;
      if (sub.commands.length > 0 && sub.options.length === 0) {
        lines.push(`### ${name}`, '', text(sub.description()), '');
        walk(sub, name);
        continue;
      }
      lines.push(`### ${name}`, '', text(sub.description()), '', '```', `${name} ${sub.usage()}`, '```', '');
      const rows = [
        ...sub.registeredArguments.map((a) => [
          `\`${a.required ? `<${a.name()}${a.variadic ? '...' : ''}>` : `[${a.name()}${a.variadic ? '...' : ''}]`}\``,
          '',
          a.defaultValue === undefined ? '' : `\`${a.defaultValue}\``,
          text(`${a.description}${a.argChoices ? ` (${a.argChoices.join(', ')})` : ''}`),
        ]),
        ...sub.options
          .filter((o) => !o.hidden)
          .map((o) => [
            `\`${o.flags}\``,
            o.envVar ? `\`${o.envVar}\`` : '',
            o.negate ? '' : `\`${o.defaultValueDescription ?? o.defaultValue ?? ''}\``.replace(/^``$/, ''),
            text(`${o.description}${o.argChoices ? ` (${o.argChoices.join(', ')})` : ''}`),
          ]),
      ];
      if (rows.length > 0) {
        lines.push('| argument or flag | env | default | |', '| --- | --- | --- | --- |');
        for (const row of rows) lines.push(`| ${row.map(cell).join(' | ')} |`);
        lines.push('');
      }
      if (sub.commands.length > 0) walk(sub, name);
    }
  };
  walk(program, 'slipway');
  lines.push(END);
  return lines.join('\n');
}

function cell(value) {
  return String(value).replace(/\|/g, '\\|');
}

/** Help text as Markdown prose: `<name>` is shown, not taken for an HTML tag. */
function text(value) {
  return String(value).replace(/</g, '&lt;');
}

/** docs/cli.md with its reference section replaced. */
export async function updated(text) {
  const from = text.indexOf(BEGIN);
  const to = text.indexOf(END);
  if (from === -1 || to === -1) throw new Error(`docs/cli.md has no reference section (${BEGIN} … ${END})`);
  return text.slice(0, from) + (await reference()) + text.slice(to + END.length);
}

if (process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname) {
  const text = readFileSync(file, 'utf8');
  const next = await updated(text);
  if (process.argv.includes('--check')) {
    if (next !== text) {
      process.stderr.write('docs/cli.md: its command reference is not what the code says: run npm run docs:cli\n');
      process.exit(1);
    }
  } else if (next !== text) {
    writeFileSync(file, next);
    process.stdout.write('docs/cli.md: command reference written\n');
  } else process.stdout.write('docs/cli.md: command reference up to date\n');
  process.exit(0);
}
