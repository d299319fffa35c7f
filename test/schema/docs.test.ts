import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate } from '../../src/index.js';
import { CLI, cleanEnv } from '../support/cli.js';
import { freshDatabase, silentLogger, type FreshDatabase } from '../support/db.js';
import { tempFolder } from '../support/files.js';
import { EVERY_KIND } from './fixture.js';

/**
 * The console examples of docs/schema.md, run as written: each `$ ` line runs in a project folder
 * whose DATABASE_URL is a database of its own (`slipway` is the built CLI, logging as on a
 * terminal), and the lines after it, up to the next `$ `, are its output, where `…` stands for any text.
 */
const doc = readFileSync('docs/schema.md', 'utf8');

function consoleBlock(heading: string): string {
  const section = doc.slice(doc.indexOf(`\n## ${heading}\n`));
  return /```console\n([\s\S]*?)```/.exec(section)![1]!;
}

async function runBlock(block: string, cwd: string, databaseUrl: string): Promise<void> {
  const steps = block.split(/^\$ /m).filter(Boolean);
  for (const step of steps) {
    const [command, ...expected] = step.replace(/\n$/, '').split('\n');
    const [program, ...args] = command!.split(' ');
    // The CLI logs as on a terminal, where the doc's reader runs it.
    const terminal = args.some((a) => a.startsWith('--log-format')) ? [] : ['--log-format', 'pretty'];
    const [file, argv] = program === 'slipway' ? [process.execPath, [CLI, ...args, ...terminal]] : [program!, args];
    const { stdout, stderr } = await promisify(execFile)(file, argv, { cwd, env: cleanEnv({ DATABASE_URL: databaseUrl }) });
    const pattern = expected.map((line) => line.split('…').map(literally).join('.*?')).join('\n');
    expect(`${command}\n${stdout}${stderr}`).toMatch(
      new RegExp(`^${literally(command!)}\\n${pattern}${expected.length > 0 ? '\\n' : ''}$`),
    );
  }
}

const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

let db: FreshDatabase | undefined;
afterEach(async () => {
  await db?.drop();
  db = undefined;
});

describe('docs/schema.md', () => {
  it('the dump example: the head of the file dump writes for a schema of every kind', async () => {
    db = await freshDatabase();
    await migrate({
      databaseUrl: db.url,
      migrations: [{ version: '001_every_kind', up: EVERY_KIND }],
      direction: 'up',
      logger: silentLogger,
    });
    await runBlock(consoleBlock('dump'), tempFolder({}), db.url);
  });

  it('the up --dump example: the file written after a run, with its bookkeeping rows', async () => {
    db = await freshDatabase();
    const project = tempFolder({});
    mkdirSync(path.join(project, 'migrations'));
    mkdirSync(path.join(project, 'db'));
    writeFileSync(
      path.join(project, 'migrations/001_create_users.up.sql'),
      'CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);\n',
    );
    await runBlock(consoleBlock('The schema file after every run'), project, db.url);
  });
});
