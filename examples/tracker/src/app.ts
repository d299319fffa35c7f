import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifySchemaValidationError } from 'fastify';
import type pg from 'pg';
import type { Logger } from 'pino';
import { status, type InspectOptions } from 'slipway';
import { registerApi } from './api.js';
import type { DescriptionColumn } from './config.js';

export interface AppOptions {
  readonly pool: pg.Pool;
  readonly logger: Logger;
  /** Where /readyz looks: the migrations folder, bookkeeping table and lock key the service migrated with. */
  readonly migrations: Pick<InspectOptions, 'dir' | 'table' | 'lockKey'>;
  /** The column of `issues` that holds an issue's description: `body`, or `description` as release 0.1.0 (config.ts). */
  readonly descriptionColumn?: DescriptionColumn;
}

/** A caller's x-request-id is kept when it looks like an id; anything else gets a fresh UUID. */
const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Unique violations the API can cause, by constraint: what the client should change. */
const CONFLICTS: Record<string, string> = {
  workspaces_slug_unique: 'body/slug: a workspace with this slug already exists; choose another slug',
  comments_key_unique: 'body/key: this issue already has a comment with this key; choose another key, or leave it out to get a generated one',
};

/**
 * The tracker's HTTP server: the JSON API, /healthz and /readyz, one log line per request
 * (with its id, also returned in `x-request-id`), and errors as `{ statusCode, error, message }`
 * where a 400's message names the field.
 */
export function buildApp({ pool, logger, migrations, descriptionColumn = 'body' }: AppOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Fastify's own "incoming request" / "request completed" pair is replaced by one line in onResponse.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // Unknown fields are a 400 naming them, not silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
    schemaErrorFormatter: (errors, dataVar) => new Error(describeValidationError(errors[0]!, dataVar)),
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  // Once close() began, responses close their connection: a keep-alive client would
  // otherwise hold the shutdown open until its idle timeout.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? null;
    const durationMs = Math.round(reply.elapsedTime * 10) / 10;
    request.log.info(
      { method: request.method, route, status: reply.statusCode, durationMs },
      `${request.method} ${route ?? request.url} ${reply.statusCode} ${durationMs} ms`,
    );
  });

  app.setErrorHandler((error: FastifyError & { constraint?: string }, request, reply) => {
    if (error.code === '23505' && error.constraint !== undefined && CONFLICTS[error.constraint]) {
      return reply.code(409).send({ statusCode: 409, error: 'Conflict', message: CONFLICTS[error.constraint] });
    }
    const statusCode = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (statusCode === 500) request.log.error({ err: error }, `request failed: ${error.message}`);
    return reply.code(statusCode).send({
      statusCode,
      error: STATUS_CODES[statusCode] ?? 'Error',
      message: statusCode === 500 ? `internal error; the log has it under request id ${request.id}` : error.message,
    });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );

  app.get('/healthz', async () => ({ status: 'ok' }));

  // Ready when every migration in the folder is applied: all of them, not just the newest
  // (a merged branch may add one that sorts below it). Pending (another replica is still
  // migrating, or an operator reverted one), edited or in flight: not ready. A row whose
  // file this replica lacks (a newer release migrated ahead) does not count against it, nor does
  // a pending post-deploy migration: it runs once every replica of this release is ready.
  app.get('/readyz', async (request, reply) => {
    try {
      const report = await status({ ...migrations, pool, logger });
      const unapplied = report.migrations.filter((m) => m.state !== 'applied' && m.state !== 'missing-file' && !(m.state === 'pending' && m.phase === 'post-deploy'));
      if (unapplied.length === 0) return { ready: true, migrations: report.migrations.length };
      return reply.code(503).send({ ready: false, unapplied: unapplied.map(({ version, state }) => ({ version, state })) });
    } catch (error) {
      return reply.code(503).send({ ready: false, message: `cannot read the migration state: ${(error as Error).message}` });
    }
  });

  registerApi(app, pool, descriptionColumn);
  return app;
}

/**
 * One line naming the field: `body/title is required`, `querystring/status must be one of …`.
 * Ajv's own messages say `must NOT have additional properties` without naming the property.
 */
function describeValidationError(error: FastifySchemaValidationError, dataVar: string): string {
  const field = `${dataVar}${error.instancePath}`;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return `${field}/${String(params.missingProperty)} is required`;
    case 'additionalProperties':
      return `${field}/${String(params.additionalProperty)} is not a known field: check its spelling`;
    case 'enum':
      return `${field} must be one of ${(params.allowedValues as unknown[]).join(', ')}`;
    case 'minProperties':
      return `${field} is empty: give at least one field to change`;
    default:
      return `${field} ${error.message}`;
  }
}
