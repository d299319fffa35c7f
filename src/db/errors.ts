/**
 * Postgres and connection errors as one line that says what failed and what to do. Every
 * connection slipway opens goes through {@link describeConnectionError}; every public function
 * turns what the driver throws into a {@link ConnectionError} or {@link DatabaseError} with
 * {@link toSlipwayError}. Messages name the server, the user and the database, never the password.
 */
import pg from 'pg';
import { ConnectionError, DatabaseError, SlipwayError, UsageError, type ConnectionProblem } from '../errors.js';
import { passwordsOf, scrubSecrets } from '../secrets.js';
import { quoteIdentifier, type TableName } from './identifier.js';

/** Where a connection goes, as far as it is known: no password. */
export interface ConnectionTarget {
  readonly host?: string | undefined;
  readonly port?: number | string | undefined;
  readonly user?: string | undefined;
  readonly database?: string | undefined;
  /** Passwords to keep out of every message. */
  readonly secrets: readonly string[];
}

/** The target of a connection config (a pg.ClientConfig, a pool's options or a client's parameters). */
export function targetOf(config: pg.ClientConfig | undefined): ConnectionTarget {
  const secrets = [
    ...passwordsOf(config?.connectionString),
    ...(typeof config?.password === 'string' && config.password ? [config.password] : []),
  ];
  let fromUrl: Partial<ConnectionTarget> = {};
  // Only a URL with an authority: `postgresql:/app:pw@db/app` parses too, its path holding the password.
  if (config?.connectionString && /^\s*[a-z][a-z0-9+.-]*:\/\//i.test(config.connectionString)) {
    try {
      const url = new URL(config.connectionString);
      fromUrl = {
        host: url.searchParams.get('host') ?? (url.hostname.replace(/^\[(.*)\]$/, '$1') || undefined),
        port: url.searchParams.get('port') ?? (url.port || undefined),
        user: url.searchParams.get('user') ?? (decodeURIComponent(url.username) || undefined),
        database: decodeURIComponent(url.pathname.slice(1)) || undefined,
      };
    } catch {
      // not a URL: checkConnectionString refuses it before any connection
    }
  }
  return {
    host: fromUrl.host ?? config?.host ?? process.env.PGHOST ?? 'localhost',
    port: fromUrl.port ?? config?.port ?? process.env.PGPORT ?? 5432,
    user: fromUrl.user ?? config?.user ?? process.env.PGUSER,
    database: fromUrl.database ?? config?.database ?? process.env.PGDATABASE ?? fromUrl.user ?? config?.user,
    secrets,
  };
}

/**
 * Refuses what node-postgres would misread: a libpq keyword/value string (`host=db dbname=app`)
 * is not a URL, and pg would connect to a host named "base". One line, with the URL to give instead.
 */
export function checkConnectionString(connectionString: string): void {
  const text = connectionString.trim();
  if (text === '') throw new UsageError('the connection string is empty: give postgres://user:password@host:5432/dbname');
  if (text.startsWith('/')) return;
  if (text.includes('://')) {
    // What node-postgres would refuse with a bare "Invalid URL" (it retries an empty host the same way).
    if (URL.canParse(text) || URL.canParse(text.replace('@/', '@___DUMMY___/'))) return;
    throw new UsageError(
      `the connection string ${JSON.stringify(scrubSecrets(text, passwordsOf(text)))} is not a valid URL: %-encode any : / ? # @ in the user name and password, and give the port as a number`,
    );
  }
  const pairs = new Map<string, string>();
  for (const m of text.matchAll(/(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/g)) pairs.set(m[1]!.toLowerCase(), m[2]!.replace(/^'(.*)'$/, '$1'));
  if (pairs.size === 0) {
    throw new UsageError(
      `the connection string ${JSON.stringify(scrubSecrets(text, passwordsOf(text)))} is not a URL: give postgres://user:password@host:5432/dbname`,
    );
  }
  const user = pairs.get('user');
  const host = pairs.get('host') ?? 'localhost';
  const port = pairs.get('port');
  const query = [...pairs]
    .filter(([k]) => !['user', 'password', 'host', 'port', 'dbname'].includes(k))
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`);
  const login = `${user ? encodeURIComponent(user) : ''}${pairs.has('password') ? ':***' : ''}${user || pairs.has('password') ? '@' : ''}`;
  const server = `${host.includes(':') ? `[${host}]` : host}${port ? `:${port}` : ''}`;
  const url = `postgres://${login}${server}/${encodeURIComponent(pairs.get('dbname') ?? '')}${query.length ? `?${query.join('&')}` : ''}`;
  throw new UsageError(
    `the connection string is in keyword=value form, which slipway does not read: give it as a URL, ${url}${pairs.has('password') ? ' (with the password, %-encoded, for ***)' : ''}`,
  );
}

function where(target: ConnectionTarget): string {
  const host = target.host ?? 'localhost';
  return `${host.includes(':') ? `[${host}]` : host}:${target.port ?? 5432}`;
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'EPROTO',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function messageOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!.trim();
}

/** What went wrong with a connection attempt (or a connection lost), and the line that says so. */
export function describeConnectionError(error: unknown, target: ConnectionTarget): { problem: ConnectionProblem; message: string } {
  const code = codeOf(error);
  const raw = messageOf(error);
  const at = where(target);
  const user = target.user ? `user "${target.user}"` : 'the user';
  const say = (problem: ConnectionProblem, message: string) => ({ problem, message: scrubSecrets(message, target.secrets) });
  switch (code) {
    case 'ECONNREFUSED':
      return say(
        'refused',
        `cannot connect to PostgreSQL at ${at}: connection refused: is the server running, and listening on that host and port? (slipway db start runs a local one)`,
      );
    case 'ENOTFOUND':
      return say(
        'unknown-host',
        `cannot connect to PostgreSQL: unknown host "${target.host}" (no DNS entry): check the host name in the connection string`,
      );
    case 'EAI_AGAIN':
      return say(
        'unknown-host',
        `cannot connect to PostgreSQL: the host name "${target.host}" could not be looked up (DNS not answering): check the network, or retry`,
      );
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return say(
        'unreachable',
        `cannot connect to PostgreSQL at ${at}: no route or no answer (${code}): check the host, the port and any firewall in between`,
      );
    case '28P01':
      return say(
        'authentication',
        `password authentication failed for ${user} at ${at}: check the user name and password in the connection string`,
      );
    case '28000':
      if (/SSL off|no encryption/i.test(raw)) {
        return say('tls', `the server at ${at} accepts ${user} only over TLS/SSL (${raw}): add sslmode=require to the connection string`);
      }
      return say(
        'authentication',
        `the server at ${at} refused ${user}${target.database ? ` for database "${target.database}"` : ''}: ${raw}: check the user, or the server's pg_hba.conf`,
      );
    case '3D000': {
      const name = target.database ?? /database "([^"]+)"/.exec(raw)?.[1] ?? '?';
      return say(
        'no-database',
        `database "${name}" does not exist on the server at ${at}: create it ` +
          `(createdb -h ${target.host ?? 'localhost'} -p ${target.port ?? 5432}${target.user ? ` -U ${target.user}` : ''} ${name}, ` +
          `or CREATE DATABASE "${name}"), or fix the database name in the connection string`,
      );
    }
    case '57P03':
      return say(
        'starting',
        `the server at ${at} is starting up or shutting down (${raw}): retry in a moment (slipway --wait <seconds>, or connectWait)`,
      );
    case '53300':
      return say(
        'too-many-connections',
        `the server at ${at} has no connection slot left for ${user} (${raw}): close idle connections or raise max_connections`,
      );
  }
  if (/does not support SSL/i.test(raw)) {
    return say(
      'tls',
      `the server at ${at} does not accept TLS/SSL connections: remove sslmode=require (or ssl=true) from the connection string, or enable ssl on the server`,
    );
  }
  if ((code !== undefined && TLS_CODES.has(code)) || /certificate|SSL|TLS/i.test(raw)) {
    return say(
      'tls',
      `TLS/SSL connection to ${at} failed: ${raw}: give the server's CA with sslrootcert=<file>, or, on a trusted network only, sslmode=no-verify`,
    );
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || /Connection terminated|connection closed/i.test(raw)) {
    return say(
      'closed',
      `the server at ${at} closed the connection (${raw}): is it a PostgreSQL server, is it restarting, does it require TLS/SSL?`,
    );
  }
  return say('other', `cannot connect to PostgreSQL at ${at}: ${raw}`);
}

/** Codes only a local file or descriptor gives (a full disk, too many open files), never a socket to the server. */
// EAGAIN too: a socket's is retried inside Node; one that reaches slipway is a synchronous write's.
const LOCAL_CODES = new Set([
  'ENOENT',
  'EACCES',
  'EISDIR',
  'ENOTDIR',
  'EEXIST',
  'ENOTEMPTY',
  'ENOSPC',
  'EDQUOT',
  'EROFS',
  'EFBIG',
  'EMFILE',
  'ENFILE',
  'EBADF',
  'EIO',
  'EAGAIN',
]);

/**
 * An error of a local file, not of the connection: it names a path (Node's file system errors
 * do), or has a code only files give. A socket's errors (ECONNRESET, EPIPE, ETIMEDOUT, …) name none.
 */
function isLocalFileError(error: unknown, code: string): boolean {
  const path = (error as { path?: unknown } | null)?.path;
  return typeof path === 'string' || LOCAL_CODES.has(code);
}

/**
 * What the driver threw, as a {@link SlipwayError}: a server error becomes a {@link DatabaseError}
 * (message, detail, hint, SQLSTATE), a socket error a {@link ConnectionError}; a SlipwayError
 * keeps its class. Every message is scrubbed of the target's passwords.
 */
export function toSlipwayError(error: unknown, target: ConnectionTarget): unknown {
  if (error instanceof SlipwayError) {
    const scrubbed = scrubSecrets(error.message, target.secrets);
    if (scrubbed !== error.message) error.message = scrubbed;
    return error;
  }
  if (error instanceof pg.DatabaseError) {
    const code = error.code;
    if (code !== undefined && /^(28|3D000|57P03|53300)/.test(code)) {
      const { problem, message } = describeConnectionError(error, target);
      return new ConnectionError(problem, message, { cause: error });
    }
    const parts = [error.message, error.detail && `detail: ${error.detail}`, error.hint && `hint: ${error.hint}`]
      .filter(Boolean)
      .join('; ');
    return new DatabaseError(
      code,
      scrubSecrets(
        `the database at ${where(target)} refused a statement slipway sent: ${parts}${code ? ` (SQLSTATE ${code})` : ''}`,
        target.secrets,
      ),
      { cause: error },
    );
  }
  const code = codeOf(error);
  if (
    (code !== undefined && /^E[A-Z]+$/.test(code) && !isLocalFileError(error, code)) ||
    /Connection terminated|connection closed|certificate|SSL/i.test(messageOf(error))
  ) {
    const { problem, message } = describeConnectionError(error, target);
    return new ConnectionError(problem, message, { cause: error });
  }
  if (error instanceof Error) {
    const scrubbed = scrubSecrets(error.message, target.secrets);
    if (scrubbed !== error.message) error.message = scrubbed;
  }
  return error;
}

/** Did the server refuse `table` to the role for want of a privilege (SQLSTATE 42501)? */
export function refusesTable(error: unknown, table: TableName): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  return e?.code === '42501' && e.message === `permission denied for table ${table.table}`;
}

/**
 * A role that may not write the bookkeeping table `sqlName`: whose fault it is (not the
 * migration's), what fixes it, what became of the migration (`outcome`); then the GRANT.
 */
export function bookkeepingWriteRefused(sqlName: string, role: string | null, outcome: string, cause: unknown): DatabaseError {
  return new DatabaseError(
    '42501',
    `${role === null ? 'the role' : `role ${role}`} cannot write the bookkeeping table ${sqlName} (permission denied): ` +
      `grant it INSERT, UPDATE, DELETE or run slipway as the table's owner; ${outcome}\n` +
      `the grant: GRANT INSERT, UPDATE, DELETE ON ${sqlName} TO ${role === null ? '<role>' : quoteIdentifier(role)}`,
    { cause },
  );
}
