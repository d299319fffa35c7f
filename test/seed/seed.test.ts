import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { AbortedError, SeedError } from '../../src/errors.js';
import { seed, type SeedOptions } from '../../src/commands/seed.js';
import type { SeedResult } from '../../src/seed/report.js';
import { migrate, type MigrateOptions } from '../../src/commands/migrate.js';
import { sandbox, silentLogger, type Sandbox } from '../support/db.js';
import { rejection } from '../support/errors.js';
import { seedDir } from './helpers.js';

let box: Sandbox;
afterEach(async () => box?.cleanup());

// Each seed key has its unique index (seed requires one); the lock is what keeps concurrent runs from working at once.
const SCHEMA = `
  CREATE TABLE workspaces (id serial PRIMARY KEY, slug text NOT NULL UNIQUE, name text NOT NULL);
  CREATE TABLE agents (id serial PRIMARY KEY, workspace_id int NOT NULL REFERENCES workspaces, name text NOT NULL, kind text NOT NULL DEFAULT 'human', UNIQUE (name, workspace_id));
  CREATE TABLE issues (
    id bigserial PRIMARY KEY, workspace_id int NOT NULL REFERENCES workspaces, number int NOT NULL, title text NOT NULL,
    assignee_id int REFERENCES agents, labels text[] NOT NULL DEFAULT '{}', meta jsonb, opened_on date);
  CREATE UNIQUE INDEX issues_number ON issues (workspace_id, number) INCLUDE (title);
  CREATE TABLE comments (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(), key text NOT NULL UNIQUE, issue_id bigint NOT NULL REFERENCES issues,
    parent_id uuid REFERENCES comments, body text NOT NULL);
`;

const ACME_ISSUE_1 = '{ $ref: issues, workspace_id: { $ref: workspaces, slug: acme }, number: 1 }';

const FILES: Record<string, string> = {
  '01_workspaces.yaml': `
table: workspaces
key: slug
rows:
  - { slug: acme, name: Acme }
  - { slug: globex, name: Globex }
`,
  '02_agents.json': JSON.stringify({
    table: 'agents',
    key: ['workspace_id', 'name'],
    rows: [
      { workspace_id: { $ref: 'workspaces', slug: 'globex' }, name: 'triage-bot', kind: 'ai' },
      { workspace_id: { $ref: 'workspaces', slug: 'acme' }, name: 'triage-bot', kind: 'ai' },
      { workspace_id: { $ref: 'workspaces', slug: 'acme' }, name: 'ada' },
    ],
  }),
  '03_issues.yaml': `
table: issues
key: [workspace_id, number]
rows:
  - workspace_id: { $ref: workspaces, slug: acme }
    number: 1
    title: Login fails
    assignee_id: { $ref: agents, workspace_id: { $ref: workspaces, slug: acme }, name: triage-bot }
    labels: [bug, 'say "hi", {x} \\o/']
    meta: { $ref: not-a-reference, priority: 1 }
    opened_on: 2024-03-01
  - workspace_id: { $ref: workspaces, slug: globex }
    number: 1
    title: Dark mode
`,
  // Listed child first: the parent chain c-1 <- c-2 <- c-3 must be written in three levels.
  '04_comments.yaml': `
table: comments
key: key
rows:
  - { key: c-3, issue_id: ${ACME_ISSUE_1}, parent_id: { $ref: comments, key: c-2 }, body: third }
  - { key: c-1, issue_id: ${ACME_ISSUE_1}, body: first }
  - { key: c-2, issue_id: ${ACME_ISSUE_1}, parent_id: { $ref: comments, key: c-1 }, body: second }
`,
  'README.md': 'not a seed file',
};

const TABLES = ['workspaces', 'agents', 'issues', 'comments'];
const ROWS = { workspaces: 2, agents: 3, issues: 2, comments: 3 };

function run(dir: string, extra: Partial<SeedOptions> = {}): Promise<SeedResult> {
  return seed({ databaseUrl: box.url, dir, lockKey: box.lockKey, logger: silentLogger, ...extra } as SeedOptions);
}

async function setUp(): Promise<void> {
  box = await sandbox();
  await box.admin.query(SCHEMA);
}

function counts(result: SeedResult) {
  return Object.fromEntries(result.tables.map((t) => [t.table, [t.inserted, t.skipped, t.conflicts.length, t.updated]]));
}

/** Every row of every table, ordered, as text: equal before and after means nothing changed. */
async function snapshot(client: pg.ClientBase = box.admin): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const table of TABLES)
    out[table] = (await client.query(`SELECT to_jsonb(t)::text AS row FROM ${table} t ORDER BY 1`)).rows.map((r) => r.row);
  return out;
}

async function rowCounts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of TABLES) out[table] = Number((await box.admin.query(`SELECT count(*) FROM ${table}`)).rows[0].count);
  return out;
}

describe('seed', () => {
  it('loads every file in name order, resolving references to rows of earlier files and of the same file', async () => {
    await setUp();
    const result = await run(seedDir(FILES));
    expect(counts(result)).toEqual({ workspaces: [2, 0, 0, 0], agents: [3, 0, 0, 0], issues: [2, 0, 0, 0], comments: [3, 0, 0, 0] });
    expect(result.dryRun).toBe(false);
    expect(await rowCounts()).toEqual(ROWS);

    const { rows: agents } = await box.admin.query(
      `SELECT w.slug, a.name, a.kind FROM agents a JOIN workspaces w ON w.id = a.workspace_id ORDER BY w.slug, a.name`,
    );
    expect(agents).toEqual([
      { slug: 'acme', name: 'ada', kind: 'human' },
      { slug: 'acme', name: 'triage-bot', kind: 'ai' },
      { slug: 'globex', name: 'triage-bot', kind: 'ai' },
    ]);
    const { rows: issues } = await box.admin.query(
      `SELECT w.slug, i.number, i.title, aw.slug AS assignee_workspace, a.name AS assignee, i.labels, i.meta, i.opened_on::text
         FROM issues i JOIN workspaces w ON w.id = i.workspace_id
         LEFT JOIN agents a ON a.id = i.assignee_id LEFT JOIN workspaces aw ON aw.id = a.workspace_id ORDER BY w.slug`,
    );
    expect(issues).toEqual([
      {
        slug: 'acme',
        number: 1,
        title: 'Login fails',
        assignee_workspace: 'acme',
        assignee: 'triage-bot',
        labels: ['bug', 'say "hi", {x} \\o/'],
        meta: { $ref: 'not-a-reference', priority: 1 },
        opened_on: '2024-03-01',
      },
      { slug: 'globex', number: 1, title: 'Dark mode', assignee_workspace: null, assignee: null, labels: [], meta: null, opened_on: null },
    ]);
    const { rows: comments } = await box.admin.query(
      `SELECT c.key, p.key AS parent, i.number FROM comments c LEFT JOIN comments p ON p.id = c.parent_id JOIN issues i ON i.id = c.issue_id ORDER BY c.key`,
    );
    expect(comments).toEqual([
      { key: 'c-1', parent: null, number: 1 },
      { key: 'c-2', parent: 'c-1', number: 1 },
      { key: 'c-3', parent: 'c-2', number: 1 },
    ]);
  });

  it('skips every row on a second run and changes nothing', async () => {
    await setUp();
    const dir = seedDir(FILES);
    await run(dir);
    const before = await snapshot();
    const again = await run(dir);
    expect(counts(again)).toEqual({ workspaces: [0, 2, 0, 0], agents: [0, 3, 0, 0], issues: [0, 2, 0, 0], comments: [0, 3, 0, 0] });
    expect(await snapshot()).toEqual(before);
  });

  it('reports a row whose values differ as a conflict and leaves it; update overwrites it', async () => {
    await setUp();
    const dir = seedDir(FILES);
    await run(dir);
    await box.admin.query(`UPDATE workspaces SET name = 'ACME Corp' WHERE slug = 'acme'`);
    await box.admin.query(`UPDATE issues SET title = 'Login broken', labels = '{}' WHERE number = 1 AND title = 'Login fails'`);
    const before = await snapshot();

    const reported = await run(dir);
    expect(counts(reported)).toEqual({ workspaces: [0, 1, 1, 0], agents: [0, 3, 0, 0], issues: [0, 1, 1, 0], comments: [0, 3, 0, 0] });
    const [workspace] = reported.tables.find((t) => t.table === 'workspaces')!.conflicts;
    expect(workspace).toMatchObject({
      key: { slug: 'acme' },
      at: { row: 1, line: 5 },
      columns: [{ column: 'name', seed: 'Acme', database: 'ACME Corp' }],
    });
    expect(workspace!.at.file).toMatch(/01_workspaces\.yaml$/);
    const [issue] = reported.tables.find((t) => t.table === 'issues')!.conflicts;
    expect(issue!.key).toEqual({ workspace_id: { $ref: 'workspaces', slug: 'acme' }, number: 1 });
    expect(issue!.columns).toEqual([
      { column: 'title', seed: 'Login fails', database: 'Login broken' },
      { column: 'labels', seed: '{"bug","say \\"hi\\", {x} \\\\o/"}', database: '{}' },
    ]);
    expect(await snapshot()).toEqual(before);

    const updated = await run(dir, { update: true });
    expect(counts(updated)).toEqual({ workspaces: [0, 1, 1, 1], agents: [0, 3, 0, 0], issues: [0, 1, 1, 1], comments: [0, 3, 0, 0] });
    expect((await box.admin.query(`SELECT name FROM workspaces WHERE slug = 'acme'`)).rows).toEqual([{ name: 'Acme' }]);
    expect((await box.admin.query(`SELECT title, labels FROM issues WHERE number = 1 ORDER BY workspace_id`)).rows).toEqual([
      { title: 'Login fails', labels: ['bug', 'say "hi", {x} \\o/'] },
      { title: 'Dark mode', labels: [] },
    ]);
    expect(counts(await run(dir))).toEqual({
      workspaces: [0, 2, 0, 0],
      agents: [0, 3, 0, 0],
      issues: [0, 2, 0, 0],
      comments: [0, 3, 0, 0],
    });
  });

  it('dryRun computes the same result and writes nothing', async () => {
    await setUp();
    const dir = seedDir(FILES);
    const dry = await run(dir, { dryRun: true });
    expect(dry.dryRun).toBe(true);
    expect(counts(dry)).toEqual({ workspaces: [2, 0, 0, 0], agents: [3, 0, 0, 0], issues: [2, 0, 0, 0], comments: [3, 0, 0, 0] });
    expect(await rowCounts()).toEqual({ workspaces: 0, agents: 0, issues: 0, comments: 0 });

    await run(dir);
    await box.admin.query(`UPDATE workspaces SET name = 'ACME Corp' WHERE slug = 'acme'`);
    const before = await snapshot();
    const dryUpdate = await run(dir, { dryRun: true, update: true });
    expect(counts(dryUpdate).workspaces).toEqual([0, 1, 1, 1]);
    expect(await snapshot()).toEqual(before);
  });

  it('8 concurrent runs, each on its own connection, all succeed and leave exactly one copy of every row', async () => {
    await setUp();
    // Every insert into workspaces takes 200 ms: without the lock, all eight would look up, find nothing and insert.
    await box.admin.query(`
      CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.2); RETURN NULL; END $$;
      CREATE TRIGGER slow BEFORE INSERT ON workspaces FOR EACH STATEMENT EXECUTE FUNCTION slow();`);
    const dir = seedDir(FILES);
    const clients = await Promise.all(Array.from({ length: 8 }, () => box.connect()));
    const results = await Promise.all(clients.map((client) => seed({ client, dir, lockKey: box.lockKey, logger: silentLogger })));

    expect(await rowCounts()).toEqual(ROWS);
    const { rows: duplicates } = await box.admin.query(`SELECT slug FROM workspaces GROUP BY slug HAVING count(*) > 1`);
    expect(duplicates).toEqual([]);
    const inserting = results.filter((r) => r.tables.some((t) => t.inserted > 0));
    expect(inserting).toHaveLength(1);
    expect(counts(inserting[0]!)).toEqual({ workspaces: [2, 0, 0, 0], agents: [3, 0, 0, 0], issues: [2, 0, 0, 0], comments: [3, 0, 0, 0] });
    for (const result of results.filter((r) => r !== inserting[0])) {
      expect(counts(result)).toEqual({ workspaces: [0, 2, 0, 0], agents: [0, 3, 0, 0], issues: [0, 2, 0, 0], comments: [0, 3, 0, 0] });
    }
    // The lock, not only the unique indexes, kept them apart: every run but the first waited for another to finish (200 ms at least).
    expect(results.filter((r) => r.lockWaitMs! >= 150)).toHaveLength(7);
  });

  it('waits for the seed lock held by another session', async () => {
    await setUp();
    const holder = await box.connect();
    await holder.query('SELECT pg_advisory_lock($1::bigint)', [box.lockKey.toString()]);
    let settled = false;
    const running = run(seedDir(FILES)).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 500));
    expect(settled).toBe(false);
    expect((await rowCounts()).workspaces).toBe(0);
    await holder.query('SELECT pg_advisory_unlock($1::bigint)', [box.lockKey.toString()]);
    const result = await running;
    expect(result.lockWaitMs).toBeGreaterThanOrEqual(400);
    expect(await rowCounts()).toEqual(ROWS);
  });

  it('an abort while waiting for the lock stops the run with nothing written', async () => {
    await setUp();
    const holder = await box.connect();
    await holder.query('SELECT pg_advisory_lock($1::bigint)', [box.lockKey.toString()]);
    const controller = new AbortController();
    const running = run(seedDir(FILES), { signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    await rejection(running, AbortedError);
    expect(await rowCounts()).toEqual({ workspaces: 0, agents: 0, issues: 0, comments: 0 });
  });

  it('writes in batches: 1000 rows over two tables take a constant number of statements', async () => {
    await setUp();
    const slugs = Array.from({ length: 500 }, (_, i) => `w${i}`);
    const dir = seedDir({
      '01_workspaces.json': JSON.stringify({
        table: 'workspaces',
        key: 'slug',
        rows: slugs.map((slug) => ({ slug, name: slug.toUpperCase() })),
      }),
      '02_agents.json': JSON.stringify({
        table: 'agents',
        key: ['workspace_id', 'name'],
        rows: slugs.map((slug) => ({ workspace_id: { $ref: 'workspaces', slug }, name: 'bot' })),
      }),
    });
    const client = await box.connect();
    const sent: string[] = [];
    const original = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      sent.push(String(args[0]));
      return original(...args);
    };
    const result = await seed({ client, dir, lockKey: box.lockKey, logger: silentLogger });
    expect(counts(result)).toEqual({ workspaces: [500, 0, 0, 0], agents: [500, 0, 0, 0] });
    expect(sent.length).toBeLessThanOrEqual(12);
    const { rows } = await box.admin.query(
      `SELECT count(*)::int AS n FROM agents a JOIN workspaces w ON w.id = a.workspace_id WHERE w.name = upper(w.slug)`,
    );
    expect(rows[0].n).toBe(500);
  });

  it('writes rows that refer to each other through a plain foreign key in one statement, whatever their order and columns', async () => {
    box = await sandbox();
    await box.admin.query(
      `CREATE TABLE notes (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, key text NOT NULL UNIQUE, parent_key text REFERENCES notes (key), author text)`,
    );
    const dir = seedDir({
      'notes.yaml':
        'table: notes\nkey: key\nrows:\n  - { key: reply, parent_key: root }\n  - { key: root, author: ann }\n  - { key: reply-2, parent_key: reply, author: bob }\n',
    });
    expect(counts(await run(dir))).toEqual({ notes: [3, 0, 0, 0] });
    const { rows } = await box.admin.query(`SELECT key, parent_key, author FROM notes ORDER BY key`);
    expect(rows).toEqual([
      { key: 'reply', parent_key: 'root', author: null },
      { key: 'reply-2', parent_key: 'reply', author: 'bob' },
      { key: 'root', parent_key: null, author: 'ann' },
    ]);
  });

  it('refuses a seed key without a unique index on exactly its columns before writing anything, naming file, table and key', async () => {
    box = await sandbox();
    // A unique index on more columns than the key, one on an expression and a partial one: none makes the key unique.
    await box.admin.query(`${SCHEMA.replace(', UNIQUE (name, workspace_id)', ', UNIQUE (name, workspace_id, kind)')};
      CREATE UNIQUE INDEX agents_lower ON agents (workspace_id, lower(name)); CREATE UNIQUE INDEX agents_partial ON agents (workspace_id, name) WHERE kind = 'ai'`);
    const dir = seedDir(FILES);
    const error = await rejection(run(dir), SeedError);
    expect(error.message).toMatch(
      /^\S*02_agents\.json:1: table agents has no unique index on the seed key \(workspace_id, name\), so runs that do not share the lock could insert a row twice; add one with a migration: CREATE UNIQUE INDEX ON "agents" \("workspace_id", "name"\)$/,
    );
    expect(await rowCounts()).toEqual({ workspaces: 0, agents: 0, issues: 0, comments: 0 });
    await box.admin.query('CREATE UNIQUE INDEX ON "agents" ("workspace_id", "name")');
    expect(counts(await run(dir)).agents).toEqual([3, 0, 0, 0]);
  });

  it('resolves references nested 35 deep, each row under its parent', async () => {
    box = await sandbox();
    await box.admin.query(`CREATE TABLE nodes (id int GENERATED BY DEFAULT AS IDENTITY (START 100) PRIMARY KEY, parent_id int NOT NULL REFERENCES nodes, name text NOT NULL, UNIQUE (parent_id, name));
      INSERT INTO nodes (id, parent_id, name) VALUES (1, 1, 'root')`);
    // Row n gives its parent as a reference nested n deep: { $ref: nodes, parent_id: { … { $ref: nodes, parent_id: 1, name: root } … }, name: n<n-1> }.
    // Listed deepest first, so the rows are written in 35 levels.
    const refs = ['{ $ref: nodes, parent_id: 1, name: root }'];
    for (let n = 1; n < 35; n++) refs.push(`{ $ref: nodes, parent_id: ${refs[n - 1]}, name: n${n} }`);
    const rows = refs.map((ref, i) => `  - { parent_id: ${ref}, name: n${i + 1} }`).reverse();
    const dir = seedDir({ 'nodes.yaml': `table: nodes\nkey: [parent_id, name]\nrows:\n${rows.join('\n')}\n` });
    expect(counts(await run(dir))).toEqual({ nodes: [35, 0, 0, 0] });
    const { rows: paths } = await box.admin.query(`
      WITH RECURSIVE p AS (SELECT id, name::text AS path FROM nodes WHERE id = 1
                           UNION ALL SELECT n.id, p.path || '/' || n.name FROM nodes n JOIN p ON n.parent_id = p.id WHERE n.id <> 1)
      SELECT path FROM p ORDER BY length(path) DESC LIMIT 1`);
    expect(paths[0].path).toBe(['root', ...Array.from({ length: 35 }, (_, i) => `n${i + 1}`)].join('/'));
    expect(Number((await box.admin.query('SELECT count(*) FROM nodes')).rows[0].count)).toBe(36);
    expect(counts(await run(dir))).toEqual({ nodes: [0, 35, 0, 0] });
  });

  it('writes insert-only columns when it inserts the row, and never compares or updates them', async () => {
    box = await sandbox();
    await box.admin.query(
      `CREATE TABLE counters (id serial PRIMARY KEY, slug text NOT NULL UNIQUE, label text NOT NULL, last_number int NOT NULL DEFAULT 0, status text)`,
    );
    const dir = seedDir({
      'counters.yaml':
        'table: counters\nkey: slug\ninsertOnly: [last_number, status]\nrows:\n  - { slug: a, label: A, last_number: 5, status: open }\n  - { slug: b, label: B }\n',
    });
    expect(counts(await run(dir))).toEqual({ counters: [2, 0, 0, 0] });
    const current = async () => (await box.admin.query('SELECT slug, label, last_number, status FROM counters ORDER BY slug')).rows;
    expect(await current()).toEqual([
      { slug: 'a', label: 'A', last_number: 5, status: 'open' },
      { slug: 'b', label: 'B', last_number: 0, status: null },
    ]);
    // The application moves the counter on and closes a; someone renames b.
    await box.admin.query(
      `UPDATE counters SET last_number = last_number + 37, status = 'closed'; UPDATE counters SET label = 'Bee' WHERE slug = 'b'`,
    );
    const reported = await run(dir);
    expect(counts(reported)).toEqual({ counters: [0, 1, 1, 0] });
    expect(reported.tables[0]!.conflicts[0]!.columns).toEqual([{ column: 'label', seed: 'B', database: 'Bee' }]);
    expect(counts(await run(dir, { update: true }))).toEqual({ counters: [0, 1, 1, 1] });
    expect(await current()).toEqual([
      { slug: 'a', label: 'A', last_number: 42, status: 'closed' },
      { slug: 'b', label: 'B', last_number: 37, status: 'closed' },
    ]);
  });
});

describe('bad input: one error naming file and row, nothing written', () => {
  const GOOD = { '01_workspaces.yaml': FILES['01_workspaces.yaml']!, '02_agents.json': FILES['02_agents.json']! };
  const issue = (fields: string) =>
    `table: issues\nkey: [workspace_id, number]\nrows:\n  - { workspace_id: { $ref: workspaces, slug: acme }, number: 1, title: ok }\n  - { ${fields} }\n`;
  const base = 'workspace_id: { $ref: workspaces, slug: acme }, number: 2';

  it.each([
    ['YAML syntax', 'table: issues\nrows: [\n  { number: 1\n', /03_bad\.yaml:\d+: .*; fix the YAML or JSON syntax/],
    ['an unknown table', 'table: issuez\nkey: number\nrows:\n  - { number: 1 }\n', /03_bad\.yaml:1: unknown table issuez/],
    ['an unknown column', issue(`${base}, title: x, titel: y`), /03_bad\.yaml:5 \(row 2\): table issues has no column titel/],
    [
      'a key column missing',
      issue('workspace_id: { $ref: workspaces, slug: acme }, title: x'),
      /03_bad\.yaml:5 \(row 2\): key column number missing/,
    ],
    ['a required column missing', issue(base), /03_bad\.yaml:5 \(row 2\): column issues\.title is required/],
    [
      'a number for a text column',
      issue(`${base}, title: 12`),
      /03_bad\.yaml:5 \(row 2\): column issues\.title is text: got 12, not a string; quote it/,
    ],
    [
      'a list for a scalar column',
      issue('workspace_id: { $ref: workspaces, slug: acme }, number: [2], title: x'),
      /03_bad\.yaml:5 \(row 2\): column issues\.number is integer: got a list; write one value/,
    ],
    [
      'a reference to a row that does not exist',
      issue(`${base}, title: x, assignee_id: { $ref: agents, workspace_id: { $ref: workspaces, slug: acme }, name: nobody }`),
      /03_bad\.yaml:5 \(row 2\): no agents row matches \{"\$ref":"agents",.*"name":"nobody"\}; seed it in an earlier file/,
    ],
    [
      'a reference to an unknown workspace inside a reference',
      issue(`${base}, title: x, assignee_id: { $ref: agents, workspace_id: { $ref: workspaces, slug: nope }, name: ada }`),
      /03_bad\.yaml:5 \(row 2\): no workspaces row matches \{"\$ref":"workspaces","slug":"nope"\}/,
    ],
    [
      'a reference that matches several rows',
      issue(`${base}, title: x, assignee_id: { $ref: agents, name: triage-bot }`),
      /03_bad\.yaml:5 \(row 2\): 2 agents rows match \{"\$ref":"agents","name":"triage-bot"\}; refer by columns that name one row$/,
    ],
    [
      'a duplicate key across rows',
      issue(`workspace_id: { $ref: workspaces, slug: acme }, number: '1', title: again`),
      /duplicate issues row with key .* at .*03_bad\.yaml:4 \(row 1\) and .*03_bad\.yaml:5 \(row 2\); keep one/,
    ],
  ])('%s', async (_name, bad, message) => {
    await setUp();
    const error = await rejection(run(seedDir({ ...GOOD, '03_bad.yaml': bad })), SeedError);
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('\n');
    expect(await rowCounts()).toEqual({ workspaces: 0, agents: 0, issues: 0, comments: 0 });
  });

  it("an id the database refuses: one line, then the server's detail on a second", async () => {
    await setUp();
    const error = await rejection(run(seedDir({ ...GOOD, '03_bad.yaml': issue(`${base}, title: x, assignee_id: 99999`) })), SeedError);
    expect(error.message).toMatch(
      /^seeding issues from .*03_bad\.yaml failed: .*violates foreign key constraint.* \[23503\]; rolled back, nothing was written\ndetail: Key \(assignee_id\)=\(99999\) is not present in table "agents"\.$/,
    );
    expect(await rowCounts()).toEqual({ workspaces: 0, agents: 0, issues: 0, comments: 0 });
  });

  // The server parses each literal as its column's type before anything is written with
  // pg_input_is_valid (PostgreSQL 16+), naming the row; before 16 the batch's statement fails, naming the file.
  it.each([
    [
      'a value the server cannot parse',
      issue(`${base}, title: x, opened_on: 2024-02-30`),
      'column issues.opened_on: date/time field value out of range: "2024-02-30"; fix the value',
      'date/time field value out of range: "2024-02-30" [22008]',
    ],
    [
      'an out-of-range integer',
      issue(`workspace_id: { $ref: workspaces, slug: acme }, number: 3000000000, title: x`),
      'column issues.number: value "3000000000" is out of range for type integer; fix the value',
      'value "3000000000" is out of range for type integer [22003]',
    ],
  ])('%s: its row on 16+, its file before', async (_name, bad, from16, before16) => {
    await setUp();
    const version = Number((await box.admin.query(`SELECT current_setting('server_version_num') AS v`)).rows[0].v);
    const dir = seedDir({ ...GOOD, '03_bad.yaml': bad });
    const error = await rejection(run(dir), SeedError);
    expect(error.message).toBe(
      version >= 160000
        ? `${dir}/03_bad.yaml:5 (row 2): ${from16}`
        : `seeding issues from ${dir}/03_bad.yaml failed: ${before16}; rolled back, nothing was written`,
    );
    expect(await rowCounts()).toEqual({ workspaces: 0, agents: 0, issues: 0, comments: 0 });
  });

  it.each([
    [
      'a missing row',
      '{ $ref: agents, workspace_id: { $ref: workspaces, slug: acme }, name: nobody }',
      /03_bad\.yaml:6 \(row 3\): no agents row matches/,
    ],
    [
      'a missing row inside a reference',
      '{ $ref: agents, workspace_id: { $ref: workspaces, slug: nope }, name: ada }',
      /03_bad\.yaml:6 \(row 3\): no workspaces row matches/,
    ],
  ])('names the first row written with a reference to %s, in the order rows are written', async (_name, ref, message) => {
    // Row 3 gives row 1's columns, row 2 others: rows 1 and 3 are written (and resolved) before row 2.
    const bad = `table: issues\nkey: [workspace_id, number]\nrows:\n  - { ${base.replace('2', '1')}, title: a, assignee_id: null }\n  - { ${base}, title: b, opened_on: 2024-01-01, assignee_id: ${ref} }\n  - { ${base.replace('2', '3')}, title: c, assignee_id: ${ref} }\n`;
    await setUp();
    const error = await rejection(run(seedDir({ ...GOOD, '03_bad.yaml': bad })), SeedError);
    expect(error.message).toMatch(message);
    expect(await rowCounts()).toEqual({ workspaces: 0, agents: 0, issues: 0, comments: 0 });
  });
});

describe('the tracker example', () => {
  it("seeds again after the API created and edited issues: no conflict, the API's values kept", async () => {
    box = await sandbox();
    await migrate({
      databaseUrl: box.url,
      dir: 'examples/tracker/migrations',
      direction: 'up',
      table: box.table,
      lockKey: box.lockKey,
      logger: silentLogger,
    } as MigrateOptions);
    const dir = 'examples/tracker/seeds';
    expect(counts(await run(dir))).toEqual({
      workspaces: [1, 0, 0, 0],
      agents: [6, 0, 0, 0],
      issues: [50, 0, 0, 0],
      comments: [200, 0, 0, 0],
    });
    // What the API does: POST an issue (bumps last_issue_number), PATCH another.
    await box.admin.query(`
      WITH numbered AS (UPDATE workspaces w SET last_issue_number = last_issue_number + 1 WHERE slug = 'acme' RETURNING id, last_issue_number)
      INSERT INTO issues (workspace_id, number, title) SELECT id, last_issue_number, 'Created through the API' FROM numbered;
      UPDATE issues SET status = 'done', priority = 'low', title = 'Renamed', body = 'Edited', assignee_id = NULL, updated_at = now() WHERE number = 1`);
    const before = await box.admin.query(
      `SELECT w.last_issue_number, i.status, i.priority, i.title, i.assignee_id FROM workspaces w JOIN issues i ON i.workspace_id = w.id AND i.number = 1`,
    );
    expect(before.rows).toEqual([{ last_issue_number: 51, status: 'done', priority: 'low', title: 'Renamed', assignee_id: null }]);
    for (const update of [false, true]) {
      const again = await run(dir, { update });
      expect(counts(again)).toEqual({ workspaces: [0, 1, 0, 0], agents: [0, 6, 0, 0], issues: [0, 50, 0, 0], comments: [0, 200, 0, 0] });
    }
    expect(
      (
        await box.admin.query(
          `SELECT w.last_issue_number, i.status, i.priority, i.title, i.assignee_id FROM workspaces w JOIN issues i ON i.workspace_id = w.id AND i.number = 1`,
        )
      ).rows,
    ).toEqual(before.rows);
  });
});
