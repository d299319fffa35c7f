#!/usr/bin/env node
// slipway against its peers, side by side, in ONE run on ONE fresh embedded PostgreSQL.
// Every tool is driven through its public CLI, each in its own database, and every figure
// is the median of RUNS runs. Prints a table of ratios to slipway and writes bench/RESULTS.md.
//
//   npm run bench            (BENCH_RUNS=5 by default)
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startServer, startSystemServer } from './server.mjs';
import { writeHistory } from './history.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const MIGRATIONS = 500;
const PENDING_FOR_RACE = 50;
const PROCESSES = 16;
const HISTORY = 432;
const bin = (p) => path.join(root, p);
// The peers live in bench/peers (their own package.json; `npm run bench` installs them).
const peer = (p) => path.join(root, 'bench/peers/node_modules', p);

// ---------------------------------------------------------------- migration sets
function migrationSql(i) {
  return `CREATE TABLE t_${i} (id serial PRIMARY KEY, name text NOT NULL);\nCREATE INDEX t_${i}_name_idx ON t_${i} (name);\nINSERT INTO t_${i} (name) VALUES ('a'), ('b'), ('c');\n`;
}
function writeSets(count) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `slipway-bench-${count}-`));
  const sets = {
    slipway: path.join(dir, 'slipway'),
    dbmate: path.join(dir, 'dbmate'),
    npm: path.join(dir, 'node-pg-migrate'),
    psql: path.join(dir, 'all.sql'),
  };
  for (const d of [sets.slipway, sets.dbmate, sets.npm]) mkdirSync(d);
  const all = [];
  for (let i = 1; i <= count; i++) {
    const version = String(i).padStart(4, '0');
    const sql = migrationSql(i);
    writeFileSync(path.join(sets.slipway, `${version}_m${i}.up.sql`), sql);
    writeFileSync(path.join(sets.slipway, `${version}_m${i}.down.sql`), `DROP TABLE t_${i};\n`);
    writeFileSync(path.join(sets.dbmate, `${version}_m${i}.sql`), `-- migrate:up\n${sql}\n-- migrate:down\nDROP TABLE t_${i};\n`);
    writeFileSync(path.join(sets.npm, `${version}_m${i}.sql`), `-- Up Migration\n${sql}\n-- Down Migration\nDROP TABLE t_${i};\n`);
    all.push(sql);
  }
  writeFileSync(sets.psql, all.join(''));
  return { dir, ...sets };
}

// ---------------------------------------------------------------- tools
const dbmateBinary = peer(`@dbmate/${os.platform()}-${os.arch()}/bin/dbmate`);
function withDb(url, db) {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}
/** Each tool's command for `up` on database `url` with migration set `set`. */
// slipway's parse cache lives in the bench's own folder: the first run of a case parses, the next ones read it.
const parseCache = mkdtempSync(path.join(os.tmpdir(), 'slipway-bench-parse-cache-'));
const tools = {
  slipway: (url, set) => [
    process.execPath,
    [bin('dist/cli/main.js'), 'up', '--dir', set.slipway, '--database-url', url, '--log-format', 'json'],
    { SLIPWAY_CACHE_DIR: parseCache },
  ],
  dbmate: (url, set) => [dbmateBinary, ['--url', `${url}?sslmode=disable`, '--migrations-dir', set.dbmate, '--no-dump-schema', 'up'], {}],
  'node-pg-migrate': (url, set) => [
    process.execPath,
    [peer('node-pg-migrate/bin/node-pg-migrate.js'), 'up', '-m', set.npm, '-j', 'sql'],
    { DATABASE_URL: url },
  ],
  'psql -1 (floor)': (url, set) => ['psql', [url, '-q', '-X', '-1', '-v', 'ON_ERROR_STOP=1', '-f', set.psql], {}],
};
/** Node, the parser loaded as the CLI loads it, and every up file of a folder parsed once: no database. */
const PARSE_ALL = `
  import v8 from 'node:v8'; v8.setFlagsFromString('--liftoff-only');
  import { readdirSync, readFileSync } from 'node:fs';
  const { loadModule, parse } = await import('libpg-query');
  await loadModule?.();
  const dir = process.argv[1];
  for (const f of readdirSync(dir)) if (f.endsWith('.up.sql')) await parse(readFileSync(dir + '/' + f, 'utf8'));`;

/** The floor of a no-op: connect and send one statement. */
const psqlNoop = (url) => ['psql', [url, '-q', '-X', '-c', 'SELECT 1'], {}];

function run([command, args, env]) {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => resolve({ code, ms: performance.now() - started, output }));
  });
}

/** Runs a command under GNU time: wall ms, client CPU ms (user + system) and peak RSS. */
async function runMeasured([command, args, env]) {
  const stats = path.join(os.tmpdir(), `slipway-bench-time-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const result = await run(['/usr/bin/time', ['-f', '%U %S %M', '-o', stats, command, ...args], env]);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${result.output.slice(-2000)}`);
  const [user, system, rssKb] = readFileSync(stats, 'utf8').trim().split(/\s+/).slice(-3).map(Number);
  rmSync(stats, { force: true });
  return { ms: result.ms, cpuMs: (user + system) * 1000, rssMb: rssKb / 1024, output: result.output };
}

async function runOk(spec) {
  const result = await run(spec);
  if (result.code !== 0) throw new Error(`${spec[0]} ${spec[1].join(' ')} failed:\n${result.output.slice(-2000)}`);
  return result;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** migrate() through a pool in one Node process, nothing pending: the first call, then the median of 20 more (one run of case 8). */
function libraryNoop(url, dir) {
  const script = `
    import pg from 'pg';
    import pino from 'pino';
    import { migrate } from ${JSON.stringify(bin('dist/index.js'))};
    const pool = new pg.Pool({ connectionString: process.argv[1], max: 2 });
    const logger = pino({ level: 'silent' });
    const call = async () => { const t = performance.now(); await migrate({ pool, dir: process.argv[2], direction: 'up', logger }); return performance.now() - t; };
    const first = await call();
    const warm = [];
    for (let i = 0; i < 20; i++) warm.push(await call());
    await pool.end();
    process.stdout.write(JSON.stringify({ first, warm: warm.sort((a, b) => a - b)[10] }));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script, url, dir], { cwd: root, encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`library no-op failed: ${child.stderr}`);
  return JSON.parse(child.stdout);
}

// ---------------------------------------------------------------- cases
async function main() {
  const server = await startServer('-c fsync=on -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all');
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  const big = writeSets(MIGRATIONS);
  const small = writeSets(PENDING_FOR_RACE);
  const results = {};
  const note = (tool, name, value) => ((results[tool] ??= {})[name] = value);
  let dbCounter = 0;
  const freshDb = async () => {
    const name = `bench_${++dbCounter}`;
    await admin.query(`CREATE DATABASE ${name}`);
    return { name, url: withDb(server.url, name) };
  };
  await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');

  try {
    for (const [tool, command] of Object.entries(tools)) {
      process.stderr.write(`${tool}: cases 1-2 ...\n`);
      const apply = [];
      const noop = [];
      for (let r = 0; r < RUNS; r++) {
        const db = await freshDb();
        apply.push((await runOk(command(db.url, big))).ms);
        const noopSpec = tool.startsWith('psql') ? psqlNoop(db.url) : command(db.url, big);
        noop.push((await runOk(noopSpec)).ms);
        if (r === 0) {
          // Statements sent by one no-op run, counted by pg_stat_statements in this database only.
          await admin.query('SELECT pg_stat_statements_reset()');
          await runOk(noopSpec);
          const counted = await admin.query(
            `SELECT coalesce(sum(calls), 0)::int AS n FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1)`,
            [db.name],
          );
          note(tool, 'noopStatements', counted.rows[0].n);
          const tables = await new pg.Client({ connectionString: db.url });
          await tables.connect();
          const n = (await tables.query(`SELECT count(*)::int AS n FROM pg_tables WHERE tablename LIKE 't\\_%'`)).rows[0].n;
          await tables.end();
          if (n !== MIGRATIONS) throw new Error(`${tool} created ${n} tables, expected ${MIGRATIONS}`);
        }
      }
      note(tool, 'apply500', median(apply));
      note(tool, 'noop500', median(noop));
    }

    // Case 6: the realistic history, psql's floor being one session running the files in order.
    const realistic = writeHistory(HISTORY);
    const historyTools = {
      slipway: (url) => tools.slipway(url, { slipway: realistic.slipway }),
      dbmate: (url) => tools.dbmate(url, { dbmate: realistic.dbmate }),
      'psql -1 (floor)': (url) => ['psql', [url, '-q', '-X', '-v', 'ON_ERROR_STOP=1', '-f', realistic.psql], {}],
    };
    let historyDb = null;
    for (const [tool, command] of Object.entries(historyTools)) {
      process.stderr.write(`${tool}: case 6 ...\n`);
      const runs = [];
      const starts = [];
      for (let r = 0; r < RUNS; r++) {
        const db = await freshDb();
        const spawned = Date.now();
        const measured = await runMeasured(command(db.url));
        runs.push(measured);
        if (tool === 'slipway') {
          historyDb = db;
          // From the JSON log: when the first migration began. The files run one after another
          // and a batch logs its files only as it commits, so: the last line's time less every
          // file's duration (the time between files, a little, counts as start).
          const applied = measured.output
            .split('\n')
            .filter((l) => l.startsWith('{'))
            .map((l) => JSON.parse(l))
            .filter((l) => /^applied /.test(l.msg));
          starts.push(applied.at(-1).time - applied.reduce((sum, l) => sum + l.durationMs, 0) - spawned);
        }
      }
      if (tool === 'slipway') note(tool, 'historyStart', median(starts));
      note(tool, 'history', median(runs.map((x) => x.ms)));
      note(tool, 'historyCpu', median(runs.map((x) => x.cpuMs)));
      note(tool, 'historyRss', median(runs.map((x) => x.rssMb)));
    }

    // Case 7: the CLI's no-op over that history, paired run by run with `node -e 0`.
    process.stderr.write('slipway: cases 7-8 ...\n');
    const noopCli = [];
    const nodeAlone = [];
    for (let r = 0; r < Math.max(RUNS, 10); r++) {
      nodeAlone.push((await runOk([process.execPath, ['-e', '0'], {}])).ms);
      noopCli.push((await runOk(tools.slipway(historyDb.url, { slipway: realistic.slipway }))).ms);
    }
    note('slipway', 'noopHistory', median(noopCli));
    note('slipway', 'nodeAlone', median(nodeAlone));

    // Floors of this machine and of the stack the project requires (Node, pg, pino, commander,
    // the WebAssembly Postgres parser), measured in the same run: what any CLI built on them pays.
    process.stderr.write('floors ...\n');
    const libsAlone = [];
    const pgAlone = [];
    const nodeAlone16 = [];
    const parserCpu = [];
    const pgQuery = [];
    const pgQuery16 = [];
    // Case 6's work for the server at the least: every file in one transaction, no index built concurrently.
    const oneTransaction = [];
    const allInOne = path.join(realistic.dir, 'one-transaction.sql');
    writeFileSync(allInOne, readFileSync(realistic.psql, 'utf8').replace(/ CONCURRENTLY /g, ' '));
    // What any no-op CLI on pg pays: Node, pg, one connection and one statement.
    const oneQuery = [
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const { default: pg } = await import('pg'); const c = new pg.Client({ connectionString: process.env.DATABASE_URL }); await c.connect(); await c.query('SELECT 1'); await c.end();",
      ],
      { DATABASE_URL: historyDb.url },
    ];
    for (let r = 0; r < RUNS; r++) {
      libsAlone.push(
        (
          await runOk([
            process.execPath,
            ['--input-type=module', '-e', "await import('pg'); await import('pino'); await import('commander');"],
            {},
          ])
        ).ms,
      );
      pgAlone.push((await runOk([process.execPath, ['--input-type=module', '-e', "await import('pg');"], {}])).ms);
      pgQuery.push((await runOk(oneQuery)).ms);
      const queriesStarted = performance.now();
      await Promise.all(Array.from({ length: PROCESSES }, () => runOk(oneQuery)));
      pgQuery16.push(performance.now() - queriesStarted);
      const started = performance.now();
      await Promise.all(Array.from({ length: PROCESSES }, () => runOk([process.execPath, ['-e', '0'], {}])));
      nodeAlone16.push(performance.now() - started);
      parserCpu.push((await runMeasured([process.execPath, ['--input-type=module', '-e', PARSE_ALL, realistic.slipway], {}])).cpuMs);
      const db = await freshDb();
      oneTransaction.push((await runOk(['psql', [db.url, '-q', '-X', '-1', '-v', 'ON_ERROR_STOP=1', '-f', allInOne], {}])).ms);
    }
    note('slipway', 'libsAlone', median(libsAlone));
    note('slipway', 'pgAlone', median(pgAlone));
    note('slipway', 'pgQuery', median(pgQuery));
    note('slipway', 'pgQuery16', median(pgQuery16));
    note('slipway', 'nodeAlone16', median(nodeAlone16));
    note('slipway', 'parserCpu', median(parserCpu));
    note('slipway', 'oneTransaction', median(oneTransaction));
    // Case 8: what a replica pays at startup: migrate() with a pool in a warm process, nothing pending.
    // One process per run: each call's first and warm-median figures, then the median of the runs.
    const library = Array.from({ length: RUNS }, () => libraryNoop(historyDb.url, realistic.slipway));
    note('slipway', 'noopLibrary', { first: median(library.map((l) => l.first)), warm: median(library.map((l) => l.warm)) });
    // Case 8 again on a plain server: the system's PostgreSQL (Debian's 15, its default settings).
    process.stderr.write("slipway: case 8 on the system's PostgreSQL ...\n");
    const plain = await startSystemServer();
    try {
      const plainDb = withDb(plain.url, 'bench_plain');
      const plainAdmin = new pg.Client({ connectionString: plain.url });
      await plainAdmin.connect();
      await plainAdmin.query('CREATE DATABASE bench_plain');
      const plainVersion = (await plainAdmin.query('SHOW server_version')).rows[0].server_version;
      await plainAdmin.end();
      await runOk(tools.slipway(plainDb, { slipway: realistic.slipway }));
      const onPlain = Array.from({ length: RUNS }, () => libraryNoop(plainDb, realistic.slipway));
      note('slipway', 'noopLibraryPlain', {
        first: median(onPlain.map((l) => l.first)),
        warm: median(onPlain.map((l) => l.warm)),
        server: plainVersion,
      });
    } finally {
      await plain.stop();
    }
    rmSync(realistic.dir, { recursive: true, force: true });

    for (const [tool, command] of Object.entries(tools)) {
      if (tool.startsWith('psql')) continue;
      process.stderr.write(`${tool}: cases 3-5 ...\n`);
      const idle = [];
      const race = [];
      const failures = [];
      for (let r = 0; r < RUNS; r++) {
        const applied = await freshDb();
        await runOk(command(applied.url, big));
        const started = performance.now();
        await Promise.all(Array.from({ length: PROCESSES }, () => run(command(applied.url, big))));
        idle.push(performance.now() - started);

        const pending = await freshDb();
        const raceStart = performance.now();
        const outcomes = await Promise.all(Array.from({ length: PROCESSES }, () => run(command(pending.url, small))));
        race.push(performance.now() - raceStart);
        const failed = outcomes.filter((o) => o.code !== 0);
        const check = new pg.Client({ connectionString: pending.url });
        await check.connect();
        const tables = (await check.query(`SELECT count(*)::int AS n FROM pg_tables WHERE tablename LIKE 't\\_%'`)).rows[0].n;
        // Every migration inserts 3 rows: a migration applied twice would leave 6 in its table.
        const rows = (
          await check.query(
            `SELECT coalesce(sum((xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I', tablename), false, true, '')))[1]::text::int), 0)::int AS n
               FROM pg_tables WHERE tablename LIKE 't\\_%'`,
          )
        ).rows[0].n;
        await check.end();
        failures.push({
          failed: failed.length,
          tables,
          rows,
          error: failed[0]?.output
            .trim()
            .split('\n')
            .find((l) => /error|fail|lock/i.test(l))
            ?.slice(0, 160),
        });
      }
      note(tool, 'idle16', median(idle));
      note(tool, 'race16', median(race));
      note(tool, 'raceFailures', failures);
      const cold = [];
      for (let r = 0; r < RUNS; r++) {
        const spec =
          tool === 'slipway'
            ? [process.execPath, [bin('dist/cli/main.js'), '--version'], {}]
            : tool === 'dbmate'
              ? [dbmateBinary, ['--version'], {}]
              : [process.execPath, [peer('node-pg-migrate/bin/node-pg-migrate.js'), '--help'], {}];
        cold.push((await run(spec)).ms);
      }
      note(tool, 'coldStart', median(cold));
    }

    const version = (await admin.query('SHOW server_version')).rows[0].server_version;
    report(results, version);
  } finally {
    await admin.end();
    await server.stop();
    rmSync(big.dir, { recursive: true, force: true });
    rmSync(small.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- report
function versions() {
  const pkg = (name) => JSON.parse(readFileSync(peer(`${name}/package.json`), 'utf8')).version;
  const psql = spawnSync('psql', ['--version'], { encoding: 'utf8' }).stdout.trim();
  return {
    slipway: JSON.parse(readFileSync(bin('package.json'), 'utf8')).version,
    dbmate: pkg('dbmate'),
    'node-pg-migrate': pkg('node-pg-migrate'),
    psql,
    node: process.version,
  };
}

function report(results, serverVersion) {
  const ms = (v) => (v === undefined ? 'n/a' : `${Math.round(v)} ms`);
  const ratio = (v, base) => (v === undefined || base === undefined ? '' : ` (${(v / base).toFixed(2)}x)`);
  const s = results.slipway;
  const cases = [
    ['1. apply 500 migrations to an empty database', 'apply500'],
    ['2. no-op run with 500 applied', 'noop500'],
    [`3. ${PROCESSES} processes at once, nothing pending (until the last exits)`, 'idle16'],
    [`4. ${PROCESSES} processes at once, ${PENDING_FOR_RACE} pending (until the last exits)`, 'race16'],
    ['5. CLI cold start (--version; node-pg-migrate: --help)', 'coldStart'],
    [`6. apply a realistic history of ${HISTORY} migrations (psql: one session, not -1)`, 'history'],
  ];
  const names = Object.keys(results);
  const lines = [];
  lines.push(`| case | ${names.join(' | ')} |`, `| --- | ${names.map(() => '---').join(' | ')} |`);
  for (const [label, key] of cases)
    lines.push(
      `| ${label} | ${names.map((n) => `${ms(results[n][key])}${n === 'slipway' ? '' : ratio(results[n][key], s[key])}`).join(' | ')} |`,
    );
  lines.push(`| statements sent by one no-op run (case 2) | ${names.map((n) => results[n].noopStatements ?? 'n/a').join(' | ')} |`);
  lines.push(`| case 6: client CPU (user + system) | ${names.map((n) => ms(results[n].historyCpu)).join(' | ')} |`);
  lines.push(
    `| case 6: client peak RSS | ${names.map((n) => (results[n].historyRss === undefined ? 'n/a' : `${Math.round(results[n].historyRss)} MB`)).join(' | ')} |`,
  );
  lines.push(
    `| 7. no-op CLI run over case 6's ${HISTORY} applied migrations | ${ms(s.noopHistory)} | ${names
      .slice(1)
      .map(() => 'n/a')
      .join(' | ')} |`,
  );
  lines.push(
    `| 8. no-op \`migrate()\` through a pool, ${HISTORY} applied (first call; median of the next 20) | ${ms(s.noopLibrary?.first)}; ${s.noopLibrary?.warm.toFixed(1)} ms | ${names
      .slice(1)
      .map(() => 'n/a')
      .join(' | ')} |`,
  );
  const x = (a, b) => (a === undefined || b === undefined ? 'n/a' : `${(a / b).toFixed(2)}x`);
  const dbmate = results.dbmate ?? {};
  const plain = s.noopLibraryPlain;
  const targets = [
    '| target (issue "Speed, restated against the floors") | measured | met |',
    '| --- | --- | --- |',
    `| 1. case 6 at least 1.3x faster than dbmate | slipway ${ms(s.history)}, dbmate ${ms(dbmate.history)}: ${x(dbmate.history, s.history)} | ${dbmate.history >= 1.3 * s.history ? 'yes' : 'no'} |`,
    `| 2. case 6 client CPU at most 1.5x dbmate's | slipway ${ms(s.historyCpu)}, dbmate ${ms(dbmate.historyCpu)}: ${x(s.historyCpu, dbmate.historyCpu)} | ${s.historyCpu <= 1.5 * dbmate.historyCpu ? 'yes' : 'no'} |`,
    `| 3. CLI no-op (case 7) at most 1.6x \`node -e 0\` (${ms(s.nodeAlone)}, paired; Node loading pg alone: ${x(s.pgAlone, s.nodeAlone)}) | ${x(s.noopHistory, s.nodeAlone)} | ${s.noopHistory <= 1.6 * s.nodeAlone ? 'yes' : 'no'} |`,
    `| 4. ${PROCESSES} no-op processes at once (case 3) at most 1.5x ${PROCESSES} \`node -e 0\` at once (${ms(s.nodeAlone16)}) | ${x(s.idle16, s.nodeAlone16)} | ${s.idle16 <= 1.5 * s.nodeAlone16 ? 'yes' : 'no'} |`,
    '| 5. seed: first load at most 1.8x COPY, re-load at most 1.1x | `npm run bench:seed` (bench/SEED-RESULTS.md) | see there |',
    `| 6. library no-op (case 8) at most 10 ms warm, on this bench's server and on a plain PostgreSQL ${plain?.server ?? '15'} | ${s.noopLibrary?.warm.toFixed(1)} ms here; ${plain ? `${plain.warm.toFixed(1)} ms on the plain server (first call ${ms(plain.first)})` : 'n/a'} | ${s.noopLibrary?.warm <= 10 && plain?.warm <= 10 ? 'yes' : 'no'} |`,
  ];
  const floors = [
    '| floor (same run, no database unless said) | measured | what it bounds |',
    '| --- | --- | --- |',
    `| \`node -e 0\` | ${ms(s.nodeAlone)} | the unit of case 7's target |`,
    `| ${PROCESSES} \`node -e 0\` at once, until the last exits | ${ms(s.nodeAlone16)}, ${x(s.nodeAlone16, s.nodeAlone)} one | case 3: ${PROCESSES} processes of any Node program on ${os.cpus().length} cores |`,
    `| Node loading pg, doing nothing | ${ms(s.pgAlone)}, ${x(s.pgAlone, s.nodeAlone)} \`node -e 0\` | target 3: any CLI that talks to PostgreSQL with pg |`,
    `| Node loading pg, one connection and \`SELECT 1\` | ${ms(s.pgQuery)}, ${x(s.pgQuery, s.nodeAlone)} \`node -e 0\` | target 3: any no-op that asks PostgreSQL, with pg |`,
    `| ${PROCESSES} of those at once, until the last exits | ${ms(s.pgQuery16)}, ${x(s.pgQuery16, s.nodeAlone16)} ${PROCESSES} \`node -e 0\` | target 4: ${PROCESSES} no-ops that ask PostgreSQL, with pg |`,
    `| Node loading pg, pino and commander, doing nothing | ${ms(s.libsAlone)}, ${x(s.libsAlone, s.nodeAlone)} \`node -e 0\` | case 7: any CLI on these libraries |`,
    `| CPU of Node loading the parser and parsing case 6's ${HISTORY} files once | ${ms(s.parserCpu)} | case 6's CPU: every pending file is parsed (and linted) before the first runs |`,
    `| case 6: slipway's start, spawn to its first migration | ${ms(s.historyStart)} | case 6 against dbmate: slipway ${x(s.history, results.dbmate?.history)} of dbmate's time |`,
    `| case 6's files in one transaction, \`CONCURRENTLY\` dropped (\`psql -1\`, fresh database) | ${ms(s.oneTransaction)}; dbmate ${x(results.dbmate?.history, s.oneTransaction)} of it | target 1: the server's own work for the history, with no commit per file and no index built concurrently |`,
    `| that, plus Node loading pg, one connection and \`SELECT 1\` | ${ms(s.oneTransaction + s.pgQuery)}; dbmate ${x(results.dbmate?.history, s.oneTransaction + s.pgQuery)} of it | target 1: the least a Node runner takes for case 6 (1.3x asked) |`,
  ];
  const correctness = names
    .filter((n) => results[n].raceFailures)
    .map((n) => {
      const runs = results[n].raceFailures;
      const bad = runs.filter((f) => f.failed > 0 || f.tables !== PENDING_FOR_RACE || f.rows !== 3 * PENDING_FOR_RACE);
      return `- **${n}**: ${bad.length === 0 ? `every run: all ${PROCESSES} processes exited 0 and each of the ${PENDING_FOR_RACE} migrations was applied once` : `${bad.length} of ${runs.length} runs FAILED case 4: ${runs.map((f) => `${f.failed}/${PROCESSES}`).join(', ')} processes exited non-zero; first error: \`${bad.find((f) => f.error)?.error ?? 'n/a'}\``}`;
    });
  const cpu = os.cpus();
  const v = versions();
  const text = [
    '# Benchmark results',
    '',
    `Produced by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: one fresh embedded PostgreSQL ${serverVersion} (fsync on), every tool through its CLI in its own database, median of ${RUNS} runs. A peer's figure is followed by its ratio to slipway's: 2.00x takes twice as long as slipway.`,
    '',
    `Machine: ${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}. Versions: slipway ${v.slipway}, dbmate ${v.dbmate}, node-pg-migrate ${v['node-pg-migrate']}, ${v.psql}, Node ${v.node}.`,
    '',
    ...lines,
    '',
    ...targets,
    '',
    ...floors,
    '',
    `Case 4 correctness (${PROCESSES} processes, ${PENDING_FOR_RACE} pending, ${RUNS} runs):`,
    ...correctness,
    '',
    'Migration shape, cases 1-5: `CREATE TABLE` + `CREATE INDEX` + a 3-row `INSERT` each. The psql floor runs the concatenated SQL in one transaction (`psql -1 -f`); its no-op is `psql -c "SELECT 1"`.',
    `Case 6 (bench/history.mjs): ${HISTORY} migrations generated like a product's history: about 40 % \`CREATE INDEX CONCURRENTLY\`, tables with foreign keys and indexes, columns added and backfilled, plpgsql functions and triggers, enums and views, a few 20k-row backfills. dbmate runs the concurrent ones with \`transaction:false\`; psql runs all files in one session (statement by statement, autocommit), the floor for files that cannot share one transaction.`,
    '',
  ].join('\n');
  writeFileSync(bin('bench/RESULTS.md'), text);
  process.stdout.write(`${text}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
