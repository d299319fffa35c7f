import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pg from 'pg';
import pino, { type Logger } from 'pino';
import { afterEach, inject } from 'vitest';
import type { MigrateOptions, MigrateResult } from '../../src/index.js';

export function databaseUrl(): string {
  return inject('databaseUrl');
}

/** A connection string whose sessions use `schema` as search_path, so unqualified DDL lands there. */
export function urlWithSearchPath(schema: string): string {
  const url = new URL(databaseUrl());
  // statement_timeout: a runner stuck in a lock (as in the blocking-lock mutant) fails instead of hanging the suite.
  url.searchParams.set('options', `-c search_path=${schema} -c statement_timeout=15000`);
  return url.toString();
}

/** A test's own corner of the shared database: a unique schema, ledger table and lock key. */
export interface Sandbox {
  readonly schema: string;
  /** Schema-qualified bookkeeping table inside the sandbox schema. */
  readonly table: string;
  readonly lockKey: bigint;
  /** Connection string whose search_path is the sandbox schema. */
  readonly url: string;
  /** A connected client on the sandbox schema, for assertions. */
  readonly admin: pg.Client;
  /** A new connected client on the sandbox schema (closed at cleanup). */
  connect(): Promise<pg.Client>;
  /** A new pool on the sandbox schema (ended at cleanup). */
  pool(max: number): pg.Pool;
  cleanup(): Promise<void>;
}

export async function sandbox(options: { createSchema?: boolean } = {}): Promise<Sandbox> {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const url = urlWithSearchPath(schema);
  const clients: pg.Client[] = [];
  const pools: pg.Pool[] = [];
  const connect = async () => {
    const client = new pg.Client({ connectionString: url });
    client.on('error', () => {});
    await client.connect();
    clients.push(client);
    return client;
  };
  const admin = await connect();
  if (options.createSchema !== false) await admin.query(`CREATE SCHEMA ${schema}`);
  return {
    schema,
    table: `${schema}.schema_migrations`,
    lockKey: BigInt.asIntN(64, BigInt(`0x${randomBytes(8).toString('hex')}`)),
    url,
    admin,
    connect,
    pool(max) {
      const pool = new pg.Pool({ connectionString: url, max });
      pool.on('error', () => {});
      pools.push(pool);
      return pool;
    },
    async cleanup() {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
      await Promise.all([...clients.map((c) => c.end().catch(() => {})), ...pools.map((p) => p.end().catch(() => {}))]);
    },
  };
}

/** A pino logger that keeps every line as a parsed object. */
export function captureLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line.trim()) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

export const silentLogger: Logger = pino({ level: 'silent' });

/** A database of its own, for tests about what a whole database holds (roles, schemas, the default table). */
export interface FreshDatabase {
  readonly name: string;
  /** Connection string as the server's superuser. */
  readonly url: string;
  /** The same database as another role. */
  urlAs(user: string, password: string): string;
  /** A connected superuser client (closed by drop). */
  readonly admin: pg.Client;
  drop(): Promise<void>;
}

/**
 * A new database on the tests' server, or on the server of `serverUrl`; by a name of its own
 * unless `named` is given (a page's `ci_fresh`: one left by that name is dropped first).
 */
export async function freshDatabase(serverUrl = databaseUrl(), named?: string): Promise<FreshDatabase> {
  const name = named ?? `slipway_${randomBytes(6).toString('hex')}`;
  const server = new pg.Client({ connectionString: serverUrl });
  await server.connect();
  if (named !== undefined) await server.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await server.query(`CREATE DATABASE ${name}`);
  await server.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  url.search = '';
  const admin = new pg.Client({ connectionString: url.toString() });
  admin.on('error', () => {});
  await admin.connect();
  return {
    name,
    url: url.toString(),
    urlAs(user, password) {
      const as = new URL(url);
      as.username = user;
      as.password = password;
      return as.toString();
    },
    admin,
    async drop() {
      await admin.end().catch(() => {});
      const other = new pg.Client({ connectionString: serverUrl });
      await other.connect();
      await other.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await other.end();
    },
  };
}

/** What {@link freshDatabasePerTest} gives: makes a database, dropped after the test that made it. */
export interface DatabasesPerTest {
  /** A new database (see {@link freshDatabase}) on the tests' server, or on the server of `serverUrl`. */
  (serverUrl?: string): Promise<FreshDatabase>;
  /** Drops the ones made so far now, before the test ends (when a role that owns objects in them goes next). */
  dropAll(): Promise<void>;
}

/** Databases of their own for the tests of one file: called at its top, it drops each one after the test that made it. */
export function freshDatabasePerTest(): DatabasesPerTest {
  const made: FreshDatabase[] = [];
  const dropAll = async () => {
    await Promise.all(made.splice(0).map((db) => db.drop()));
  };
  afterEach(dropAll);
  const database = async (serverUrl?: string) => {
    const db = await freshDatabase(serverUrl);
    made.push(db);
    return db;
  };
  return Object.assign(database, { dropAll });
}

/** A `migrate` in a sandbox: its connection, ledger and lock key, logging nothing; `extra` wins. */
export async function migrateIn(
  box: Sandbox,
  direction: 'up' | 'down',
  dir: string,
  extra: Partial<MigrateOptions> = {},
): Promise<MigrateResult> {
  const { migrate } = await import('../../src/index.js');
  return migrate({
    databaseUrl: box.url,
    dir,
    direction,
    table: box.table,
    lockKey: box.lockKey,
    logger: silentLogger,
    ...extra,
  } as MigrateOptions);
}

/** The CLI flags that point a run at a sandbox: its connection, ledger and lock key, JSON logs. */
export function sandboxArgs(box: Sandbox): string[] {
  return ['--database-url', box.url, '--table', box.table, '--lock-key', box.lockKey.toString(), '--log-format', 'json'];
}
