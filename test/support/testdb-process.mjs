// One OS process asking for one test database, for the cross-process tests of slipway/testing.
// Prints {name, template, templateBuilt} or {error: {name, message}} as one JSON line.
import { testDatabase } from '../../dist/testing/index.js';

// SLIPWAY_TEST_QUERY: run it in the new database and print its rows (a process's clones go once it has exited).
const { SLIPWAY_TEST_URL, SLIPWAY_TEST_DIR, SLIPWAY_TEST_SEEDS, SLIPWAY_TEST_QUERY } = process.env;
try {
  const db = await testDatabase({ databaseUrl: SLIPWAY_TEST_URL, dir: SLIPWAY_TEST_DIR, ...(SLIPWAY_TEST_SEEDS && { seeds: SLIPWAY_TEST_SEEDS }), warm: 0 });
  const rows = SLIPWAY_TEST_QUERY ? (await db.pool().query(SLIPWAY_TEST_QUERY)).rows : undefined;
  await db.pool().end();
  process.stdout.write(JSON.stringify({ name: db.name, template: db.template, templateBuilt: db.templateBuilt, rows }) + '\n');
} catch (error) {
  process.stdout.write(JSON.stringify({ error: { name: error.name, message: error.message } }) + '\n');
  process.exitCode = 1;
}
