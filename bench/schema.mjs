#!/usr/bin/env node
// slipway dump, drift and verify on the generated 432-migration history (bench/history.mjs):
// the history is applied to a fresh database, then `dump` is timed (median of BENCH_RUNS,
// default 5, in a warm process), then one `drift` and one `verify` run. Writes
// bench/SCHEMA-RESULTS.md. pg_dump is not part of the embedded server: bench/schema-pgdump.mjs measures
// the ratio to it on the system PostgreSQL.
//
//   npm run build && node bench/schema.mjs
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import pg from 'pg';
import { drift, dump, load, migrate, verify } from '../dist/index.js';
import { writeHistory } from './history.mjs';
import { startServer } from './server.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const logger = pino({ level: 'silent' });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const timed = async (work) => {
  const started = performance.now();
  const result = await work();
  return [performance.now() - started, result];
};

const server = await startServer('');
try {
  const sets = writeHistory(432);
  const databaseUrl = server.url;
  const [applyMs] = await timed(() => migrate({ databaseUrl, dir: sets.slipway, direction: 'up', logger, lockTimeout: 0 }));
  const dumps = [];
  let result;
  for (let run = 0; run < RUNS; run++) {
    const [ms, r] = await timed(() => dump({ databaseUrl, logger }));
    dumps.push(ms);
    result = r;
  }
  // The round trip: the dump loaded into a new database dumps to the same text.
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query('CREATE DATABASE round_trip');
  await admin.end();
  const copyUrl = Object.assign(new URL(databaseUrl), { pathname: '/round_trip' }).toString();
  const [loadMs] = await timed(() => load({ databaseUrl: copyUrl, sql: result.sql, logger }));
  const identical = (await dump({ databaseUrl: copyUrl, logger })).sql === result.sql;
  const [driftMs, report] = await timed(() => drift({ databaseUrl, dir: sets.slipway, logger }));
  const [verifyMs, verified] = await timed(() => verify({ databaseUrl, dir: sets.slipway, logger }));
  const rows = [
    ['apply the history (slipway up), for scale', `${Math.round(applyMs)} ms`],
    [`dump (${result.objects} objects, ${result.sql.split('\n').length} lines), median of ${RUNS}`, `${Math.round(median(dumps))} ms`],
    [`load the dump into an empty database; dumped again: ${identical ? 'identical' : 'DIFFERENT'}`, `${Math.round(loadMs)} ms`],
    [
      `drift (scratch database built from the 432 migrations, both dumped, compared): ${report.drifted ? 'drifted' : 'no drift'}`,
      `${Math.round(driftMs)} ms`,
    ],
    [`verify (${verified.checked.length} down files, ${verified.problems.length} problems)`, `${Math.round(verifyMs)} ms`],
  ];
  const table = ['| case | time |', '| --- | --- |', ...rows.map(([a, b]) => `| ${a} | ${b} |`)].join('\n');
  const cpu = os.cpus();
  writeFileSync(
    path.join(root, 'bench/SCHEMA-RESULTS.md'),
    `# slipway dump, drift and verify benchmark

Produced by \`node bench/schema.mjs\` on ${new Date().toISOString().slice(0, 10)} against a fresh embedded PostgreSQL, on the generated
432-migration history of bench/history.mjs. Wall-clock times on a shared machine (load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(', ')}
on ${cpu.length} CPUs). Machine: ${cpu.length} x ${cpu[0]?.model.trim()}, Node ${process.version}.

${table}
${verified.problems.length > 0 ? `\nverify's findings:\n\n${verified.problems.map((p) => `- ${p.message.slice(0, 300)}`).join('\n')}\n` : ''}`,
  );
  process.stdout.write(`${table}\n`);
  if (!identical) process.exitCode = 1;
} finally {
  await server.stop();
}
