#!/usr/bin/env node
// Test databases (slipway/testing): how long until a test holds a ready, migrated database, on
// ONE fresh embedded PostgreSQL (fsync on), for case 6's generated 432-migration history
// (bench/history.mjs) and a 20-migration one, with 1 and with 16 worker processes:
//   (a) every migration applied into a fresh database (what a suite does without templates),
//   (b) a cold clone (no warm pool), for both CREATE DATABASE strategies,
//   (c) the warm pool, each test holding its database for 100 ms, and (d) tests back to back;
//   for both, also the drop at each test's end (DROP DATABASE waits for a checkpoint) and the
//   time until every worker is done.
// Floors in the same run: the server's own CREATE DATABASE … TEMPLATE, sent by psql (a process
// per statement, as a shell script would) and on one open connection; and for (c)'s first test
// in each worker, fresh processes started at once that each open one connection and send one
// query (what any first test pays on a machine starting its workers). Prints a table and writes
// bench/TESTDB-RESULTS.md.
//
//   npm run bench:testdb   (BENCH_TESTDB_DBS databases per worker, default 50; BENCH_TESTDB_APPLY
//                           full applies per worker for (a), default 5 with 1 worker, 2 with 16;
//                           BENCH_TESTDB_HISTORIES, default 432,20; BENCH_TESTDB_OUT, the results
//                           file, default bench/TESTDB-RESULTS.md; BENCH_TESTDB_READY, the shared
//                           pool's size for (c), default 16, 0 for none: each worker's own pool only;
//                           BENCH_TESTDB_ONLY_C=1: the build and (c) alone, no floors, (a) or (b))
// Before each (c), prepareTemplate fills the server's shared pool (16 ready clones), as a test
// runner's global setup does; each worker keeps 2 clones of its own ready (warm: 2).
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import pino from 'pino';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const testing = () => import(path.join(root, 'dist/testing/index.js'));
const silent = pino({ level: 'silent' });

function withDb(url, db) {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

// ---------------------------------------------------------------- one worker process
if (process.argv[2] === '--worker') {
  const { mode, dir, url, count, holdMs, strategy, ready } = JSON.parse(process.argv[3]);
  const times = [];
  // (c) also reports the teardown: a test waits for its drop too.
  const drops = [];
  if (mode === 'connect') {
    // The floor of a worker's first test: the same modules loaded, then one connection and one query.
    await testing();
    const started = performance.now();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query('SELECT 1');
    times.push(performance.now() - started);
    await client.end();
  } else if (mode === 'apply') {
    const { migrate } = await import(path.join(root, 'dist/index.js'));
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    for (let i = 0; i < count; i++) {
      const name = `bench_apply_${process.pid}_${i}`;
      const started = performance.now();
      await admin.query(`CREATE DATABASE ${name}`);
      await migrate({ databaseUrl: withDb(url, name), dir, direction: 'up', logger: silent });
      times.push(performance.now() - started);
      await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    }
    await admin.end();
  } else {
    const { testDatabase, closeTestDatabases } = await testing();
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      const db = await testDatabase({ dir, databaseUrl: url, warm: mode === 'cold' ? 0 : 2, ready, strategy, logger: silent });
      times.push(performance.now() - started);
      if (holdMs > 0) await sleep(holdMs);
      const dropping = performance.now();
      await db.drop();
      drops.push(performance.now() - dropping);
    }
    await closeTestDatabases();
  }
  process.stdout.write(`${JSON.stringify(mode === 'warm' ? { times, drops } : times)}\n`);
  process.exit(0);
}

// ---------------------------------------------------------------- the run
const { startServer } = await import('./server.mjs');
const { writeHistory } = await import('./history.mjs');
const DBS = Number(process.env.BENCH_TESTDB_DBS ?? 50);
const APPLY = process.env.BENCH_TESTDB_APPLY;
const FLOOR_SAMPLES = Number(process.env.BENCH_TESTDB_FLOOR ?? 20);
const READY = Number(process.env.BENCH_TESTDB_READY ?? 16);
const ONLY_C = process.env.BENCH_TESTDB_ONLY_C === '1';

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
const ms = (v) => (v === undefined ? 'n/a' : v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`);
const stats = (values) => ({ p50: percentile(values, 50), p99: percentile(values, 99), n: values.length });

function worker(config) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [new URL(import.meta.url).pathname, '--worker', JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`worker ${config.mode} exited with ${code}`))));
  });
}

async function workers(n, config) {
  return (await Promise.all(Array.from({ length: n }, () => worker(config)))).flat();
}

/** (c): the samples, and apart each worker's first test and the others (where the p99 comes from). */
async function warmWorkers(n, config) {
  const started = performance.now();
  const runs = await Promise.all(Array.from({ length: n }, () => worker(config)));
  const wall = performance.now() - started;
  const each = runs.map((r) => r.times);
  const drops = runs.flatMap((r) => r.drops);
  const first = each.map((t) => t[0]);
  const later = each.flatMap((t) => t.slice(1));
  const note =
    `first tests p50 ${ms(percentile(first, 50))}, max ${ms(Math.max(...first))}; later tests p99 ${ms(percentile(later, 99))}; ` +
    `the drop after each test p50 ${ms(percentile(drops, 50))}, p99 ${ms(percentile(drops, 99))}; all workers done in ${(wall / 1000).toFixed(1)} s`;
  return { ...stats(each.flat()), split: note };
}

const hasPsql = spawnSync('psql', ['--version']).status === 0;
const server = await startServer('-c fsync=on -c max_connections=400');
const rows = [];
const facts = {};
try {
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  facts.server = (await admin.query('SHOW server_version')).rows[0].server_version;
  const major = Number((await admin.query('SHOW server_version_num')).rows[0].server_version_num) / 10000;
  const strategies = major >= 15 ? ['wal_log', 'file_copy'] : [null];
  const { prepareTemplate, closeTestDatabases } = await testing();
  const { migrate } = await import(path.join(root, 'dist/index.js'));

  for (const count of (process.env.BENCH_TESTDB_HISTORIES ?? '432,20').split(',').map(Number)) {
    const dir = writeHistory(count).slipway;
    const label = `${count} migrations`;
    process.stderr.write(`${label}: one up, the first template build ...\n`);
    let started = performance.now();
    await admin.query('CREATE DATABASE bench_one_up');
    await migrate({ databaseUrl: withDb(server.url, 'bench_one_up'), dir, direction: 'up', logger: silent });
    const oneUp = performance.now() - started;
    await admin.query('DROP DATABASE bench_one_up');
    started = performance.now();
    // ready: 0, the build alone (the shared pool is filled before each (c)).
    const { template } = await prepareTemplate({ dir, databaseUrl: server.url, ready: 0, logger: silent });
    const build = performance.now() - started;
    await closeTestDatabases();
    rows.push({
      history: label,
      what: 'first template build (one up into a fresh database beside it)',
      workers: 1,
      p50: build,
      p99: oneUp,
      note: `${(build / oneUp).toFixed(2)}x one up`,
    });

    if (!ONLY_C) process.stderr.write(`${label}: floors ...\n`);
    for (const strategy of ONLY_C ? [] : strategies) {
      const clause = strategy ? ` STRATEGY ${strategy.toUpperCase()}` : '';
      const onConnection = [];
      const byPsql = [];
      for (let i = 0; i < FLOOR_SAMPLES; i++) {
        started = performance.now();
        await admin.query(`CREATE DATABASE bench_floor TEMPLATE ${template}${clause}`);
        onConnection.push(performance.now() - started);
        await admin.query('DROP DATABASE bench_floor');
        if (!hasPsql) continue;
        started = performance.now();
        const psql = spawnSync('psql', [
          server.url,
          '-q',
          '-X',
          '-v',
          'ON_ERROR_STOP=1',
          '-c',
          `CREATE DATABASE bench_floor TEMPLATE ${template}${clause}`,
        ]);
        if (psql.status !== 0) throw new Error(`psql: ${psql.stderr}`);
        byPsql.push(performance.now() - started);
        await admin.query('DROP DATABASE bench_floor');
      }
      const s = strategy ?? 'default';
      if (hasPsql)
        rows.push({
          history: label,
          what: `floor: psql -c 'CREATE DATABASE … TEMPLATE …${clause}'`,
          workers: 1,
          ...stats(byPsql),
          strategy: s,
        });
      rows.push({
        history: label,
        what: `floor: CREATE DATABASE … TEMPLATE …${clause} on an open connection`,
        workers: 1,
        ...stats(onConnection),
        strategy: s,
      });
    }

    for (const n of [1, 16]) {
      const applies = Number(APPLY ?? (n === 1 ? 5 : 2));
      if (!ONLY_C) {
        process.stderr.write(`${label}, ${n} worker(s): (a) ${applies} full applies each ...\n`);
        rows.push({
          history: label,
          what: '(a) every migration applied into a fresh database',
          workers: n,
          ...stats(await workers(n, { mode: 'apply', dir, url: server.url, count: applies })),
        });
      }
      for (const strategy of ONLY_C ? [] : strategies) {
        process.stderr.write(`${label}, ${n} worker(s): (b) cold clones, ${strategy ?? 'default'} ...\n`);
        rows.push({
          history: label,
          what: `(b) cold clone${strategy ? `, ${strategy.toUpperCase()}` : ''}`,
          workers: n,
          ...stats(await workers(n, { mode: 'cold', dir, url: server.url, count: DBS, holdMs: 0, strategy })),
        });
      }
      // The floor of (c)'s first tests: n fresh processes at once, each one connection and one query.
      const connects = [];
      // Rounds: five of one worker, three of sixteen.
      for (let round = 0; round < (n === 1 ? 5 : 3); round++) connects.push(...(await workers(n, { mode: 'connect', url: server.url })));
      rows.push({
        history: label,
        what: "floor of a worker's first test: a fresh process's first query (connect, SELECT 1), all at once",
        workers: n,
        ...stats(connects),
      });
      // As a global setup does before the workers start: the shared pool full.
      const fillShared = async () => {
        await closeTestDatabases();
        await prepareTemplate({ dir, databaseUrl: server.url, ready: READY, logger: silent });
        await closeTestDatabases();
      };
      await fillShared();
      process.stderr.write(`${label}, ${n} worker(s): (c) warm pool, 100 ms tests ...\n`);
      rows.push({
        history: label,
        what: '(c) warm pool, each test holding its database 100 ms',
        workers: n,
        ...(await warmWorkers(n, { mode: 'warm', dir, url: server.url, count: DBS, holdMs: 100, ready: READY })),
      });
      await fillShared();
      process.stderr.write(`${label}, ${n} worker(s): (c) warm pool, back to back ...\n`);
      rows.push({
        history: label,
        what: '(c) warm pool, tests back to back',
        workers: n,
        ...(await warmWorkers(n, { mode: 'warm', dir, url: server.url, count: DBS, holdMs: 0, ready: READY })),
      });
    }
  }
  await admin.end();
} finally {
  await server.stop();
}

// ---------------------------------------------------------------- report
const lines = [
  '| history | until a test holds a ready database | workers | p50 | p99 | samples |',
  '| --- | --- | --- | --- | --- | --- |',
  ...rows.map((r) =>
    r.note
      ? `| ${r.history} | ${r.what} | ${r.workers} | ${ms(r.p50)} (build) | ${ms(r.p99)} (one up) | ${r.note} |`
      : `| ${r.history} | ${r.what} | ${r.workers} | ${ms(r.p50)} | ${ms(r.p99)} | ${r.n}${r.split ? ` (${r.split})` : ''} |`,
  ),
];
const header = [
  '# Test database benchmark',
  '',
  `Produced by \`npm run bench:testdb\` on ${new Date().toISOString().slice(0, 10)}: one fresh embedded PostgreSQL ${facts.server} (fsync on); histories generated by bench/history.mjs (case 6's shape); ` +
    `${DBS} databases per worker for (b) and (c); each worker a process of its own; (c): ${READY} ready clones in the server's shared pool (filled by prepareTemplate first), 2 more per worker. Machine: ${os.cpus().length} x ${os.cpus()[0]?.model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}.`,
  '',
];
const text = [...header, ...lines, ''].join('\n');
writeFileSync(path.resolve(root, process.env.BENCH_TESTDB_OUT ?? 'bench/TESTDB-RESULTS.md'), text);
process.stdout.write(text);
