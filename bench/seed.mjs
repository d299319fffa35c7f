#!/usr/bin/env node
// Seed tool benchmark: ~100k rows across four related tables. First load, then a no-op
// re-load, against a plain COPY (psql \copy) of the same rows into the same tables, in ONE
// run on one fresh embedded PostgreSQL. Median of BENCH_RUNS (default 5). Each seed run is
// its own Node process, so that its peak RSS is its own; the time is that of the seed() call.
//
//   npm run bench:seed
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startServer } from './server.mjs';

/** One seed() call in a child process: its time, the process's CPU time during it, its result's counts and the process's peak RSS. */
function seedProcess(url, dir) {
  const script = `
    import pino from 'pino';
    import { seed } from ${JSON.stringify(path.join(root, 'dist/index.js'))};
    const t = performance.now();
    const cpu = process.cpuUsage();
    const result = await seed({ databaseUrl: process.argv[1], dir: process.argv[2], logger: pino({ level: 'silent' }) });
    const ms = performance.now() - t;
    const { user, system } = process.cpuUsage(cpu);
    process.stdout.write(JSON.stringify({ ms, cpuMs: (user + system) / 1000, tables: result.tables, maxRssKb: process.resourceUsage().maxRSS }));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script, url, dir], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  if (child.status !== 0) throw new Error(`seed failed: ${child.stderr}`);
  return JSON.parse(child.stdout);
}

/**
 * The least any Node seed tool does before it can check a row: read the seed files and
 * `JSON.parse` them, in its own process, timed like the seed() call (Node's start excluded).
 */
function parseProcess(dir) {
  const script = `
    import { readdirSync, readFileSync } from 'node:fs';
    const t = performance.now();
    let rows = 0;
    for (const name of readdirSync(process.argv[1]).sort()) rows += JSON.parse(readFileSync(process.argv[1] + '/' + name, 'utf8')).rows.length;
    process.stdout.write(JSON.stringify({ ms: performance.now() - t, rows }));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script, dir], { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`parse floor failed: ${child.stderr}`);
  return JSON.parse(child.stdout);
}

const FLOOR_COLUMNS = {
  workspaces: ['id', 'slug', 'name'],
  agents: ['id', 'workspace_id', 'name', 'kind'],
  issues: ['id', 'workspace_id', 'number', 'title', 'status', 'assignee_id'],
  comments: ['id', 'issue_id', 'key', 'author', 'body'],
};
const FLOOR_KEYS = {
  workspaces: ['slug'],
  agents: ['workspace_id', 'name'],
  issues: ['workspace_id', 'number'],
  comments: ['issue_id', 'key'],
};
const typeOf = (column) => (column === 'id' || column.endsWith('_id') || column === 'number' ? 'integer' : 'text');

/** COPY's rows (ids precomputed) as one text-array literal per column, per table in load order. */
function floorArrays(dir) {
  return Object.entries(FLOOR_COLUMNS).map(([table, columns]) => {
    const lines = readFileSync(path.join(dir, `${table}.csv`), 'utf8')
      .trimEnd()
      .split('\n')
      .map((line) => line.split(','));
    return { table, columns, arrays: columns.map((_, c) => `{"${lines.map((line) => line[c]).join('","')}"}`) };
  });
}

/**
 * The server's least work for a first load that never makes a duplicate, whoever else loads at
 * the same time: every row inserted with `ON CONFLICT (key) DO NOTHING`, one statement per
 * table in one transaction, the ids precomputed as COPY has them. Returns the time of the
 * statements.
 */
async function insertOnServer(client, dir) {
  const statements = floorArrays(dir).map(({ table, columns, arrays }) => ({
    sql: `INSERT INTO ${table} (${columns.join(', ')})
          SELECT * FROM unnest(${columns.map((c, i) => `$${i + 1}::${typeOf(c)}[]`).join(', ')})
          ON CONFLICT (${FLOOR_KEYS[table].join(', ')}) DO NOTHING`,
    arrays,
  }));
  const t = performance.now();
  await client.query('BEGIN');
  let inserted = 0;
  for (const { sql, arrays } of statements) inserted += (await client.query(sql, arrays)).rowCount;
  await client.query('COMMIT');
  return { ms: performance.now() - t, inserted };
}

/**
 * The server's least work for a re-load: every seeded row looked up by its key and compared,
 * one statement per table, with the ids precomputed as COPY has them (no reference to
 * resolve). Any tool that reports what differs reads every row so.
 */
async function compareOnServer(client, dir) {
  const statements = floorArrays(dir).map(({ table, columns, arrays }) => {
    const given = columns.slice(1); // the id is the database's
    const sql = `SELECT count(*) FILTER (WHERE ${given
      .filter((n) => !FLOOR_KEYS[table].includes(n))
      .map((n) => `t.${n} IS DISTINCT FROM v.${n}`)
      .join(' OR ')}) AS differ
                   FROM unnest(${given.map((n, i) => `$${i + 1}::${typeOf(n)}[]`).join(', ')}) AS v(${given.join(', ')})
                   JOIN ${table} AS t ON ${FLOOR_KEYS[table].map((n) => `t.${n} = v.${n}`).join(' AND ')}`;
    return { sql, arrays: arrays.slice(1) };
  });
  const t = performance.now();
  let differ = 0;
  for (const { sql, arrays } of statements) differ += Number((await client.query(sql, arrays)).rows[0].differ);
  const ms = performance.now() - t;
  if (differ !== 0) throw new Error(`the compare floor found ${differ} differing rows after a re-load`);
  return ms;
}

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const WORKSPACES = 100;
const AGENTS_PER_WORKSPACE = 20;
const ISSUES_PER_WORKSPACE = 480;
const COMMENTS_PER_ISSUE = 1; // plus one reply on every other issue

const SCHEMA = `
  CREATE TABLE workspaces (id serial PRIMARY KEY, slug text NOT NULL UNIQUE, name text NOT NULL);
  CREATE TABLE agents (id serial PRIMARY KEY, workspace_id int NOT NULL REFERENCES workspaces, name text NOT NULL, kind text NOT NULL, UNIQUE (workspace_id, name));
  CREATE TABLE issues (id serial PRIMARY KEY, workspace_id int NOT NULL REFERENCES workspaces, number int NOT NULL, title text NOT NULL,
                       status text NOT NULL, assignee_id int REFERENCES agents, UNIQUE (workspace_id, number));
  CREATE TABLE comments (id serial PRIMARY KEY, issue_id int NOT NULL REFERENCES issues, key text NOT NULL, author text NOT NULL, body text NOT NULL, UNIQUE (issue_id, key));
`;

/** The same rows twice: as seed files (natural keys and $ref) and as CSV with explicit ids for COPY. */
function generate(dir) {
  const ws = [],
    agents = [],
    issues = [],
    comments = [];
  const csv = { workspaces: [], agents: [], issues: [], comments: [] };
  let agentId = 0,
    issueId = 0,
    commentId = 0;
  for (let w = 1; w <= WORKSPACES; w++) {
    const slug = `ws-${w}`;
    ws.push({ slug, name: `Workspace ${w}` });
    csv.workspaces.push(`${w},${slug},Workspace ${w}`);
    for (let a = 1; a <= AGENTS_PER_WORKSPACE; a++) {
      agents.push({ workspace_id: { $ref: 'workspaces', slug }, name: `agent-${a}`, kind: a % 2 ? 'ai' : 'human' });
      csv.agents.push(`${++agentId},${w},agent-${a},${a % 2 ? 'ai' : 'human'}`);
    }
    for (let n = 1; n <= ISSUES_PER_WORKSPACE; n++) {
      const a = (n % AGENTS_PER_WORKSPACE) + 1;
      issues.push({
        workspace_id: { $ref: 'workspaces', slug },
        number: n,
        title: `Issue ${n}`,
        status: 'open',
        assignee_id: { $ref: 'agents', workspace_id: { $ref: 'workspaces', slug }, name: `agent-${a}` },
      });
      csv.issues.push(`${++issueId},${w},${n},Issue ${n},open,${agentId - AGENTS_PER_WORKSPACE + a}`);
      const issueRef = { $ref: 'issues', workspace_id: { $ref: 'workspaces', slug }, number: n };
      for (let c = 1; c <= COMMENTS_PER_ISSUE + (n % 2); c++) {
        comments.push({ issue_id: issueRef, key: `c${c}`, author: 'ada', body: `Comment ${c} on issue ${n}` });
        csv.comments.push(`${++commentId},${issueId},c${c},ada,Comment ${c} on issue ${n}`);
      }
    }
  }
  const seeds = path.join(dir, 'seeds');
  spawnSync('mkdir', ['-p', seeds]);
  writeFileSync(path.join(seeds, '01_workspaces.json'), JSON.stringify({ table: 'workspaces', key: 'slug', rows: ws }));
  writeFileSync(path.join(seeds, '02_agents.json'), JSON.stringify({ table: 'agents', key: ['workspace_id', 'name'], rows: agents }));
  writeFileSync(path.join(seeds, '03_issues.json'), JSON.stringify({ table: 'issues', key: ['workspace_id', 'number'], rows: issues }));
  writeFileSync(path.join(seeds, '04_comments.json'), JSON.stringify({ table: 'comments', key: ['issue_id', 'key'], rows: comments }));
  for (const [table, lines] of Object.entries(csv)) writeFileSync(path.join(dir, `${table}.csv`), `${lines.join('\n')}\n`);
  return {
    seeds,
    rows: ws.length + agents.length + issues.length + comments.length,
    counts: { workspaces: ws.length, agents: agents.length, issues: issues.length, comments: comments.length },
  };
}

function urlFor(base, schema) {
  // %20, not '+': libpq (psql) does not read '+' as a space.
  return `${base}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  // Wall-clock ratios shift with what else runs on the machine: the results say how loaded it was.
  const loadAtStart = os.loadavg()[0];
  const server = await startServer('-c fsync=on');
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-seed-bench-'));
  const data = generate(dir);
  const first = [],
    reload = [],
    copy = [],
    firstRss = [],
    reloadRss = [],
    firstCpu = [],
    reloadCpu = [],
    parse = [],
    compare = [],
    insert = [];
  try {
    for (let r = 0; r < RUNS; r++) {
      for (const kind of ['seed', 'copy', 'insert']) {
        const schema = `${kind}_${r}`;
        await admin.query(`CREATE SCHEMA ${schema}; SET search_path = ${schema}; ${SCHEMA}; RESET search_path`);
        const url = urlFor(server.url, schema);
        if (kind === 'seed') {
          const result = seedProcess(url, data.seeds);
          first.push(result.ms);
          firstCpu.push(result.cpuMs);
          firstRss.push(result.maxRssKb);
          const inserted = result.tables.reduce((n, x) => n + x.inserted, 0);
          if (inserted !== data.rows) throw new Error(`seed inserted ${inserted} rows, expected ${data.rows}`);
          const again = seedProcess(url, data.seeds);
          reload.push(again.ms);
          reloadCpu.push(again.cpuMs);
          reloadRss.push(again.maxRssKb);
          if (again.tables.some((x) => x.inserted || x.conflicts.length)) throw new Error('the re-load changed something');
          const floor = parseProcess(data.seeds);
          if (floor.rows !== data.rows) throw new Error(`the parse floor read ${floor.rows} rows, expected ${data.rows}`);
          parse.push(floor.ms);
          const reader = new pg.Client({ connectionString: url });
          await reader.connect();
          try {
            compare.push(await compareOnServer(reader, dir));
          } finally {
            await reader.end();
          }
        } else if (kind === 'insert') {
          const writer = new pg.Client({ connectionString: url });
          await writer.connect();
          try {
            const floor = await insertOnServer(writer, dir);
            if (floor.inserted !== data.rows) throw new Error(`the insert floor inserted ${floor.inserted} rows, expected ${data.rows}`);
            insert.push(floor.ms);
          } finally {
            await writer.end();
          }
        } else {
          const t = performance.now();
          const script = ['workspaces', 'agents', 'issues', 'comments']
            .map((table) => `\\copy ${table} FROM '${path.join(dir, `${table}.csv`)}' WITH (FORMAT csv)`)
            .join('\n');
          const psql = spawnSync('psql', [url, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-1'], { input: script, encoding: 'utf8' });
          copy.push(performance.now() - t);
          if (psql.status !== 0) throw new Error(`psql \\copy failed: ${psql.stderr}`);
        }
      }
    }
    const version = (await admin.query('SHOW server_version')).rows[0].server_version;
    const ms = (v) => `${Math.round(v)} ms`;
    const mb = (kb) => `${Math.round(kb / 1024)} MB`;
    const rate = (v) => `${Math.round(data.rows / (v / 1000)).toLocaleString('en-US')} rows/s`;
    const c = median(copy),
      f = median(first),
      n = median(reload),
      p = median(parse),
      s = median(compare),
      w = median(insert);
    const ratio = (v) => `${(v / c).toFixed(2)}x COPY`;
    const text = [
      '# Seed benchmark',
      '',
      `\`npm run bench:seed\`, ${new Date().toISOString().slice(0, 10)}: ${data.rows.toLocaleString('en-US')} rows (${Object.entries(
        data.counts,
      )
        .map(([t, k]) => `${k} ${t}`)
        .join(
          ', ',
        )}; issues and agents refer to their workspace, issues to an agent and comments to an issue by natural key), embedded PostgreSQL ${version} (fsync on), ${os.cpus().length} x ${os.cpus()[0]?.model}, Node ${process.version}; median of ${RUNS} runs, each into fresh tables.`,
      '',
      '| run | time | rate | ratio to COPY | seed process CPU | peak RSS |',
      '| --- | --- | --- | --- | --- | --- |',
      `| plain COPY (psql \\copy, ids precomputed, one transaction) | ${ms(c)} | ${rate(c)} | 1.00x | | |`,
      `| slipway seed, first load | ${ms(f)} | ${rate(f)} | ${(f / c).toFixed(2)}x | ${ms(median(firstCpu))} | ${mb(median(firstRss))} |`,
      `| slipway seed, no-op re-load | ${ms(n)} | ${rate(n)} | ${(n / c).toFixed(2)}x | ${ms(median(reloadCpu))} | ${mb(median(reloadRss))} |`,
      '',
      "Times are medians of the seed() call (each in its own Node process) and of the whole psql run; the seed process's CPU time (user and system) during the call and its peak RSS are medians of the runs too.",
      `Machine load (1-minute load average, ${os.cpus().length} cores): ${loadAtStart.toFixed(1)} at the start, ${os.loadavg()[0].toFixed(1)} at the end.`,
      // On a loaded machine the medians above come from different moments; a round's seed and COPY run back to back.
      `Median of each round's ratio (its seed run to its COPY): first load ${median(first.map((v, r) => v / copy[r])).toFixed(2)}x, re-load ${median(reload.map((v, r) => v / copy[r])).toFixed(2)}x.`,
      '',
      '| floor (same run) | measured | what it bounds |',
      '| --- | --- | --- |',
      `| Node reading and \`JSON.parse\` of the seed files (its own process, start excluded) | ${ms(p)} | what any Node tool that checks every file before writing does first |`,
      `| COPY, plus that | ${ms(c + p)}, ${ratio(c + p)} | a first load: the files read, then the rows written as fast as PostgreSQL takes them |`,
      `| every row inserted with \`ON CONFLICT (key) DO NOTHING\`, ids precomputed (4 statements, one transaction) | ${ms(w)}, ${ratio(w)} | a first load's server work when no run may insert a row twice |`,
      `| that, plus reading and parsing the files | ${ms(w + p)}, ${ratio(w + p)} | a first load that checks every file, then inserts without duplicates |`,
      `| every row looked up by key and compared on the server, ids precomputed (4 statements) | ${ms(s)} | a re-load's server work: any tool that reports what differs reads every row |`,
      `| that, plus reading and parsing the files | ${ms(s + p)}, ${ratio(s + p)} | a re-load, with no client work between reading the files and asking the server |`,
      '',
      `Targets (issue "Speed, restated against the floors"): first load at most 1.8x COPY (${(f / c).toFixed(2)}x), ` +
        `re-load at most 1.1x (${(n / c).toFixed(2)}x).`,
      '',
    ].join('\n');
    writeFileSync(path.join(root, 'bench/SEED-RESULTS.md'), text);
    process.stdout.write(text);
  } finally {
    await admin.end();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
