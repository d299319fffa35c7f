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
  '02_agents.yaml': 'table: agents\nkey: [workspace_id, name]\nrows:\n  - { workspace_id: { $ref: workspaces, slug: acme }, name: triage-bot, kind: ai }\n  - { workspace_id: { $ref: workspaces, slug: acme }, name: ada, kind: human }\n',
};

function args(b: Sandbox, dir: string): string[] {
  return ['seed', '--database-url', b.url, '--dir', dir, '--lock-key', b.lockKey.toString(), '--log-format', 'json'];
}
async function counts(b: Sandbox) {
  const { rows } = await b.admin.query(`SELECT (SELECT count(*)::int FROM workspaces) AS workspaces, (SELECT count(*)::int FROM agents) AS agents`);
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
    expect(inserted.sort()).toEqual(['agents: 2 inserted, 0 skipped, 0 updated, 0 conflicts', 'workspaces: 1 inserted, 0 skipped, 0 updated, 0 conflicts']);
  });

  it('--dry-run writes nothing, --json prints the result, a conflict is reported and --update applies it', async () => {
    box = await sandbox();
    await box.admin.query(SCHEMA);
    const dir = seedDir(FILES);
    const dry = await runCli([...args(box, dir), '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, tables: [{ table: 'workspaces', inserted: 1 }, { table: 'agents', inserted: 2 }] });
    expect(await counts(box)).toEqual({ workspaces: 0, agents: 0 });

    expect((await runCli(args(box, dir))).code).toBe(0);
    await box.admin.query(`UPDATE agents SET kind = 'robot' WHERE name = 'ada'`);
    const conflict = await runCli(args(box, dir));
    expect(conflict.code).toBe(0);
    expect(conflict.stdout).toMatch(/agents: 0 inserted, 1 skipped, 0 updated, 1 conflict\n/);
    expect(conflict.stdout).toMatch(/conflict agents .*"name":"ada".* at .*02_agents\.yaml:\d+ \(row 2\): kind: seed "human", database "robot"/);
    expect((await runCli([...args(box, dir), '--update'])).stdout).toMatch(/agents: 0 inserted, 1 skipped, 1 updated/);
    expect((await box.admin.query(`SELECT kind FROM agents WHERE name = 'ada'`)).rows).toEqual([{ kind: 'human' }]);
  });

  it('bad input exits 1 naming the file and row, and writes nothing', async () => {
    box = await sandbox();
    await box.admin.query(SCHEMA);
    const dir = seedDir({ ...FILES, '02_agents.yaml': 'table: agents\nkey: [workspace_id, name]\nrows:\n  - { workspace_id: { $ref: workspaces, slug: nowhere }, name: x, kind: ai }\n' });
    const result = await runCli(args(box, dir));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^slipway: .*02_agents\.yaml:\d+ \(row 1\): no workspaces row matches/);
    expect(await counts(box)).toEqual({ workspaces: 0, agents: 0 });
  });
});
