import pg from 'pg';
import { UsageError } from '../errors.js';

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
  readonly openSide: () => Promise<pg.Client>;
  /** Gives the connection back (or closes it). Pass `broken` when it must not be reused. */
  readonly close: (broken?: boolean) => Promise<void>;
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
}

const ignore = () => {};

export async function openSession(source: ConnectionSource): Promise<Session> {
  checkConnectionSource(source);
  if (source.databaseUrl !== undefined) {
    const config: pg.ClientConfig = { connectionString: source.databaseUrl, application_name: 'slipway' };
    const client = new pg.Client(config);
    // A server-side disconnect between queries emits 'error'; the next query fails with it instead.
    client.on('error', ignore);
    await client.connect();
    return { client, openSide: () => connectSide(config), close: () => client.end().catch(ignore) };
  }
  if (source.pool !== undefined) {
    const pool = source.pool;
    const client = await pool.connect();
    client.on('error', ignore);
    return {
      client,
      openSide: () => connectSide(pool.options as pg.ClientConfig),
      close: async (broken) => {
        client.removeListener('error', ignore);
        client.release(broken === true ? true : undefined);
      },
    };
  }
  const client = source.client!;
  const parameters = (client as unknown as { connectionParameters?: pg.ClientConfig }).connectionParameters;
  return {
    client,
    openSide: () => connectSide({ ...parameters }),
    close: async () => {},
  };
}

async function connectSide(config: pg.ClientConfig): Promise<pg.Client> {
  const side = new pg.Client({ ...config, application_name: 'slipway-cancel' });
  side.on('error', ignore);
  await side.connect();
  return side;
}

/** The backend pid of a connected client (node-postgres keeps it from the BackendKeyData message). */
export function backendPid(client: pg.ClientBase): number | undefined {
  return (client as unknown as { processID?: number }).processID;
}
