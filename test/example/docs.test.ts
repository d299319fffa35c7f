import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanEnv } from '../support/cli.js';
import { freshDatabase, type FreshDatabase } from '../support/db.js';
import { tempFolder } from '../support/files.js';

/** The README stays short, and no link in it or in docs/ leads nowhere (a file or a heading). */
const pages = [
  'README.md',
  ...readdirSync('docs')
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#+ (.+)$/gm)].map((m) => anchor(m[1]!)));
}

describe('the README and docs/', () => {
  it('the README is at most 200 lines', () => {
    expect(readFileSync('README.md', 'utf8').split('\n').length).toBeLessThanOrEqual(200);
  });

  it.each(pages)('every relative link of %s leads to a file, and to a heading there', (page) => {
    const text = readFileSync(page, 'utf8').replace(/```[\s\S]*?```/g, '');
    const broken: string[] = [];
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      const [file, hash] = target!.split('#') as [string, string | undefined];
      const resolved = file === '' ? page : path.join(path.dirname(page), file);
      if (!existsSync(resolved)) broken.push(target!);
      else if (hash !== undefined && resolved.endsWith('.md') && !anchorsOf(resolved).has(hash)) broken.push(target!);
    }
    expect(broken).toEqual([]);
  });
});

let db: FreshDatabase | undefined;
afterEach(async () => {
  await db?.drop();
  db = undefined;
});

describe("the README's startup example", () => {
  it('runs as written, from ESM, against a database of its own', async () => {
    const readme = readFileSync('README.md', 'utf8');
    const section = readme.slice(readme.indexOf('## Migrate at service startup'));
    const code = /```ts\n([\s\S]*?)```/.exec(section)![1]!;
    db = await freshDatabase();
    const project = tempFolder({});
    mkdirSync(path.join(project, 'migrations'));
    writeFileSync(path.join(project, 'migrations/001_create_users.up.sql'), 'CREATE TABLE users (id int);\n');
    writeFileSync(path.join(project, 'main.mjs'), code.replace("from 'slipway'", `from '${path.resolve('dist/index.js')}'`));
    const { stdout } = await promisify(execFile)(process.execPath, ['main.mjs'], { cwd: project, env: cleanEnv({ DATABASE_URL: db.url }) });
    expect(stdout).toMatch(/^\[ '001_create_users \d+ ms' \]$/m);
    expect((await db.admin.query('SELECT version FROM public.schema_migrations')).rows).toEqual([{ version: '001_create_users' }]);
  });
});

describe('the Makefile in a fresh clone', () => {
  it('make stop before make setup says there is nothing to stop, exit 0, no stack trace', async () => {
    const clone = tempFolder({ Makefile: readFileSync('Makefile', 'utf8') });
    const { stdout, stderr } = await promisify(execFile)('make', ['--no-print-directory', 'stop'], { cwd: clone, env: cleanEnv() });
    expect([stdout, stderr]).toEqual(['nothing to stop: slipway is not built yet (make setup)\n', '']);
  });
});
