import { afterEach, describe, expect, it } from 'vitest';
import { sandbox, type Sandbox } from '../support/db.js';
import { runCli } from '../support/cli.js';
import { seedDir } from '../seed/helpers.js';

let box: Sandbox;
afterEach(async () => box?.cleanup());

const SCHEMA = `
  CREATE TABLE workspaces (id serial PRIMARY KEY, slug text NOT NULL UNIQUE, name text NOT NULL);
  CREATE TABLE agents (id serial PRIMARY KEY, workspace_id int NOT NULL REFERENCES workspaces, name text NOT NULL, kind text NOT NULL, UNIQUE (workspace_id, name));
`;
const FILES = {
  '01_workspaces.yaml': 'table: workspaces\nkey: slug\nrows:\n  - { slug: acme, name: Acme }\n',
  '02_agents.yaml':
    'table: agents\nkey: [workspace_id, name]\nrows:\n  - { workspace_id: { $ref: workspaces, slug: acme }, name: triage-bot, kind: ai }\n  - { workspace_id: { $ref: workspaces, slug: acme }, name: ada, kind: human }\n',
};

function args(b: Sandbox, dir: string): string[] {
  return ['seed', '--database-url', b.url, '--dir', dir, '--lock-key', b.lockKey.toString(), '--log-format', 'json'];
}
async function counts(b: Sandbox) {
  const { rows } = await b.admin.query(
    `SELECT (SELECT count(*)::int FROM workspaces) AS workspaces, (SELECT count(*)::int FROM agents) AS agents`,
  );
  return rows[0];
}

describe('slipway seed', () => {
  it('8 concurrent processes leave one copy of every row and all exit 0', async () => {
    box = await sandbox();
    await box.admin.query(SCHEMA);
    const dir = seedDir(FILES);
    const results = await Promise.all(Array.from({ length: 8 }, () => runCli(args(box, dir))));
    expect(results.filter((r) => r.code !== 0).map((r) => r.stderr)).toEqual([]);
    expect(await counts(box)).toEqual({ workspaces: 1, agents: 2 });
    const inserted = results.flatMap((r) => r.stdout.split('\n').filter((l) => /: [1-9]\d* inserted/.test(l)));
    expect(inserted.sort()).toEqual([
      'agents: 2 inserted, 0 skipped, 0 updated, 0 conflicts',
      'workspaces: 1 inserted, 0 skipped, 0 updated, 0 conflicts',
    ]);
  });

  it('--dry-run writes nothing, --json prints the result, a conflict is reported and --update applies it', async () => {
    box = await sandbox();
    await box.admin.query(SCHEMA);
    const dir = seedDir(FILES);
    const dry = await runCli([...args(box, dir), '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({
      dryRun: true,
      tables: [
        { table: 'workspaces', inserted: 1 },
        { table: 'agents', inserted: 2 },
      ],
    });
    expect(await counts(box)).toEqual({ workspaces: 0, agents: 0 });

    expect((await runCli(args(box, dir))).code).toBe(0);
    await box.admin.query(`UPDATE agents SET kind = 'robot' WHERE name = 'ada'`);
    const conflict = await runCli(args(box, dir));
    expect(conflict.code).toBe(0);
    expect(conflict.stdout).toMatch(/agents: 0 inserted, 1 skipped, 0 updated, 1 conflict\n/);
    expect(conflict.stdout).toMatch(
      /conflict agents .*"name":"ada".* at .*02_agents\.yaml:\d+ \(row 2\): kind: seed "human", database "robot"/,
    );
    expect((await runCli([...args(box, dir), '--update'])).stdout).toMatch(/agents: 0 inserted, 1 skipped, 1 updated/);
    expect((await box.admin.query(`SELECT kind FROM agents WHERE name = 'ada'`)).rows).toEqual([{ kind: 'human' }]);
  });

  it('bad input exits 1 naming the file and row, and writes nothing', async () => {
    box = await sandbox();
    await box.admin.query(SCHEMA);
    const dir = seedDir({
      ...FILES,
      '02_agents.yaml':
        'table: agents\nkey: [workspace_id, name]\nrows:\n  - { workspace_id: { $ref: workspaces, slug: nowhere }, name: x, kind: ai }\n',
    });
    const result = await runCli(args(box, dir));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^slipway: .*02_agents\.yaml:\d+ \(row 1\): no workspaces row matches/);
    expect(await counts(box)).toEqual({ workspaces: 0, agents: 0 });
  });

  describe('two processes with different --lock-key values at once', () => {
    const KEYS = 1500;
    const items = JSON.stringify({
      table: 'items',
      key: 'code',
      rows: Array.from({ length: KEYS }, (_, i) => ({ code: `k${i}`, label: `item ${i}` })),
    });
    // Every INSERT into items notes when it started, then takes 1.5 s: two runs started together are both inside it at once.
    const SLOW = `
      CREATE TABLE starts (at timestamptz NOT NULL);
      CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO starts VALUES (clock_timestamp()); PERFORM pg_sleep(1.5); RETURN NULL; END $$;
      CREATE TRIGGER slow BEFORE INSERT ON items FOR EACH STATEMENT EXECUTE FUNCTION slow();`;
    const both = (b: Sandbox, dir: string) =>
      Promise.all(
        [1n, 2n].map((n) => runCli(['seed', '--database-url', b.url, '--dir', dir, '--lock-key', (b.lockKey + n).toString(), '--json'])),
      );

    it('without a unique index on the seed key: both refused, naming file, table and key, nothing written', async () => {
      box = await sandbox();
      await box.admin.query(`CREATE TABLE items (id serial PRIMARY KEY, code text NOT NULL, label text NOT NULL); ${SLOW}`);
      const dir = seedDir({ '01_items.json': items });
      const results = await both(box, dir);
      for (const result of results) {
        expect(result.code).toBe(1);
        expect(result.stderr).toMatch(
          /^slipway: \S*01_items\.json:1: table items has no unique index on the seed key \(code\), so runs that do not share the lock could insert a row twice; add one with a migration: CREATE UNIQUE INDEX ON "items" \("code"\)\n$/,
        );
      }
      expect(
        (await box.admin.query('SELECT (SELECT count(*)::int FROM items) AS items, (SELECT count(*)::int FROM starts) AS starts')).rows,
      ).toEqual([{ items: 0, starts: 0 }]);
    });

    it('with a unique index: both exit 0 and every key is there once', async () => {
      box = await sandbox();
      await box.admin.query(
        `CREATE TABLE items (id serial PRIMARY KEY, code text NOT NULL, label text NOT NULL); CREATE UNIQUE INDEX ON items (code); ${SLOW}`,
      );
      const dir = seedDir({ '01_items.json': items });
      const results = await both(box, dir);
      expect(results.map((r) => r.code)).toEqual([0, 0]);
      const { rows } = await box.admin.query(`SELECT count(*)::int AS n, count(DISTINCT code)::int AS codes FROM items`);
      expect(rows).toEqual([{ n: KEYS, codes: KEYS }]);
      // Both inserts started before either run committed: the runs overlapped, and the index, not the lock, kept the keys single.
      const { rows: starts } = await box.admin.query(
        `SELECT extract(epoch FROM max(at) - min(at)) * 1000 AS apart, count(*)::int AS n FROM starts`,
      );
      expect(starts[0].n).toBe(2);
      expect(Number(starts[0].apart)).toBeLessThan(1500);
      const tables = results.map((r) => JSON.parse(r.stdout).tables[0]);
      expect(tables.map((t) => t.inserted + t.skipped)).toEqual([KEYS, KEYS]);
      expect(tables[0].inserted + tables[1].inserted).toBe(KEYS);
    });
  });
});
