import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { DescriptionColumn } from './config.js';

/**
 * The JSON API. Everything lives in a workspace, named by its slug; issues by their number
 * in it, comments by their key on the issue, agents by their name:
 *
 *   POST  /workspaces
 *   GET   /workspaces/:workspace/agents
 *   GET   /workspaces/:workspace/issues?status=&assignee=&limit=&after=
 *   POST  /workspaces/:workspace/issues
 *   GET   /workspaces/:workspace/issues/:number
 *   PATCH /workspaces/:workspace/issues/:number
 *   GET   /workspaces/:workspace/issues/:number/comments
 *   POST  /workspaces/:workspace/issues/:number/comments
 */

const STATUSES = ['open', 'in_progress', 'blocked', 'done'];
const PRIORITIES = ['low', 'normal', 'high', 'urgent'];

const text = { type: 'string', minLength: 1, maxLength: 10_000 } as const;
const name = { type: 'string', minLength: 1, maxLength: 100 } as const;
const workspaceParams = { type: 'object', properties: { workspace: { type: 'string' } } } as const;
const issueParams = { type: 'object', properties: { workspace: { type: 'string' }, number: { type: 'integer', minimum: 1 } } } as const;

interface WorkspaceParams {
  workspace: string;
}
interface IssueParams extends WorkspaceParams {
  number: number;
}
interface IssueFields {
  title: string;
  description: string;
  status: string;
  priority: string;
  /** An agent's name, or null for nobody. */
  assignee: string | null;
}
interface IssueQuery {
  status?: string;
  assignee?: string;
  limit: number;
  after: number;
}
interface NewComment {
  body: string;
  agent?: string;
  person?: string;
  parent?: string;
  key?: string;
}

/**
 * An issue as the API shows it: its assignee by name; its description from `descriptionColumn` (the
 * API's field keeps its name through the column's rename). Needs `i` (issues) and `a` (agents, left-joined).
 */
function issueFields(descriptionColumn: DescriptionColumn): string {
  return `i.number, i.title, i.${descriptionColumn} AS description, i.status, i.priority, a.name AS assignee, i.created_at AS "createdAt", i.updated_at AS "updatedAt"`;
}
const COMMENT_FIELDS = `c.key, c.parent_key AS parent, a.name AS agent, c.person, c.body, c.created_at AS "createdAt"`;

/** An error that becomes a response with this status and message. */
export function httpError(statusCode: 400 | 404, message: string): Error & { statusCode: number } {
  return Object.assign(new Error(message), { statusCode });
}

/** `descriptionColumn`: the column of `issues` that holds an issue's description (`body` since release 0.2.0). */
export function registerApi(app: FastifyInstance, pool: pg.Pool, descriptionColumn: DescriptionColumn): void {
  const ISSUE_FIELDS = issueFields(descriptionColumn);

  async function workspaceId(slug: string): Promise<string> {
    const { rows } = await pool.query<{ id: string }>('SELECT id FROM workspaces WHERE slug = $1', [slug]);
    if (rows[0] === undefined) throw httpError(404, `no workspace "${slug}"`);
    return rows[0].id;
  }

  async function issueId(workspace: string, number: number): Promise<string> {
    const { rows } = await pool.query<{ id: string }>('SELECT id FROM issues WHERE workspace_id = $1 AND number = $2', [await workspaceId(workspace), number]);
    if (rows[0] === undefined) throw httpError(404, `no issue ${number} in workspace "${workspace}"`);
    return rows[0].id;
  }

  /** The id of the agent `agentName` in the workspace; a 400 naming `field` when there is none. */
  async function agentId(workspace: string, agentName: string, field: string): Promise<string> {
    const { rows } = await pool.query<{ id: string }>(
      'SELECT a.id FROM agents a JOIN workspaces w ON w.id = a.workspace_id WHERE w.slug = $1 AND a.name = $2',
      [workspace, agentName],
    );
    if (rows[0] === undefined) throw httpError(400, `${field}: no agent "${agentName}" in workspace "${workspace}"; GET /workspaces/${workspace}/agents lists them`);
    return rows[0].id;
  }

  app.post<{ Body: { slug: string; name: string } }>(
    '/workspaces',
    {
      schema: {
        body: {
          type: 'object',
          required: ['slug', 'name'],
          additionalProperties: false,
          properties: { slug: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }, name },
        },
      },
    },
    async (request, reply) => {
      const { rows } = await pool.query('INSERT INTO workspaces (slug, name) VALUES ($1, $2) RETURNING slug, name, created_at AS "createdAt"', [
        request.body.slug,
        request.body.name,
      ]);
      return reply.code(201).send(rows[0]);
    },
  );

  app.get<{ Params: WorkspaceParams }>('/workspaces/:workspace/agents', { schema: { params: workspaceParams } }, async (request) => {
    const { rows } = await pool.query('SELECT name, kind, created_at AS "createdAt" FROM agents WHERE workspace_id = $1 ORDER BY name', [
      await workspaceId(request.params.workspace),
    ]);
    return { agents: rows };
  });

  // Keyset pagination: `after` is the last number of the previous page, `nextAfter` that of this one (null on the last page).
  app.get<{ Params: WorkspaceParams; Querystring: IssueQuery }>(
    '/workspaces/:workspace/issues',
    {
      schema: {
        params: workspaceParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { enum: STATUSES },
            assignee: name,
            limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
            after: { type: 'integer', minimum: 0, default: 0 },
          },
        },
      },
    },
    async (request) => {
      const { workspace } = request.params;
      const { status, assignee, limit, after } = request.query;
      const values: unknown[] = [await workspaceId(workspace), after];
      const where = ['i.workspace_id = $1', 'i.number > $2'];
      if (status !== undefined) where.push(`i.status = $${values.push(status)}`);
      if (assignee !== undefined) where.push(`i.assignee_id = $${values.push(await agentId(workspace, assignee, 'querystring/assignee'))}`);
      const { rows } = await pool.query<{ number: number }>(
        `SELECT ${ISSUE_FIELDS} FROM issues i LEFT JOIN agents a ON a.id = i.assignee_id WHERE ${where.join(' AND ')} ORDER BY i.number LIMIT $${values.push(limit + 1)}`,
        values,
      );
      const issues = rows.slice(0, limit);
      return { issues, nextAfter: rows.length > limit ? issues.at(-1)!.number : null };
    },
  );

  const issueBody = {
    type: 'object',
    additionalProperties: false,
    properties: {
      title: { type: 'string', minLength: 1, maxLength: 200 },
      description: { type: 'string', maxLength: 10_000 },
      status: { enum: STATUSES },
      priority: { enum: PRIORITIES },
      assignee: { type: ['string', 'null'], minLength: 1, maxLength: 100 },
    },
  } as const;

  app.post<{ Params: WorkspaceParams; Body: IssueFields }>(
    '/workspaces/:workspace/issues',
    {
      schema: {
        params: workspaceParams,
        body: {
          ...issueBody,
          required: ['title'],
          properties: {
            ...issueBody.properties,
            description: { ...issueBody.properties.description, default: '' },
            status: { ...issueBody.properties.status, default: 'open' },
            priority: { ...issueBody.properties.priority, default: 'normal' },
          },
        },
      },
    },
    async (request, reply) => {
      const { workspace } = request.params;
      const { title, description, status, priority, assignee } = request.body;
      const workspaceKey = await workspaceId(workspace);
      const assigneeId = assignee == null ? null : await agentId(workspace, assignee, 'body/assignee');
      // The number comes from the workspace's counter, bumped under its row lock: two replicas
      // creating issues at once get consecutive numbers. GREATEST covers issues inserted with
      // explicit numbers (seeds) that did not bump the counter.
      const { rows } = await pool.query(
        `WITH numbered AS (
           UPDATE workspaces w
              SET last_issue_number = GREATEST(w.last_issue_number, (SELECT coalesce(max(number), 0) FROM issues WHERE workspace_id = w.id)) + 1
            WHERE w.id = $1
           RETURNING w.id, w.last_issue_number
         ), i AS (
           INSERT INTO issues (workspace_id, number, title, ${descriptionColumn}, status, priority, assignee_id)
           SELECT id, last_issue_number, $2, $3, $4, $5, $6 FROM numbered
           RETURNING *
         )
         SELECT ${ISSUE_FIELDS} FROM i LEFT JOIN agents a ON a.id = i.assignee_id`,
        [workspaceKey, title, description, status, priority, assigneeId],
      );
      return reply.code(201).send(rows[0]);
    },
  );

  app.get<{ Params: IssueParams }>('/workspaces/:workspace/issues/:number', { schema: { params: issueParams } }, async (request) => {
    const { workspace, number } = request.params;
    const { rows } = await pool.query(`SELECT ${ISSUE_FIELDS} FROM issues i LEFT JOIN agents a ON a.id = i.assignee_id WHERE i.id = $1`, [
      await issueId(workspace, number),
    ]);
    return rows[0];
  });

  app.patch<{ Params: IssueParams; Body: Partial<IssueFields> }>(
    '/workspaces/:workspace/issues/:number',
    { schema: { params: issueParams, body: { ...issueBody, minProperties: 1 } } },
    async (request) => {
      const { workspace, number } = request.params;
      const body = request.body;
      const values: unknown[] = [await issueId(workspace, number)];
      const changes = ['updated_at = now()'];
      for (const field of ['title', 'description', 'status', 'priority'] as const) {
        const column = field === 'description' ? descriptionColumn : field;
        if (body[field] !== undefined) changes.push(`${column} = $${values.push(body[field])}`);
      }
      if (body.assignee !== undefined) {
        const assigneeId = body.assignee === null ? null : await agentId(workspace, body.assignee, 'body/assignee');
        changes.push(`assignee_id = $${values.push(assigneeId)}`);
      }
      const { rows } = await pool.query(
        `WITH i AS (UPDATE issues SET ${changes.join(', ')} WHERE id = $1 RETURNING *)
         SELECT ${ISSUE_FIELDS} FROM i LEFT JOIN agents a ON a.id = i.assignee_id`,
        values,
      );
      return rows[0];
    },
  );

  // Oldest first; a reply names its parent's key, so a client can build the thread.
  app.get<{ Params: IssueParams }>('/workspaces/:workspace/issues/:number/comments', { schema: { params: issueParams } }, async (request) => {
    const { workspace, number } = request.params;
    const { rows } = await pool.query(`SELECT ${COMMENT_FIELDS} FROM comments c LEFT JOIN agents a ON a.id = c.agent_id WHERE c.issue_id = $1 ORDER BY c.created_at, c.id`, [
      await issueId(workspace, number),
    ]);
    return { comments: rows };
  });

  app.post<{ Params: IssueParams; Body: NewComment }>(
    '/workspaces/:workspace/issues/:number/comments',
    {
      schema: {
        params: issueParams,
        body: {
          type: 'object',
          required: ['body'],
          additionalProperties: false,
          properties: { body: text, agent: name, person: name, parent: name, key: name },
        },
      },
    },
    async (request, reply) => {
      const { workspace, number } = request.params;
      const { body, agent, person, parent, key } = request.body;
      if ((agent === undefined) === (person === undefined)) {
        throw httpError(400, agent === undefined ? 'body/agent is required: the agent writing, or body/person for someone without one' : 'body/person: give agent or person, not both');
      }
      const issue = await issueId(workspace, number);
      const author = agent === undefined ? null : await agentId(workspace, agent, 'body/agent');
      if (parent !== undefined) {
        const { rowCount } = await pool.query('SELECT 1 FROM comments WHERE issue_id = $1 AND key = $2', [issue, parent]);
        if (rowCount === 0) throw httpError(400, `body/parent: no comment with key "${parent}" on issue ${number}`);
      }
      const { rows } = await pool.query(
        `WITH c AS (
           INSERT INTO comments (issue_id, key, parent_key, agent_id, person, body) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *
         )
         SELECT ${COMMENT_FIELDS} FROM c LEFT JOIN agents a ON a.id = c.agent_id`,
        [issue, key ?? randomUUID(), parent ?? null, author, person ?? null, body],
      );
      return reply.code(201).send(rows[0]);
    },
  );
}
