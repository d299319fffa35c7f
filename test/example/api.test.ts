import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandbox, type Sandbox } from '../support/db.js';
import { buildExample, call, killServices, serviceEnv, startService, waitUntil, type LogLine, type Service } from './service.js';

// One replica on one sandbox for the whole file; each test works in workspaces of its own.
let box: Sandbox;
let service: Service & { url: string };
let url: string;
beforeAll(async () => {
  await buildExample();
  box = await sandbox();
  service = await startService(serviceEnv(box));
  url = service.url;
}, 120_000);
afterAll(async () => {
  await killServices();
  await box?.cleanup();
});

/** A new workspace with these agents (inserted directly: the API only lists agents). */
async function workspace(agents: Array<[name: string, kind: 'ai' | 'human']> = []): Promise<string> {
  const slug = `ws-${randomBytes(4).toString('hex')}`;
  expect((await call(url, 'POST', '/workspaces', { slug, name: `Workspace ${slug}` })).status).toBe(201);
  for (const [name, kind] of agents) {
    await box.admin.query('INSERT INTO agents (workspace_id, name, kind) SELECT id, $2, $3 FROM workspaces WHERE slug = $1', [
      slug,
      name,
      kind,
    ]);
  }
  return slug;
}

async function createIssue(slug: string, fields: Record<string, unknown>): Promise<{ number: number }> {
  const reply = await call(url, 'POST', `/workspaces/${slug}/issues`, fields);
  expect(reply.status).toBe(201);
  return reply.body;
}

const ISO = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

describe('workspaces and agents', () => {
  it('POST /workspaces creates one (201); the same slug again is a 409 naming the field, and adds nothing', async () => {
    const slug = `ws-${randomBytes(4).toString('hex')}`;
    const created = await call(url, 'POST', '/workspaces', { slug, name: 'Acme' });
    expect(created).toMatchObject({ status: 201, body: { slug, name: 'Acme', createdAt: ISO } });
    const again = await call(url, 'POST', '/workspaces', { slug, name: 'Acme again' });
    expect(again).toMatchObject({
      status: 409,
      body: { statusCode: 409, error: 'Conflict', message: 'body/slug: a workspace with this slug already exists; choose another slug' },
    });
    expect((await box.admin.query('SELECT name FROM workspaces WHERE slug = $1', [slug])).rows).toEqual([{ name: 'Acme' }]);
  });

  it("GET agents lists the workspace's own agents by name; an unknown workspace is a 404", async () => {
    const slug = await workspace([
      ['triage-bot', 'ai'],
      ['ada', 'human'],
    ]);
    await workspace([['someone-else', 'ai']]);
    const reply = await call(url, 'GET', `/workspaces/${slug}/agents`);
    expect(reply).toMatchObject({ status: 200 });
    expect(reply.body).toEqual({
      agents: [
        { name: 'ada', kind: 'human', createdAt: ISO },
        { name: 'triage-bot', kind: 'ai', createdAt: ISO },
      ],
    });
    expect(await call(url, 'GET', '/workspaces/no-such-place/agents')).toMatchObject({
      status: 404,
      body: { statusCode: 404, error: 'Not Found', message: 'no workspace "no-such-place"' },
    });
  });
});

describe('issues', () => {
  it('POST numbers issues per workspace and fills the defaults; GET returns one; unknown numbers and workspaces are 404s', async () => {
    const acme = await workspace([['triage-bot', 'ai']]);
    const other = await workspace();
    const first = await call(url, 'POST', `/workspaces/${acme}/issues`, { title: 'Login fails' });
    expect(first).toMatchObject({ status: 201 });
    expect(first.body).toEqual({
      number: 1,
      title: 'Login fails',
      description: '',
      status: 'open',
      priority: 'normal',
      assignee: null,
      createdAt: ISO,
      updatedAt: ISO,
    });
    const second = await createIssue(acme, {
      title: 'Flaky test',
      description: 'fails 1 in 10',
      status: 'in_progress',
      priority: 'high',
      assignee: 'triage-bot',
    });
    expect(second).toMatchObject({
      number: 2,
      description: 'fails 1 in 10',
      status: 'in_progress',
      priority: 'high',
      assignee: 'triage-bot',
    });
    expect(await createIssue(other, { title: 'Elsewhere' })).toMatchObject({ number: 1 });

    expect(await call(url, 'GET', `/workspaces/${acme}/issues/2`)).toEqual({ status: 200, headers: expect.anything(), body: second });
    const { rows } = await box.admin.query(
      'SELECT i.number, a.name AS assignee FROM issues i JOIN workspaces w ON w.id = i.workspace_id LEFT JOIN agents a ON a.id = i.assignee_id WHERE w.slug = $1 ORDER BY 1',
      [acme],
    );
    expect(rows).toEqual([
      { number: 1, assignee: null },
      { number: 2, assignee: 'triage-bot' },
    ]);

    expect(await call(url, 'GET', `/workspaces/${acme}/issues/99`)).toMatchObject({
      status: 404,
      body: { message: `no issue 99 in workspace "${acme}"` },
    });
    expect(await call(url, 'GET', '/workspaces/no-such-place/issues/1')).toMatchObject({
      status: 404,
      body: { message: 'no workspace "no-such-place"' },
    });
    expect(await call(url, 'POST', '/workspaces/no-such-place/issues', { title: 'x' })).toMatchObject({
      status: 404,
      body: { message: 'no workspace "no-such-place"' },
    });
  });

  it('issues created at the same moment get distinct, consecutive numbers', async () => {
    const slug = await workspace();
    const replies = await Promise.all(
      Array.from({ length: 12 }, (_, i) => call(url, 'POST', `/workspaces/${slug}/issues`, { title: `issue ${i}` })),
    );
    expect(replies.map((r) => r.status)).toEqual(Array(12).fill(201));
    expect(replies.map((r) => r.body.number).sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  });

  it('PATCH changes only the fields given, and updatedAt; assignee null unassigns; an unknown issue is a 404', async () => {
    const slug = await workspace([['coder', 'ai']]);
    const before = await createIssue(slug, { title: 'Slow page', description: 'the list takes 3 s' });
    await new Promise((resolve) => setTimeout(resolve, 10));
    const assigned = await call(url, 'PATCH', `/workspaces/${slug}/issues/1`, {
      status: 'in_progress',
      priority: 'urgent',
      assignee: 'coder',
    });
    expect(assigned).toMatchObject({ status: 200 });
    expect(assigned.body).toEqual({ ...before, status: 'in_progress', priority: 'urgent', assignee: 'coder', updatedAt: ISO });
    expect(Date.parse(assigned.body.updatedAt)).toBeGreaterThan(Date.parse(assigned.body.createdAt));

    const unassigned = await call(url, 'PATCH', `/workspaces/${slug}/issues/1`, { assignee: null, status: 'done' });
    expect(unassigned.body).toMatchObject({
      title: 'Slow page',
      description: 'the list takes 3 s',
      status: 'done',
      priority: 'urgent',
      assignee: null,
    });
    expect((await call(url, 'GET', `/workspaces/${slug}/issues/1`)).body).toEqual(unassigned.body);
    expect(await call(url, 'PATCH', `/workspaces/${slug}/issues/7`, { status: 'done' })).toMatchObject({
      status: 404,
      body: { message: `no issue 7 in workspace "${slug}"` },
    });
  });

  it('the list filters by status and assignee, and pages by number', async () => {
    const slug = await workspace([
      ['ada', 'human'],
      ['bot', 'ai'],
    ]);
    const specs = [
      { title: 'one', status: 'open', assignee: 'ada' },
      { title: 'two', status: 'blocked', assignee: 'bot' },
      { title: 'three', status: 'blocked', assignee: 'ada' },
      { title: 'four', status: 'done' },
      { title: 'five', status: 'open', assignee: 'ada' },
    ];
    for (const spec of specs) await createIssue(slug, spec);
    const numbers = async (query: string) => {
      const reply = await call(url, 'GET', `/workspaces/${slug}/issues${query}`);
      expect(reply.status).toBe(200);
      return { numbers: reply.body.issues.map((i: { number: number }) => i.number), nextAfter: reply.body.nextAfter };
    };
    expect(await numbers('')).toEqual({ numbers: [1, 2, 3, 4, 5], nextAfter: null });
    expect(await numbers('?status=blocked')).toEqual({ numbers: [2, 3], nextAfter: null });
    expect(await numbers('?assignee=ada')).toEqual({ numbers: [1, 3, 5], nextAfter: null });
    expect(await numbers('?assignee=ada&status=open')).toEqual({ numbers: [1, 5], nextAfter: null });
    expect(await numbers('?limit=2')).toEqual({ numbers: [1, 2], nextAfter: 2 });
    expect(await numbers('?limit=2&after=2')).toEqual({ numbers: [3, 4], nextAfter: 4 });
    expect(await numbers('?limit=2&after=4')).toEqual({ numbers: [5], nextAfter: null });
    expect(await numbers('?assignee=ada&limit=2')).toEqual({ numbers: [1, 3], nextAfter: 3 });
    expect(await numbers('?assignee=ada&limit=2&after=3')).toEqual({ numbers: [5], nextAfter: null });
    expect(await numbers('?after=5')).toEqual({ numbers: [], nextAfter: null });
    const listed = await call(url, 'GET', `/workspaces/${slug}/issues?status=blocked&assignee=bot`);
    expect(listed.body.issues).toEqual([
      expect.objectContaining({ number: 2, title: 'two', status: 'blocked', assignee: 'bot', priority: 'normal' }),
    ]);
  });
});

describe('comments', () => {
  it('by an agent, by a person, and a reply: listed oldest first, each with its parent', async () => {
    const slug = await workspace([['triage-bot', 'ai']]);
    await createIssue(slug, { title: 'Crash on save' });
    const path = `/workspaces/${slug}/issues/1/comments`;
    const first = await call(url, 'POST', path, { key: 'repro', agent: 'triage-bot', body: 'Reproduced on main.' });
    expect(first).toMatchObject({ status: 201 });
    expect(first.body).toEqual({
      key: 'repro',
      parent: null,
      agent: 'triage-bot',
      person: null,
      body: 'Reproduced on main.',
      createdAt: ISO,
    });
    const reply = await call(url, 'POST', path, { person: 'Grace', parent: 'repro', body: 'Thanks, looking.' });
    expect(reply).toMatchObject({ status: 201, body: { parent: 'repro', agent: null, person: 'Grace' } });
    expect(reply.body.key).toMatch(/^[0-9a-f-]{36}$/);

    const list = await call(url, 'GET', path);
    expect(list.status).toBe(200);
    expect(list.body.comments.map((c: Record<string, unknown>) => [c.key, c.parent, c.agent, c.person, c.body])).toEqual([
      ['repro', null, 'triage-bot', null, 'Reproduced on main.'],
      [reply.body.key, 'repro', null, 'Grace', 'Thanks, looking.'],
    ]);
    expect(await call(url, 'GET', `/workspaces/${slug}/issues/2/comments`)).toMatchObject({
      status: 404,
      body: { message: `no issue 2 in workspace "${slug}"` },
    });
    expect(await call(url, 'POST', `/workspaces/${slug}/issues/2/comments`, { person: 'Grace', body: 'x' })).toMatchObject({ status: 404 });
  });

  it('a second comment with the same key on the same issue is a 409 and adds nothing; on another issue the key is free', async () => {
    const slug = await workspace();
    await createIssue(slug, { title: 'a' });
    await createIssue(slug, { title: 'b' });
    const post = (number: number, body: string) =>
      call(url, 'POST', `/workspaces/${slug}/issues/${number}/comments`, { key: 'status-update', person: 'Linus', body });
    expect((await post(1, 'first')).status).toBe(201);
    expect(await post(1, 'retry')).toMatchObject({
      status: 409,
      body: {
        error: 'Conflict',
        message: 'body/key: this issue already has a comment with this key; choose another key, or leave it out to get a generated one',
      },
    });
    expect((await post(2, 'other issue')).status).toBe(201);
    const { rows } = await box.admin.query(
      `SELECT i.number, c.body FROM comments c JOIN issues i ON i.id = c.issue_id JOIN workspaces w ON w.id = i.workspace_id WHERE w.slug = $1 ORDER BY 1`,
      [slug],
    );
    expect(rows).toEqual([
      { number: 1, body: 'first' },
      { number: 2, body: 'other issue' },
    ]);
  });
});

describe('validation: a 400 whose message names the field', () => {
  let slug: string;
  beforeAll(async () => {
    slug = await workspace([['ada', 'human']]);
    await createIssue(slug, { title: 'the only issue' });
  });

  it.each([
    ['POST', '/workspaces', { name: 'x' }, 'body/slug is required'],
    ['POST', '/workspaces', { slug: 'Not A Slug', name: 'x' }, 'body/slug must match pattern "^[a-z0-9][a-z0-9-]{0,62}$"'],
    ['POST', '/workspaces', { slug: 'fine', name: 'x', owner: 'me' }, 'body/owner is not a known field: check its spelling'],
    ['POST', '/issues', {}, 'body/title is required'],
    ['POST', '/issues', { title: '' }, 'body/title must NOT have fewer than 1 characters'],
    ['POST', '/issues', { title: { text: 'x' } }, 'body/title must be string'],
    ['POST', '/issues', { title: 'x', status: 'finished' }, 'body/status must be one of open, in_progress, blocked, done'],
    ['POST', '/issues', { title: 'x', priority: 'p0' }, 'body/priority must be one of low, normal, high, urgent'],
    ['POST', '/issues', { title: 'x', labels: ['bug'] }, 'body/labels is not a known field: check its spelling'],
    [
      'POST',
      '/issues',
      { title: 'x', assignee: 'nobody' },
      'body/assignee: no agent "nobody" in workspace "$ws"; GET /workspaces/$ws/agents lists them',
    ],
    ['PATCH', '/issues/1', {}, 'body is empty: give at least one field to change'],
    ['PATCH', '/issues/1', { status: 'closed' }, 'body/status must be one of open, in_progress, blocked, done'],
    ['PATCH', '/issues/1', { assignee: '' }, 'body/assignee must NOT have fewer than 1 characters'],
    ['GET', '/issues/first', undefined, 'params/number must be integer'],
    ['GET', '/issues/0', undefined, 'params/number must be >= 1'],
    ['GET', '/issues?limit=0', undefined, 'querystring/limit must be >= 1'],
    ['GET', '/issues?limit=101', undefined, 'querystring/limit must be <= 100'],
    ['GET', '/issues?limit=ten', undefined, 'querystring/limit must be integer'],
    ['GET', '/issues?after=-1', undefined, 'querystring/after must be >= 0'],
    ['GET', '/issues?status=finished', undefined, 'querystring/status must be one of open, in_progress, blocked, done'],
    [
      'GET',
      '/issues?assignee=nobody',
      undefined,
      'querystring/assignee: no agent "nobody" in workspace "$ws"; GET /workspaces/$ws/agents lists them',
    ],
    ['GET', '/issues?sort=title', undefined, 'querystring/sort is not a known field: check its spelling'],
    ['POST', '/issues/1/comments', { person: 'ada' }, 'body/body is required'],
    ['POST', '/issues/1/comments', { body: 'hi' }, 'body/agent is required: the agent writing, or body/person for someone without one'],
    ['POST', '/issues/1/comments', { body: 'hi', agent: 'ada', person: 'Ada' }, 'body/person: give agent or person, not both'],
    [
      'POST',
      '/issues/1/comments',
      { body: 'hi', agent: 'nobody' },
      'body/agent: no agent "nobody" in workspace "$ws"; GET /workspaces/$ws/agents lists them',
    ],
    [
      'POST',
      '/issues/1/comments',
      { body: 'hi', person: 'Ada', parent: 'missing' },
      'body/parent: no comment with key "missing" on issue 1',
    ],
  ])('%s %s %j', async (method, route, body, message) => {
    const path = route.startsWith('/workspaces') ? route : `/workspaces/${slug}${route}`;
    const counts = () =>
      box.admin.query(
        'SELECT (SELECT count(*) FROM workspaces)::int AS w, (SELECT count(*) FROM issues)::int AS i, (SELECT count(*) FROM comments)::int AS c',
      );
    const before = (await counts()).rows[0];
    const reply = await call(url, method, path, body);
    expect(reply.body).toEqual({ statusCode: 400, error: 'Bad Request', message: message.replaceAll('$ws', slug) });
    expect(reply.status).toBe(400);
    expect((await counts()).rows[0]).toEqual(before);
    const issue = await call(url, 'GET', `/workspaces/${slug}/issues/1`);
    expect(issue.body).toMatchObject({ title: 'the only issue', status: 'open', assignee: null });
  });

  it('an unknown route is a JSON 404', async () => {
    expect(await call(url, 'DELETE', `/workspaces/${slug}`)).toMatchObject({
      status: 404,
      body: { statusCode: 404, error: 'Not Found', message: `no route DELETE /workspaces/${slug}` },
    });
  });
});

describe('request log', () => {
  const linesOf = (requestId: string): LogLine[] => service.lines().filter((l) => l.requestId === requestId);

  it('one JSON line per request: request id, method, route, status, duration; x-request-id round-trips', async () => {
    const slug = await workspace();
    const given = `trace-${randomBytes(6).toString('hex')}`;
    const reply = await call(url, 'GET', `/workspaces/${slug}/issues?status=open`, undefined, { 'x-request-id': given });
    expect(reply.status).toBe(200);
    expect(reply.headers.get('x-request-id')).toBe(given);
    await waitUntil(() => linesOf(given).length > 0, 'the request log line');
    const lines = linesOf(given);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 30,
      requestId: given,
      method: 'GET',
      route: '/workspaces/:workspace/issues',
      status: 200,
      durationMs: expect.any(Number),
      msg: expect.stringMatching(/^GET \/workspaces\/:workspace\/issues 200 \d+(\.\d)? ms$/),
    });
    expect(lines[0]!.durationMs).toBeGreaterThanOrEqual(0);
    expect(lines[0]!.durationMs).toBeLessThan(5000);
    // Fastify's own two lines per request are off.
    expect(service.lines().filter((l) => l.msg === 'incoming request' || l.msg === 'request completed')).toEqual([]);
  });

  it('without x-request-id (or with one that does not look like an id) the id is a new UUID, returned and logged', async () => {
    const variants: Array<Record<string, string>> = [
      {},
      { 'x-request-id': 'has spaces and "quotes"' },
      { 'x-request-id': 'x'.repeat(200) },
    ];
    for (const headers of variants) {
      const reply = await call(url, 'GET', '/healthz', undefined, headers);
      const id = reply.headers.get('x-request-id')!;
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      await waitUntil(() => linesOf(id).length > 0, 'the request log line');
      expect(linesOf(id)).toEqual([expect.objectContaining({ method: 'GET', route: '/healthz', status: 200 })]);
    }
  });

  it('errors are logged with their status, an unknown route with route null, and keep the id header', async () => {
    const cases: Array<[string, string, unknown, number, string | null]> = [
      ['POST', '/workspaces', { slug: 'Bad Slug', name: 'x' }, 400, '/workspaces'],
      ['GET', '/workspaces/no-such-place/agents', undefined, 404, '/workspaces/:workspace/agents'],
      ['GET', '/no/such/route', undefined, 404, null],
    ];
    for (const [method, path, body, status, route] of cases) {
      const id = `err-${randomBytes(6).toString('hex')}`;
      const reply = await call(url, method, path, body, { 'x-request-id': id });
      expect(reply.status).toBe(status);
      expect(reply.headers.get('x-request-id')).toBe(id);
      await waitUntil(() => linesOf(id).length > 0, 'the request log line');
      expect(linesOf(id)).toEqual([expect.objectContaining({ method, route, status })]);
    }
  });
});
