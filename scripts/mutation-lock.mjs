#!/usr/bin/env node
// Proves the race tests guard the run's exclusion: in a temporary copy of the project, break it
// in three ways and run test/race against each copy. Exits non-zero unless ALL go red.
//   (a) no lock: acquire and release become `SELECT 1`-style no-ops;
//   (b) blocking lock: the polling pg_try_advisory_lock becomes a blocking pg_advisory_lock;
//   (c) in-flight takeover: the mark of a migration run outside a transaction overwrites an existing row;
//   (d) no ledger lock: runs given different lock keys no longer exclude each other on one ledger;
//   (e) live writer ignored: a row in flight is resumed while the session that marked it still runs.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const LOCK_FILE = 'src/db/lock.ts';
const LEDGER_FILE = 'src/migrations/ledger.ts';
const TRY_LOCK = "const TRY_LOCK = 'pg_try_advisory_lock($1::bigint)';";
const UNLOCK = "const UNLOCK = 'pg_advisory_unlock($1::bigint)';";
const EXCLUSIVE_FILE = 'src/commands/locks.ts';
const RUNNER_FILE = 'src/commands/migrate.ts';
const IN_FLIGHT_CLAIM = "SELECT $1, $2, 'in_flight', now(), 0, ${RUN_BY} WHERE pg_backend_pid() = $3`,";
const LEDGER_LOCK = 'if (ledger.lockKey === key) return work(ledger, keyLock);';
const LIVE_WRITERS = 'const live = await ledger.liveWriters(session.client);';

const mutants = [
  {
    name: 'no lock (acquire and release replaced by SELECT 1)',
    file: LOCK_FILE,
    replacements: [
      [TRY_LOCK, "const TRY_LOCK = '($1::bigint IS NOT NULL)';"],
      [UNLOCK, "const UNLOCK = '($1::bigint IS NOT NULL)';"],
    ],
  },
  {
    name: 'blocking lock (pg_advisory_lock instead of polling pg_try_advisory_lock)',
    file: LOCK_FILE,
    replacements: [[TRY_LOCK, "const TRY_LOCK = '(SELECT true FROM (SELECT pg_advisory_lock($1::bigint)) AS blocking)';"]],
  },
  {
    name: "in-flight takeover (the mark overwrites another runner's row: ON CONFLICT DO UPDATE)",
    file: LEDGER_FILE,
    replacements: [
      [
        IN_FLIGHT_CLAIM,
        "SELECT $1, $2, 'in_flight', now(), 0, ${RUN_BY} WHERE pg_backend_pid() = $3 ON CONFLICT (version) DO UPDATE SET state = 'in_flight'`,",
      ],
    ],
  },
  {
    name: 'no ledger lock (only the lock key given is taken)',
    file: EXCLUSIVE_FILE,
    replacements: [[LEDGER_LOCK, 'if (ledger.lockKey !== undefined) return work(ledger, keyLock);']],
  },
  {
    name: 'live writer ignored (a row in flight is resumed by whoever holds the locks)',
    file: RUNNER_FILE,
    replacements: [[LIVE_WRITERS, 'const live = [] as Array<{ version: string; pid: number }>;']],
  },
];

function run(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', env: process.env });
  return { status: result.status, output: `${result.stdout}\n${result.stderr}` };
}

let survivors = 0;
for (const mutant of mutants) {
  const copy = mkdtempSync(path.join(os.tmpdir(), 'slipway-mutant-'));
  try {
    cpSync(root, copy, {
      recursive: true,
      filter: (src) => !/[/\\](node_modules|dist|\.git|\.slipway)$/.test(src),
    });
    symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'), 'dir');
    const file = path.join(copy, mutant.file);
    let source = readFileSync(file, 'utf8');
    for (const [from, to] of mutant.replacements) {
      if (!source.includes(from)) {
        console.error(`mutation-lock: ${mutant.file} no longer contains ${JSON.stringify(from)}; update scripts/mutation-lock.mjs`);
        process.exit(2);
      }
      source = source.replace(from, to);
    }
    writeFileSync(file, source);
    const build = run(process.execPath, [path.join(copy, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], copy);
    if (build.status !== 0) {
      console.error(`mutation-lock: the mutant "${mutant.name}" does not build:\n${build.output}`);
      process.exit(2);
    }
    const tests = run(process.execPath, [path.join(copy, 'node_modules/vitest/vitest.mjs'), 'run', 'test/race'], copy);
    if (process.env.MUTATION_DEBUG) console.log(tests.output);
    const failed = (tests.output.match(/✗|×|FAIL/g) ?? []).length;
    if (tests.status === 0) {
      survivors++;
      console.error(`SURVIVED  ${mutant.name}: the race tests passed without the guarantee`);
    } else {
      const summary =
        tests.output
          .split('\n')
          .find((line) => /Tests\s+\d+/.test(line))
          ?.trim() ?? `${failed} failure marks`;
      console.log(`KILLED    ${mutant.name}: ${summary}`);
    }
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}
if (survivors > 0) {
  console.error(`mutation-lock: ${survivors} of ${mutants.length} mutants survived`);
  process.exit(1);
}
console.log(`mutation-lock: all ${mutants.length} mutants killed`);
