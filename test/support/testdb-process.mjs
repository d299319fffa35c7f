// One OS process asking for one test database, for the cross-process tests of slipway/testing.
// Prints {name, template, templateBuilt} or {error: {name, message}} as one JSON line.
import { prepareTemplate, testDatabase } from '../../dist/testing/index.js';

// SLIPWAY_TEST_QUERY: run it in the new database and print its rows (a process's clones go once it has exited).
// SLIPWAY_TEST_READY: the server's shared pool of ready clones (default none: warm 0 turns it off).
// SLIPWAY_TEST_PREPARE=1: only prepareTemplate (builds the template, fills the shared pool).
// SLIPWAY_TEST_HOLD=1: after printing, stay (and keep the database) until stdin closes.
const { SLIPWAY_TEST_URL, SLIPWAY_TEST_DIR, SLIPWAY_TEST_SEEDS, SLIPWAY_TEST_QUERY, SLIPWAY_TEST_READY, SLIPWAY_TEST_PREPARE, SLIPWAY_TEST_HOLD } =
  process.env;
const options = {
  databaseUrl: SLIPWAY_TEST_URL,
  dir: SLIPWAY_TEST_DIR,
  ...(SLIPWAY_TEST_SEEDS && { seeds: SLIPWAY_TEST_SEEDS }),
  ...(SLIPWAY_TEST_READY && { ready: Number(SLIPWAY_TEST_READY) }),
  warm: 0,
};
try {
  if (SLIPWAY_TEST_PREPARE) {
    process.stdout.write(JSON.stringify(await prepareTemplate(options)) + '\n');
  } else {
    const db = await testDatabase(options);
    const rows = SLIPWAY_TEST_QUERY ? (await db.pool().query(SLIPWAY_TEST_QUERY)).rows : undefined;
    await db.pool().end();
    process.stdout.write(JSON.stringify({ name: db.name, template: db.template, templateBuilt: db.templateBuilt, rows }) + '\n');
    if (SLIPWAY_TEST_HOLD) await new Promise((resolve) => process.stdin.on('data', () => {}).on('end', resolve).on('close', resolve));
  }
} catch (error) {
  process.stdout.write(JSON.stringify({ error: { name: error.name, message: error.message } }) + '\n');
  process.exitCode = 1;
}
