import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { sandbox, type Sandbox, sandboxArgs } from '../support/db.js';
import { Load, type Replica } from './load.js';
import { buildExample, call, killServices, MIGRATIONS, serviceEnv, startService } from './service.js';

/**
 * A rolling deploy of the tracker under load: three replicas of release 0.1.0 (the code reads and
 * writes issues.description) serve a steady load while release 0.2.0 (issues.body) rolls out: its
 * migrations run (the migration Job: slipway up), then its replicas replace 0.1.0's one by one,
 * each put in rotation once ready, each old one drained from rotation before SIGTERM.
 *
 * Each step waits for requests, not for time: after a migration, until every replica still
 * serving has answered REQUESTS requests sent after the migration committed; after a replica
 * joins, until it and the replica it replaces have both answered REQUESTS more.
 */
const REQUESTS = 20;
const WORKERS = 4;

/** Release 0.1.0's migrations: the example's up to 006, what its image had. */
const RELEASE_1_FILES = readdirSync(MIGRATIONS).filter((f) => f < '007');
/** Release 0.1.0's code: this code, reading and writing the column as it was called then. */
const RELEASE_1_CODE = { DESCRIPTION_COLUMN: 'description' };

let box: Sandbox | undefined;
let running: Load | undefined;
const folders: string[] = [];
beforeAll(buildExample, 120_000);
afterEach(async () => {
  // A test that failed half-way leaves its load running: stop it before its replicas.
  await running?.stop();
  running = undefined;
  await killServices();
  await box?.cleanup();
  box = undefined;
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A migrations folder with release 0.1.0's files and `extra` ({ name: sql }). */
function release1Folder(extra: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tracker-release-'));
  folders.push(dir);
  for (const file of RELEASE_1_FILES) copyFileSync(path.join(MIGRATIONS, file), path.join(dir, file));
  for (const [name, sql] of Object.entries(extra)) writeFileSync(path.join(dir, name), sql);
  return dir;
}

/** Three replicas of release 0.1.0, migrating its folder at startup, and the load on them (workspace `load`). */
async function release1UnderLoad(b: Sandbox): Promise<{ load: Load; old: Replica[] }> {
  const env = serviceEnv(b, { SLIPWAY_DIR: release1Folder(), ...RELEASE_1_CODE });
  const services = await Promise.all([startService(env), startService(env), startService(env)]);
  const old = services.map((service) => ({ release: '0.1.0', service }));
  expect((await call(old[0]!.service.url, 'POST', '/workspaces', { slug: 'load', name: 'Load' })).status).toBe(201);
  const load = new Load('load');
  running = load;
  for (const replica of old) load.add(replica);
  load.start(WORKERS);
  await load.served(old, 0, REQUESTS, 'the load on release 0.1.0');
  return { load, old };
}

/**
 * Replaces each old replica by one of release 0.2.0 (folder `dir`, not migrating): started, ready,
 * in rotation; then the old one drained from rotation and stopped (SIGTERM, exit 0).
 */
async function rollOut(b: Sandbox, load: Load, old: readonly Replica[], dir: string): Promise<Replica[]> {
  const fresh: Replica[] = [];
  for (const leaving of old) {
    const service = await startService(serviceEnv(b, { SLIPWAY_DIR: dir, MIGRATE_ON_START: 'false' }));
    expect(await call(service.url, 'GET', '/readyz')).toMatchObject({ status: 200, body: { ready: true } });
    const replica = { release: '0.2.0', service };
    fresh.push(replica);
    const joined = load.add(replica);
    await load.served([replica, leaving], joined, REQUESTS, 'requests to both releases');
    await load.retire(leaving);
    leaving.service.child.kill('SIGTERM');
    expect(await leaving.service.exited).toBe(0);
  }
  return fresh;
}

const columnsOfIssues = async (b: Sandbox) =>
  (
    await b.admin.query(`SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'issues'`, [b.schema])
  ).rows.map((r) => r.column_name as string);

describe('release 0.2.0 renames issues.description to body while release 0.1.0 serves', () => {
  it('in two phases (007, rollout, 008 post-deploy): not one request fails, and every issue keeps what was written', async () => {
    box = await sandbox();
    const { load, old } = await release1UnderLoad(box);

    // The migration Job: the regular phase (lint passes), 008 left for after the rollout.
    const up = await runCli(['up', '--dir', MIGRATIONS, ...sandboxArgs(box)]);
    expect(up.code).toBe(0);
    expect(up.stdout).toContain('applied 007_add_issues_body');
    expect(up.stdout).toContain('left 1 post-deploy migration(s) pending (008_drop_issues_description)');
    const expanded = load.mark();
    await load.served(old, expanded, REQUESTS, 'release 0.1.0 to serve after 007');

    const fresh = await rollOut(box, load, old, MIGRATIONS);

    // The post-deploy Job, once every replica runs 0.2.0.
    const post = await runCli(['up', '--post-deploy', '--dir', MIGRATIONS, ...sandboxArgs(box)]);
    expect(post.code).toBe(0);
    expect(post.stdout).toContain('applied 008_drop_issues_description');
    const contracted = load.mark();
    await load.served(fresh, contracted, REQUESTS, 'release 0.2.0 to serve after 008');
    await load.stop();

    expect(load.failureLines()).toEqual([]);
    // Issues went both ways between the releases while both served.
    const crossed = load.rounds.filter((r) => r.writer !== r.reader);
    expect(crossed.filter((r) => r.writer === '0.1.0').length).toBeGreaterThan(0);
    expect(crossed.filter((r) => r.writer === '0.2.0').length).toBeGreaterThan(0);
    // Every issue holds the description last written to it, whichever release wrote it, before or after 007.
    const { rows } = await box.admin.query('SELECT number, body FROM issues');
    expect(new Map(rows.map((r) => [r.number, r.body]))).toEqual(load.written);
    expect(await columnsOfIssues(box)).not.toContain('description');
  }, 300_000);

  it('in one regular migration (RENAME COLUMN): lint refuses it; run anyway, release 0.1.0 fails until it is replaced', async () => {
    box = await sandbox();
    const oneStep = release1Folder({ '007_rename_issues_description.up.sql': 'ALTER TABLE issues RENAME COLUMN description TO body;\n' });
    const { load, old } = await release1UnderLoad(box);

    const lint = await runCli(['lint', '--dir', oneStep, '--database-url', box.url, '--table', box.table, '--format', 'json']);
    expect(lint.code).toBe(1);
    expect(JSON.parse(lint.stdout).findings).toEqual([
      expect.objectContaining({
        file: path.join(oneStep, '007_rename_issues_description.up.sql'),
        rule: 'renaming-column',
        severity: 'error',
      }),
    ]);
    // up lints too: it refuses, and runs nothing.
    const refused = await runCli(['up', '--dir', oneStep, ...sandboxArgs(box)]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /refused to run: the pending migrations have 1 error-level lint finding: .*; nothing was run\n.*007_rename_issues_description\.up\.sql:1:13 renaming-column: /,
    );
    expect(await columnsOfIssues(box)).toContain('description');
    expect(load.failureLines()).toEqual([]);

    const forcing = load.mark();
    const forced = await runCli(['up', '--no-lint', '--dir', oneStep, ...sandboxArgs(box)]);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain('applied 007_rename_issues_description');
    const renamed = load.mark();
    await load.served(old, renamed, REQUESTS, 'release 0.1.0 to serve after the rename');

    const fresh = await rollOut(box, load, old, oneStep);
    const rolledOut = load.mark();
    await load.served(fresh, rolledOut, REQUESTS, 'release 0.2.0 to serve after the rollout');
    await load.stop();

    // Release 0.1.0 failed every request sent to it after the rename committed, and only 0.1.0 failed,
    // only from the migration on: 500s, its log says why.
    const failures = load.failures();
    expect(failures.length).toBeGreaterThan(0);
    expect(load.sentSince(renamed).filter((s) => s.release === '0.1.0' && s.ok).length).toBe(0);
    expect(load.failureLines(failures.filter((f) => f.release !== '0.1.0' || f.completed < forcing))).toEqual([]);
    expect(new Set(failures.map((f) => f.status))).toEqual(new Set([500]));
    const logged = old.flatMap((r) => r.service.lines()).filter((l) => l.msg.startsWith('request failed: '));
    expect(logged.length).toBeGreaterThan(0);
    for (const line of logged) expect(line.msg).toMatch(/^request failed: column .*description.* does not exist$/);
  }, 300_000);
});
