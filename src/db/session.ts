import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Logger } from 'pino';
import { ConnectionError, UsageError } from '../errors.js';
import { backoffDelay } from './backoff.js';
import { checkConnectionString, describeConnectionError, targetOf, type ConnectionTarget } from './errors.js';

/** Where a run gets its connection: exactly one of these. */
export interface ConnectionSource {
  /** A connection string; slipway opens one client and closes it at the end. */
  readonly databaseUrl?: string | undefined;
  /** A pool; slipway checks out ONE client for the whole run and returns it at the end. */
  readonly pool?: pg.Pool | undefined;
  /** A connected client that slipway uses and leaves open. */
  readonly client?: pg.ClientBase | undefined;
}

/** One dedicated connection for a whole run. */
export interface Session {
  readonly client: pg.ClientBase;
  /** Opens a second, short-lived connection to the same server, e.g. to cancel a running statement. */
  readonly openSide: (overrides?: pg.ClientConfig) => Promise<pg.Client>;
  /** Says the connection must not be reused (it failed, or may still hold a lock): close drops it. */
  readonly markBroken: () => void;
  /** Gives the connection back (or closes it). */
  readonly close: () => Promise<void>;
}

export function checkConnectionSource(source: ConnectionSource): void {
  const given = (['databaseUrl', 'pool', 'client'] as const).filter((k) => source[k] !== undefined);
  if (given.length !== 1) {
    throw new UsageError(
      given.length === 0
        ? 'no database given: pass databaseUrl, pool or client (or set DATABASE_URL)'
        : `${given.join(' and ')} given: pass exactly one of databaseUrl, pool or client`,
    );
  }
  if (source.databaseUrl !== undefined) checkConnectionString(source.databaseUrl);
}

/** Where the source connects, for messages: host, port, user, database, and the passwords to keep out of them. */
export function connectionTarget(source: ConnectionSource): ConnectionTarget {
  if (source.databaseUrl !== undefined) return targetOf({ connectionString: source.databaseUrl });
  if (source.pool !== undefined) return targetOf(source.pool.options as pg.ClientConfig);
  const parameters = (source.client as unknown as { connectionParameters?: pg.ClientConfig } | undefined)?.connectionParameters;
  return targetOf(parameters);
}

/** The driver's connection failure as a one-line {@link ConnectionError}. */
function connectionError(error: unknown, target: ConnectionTarget): ConnectionError {
  const { problem, message } = describeConnectionError(error, target);
  return new ConnectionError(problem, message, { cause: error });
}

const ignore = () => {};

/** How long to keep retrying a connection that fails for a transient reason (a server still starting). */
export interface ConnectRetry {
  /** Milliseconds to keep retrying; 0 or undefined tries once. */
  readonly waitMs?: number | undefined;
  readonly logger?: Logger | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** SQLSTATEs and socket errors worth retrying: the server is not up yet, or restarting. */
const TRANSIENT = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  '57P03',
  '57P01',
  '57P02',
]);

/** Is this a connection failure that may go away by itself (never an SQL error)? */
export function isTransientConnectionError(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  if (code !== undefined && TRANSIENT.has(code)) return true;
  const message = String((error as Error | null)?.message ?? '');
  return code === undefined && /Connection terminated unexpectedly|connection closed/i.test(message);
}

export async function openSession(source: ConnectionSource, retry: ConnectRetry = {}): Promise<Session> {
  checkConnectionSource(source);
  if (source.databaseUrl !== undefined) {
    const config: pg.ClientConfig = { connectionString: source.databaseUrl, application_name: 'slipway' };
    const client = await connectWithRetry(config, retry);
    return {
      client,
      openSide: (overrides) => connectSide({ ...config, ...overrides }),
      markBroken: () => {},
      close: () => client.end().catch(ignore),
    };
  }
  if (source.pool !== undefined) {
    const pool = source.pool;
    const client = await pool.connect().catch((error: unknown) => {
      throw connectionError(error, connectionTarget(source));
    });
    client.on('error', ignore);
    let broken = false;
    return {
      client,
      openSide: (overrides) => connectSide({ ...(pool.options as pg.ClientConfig), ...overrides }),
      markBroken: () => (broken = true),
      close: async () => {
        client.removeListener('error', ignore);
        client.release(broken ? true : undefined);
      },
    };
  }
  const client = source.client!;
  let broken = false;
  const parameters = (client as unknown as { connectionParameters?: pg.ClientConfig }).connectionParameters;
  return {
    client,
    // node-postgres keeps the password as a non-enumerable property, which a spread leaves out.
    openSide: (overrides) =>
      connectSide({ ...parameters, ...(parameters?.password !== undefined && { password: parameters.password }), ...overrides }),
    // The caller's client stays the caller's to close, unless it may still hold the lock or a
    // half-reset session: then it is ended rather than handed back like that.
    markBroken: () => (broken = true),
    close: async () => {
      if (!broken) return;
      const ending = client as Partial<pg.Client & pg.PoolClient>;
      if (typeof ending.release === 'function') ending.release(true);
      else await ending.end?.().catch(ignore);
    },
  };
}

async function connectWithRetry(config: pg.ClientConfig, retry: ConnectRetry): Promise<pg.Client> {
  const target = targetOf(config);
  const deadline = performance.now() + (retry.waitMs ?? 0);
  for (let attempt = 1; ; attempt++) {
    const client = new pg.Client(config);
    // A server-side disconnect between queries emits 'error'; the next query fails with it instead.
    client.on('error', ignore);
    try {
      await client.connect();
      return client;
    } catch (error) {
      await client.end().catch(ignore);
      const remaining = deadline - performance.now();
      const failure = connectionError(error, target);
      if (!isTransientConnectionError(error) || remaining <= 0 || retry.signal?.aborted) throw failure;
      const next = Math.min(backoffDelay(attempt - 1, 200, 5000), remaining);
      retry.logger?.warn(
        { attempt, nextDelayMs: Math.round(next), error: failure.message },
        `database not reachable (attempt ${attempt}): retrying in ${Math.round(next)} ms: ${failure.message}`,
      );
      await sleep(next, undefined, retry.signal ? { signal: retry.signal } : undefined).catch(ignore);
    }
  }
}

async function connectSide(config: pg.ClientConfig): Promise<pg.Client> {
  const side = new pg.Client({ ...config, application_name: 'slipway-side' });
  side.on('error', ignore);
  await side.connect();
  return side;
}

/**
 * The backend pid a connected client was given at connect time (node-postgres keeps it from the
 * BackendKeyData message). Through a pooler it is the pooler's own number, not a server's.
 */
export function backendPid(client: pg.ClientBase): number | undefined {
  return (client as unknown as { processID?: number }).processID;
}
