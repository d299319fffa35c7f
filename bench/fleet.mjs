#!/usr/bin/env node
// A fleet of schema tenants on ONE fresh embedded PostgreSQL: TENANTS schemas × 20 migrations
// (tables, indexes, two CREATE INDEX CONCURRENTLY, a function), migrated by ONE
// `slipway up --tenants schema:tenant_%`, then the no-op over the same fleet; against the
// loop of one `slipway up` per tenant, measured on SAMPLE fresh tenants and extrapolated.
// Writes bench/FLEET-RESULTS.md.
//
//   npm run bench:fleet          (BENCH_TENANTS=1000, BENCH_SAMPLE=50, BENCH_RUNS=3 for the no-op)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startServer } from './server.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const TENANTS = Number(process.env.BENCH_TENANTS ?? 1000);
const SAMPLE = Number(process.env.BENCH_SAMPLE ?? 50);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const cli = path.join(root, 'dist/cli/main.js');

/** 20 migrations a tenant's history might hold. */
function writeMigrations() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-fleet-bench-'));
  const files = [];
  const add = (up, down) => files.push([up, down]);
  add(
    'CREATE TABLE accounts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT now());',
    'DROP TABLE accounts;',
  );
  add(
    'CREATE TABLE projects (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts, name text NOT NULL);',
    'DROP TABLE projects;',
  );
  add('CREATE INDEX projects_account_idx ON projects (account_id);', 'DROP INDEX projects_account_idx;');
  add(
    "CREATE TABLE tasks (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, project_id bigint NOT NULL REFERENCES projects, title text NOT NULL, status text NOT NULL DEFAULT 'open');",
    'DROP TABLE tasks;',
  );
  add('CREATE INDEX CONCURRENTLY tasks_project_idx ON tasks (project_id);', 'DROP INDEX CONCURRENTLY tasks_project_idx;');
  add('ALTER TABLE tasks ADD COLUMN due_at timestamptz;', 'ALTER TABLE tasks DROP COLUMN due_at;');
  add('CREATE TABLE labels (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL UNIQUE);', 'DROP TABLE labels;');
  add(
    'CREATE TABLE task_labels (task_id bigint REFERENCES tasks, label_id bigint REFERENCES labels, PRIMARY KEY (task_id, label_id));',
    'DROP TABLE task_labels;',
  );
  add(
    "ALTER TABLE tasks ADD CONSTRAINT tasks_status_check CHECK (status IN ('open', 'done', 'blocked'));",
    'ALTER TABLE tasks DROP CONSTRAINT tasks_status_check;',
  );
  add(
    'CREATE TABLE comments (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, task_id bigint NOT NULL REFERENCES tasks, body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());',
    'DROP TABLE comments;',
  );
  add('CREATE INDEX comments_task_idx ON comments (task_id, created_at);', 'DROP INDEX comments_task_idx;');
  add("CREATE INDEX CONCURRENTLY tasks_open_idx ON tasks (project_id) WHERE status = 'open';", 'DROP INDEX CONCURRENTLY tasks_open_idx;');
  add(
    "CREATE FUNCTION open_tasks(p bigint) RETURNS bigint LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$ SELECT count(*) FROM tasks WHERE project_id = p AND status = 'open' $$;",
    'DROP FUNCTION open_tasks(bigint);',
  );
  add("ALTER TABLE accounts ADD COLUMN plan text NOT NULL DEFAULT 'free';", 'ALTER TABLE accounts DROP COLUMN plan;');
  add(
    'CREATE TABLE audit_log (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), what jsonb NOT NULL);',
    'DROP TABLE audit_log;',
  );
  add('CREATE INDEX audit_log_at_idx ON audit_log USING brin (at);', 'DROP INDEX audit_log_at_idx;');
  add("INSERT INTO labels (name) VALUES ('bug'), ('feature'), ('chore');", 'DELETE FROM labels;');
  add('ALTER TABLE projects ADD COLUMN archived boolean NOT NULL DEFAULT false;', 'ALTER TABLE projects DROP COLUMN archived;');
  add('CREATE VIEW active_projects AS SELECT * FROM projects WHERE NOT archived;', 'DROP VIEW active_projects;');
  add("COMMENT ON TABLE tasks IS 'work items of a project';", 'COMMENT ON TABLE tasks IS NULL;');
  files.forEach(([up, down], i) => {
    const version = `${String(i + 1).padStart(3, '0')}_step_${i + 1}`;
    writeFileSync(path.join(dir, `${version}.up.sql`), `${up}\n`);
    writeFileSync(path.join(dir, `${version}.down.sql`), `${down}\n`);
  });
  return { dir, count: files.length };
}

function run(args, env = {}) {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => resolve({ code, ms: performance.now() - started, output }));
  });
}
async function runOk(args, env) {
  const result = await run(args, env);
  if (result.code !== 0) throw new Error(`slipway ${args.join(' ')} failed:\n${result.output.slice(-3000)}`);
  return result;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const withSearchPath = (url, schema) => {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
};

async function main() {
  // fsync on, as a real server: every migration's commit is flushed.
  const server = await startServer('-c fsync=on -c max_connections=400');
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  const { dir, count } = writeMigrations();
  const schemas = (prefix, n) => Array.from({ length: n }, (_, i) => `${prefix}_${String(i + 1).padStart(4, '0')}`);
  const createSchemas = async (names) => {
    for (let i = 0; i < names.length; i += 200)
      await admin.query(
        names
          .slice(i, i + 200)
          .map((s) => `CREATE SCHEMA ${s};`)
          .join(' '),
      );
  };
  try {
    const cores = os.cpus().length;
    const loadBefore = os.loadavg()[0];
    const maxConnections = (await admin.query('SHOW max_connections')).rows[0].max_connections;
    const version = (await admin.query('SHOW server_version')).rows[0].server_version;

    await createSchemas(schemas('tenant', TENANTS));
    process.stderr.write(`fleet: ${TENANTS} tenants × ${count} migrations ...\n`);
    const fleetArgs = [
      '--tenants',
      'schema:tenant\\_%',
      '--database-url',
      server.url,
      '--dir',
      dir,
      '--log-format',
      'json',
      '--log-level',
      'warn',
    ];
    const apply = await runOk(['up', ...fleetArgs]);
    const summary = apply.output.trim().split('\n').at(-1);
    const applied = (
      await admin.query(
        `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE 'tenant\\_%' AND c.relname = 'schema_migrations'`,
      )
    ).rows[0].n;
    if (applied !== TENANTS) throw new Error(`expected ${TENANTS} ledgers, found ${applied}`);
    const rows = (
      await admin.query(`SELECT count(*)::int AS n FROM pg_indexes WHERE schemaname LIKE 'tenant\\_%' AND indexname = 'tasks_open_idx'`)
    ).rows[0].n;
    if (rows !== TENANTS) throw new Error(`expected ${TENANTS} concurrent indexes, found ${rows}`);

    process.stderr.write('fleet: no-op ...\n');
    const noops = [];
    for (let r = 0; r < RUNS; r++) noops.push((await runOk(['up', ...fleetArgs])).ms);

    process.stderr.write(`loop: one slipway up per tenant, ${SAMPLE} tenants ...\n`);
    const sample = schemas('loop', SAMPLE);
    await createSchemas(sample);
    const loopArgs = (schema) => [
      'up',
      '--database-url',
      withSearchPath(server.url, schema),
      '--dir',
      dir,
      '--table',
      `${schema}.schema_migrations`,
      '--log-format',
      'json',
      '--log-level',
      'warn',
    ];
    let loopApply = 0;
    for (const schema of sample) loopApply += (await runOk(loopArgs(schema))).ms;
    let loopNoop = 0;
    for (const schema of sample) loopNoop += (await runOk(loopArgs(schema))).ms;
    const perTenantApply = loopApply / SAMPLE;
    const perTenantNoop = loopNoop / SAMPLE;

    const loadAfter = os.loadavg()[0];
    const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
    const fleetApply = apply.ms;
    const fleetNoop = median(noops);
    const table = [
      `| case | one \`slipway up --tenants\` | loop of \`slipway up\` per tenant (${SAMPLE} measured, × ${TENANTS / SAMPLE}) | ratio |`,
      '| --- | ---: | ---: | ---: |',
      `| apply ${count} migrations to ${TENANTS} tenants (${TENANTS * count} migrations) | ${s(fleetApply)} | ${s(perTenantApply * TENANTS)} (${Math.round(perTenantApply)} ms a tenant) | ${((perTenantApply * TENANTS) / fleetApply).toFixed(1)}× |`,
      `| no-op over the same ${TENANTS} tenants (median of ${RUNS}) | ${s(fleetNoop)} | ${s(perTenantNoop * TENANTS)} (${Math.round(perTenantNoop)} ms a tenant) | ${((perTenantNoop * TENANTS) / fleetNoop).toFixed(1)}× |`,
    ].join('\n');
    const report = `# Fleet benchmark

\`npm run bench:fleet\` (bench/fleet.mjs): ${TENANTS} schema tenants × ${count} migrations (tables, indexes, two
\`CREATE INDEX CONCURRENTLY\`, a function, a view, a constraint, rows) on one fresh embedded PostgreSQL ${version}
(fsync on, max_connections ${maxConnections}) on this machine (${cores} cores), every figure the wall time of a
whole CLI process. The fleet run is one \`slipway up --tenants 'schema:tenant\\_%'\` at its default concurrency;
the loop is one \`slipway up\` per tenant (search_path and \`--table <schema>.schema_migrations\` per tenant), run
on ${SAMPLE} fresh tenants of the same server and **extrapolated** to ${TENANTS} (× ${TENANTS / SAMPLE}).
The machine is shared: its 1-minute load average was ${loadBefore.toFixed(1)} when the run began and
${loadAfter.toFixed(1)} when it ended (${cores} cores), so every figure includes waiting for a CPU.

${table}

Targets: the apply under 60 s, the no-op under 2 s. The fleet run's last line:

\`\`\`
${summary}
\`\`\`
`;
    writeFileSync(path.join(root, 'bench/FLEET-RESULTS.md'), report);
    process.stdout.write(`${table}\n`);
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
