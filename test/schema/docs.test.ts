import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate } from '../../src/index.js';
import { CLI, cleanEnv } from '../support/cli.js';
import { databaseUrl, freshDatabase, silentLogger, type FreshDatabase } from '../support/db.js';
import { tempFolder } from '../support/files.js';
import { EVERY_KIND } from './fixture.js';

/**
 * The console examples of docs/schema.md, run as written: each `$ ` line runs in a project folder
 * whose DATABASE_URL is a database of its own (`slipway` is the built CLI, logging as on a
 * terminal; `echo $?` prints the previous exit code), and the lines after it, up to the next
 * `$ `, are its output, where `…` stands for any text.
 */
const doc = readFileSync('docs/schema.md', 'utf8');

function consoleBlock(heading: string): string {
  const section = doc.slice(doc.indexOf(`\n## ${heading}\n`));
  return /```console\n([\s\S]*?)```/.exec(section)![1]!;
}

/** `urls` maps a connection string the doc shows to the one the test gives it. */
async function runBlock(block: string, cwd: string, url: string, urls: Record<string, string> = {}): Promise<void> {
  let exitCode = 0;
  for (const step of block.split(/^\$ /m).filter(Boolean)) {
    const [command, ...expected] = step.replace(/\n$/, '').split('\n');
    const [program, ...args] = command!.split(' ').map((a) => urls[a] ?? a);
    let output: string;
    if (command === 'echo $?') output = `${exitCode}\n`;
    else {
      // The CLI logs as on a terminal, where the doc's reader runs it.
      const terminal = args.some((a) => a.startsWith('--log-format')) ? [] : ['--log-format', 'pretty'];
      const [file, argv] = program === 'slipway' ? [process.execPath, [CLI, ...args, ...terminal]] : [program!, args];
      const result = await promisify(execFile)(file, argv, { cwd, env: cleanEnv({ DATABASE_URL: url }) }).then(
        (r) => ({ ...r, code: 0 }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
      exitCode = result.code;
      output = result.stdout + result.stderr;
    }
    const pattern = expected.map((line) => line.split('…').map(literally).join('.*?')).join('\n');
    expect(`${command}\n${output}`).toMatch(new RegExp(`^${literally(command!)}\\n${pattern}${expected.length > 0 ? '\\n' : ''}$`));
  }
}

const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A project folder with these migrations in ./migrations (the CLI's default). */
function project(migrations: Record<string, string>): string {
  const dir = tempFolder({});
  mkdirSync(path.join(dir, 'migrations'));
  mkdirSync(path.join(dir, 'db'));
  for (const [name, sql] of Object.entries(migrations)) writeFileSync(path.join(dir, 'migrations', name), sql);
  return dir;
}

const USERS_ORDERS = {
  '001_users.up.sql':
    "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, plan text DEFAULT 'free', CONSTRAINT email_at CHECK (email LIKE '%@%'));",
  '002_orders.up.sql': 'CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users);',
};

const databases: FreshDatabase[] = [];
async function database(): Promise<FreshDatabase> {
  const db = await freshDatabase();
  databases.push(db);
  return db;
}
afterEach(async () => {
  await Promise.all(databases.splice(0).map((db) => db.drop()));
});

describe('docs/schema.md', () => {
  it('the dump example: the head of the file dump writes for a schema of every kind', async () => {
    const db = await database();
    await migrate({
      databaseUrl: db.url,
      migrations: [{ version: '001_every_kind', up: EVERY_KIND }],
      direction: 'up',
      logger: silentLogger,
    });
    await runBlock(consoleBlock('dump'), tempFolder({}), db.url);
  });

  // The up --dump example runs in test/example/doc-examples.test.ts, as the page shows it.

  it('the load example: into the empty database ci_fresh, then refused there', async () => {
    const db = await database();
    const dir = project(USERS_ORDERS);
    await migrate({ databaseUrl: db.url, dir: path.join(dir, 'migrations'), direction: 'up', logger: silentLogger });
    await runBlock('$ slipway dump --out schema.sql --log-level warn\n', dir, db.url);
    // The doc's database, by its name.
    const server = new pg.Client({ connectionString: databaseUrl() });
    await server.connect();
    await server.query('DROP DATABASE IF EXISTS ci_fresh WITH (FORCE)');
    await server.query('CREATE DATABASE ci_fresh');
    try {
      const ciFresh = Object.assign(new URL(databaseUrl()), { pathname: '/ci_fresh' }).toString();
      await runBlock(consoleBlock('load'), dir, db.url, { 'postgres://localhost/ci_fresh': ciFresh });
    } finally {
      await server.query('DROP DATABASE IF EXISTS ci_fresh WITH (FORCE)');
      await server.end();
    }
  });

  it('the drift example: a changed default, a dropped constraint and an index made by hand', async () => {
    const db = await database();
    const dir = project(USERS_ORDERS);
    await migrate({ databaseUrl: db.url, dir: path.join(dir, 'migrations'), direction: 'up', logger: silentLogger });
    await db.admin.query(`CREATE INDEX users_email_idx ON users (email);
      ALTER TABLE users ALTER COLUMN plan SET DEFAULT 'trial';
      ALTER TABLE users DROP CONSTRAINT email_at`);
    await runBlock(consoleBlock('drift'), dir, db.url);
  });

  it('the verify example: a down that forgets an index, one naming a table that is not there', async () => {
    const db = await database();
    const dir = project({
      '001_users.up.sql': 'CREATE TABLE users (id int PRIMARY KEY, email text);',
      '001_users.down.sql': 'DROP TABLE users;',
      '002_email.up.sql': 'ALTER TABLE users ADD COLUMN name text;\nCREATE INDEX users_email_idx ON users (email);',
      '002_email.down.sql': 'ALTER TABLE users DROP COLUMN name;',
      '003_orders.up.sql': 'CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users);',
      '003_orders.down.sql': 'DROP TABLE order_items;',
      '004_note.up.sql': 'ALTER TABLE users ADD COLUMN note text;',
      '005_view.up.sql': 'CREATE VIEW user_notes AS SELECT id, note FROM users;',
      '005_view.down.sql': 'DROP VIEW user_notes;',
    });
    await runBlock(consoleBlock('verify'), dir, db.url);
  });
});
