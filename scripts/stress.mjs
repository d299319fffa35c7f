#!/usr/bin/env node
// Stampede: R rounds, each on a fresh database, of 64 `slipway up` processes started at once
// against 10 pending non-idempotent migrations, one of them a CREATE INDEX CONCURRENTLY on a
// table of 1M rows. Every round checks: all exit 0, each migration applied once (each file
// inserts a row into applied_log; an UPDATE counter must have run once), every index valid,
// the ledger matches the schema, no lock left. Prints time per round; exits 1 on any failure.
//   node scripts/stress.mjs [--rounds 100] [--runners 64] [--rows 1000000] [--pg 14] [--own-lock-keys]
// --own-lock-keys gives each runner a lock key of its own: the ledger's own lock still excludes them.
// Uses DATABASE_URL (a superuser: it creates databases) when set, else a throwaway embedded server.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { installMajor, root, startServer } from './support/embedded.mjs';

function option(name, fallback) {
  const at = process.argv.indexOf(name);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}
const ROUNDS = option('--rounds', 100);
const RUNNERS = option('--runners', 64);
const ROWS = option('--rows', 1_000_000);
const MAJOR = option('--pg', null);
const OWN_LOCK_KEYS = process.argv.includes('--own-lock-keys');
const CLI = path.join(root, 'dist/cli/main.js');

const log = (version) => `INSERT INTO applied_log VALUES ('${version}');\n`;
const MIGRATIONS = {
  '001_create_big': `CREATE TABLE big (id int NOT NULL, v int NOT NULL);\nINSERT INTO big SELECT g, g % 1000 FROM generate_series(1, ${ROWS}) AS g;\nCREATE TABLE applied_log (version text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());\n${log('001_create_big')}`,
  '002_add_note': `ALTER TABLE big ADD COLUMN note text;\n${log('002_add_note')}`,
  '003_index_big': `SET maintenance_work_mem = '64MB';\nCREATE INDEX CONCURRENTLY big_v_idx ON big (v, id);\n${log('003_index_big')}`,
  '004_create_orders': `CREATE TABLE orders (id int PRIMARY KEY, big_id int NOT NULL);\n${log('004_create_orders')}`,
  '005_fill_orders': `INSERT INTO orders SELECT g, g FROM generate_series(1, 1000) AS g;\n${log('005_fill_orders')}`,
  '006_create_counter': `CREATE TABLE counter (n int NOT NULL);\nINSERT INTO counter VALUES (1);\n${log('006_create_counter')}`,
  '007_bump_counter': `UPDATE counter SET n = n + 1;\n${log('007_bump_counter')}`,
  '008_unique_orders_big': `CREATE UNIQUE INDEX CONCURRENTLY orders_big_id_key ON orders (big_id);\n${log('008_unique_orders_big')}`,
  '009_order_status': `CREATE TYPE order_status AS ENUM ('new');\nALTER TABLE orders ADD COLUMN status order_status NOT NULL DEFAULT 'new';\n${log('009_order_status')}`,
  '010_shipped': `ALTER TYPE order_status ADD VALUE 'shipped';\n${log('010_shipped')}`,
};
const VERSIONS = Object.keys(MIGRATIONS);

const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-stress-'));
for (const [version, sql] of Object.entries(MIGRATIONS)) writeFileSync(path.join(dir, `${version}.up.sql`), sql);

function up(url, runner) {
  return new Promise((resolve) => {
    const env = { ...process.env };
    for (const key of Object.keys(env)) if (key === 'DATABASE_URL' || key.startsWith('SLIPWAY_')) delete env[key];
    const child = spawn(
      process.execPath,
      [
        CLI,
        'up',
        '--database-url',
        url,
        '--dir',
        dir,
        '--log-format',
        'json',
        ...(OWN_LOCK_KEYS ? ['--lock-key', String(1000 + runner)] : []),
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code, signal) => resolve({ code: code ?? signal, stdout, stderr }));
  });
}

/** What is wrong with the database after a round; empty when nothing is. */
async function check(client, runs) {
  const problems = [];
  const failed = runs.filter((r) => r.code !== 0);
  if (failed.length > 0)
    problems.push(
      `${failed.length} runners exited non-zero: ${[...new Set(failed.map((r) => `${r.code}: ${r.stderr.trim().split('\n')[0]}`))].join(' | ')}`,
    );
  const appliedLines = runs.flatMap((r) =>
    r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l).msg)
      .filter((m) => /^applied /.test(m)),
  );
  const byVersion = VERSIONS.map((v) => appliedLines.filter((m) => m.startsWith(`applied ${v} `)).length);
  if (byVersion.some((n) => n !== 1)) problems.push(`"applied" log lines per migration: ${byVersion.join(',')} (want 1 each)`);
  const q = async (sql) => (await client.query(sql)).rows;
  const logRows = await q(`SELECT version, count(*)::int AS n FROM applied_log GROUP BY version ORDER BY version`).catch(
    (e) => problems.push(`applied_log: ${e.message}`) && [],
  );
  const logged = Object.fromEntries(logRows.map((r) => [r.version, r.n]));
  const wrongLog = VERSIONS.filter((v) => logged[v] !== 1).map((v) => `${v}=${logged[v] ?? 0}`);
  if (wrongLog.length > 0 || logRows.length !== VERSIONS.length)
    problems.push(`applied_log rows per migration not 1: ${wrongLog.join(', ')}`);
  const [counter] = await q('SELECT n FROM counter').catch(() => [{ n: 'missing' }]);
  if (counter?.n !== 2) problems.push(`counter is ${counter?.n} (the UPDATE ran ${Number(counter?.n) - 1} times)`);
  const [{ big, orders }] = await q('SELECT (SELECT count(*)::int FROM big) AS big, (SELECT count(*)::int FROM orders) AS orders').catch(
    () => [{}],
  );
  if (big !== ROWS || orders !== 1000) problems.push(`row counts: big ${big} (want ${ROWS}), orders ${orders} (want 1000)`);
  const indexes = await q(
    `SELECT c.relname AS name, i.indisvalid AS valid, i.indisready AS ready FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY 1`,
  );
  const names = indexes.map((i) => i.name).join(',');
  if (names !== 'big_v_idx,orders_big_id_key,orders_pkey,schema_migrations_pkey') problems.push(`indexes: ${names}`);
  const invalid = indexes.filter((i) => !i.valid || !i.ready);
  if (invalid.length > 0) problems.push(`invalid indexes: ${invalid.map((i) => i.name).join(', ')}`);
  const ledger = await q(`SELECT version, state, progress FROM public.schema_migrations ORDER BY version`);
  const ledgerWrong =
    ledger.length !== VERSIONS.length || ledger.some((r, i) => r.version !== VERSIONS[i] || r.state !== 'applied' || r.progress !== null);
  if (ledgerWrong) problems.push(`ledger: ${ledger.map((r) => `${r.version}:${r.state}:${r.progress}`).join(', ')}`);
  // What each applied migration made is there.
  const [schema] = await q(`SELECT
      (SELECT count(*)::int FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'big' AND column_name = 'note') AS note,
      (SELECT count(*)::int FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'orders' AND column_name = 'status') AS status,
      (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typname = 'order_status') AS labels,
      (SELECT count(*)::int FROM pg_tables WHERE schemaname = 'public') AS tables`);
  if (schema.note !== 1 || schema.status !== 1 || schema.labels !== 'new,shipped' || schema.tables !== 5)
    problems.push(`schema: ${JSON.stringify(schema)}`);
  const [{ locks }] = await q(
    `SELECT count(*)::int AS locks FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
  );
  if (locks !== 0) problems.push(`${locks} advisory locks still held`);
  return problems;
}

const server = process.env.DATABASE_URL
  ? { url: process.env.DATABASE_URL, stop: async () => {} }
  : await startServer(MAJOR === null ? null : installMajor(MAJOR));
const admin = new pg.Client({ connectionString: server.url });
await admin.connect();
const serverVersion = (await admin.query('SHOW server_version')).rows[0].server_version;
console.log(
  `stress: PostgreSQL ${serverVersion}, ${ROUNDS} rounds of ${RUNNERS} runners, ${VERSIONS.length} migrations, ${ROWS} rows indexed concurrently`,
);

const times = [];
let failures = 0;
try {
  for (let round = 1; round <= ROUNDS; round++) {
    const name = `slipway_stress_${process.pid}_${round}`;
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(server.url);
    url.pathname = `/${name}`;
    const started = performance.now();
    const runs = await Promise.all(Array.from({ length: RUNNERS }, (_, runner) => up(url.toString(), runner)));
    const seconds = (performance.now() - started) / 1000;
    times.push(seconds);
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    const problems = await check(client, runs).finally(() => client.end());
    await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    if (problems.length > 0) failures++;
    console.log(
      `round ${String(round).padStart(3)}: ${seconds.toFixed(1)} s, ${problems.length === 0 ? 'ok' : `FAILED\n  ${problems.join('\n  ')}`}`,
    );
  }
} finally {
  await admin.end();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
const sorted = [...times].sort((a, b) => a - b);
const at = (p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))].toFixed(1);
console.log(
  `stress: ${ROUNDS - failures}/${ROUNDS} rounds passed, ${failures} failed; per round min ${at(0)} s, median ${at(0.5)} s, max ${at(1)} s; total ${times.reduce((a, b) => a + b, 0).toFixed(0)} s`,
);
process.exitCode = failures === 0 ? 0 : 1;
