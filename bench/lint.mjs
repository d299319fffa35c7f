#!/usr/bin/env node
// slipway lint on a large history: 432 generated migration files of the kinds a real service
// accumulates (tables, columns, indexes, foreign keys, backfills, functions and triggers, a few
// unsafe statements with and without ignore comments), linted as one run. Reports the median of
// BENCH_RUNS (default 5) for the CLI end to end (`slipway lint --dir`, a fresh process each time)
// and for the library call in a warm process; writes bench/LINT-RESULTS.md.
//
//   npm run bench:lint
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lint } from '../dist/index.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const FILES = 432;

/** The i-th migration: a cycle of the shapes a service's history is made of. */
function migration(i) {
  const t = `t_${Math.floor(i / 6)}`;
  switch (i % 6) {
    case 0:
      return `-- ${t}: the table and its first columns.
CREATE TABLE ${t} (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace_id bigint NOT NULL,
  name text NOT NULL CHECK (name <> ''),
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
  payload jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ${t}_name_unique UNIQUE (workspace_id, name)
);
CREATE INDEX ${t}_created_idx ON ${t} (created_at);
COMMENT ON TABLE ${t} IS 'generated for the lint benchmark';
`;
    case 1:
      return `-- ${t}: columns added later, with constant defaults (instant since PostgreSQL 11).
ALTER TABLE ${t} ADD COLUMN priority integer NOT NULL DEFAULT 0;
ALTER TABLE ${t} ADD COLUMN note text;
ALTER TABLE ${t} ADD COLUMN archived boolean NOT NULL DEFAULT false;
`;
    case 2:
      return `-- ${t}: an index built without blocking writes.
CREATE INDEX CONCURRENTLY IF NOT EXISTS ${t}_status_idx ON ${t} (workspace_id, status, created_at DESC) WHERE NOT archived;
`;
    case 3:
      return `-- ${t}: a foreign key added NOT VALID; validated in the next migration.
ALTER TABLE ${t} ADD CONSTRAINT ${t}_workspace_fk FOREIGN KEY (workspace_id) REFERENCES t_0 (id) NOT VALID;
CREATE OR REPLACE FUNCTION ${t}_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;
CREATE TRIGGER ${t}_touch BEFORE UPDATE ON ${t} FOR EACH ROW EXECUTE FUNCTION ${t}_touch();
`;
    case 4:
      return `-- ${t}: validate, backfill in one statement, then the unsafe change (reported).
ALTER TABLE ${t} VALIDATE CONSTRAINT ${t}_workspace_fk;
UPDATE ${t} SET note = name WHERE note IS NULL;
-- legacy_${t} predates these migrations: changes to it lock a table in use.
-- slipway:ignore adding-not-nullable-field legacy_${t} holds a few hundred rows
ALTER TABLE legacy_${t} ALTER COLUMN note SET NOT NULL;
ALTER TABLE legacy_${t} ALTER COLUMN note TYPE varchar(200);
`;
    default:
      return `-- ${t}: a view for reporting, and a rename the code was ready for.
CREATE OR REPLACE VIEW ${t}_open AS SELECT id, workspace_id, name, created_at FROM ${t} WHERE status = 'open';
ALTER TABLE legacy_${t} RENAME COLUMN payload TO data;
ALTER TABLE legacy_${t} ADD COLUMN token uuid DEFAULT gen_random_uuid();
INSERT INTO ${t} (workspace_id, name) SELECT 1, 'seed-' || g FROM generate_series(1, 3) AS g;
`;
  }
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-bench-lint-'));
let lines = 0;
for (let i = 0; i < FILES; i++) {
  const sql = migration(i);
  lines += sql.split('\n').length - 1;
  writeFileSync(path.join(dir, `${String(i + 1).padStart(4, '0')}_m${i}.up.sql`), sql);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
  const cli = [];
  let output = '';
  for (let run = 0; run < RUNS; run++) {
    const started = performance.now();
    const result = spawnSync(process.execPath, [path.join(root, 'dist/cli/main.js'), 'lint', '--dir', dir, '--format', 'json'], {
      encoding: 'utf8',
      env: { ...process.env, DATABASE_URL: '' },
    });
    cli.push(performance.now() - started);
    if (result.status !== 1 || result.stderr !== '') throw new Error(`slipway lint exited ${result.status}: ${result.stderr}`);
    output = result.stdout;
  }
  const report = JSON.parse(output);
  const library = [];
  for (let run = 0; run < RUNS + 1; run++) {
    const started = performance.now();
    await lint({ dir });
    if (run > 0) library.push(performance.now() - started); // the first call loads the parser
  }
  // The first call in a fresh process: parser load and cold code included, process start and imports not.
  const first = [];
  const probe = `const { lint } = await import(${JSON.stringify(path.join(root, 'dist/index.js'))}); const t = performance.now(); await lint({ dir: ${JSON.stringify(dir)} }); process.stdout.write(String(performance.now() - t));`;
  for (let run = 0; run < RUNS; run++)
    first.push(Number(spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8' }).stdout));
  const cold = spawnSync(process.execPath, [path.join(root, 'dist/cli/main.js'), '--version'], { encoding: 'utf8' });
  const startup = [];
  for (let run = 0; run < RUNS; run++) {
    const started = performance.now();
    spawnSync(process.execPath, [path.join(root, 'dist/cli/main.js'), '--version']);
    startup.push(performance.now() - started);
  }
  const rows = [
    [`slipway lint --dir (${FILES} files, ${lines} lines), CLI end to end`, `${Math.round(median(cli))} ms`],
    ['the same, first lint({ dir }) call in a fresh process (parser load included)', `${Math.round(median(first))} ms`],
    ['the same, lint({ dir }) in a warm process', `${Math.round(median(library))} ms`],
    ['CLI start alone (slipway --version), for comparison', `${Math.round(median(startup))} ms`],
    ['findings (errors, warnings, ignored)', `${report.errors}, ${report.warnings}, ${report.ignored.length}`],
  ];
  const table = ['| case | median |', '| --- | --- |', ...rows.map(([a, b]) => `| ${a} | ${b} |`)].join('\n');
  const cpu = os.cpus();
  const text = `# slipway lint benchmark

Produced by \`npm run bench:lint\` on ${new Date().toISOString().slice(0, 10)}: ${FILES} generated migration files linted as one run (no database), median of ${RUNS} runs. Budget: 1 s. Wall-clock times on a shared machine: \`uptime\`'s load average was ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(', ')} at the end, on ${os.cpus().length} CPUs, so the CLI figure includes waiting for a CPU.

Machine: ${cpu.length} x ${cpu[0]?.model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}. slipway ${cold.stdout.trim()}, Node ${process.version}.

${table}
`;
  writeFileSync(path.join(root, 'bench/LINT-RESULTS.md'), text);
  process.stdout.write(`${table}\n`);
  if (median(cli) > 1000) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
