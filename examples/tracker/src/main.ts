/**
 * The tracker service: migrate, then serve. Start as many replicas as you like at once:
 * slipway lets one apply the migrations while the others wait for its lock, then find
 * nothing left to do. SIGTERM (or SIGINT) stops accepting connections, lets in-flight
 * requests finish, closes the pool and exits 0.
 *
 *   DATABASE_URL=postgres://… PORT=3001 node examples/tracker/dist/main.js
 */
import pg from 'pg';
import pino from 'pino';
import { migrate } from 'slipway';
import { buildApp } from './app.js';
import { ConfigError, readConfig, type Config } from './config.js';

/** How long to keep retrying a database that refuses connections (still starting) before giving up. */
const CONNECT_WAIT_MS = 30_000;

async function main(): Promise<number> {
  let config: Config;
  try {
    config = readConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`tracker: ${error.message}\n`);
    return 2;
  }
  // Synchronous writes: every line is out before the process exits, in order.
  const logger = pino({ name: 'tracker', level: config.logLevel }, pino.destination({ dest: 1, sync: true }));
  const migrations = { dir: config.migrationsDir, table: config.table, lockKey: config.lockKey };

  // One handler for the whole life; what a signal does depends on the phase.
  // Migrating: cancel the run (slipway rolls back the running migration).
  const startup = new AbortController();
  let onSignal = (signal: NodeJS.Signals) => {
    logger.warn({ signal }, `${signal} during startup: stopping the migrations`);
    startup.abort();
  };
  const handle = (signal: NodeJS.Signals) => onSignal(signal);
  process.on('SIGTERM', handle).on('SIGINT', handle);

  if (config.migrateOnStart) {
    try {
      const result = await migrate({
        ...migrations,
        direction: 'up',
        databaseUrl: config.databaseUrl,
        connectWait: CONNECT_WAIT_MS,
        logger: logger.child({ component: 'migrations' }),
        signal: startup.signal,
      });
      const waited = result.lockWaitMs === null ? 'no lock needed' : `waited ${result.lockWaitMs} ms for the lock`;
      // Post-deploy migrations are left for the deploy's second phase, once every replica runs this release.
      const later = result.deferred.length === 0 ? '' : `, ${result.deferred.length} left for the post-deploy phase`;
      logger.info(
        {
          applied: result.executed.map((s) => s.version),
          postDeployPending: result.deferred,
          lockWaitMs: result.lockWaitMs,
          migrations: result.migrations.length,
        },
        `migrations up to date: ${result.executed.length} applied by this replica, ${result.migrations.length} in all${later} (${waited})`,
      );
    } catch (error) {
      logger.error({ err: error }, `migrations failed, not serving: ${(error as Error).message}`);
      return 1;
    }
  } else {
    logger.info('MIGRATE_ON_START=false: not migrating (a migration job does); /readyz says when the migrations are applied');
  }
  // Starting to listen: remember the signal, act on it once listening.
  let early: NodeJS.Signals | undefined;
  onSignal = (signal) => (early = signal);

  const pool = new pg.Pool({ connectionString: config.databaseUrl, application_name: 'tracker', max: 10 });
  pool.on('error', (error) => logger.warn({ err: error }, `an idle database connection failed: ${error.message}`));
  const app = buildApp({ pool, logger, migrations, descriptionColumn: config.descriptionColumn });
  app.addHook('onClose', async () => pool.end());
  try {
    await app.listen({ port: config.port, host: config.host, listenTextResolver: (address) => `listening on ${address}` });
  } catch (error) {
    logger.error({ err: error }, `cannot listen on ${config.host}:${config.port}: ${(error as Error).message}; set PORT to a free port`);
    await app.close();
    return 1;
  }

  // Serving: stop accepting, let in-flight requests finish, close the pool. A second signal means "now".
  const code = await new Promise<number>((resolve) => {
    let stopping = false;
    onSignal = (signal) => {
      if (stopping) return resolve(1);
      stopping = true;
      logger.info({ signal }, `${signal}: no new connections; finishing in-flight requests, then closing the pool`);
      app.close().then(
        () => resolve(0),
        (error: unknown) => {
          logger.error({ err: error }, `could not stop cleanly: ${(error as Error).message}`);
          resolve(1);
        },
      );
    };
    if (early !== undefined) onSignal(early);
  });
  logger.info({ exitCode: code }, 'stopped');
  return code;
}

// Exit explicitly: a keep-alive socket or timer must not keep a stopped service alive.
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`tracker: ${String(error)}\n`);
    process.exit(1);
  },
);
