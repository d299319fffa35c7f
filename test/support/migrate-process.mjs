// One OS process running one `up`, for the cross-process race test. Prints its result as JSON.
import { migrate } from '../../dist/index.js';
import pino from 'pino';

const { SLIPWAY_TEST_URL, SLIPWAY_TEST_DIR, SLIPWAY_TEST_TABLE, SLIPWAY_TEST_LOCK_KEY } = process.env;
try {
  const result = await migrate({
    databaseUrl: SLIPWAY_TEST_URL,
    dir: SLIPWAY_TEST_DIR,
    table: SLIPWAY_TEST_TABLE,
    lockKey: SLIPWAY_TEST_LOCK_KEY,
    direction: 'up',
    logger: pino({ level: 'silent' }),
  });
  process.stdout.write(JSON.stringify({ executed: result.executed.map((s) => s.version) }) + '\n');
} catch (error) {
  process.stderr.write(`${error.message}\n`);
  process.exitCode = 1;
}
