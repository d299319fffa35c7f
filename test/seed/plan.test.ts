import { describe, expect, it } from 'vitest';
import { SeedError } from '../../src/errors.js';
import type { Catalog, CatalogColumn, CatalogTable } from '../../src/seed/catalog.js';
import { parseSeedFile, type SeedFile } from '../../src/seed/files.js';
import { planSeed, type PlannedRow, type SeedPlan } from '../../src/seed/plan.js';
import { isReference, tablesToLookUp } from '../../src/seed/references.js';
import { thrown } from '../support/errors.js';

function column(name: string, type: string, extra: Partial<CatalogColumn> = {}): CatalogColumn {
  return { name, type, json: false, array: false, text: false, required: false, ...extra };
}

/** Every column unique on its own unless `uniqueKeys` says otherwise. */
function table(
  name: string,
  oid: number,
  primaryKey: string | null,
  columns: CatalogColumn[],
  uniqueKeys: string[][] = columns.map((c) => [c.name]),
): CatalogTable {
  return { name, sqlName: `"${name}"`, oid, primaryKey, uniqueKeys, columns: new Map(columns.map((c) => [c.name, c])) };
}

const workspaces = table('workspaces', 1, 'id', [
  column('id', 'integer'),
  column('slug', 'text', { text: true, required: true }),
  column('plan', 'character varying(10)', { text: true }),
  column('settings', 'jsonb', { json: true }),
  column('tags', 'text[]', { array: true }),
  column('seats', 'bigint'),
  column('active', 'boolean'),
]);
const comments = table('comments', 2, 'id', [
  column('id', 'uuid'),
  column('key', 'text', { text: true, required: true }),
  column('workspace_id', 'integer'),
  column('parent_id', 'uuid'),
  column('body', 'text', { text: true }),
]);
const events = table('events', 3, null, [column('name', 'text', { text: true })]);
const catalog: Catalog = new Map([workspaces, comments, events].map((t) => [t.name, t]));

const WORKSPACES = 'table: workspaces\nkey: slug\nrows:\n  - { slug: acme }\n';

function files(...texts: string[]): SeedFile[] {
  return texts.map((text, i) => parseSeedFile(text, `seeds/0${i + 1}.yaml`));
}

function planError(texts: string[], cat: Catalog = catalog): SeedError {
  const error = thrown(() => planSeed(files(...texts), cat), SeedError);
  expect(error.message).not.toContain('\n');
  return error;
}

/** Each level's rows by their key column, in order. */
function levelKeys(plan: SeedPlan, step: number, keyColumn: string): unknown[][] {
  return plan.steps[step]!.levels.map((level) => level.flatMap((batch) => batch.rows.map((row: PlannedRow) => row.key[keyColumn])));
}

describe('planSeed: values', () => {
  it('turns each value into text in PostgreSQL input syntax and asks the server to check it', () => {
    const plan = planSeed(
      files(`table: workspaces
key: slug
rows:
  - slug: acme
    plan: "01234"
    settings: { $ref: not-a-reference, nested: [1, { a: null }] }
    tags: [a, 'b"c', 'd\\e', null, '']
    seats: 12
    active: true
  - { slug: globex, plan: null, settings: "just text", tags: [] }
`),
      catalog,
    );
    const [first, second] = plan.steps[0]!.levels[0]!.flatMap((b) => b.rows);
    expect(Object.fromEntries(first!.values)).toEqual({
      slug: 'acme',
      plan: '01234',
      settings: '{"$ref":"not-a-reference","nested":[1,{"a":null}]}',
      tags: '{"a","b\\"c","d\\\\e",NULL,""}',
      seats: '12',
      active: 'true',
    });
    expect(Object.fromEntries(second!.values)).toEqual({ slug: 'globex', plan: null, settings: '"just text"', tags: '{}' });
    expect(plan.checks.filter((c) => c.at.row === 1).map((c) => [c.column, c.type, c.value])).toEqual([
      ['workspaces.slug', 'text', 'acme'],
      ['workspaces.plan', 'character varying(10)', '01234'],
      ['workspaces.settings', 'jsonb', '{"$ref":"not-a-reference","nested":[1,{"a":null}]}'],
      ['workspaces.tags', 'text[]', '{"a","b\\"c","d\\\\e",NULL,""}'],
      ['workspaces.seats', 'bigint', '12'],
      ['workspaces.active', 'boolean', 'true'],
    ]);
  });

  it('splits rows that give different columns into batches, keeping file order inside each', () => {
    const plan = planSeed(
      files('table: workspaces\nkey: slug\nrows:\n  - { slug: a, seats: 1 }\n  - { slug: b }\n  - { seats: 2, slug: c }\n'),
      catalog,
    );
    expect(plan.steps[0]!.levels[0]!.map((b) => [b.columns, b.rows.map((r) => r.key.slug)])).toEqual([
      [
        ['slug', 'seats'],
        ['a', 'c'],
      ],
      [['slug'], ['b']],
    ]);
  });

  it.each([
    [
      'an unknown table',
      'table: nope\nkey: id\nrows: []\n',
      'seeds/01.yaml:1: unknown table nope: create it with a migration, or check the name and search_path',
    ],
    [
      'an unknown key column',
      'table: workspaces\nkey: name\nrows: []\n',
      'seeds/01.yaml:2: table workspaces has no column name; check the spelling or add it with a migration',
    ],
    [
      'an unknown column',
      'table: workspaces\nkey: slug\nrows:\n  - { slug: a, seat: 1 }\n',
      'seeds/01.yaml:4 (row 1): table workspaces has no column seat',
    ],
    [
      'a missing required column',
      'table: comments\nkey: body\nrows:\n  - { body: hi }\n',
      'seeds/01.yaml:4 (row 1): column comments.key is required (NOT NULL, no default); give it a value',
    ],
    [
      'a null required column',
      'table: workspaces\nkey: seats\nrows:\n  - { seats: 1, slug: null }\n',
      'column workspaces.slug is required',
    ],
    [
      'a number for a text column',
      'table: workspaces\nkey: slug\nrows:\n  - { slug: a, plan: 01234 }\n',
      'seeds/01.yaml:4 (row 1): column workspaces.plan is character varying(10): got 1234, not a string; quote it',
    ],
    [
      'a boolean for a text column',
      'table: workspaces\nkey: slug\nrows:\n  - { slug: true }\n',
      'column workspaces.slug is text: got true, not a string; quote it',
    ],
    [
      'a mapping for a scalar column',
      'table: workspaces\nkey: slug\nrows:\n  - { slug: a, seats: { n: 1 } }\n',
      'column workspaces.seats is bigint: got a mapping; write a value, or { $ref: table, column: value } to refer to a row',
    ],
    [
      'a list for a scalar column',
      'table: workspaces\nkey: slug\nrows:\n  - { slug: a, seats: [1] }\n',
      'column workspaces.seats is bigint: got a list; write one value',
    ],
    [
      'a value for a list column',
      'table: workspaces\nkey: slug\nrows:\n  - { slug: a, tags: x }\n',
      'column workspaces.tags is text[]: got "x"; write a list',
    ],
    [
      'a mapping inside a list',
      'table: workspaces\nkey: slug\nrows:\n  - { slug: a, tags: [{ x: 1 }] }\n',
      'column workspaces.tags is text[]: a list element is a mapping; lists hold values only',
    ],
    [
      'an integer that lost digits',
      'table: workspaces\nkey: slug\nrows:\n  - { slug: a, seats: 9007199254740993 }\n',
      'column workspaces.seats is bigint: 9007199254740992 is past 2^53 and loses digits; quote it',
    ],
  ])('refuses %s, naming file and row', (_name, text, message) => {
    expect(planError([text]).message).toContain(message);
  });
});

describe('planSeed: keys and insert-only columns', () => {
  const byPair = new Map([
    ...catalog,
    ['workspaces', table('workspaces', 1, 'id', [...workspaces.columns.values()], [['id'], ['plan', 'slug']])],
  ]);

  it('refuses a seed key without a unique index on exactly its columns, giving the statement', () => {
    expect(planError(['table: workspaces\nkey: slug\nrows: []\n'], byPair).message).toBe(
      'seeds/01.yaml:2: table workspaces has no unique index on the seed key (slug), so runs that do not share the lock could insert a row twice; add one with a migration: CREATE UNIQUE INDEX ON "workspaces" ("slug")',
    );
    expect(planError(['table: workspaces\nkey: [plan, slug, seats]\nrows: []\n'], byPair).message).toContain('(plan, slug, seats)');
  });

  it('accepts a key whose unique index lists the columns in another order', () => {
    expect(planSeed(files('table: workspaces\nkey: [slug, plan]\nrows: []\n'), byPair).steps).toHaveLength(1);
  });

  it('passes insert-only columns to the step and refuses an unknown one', () => {
    const plan = planSeed(files('table: workspaces\nkey: slug\ninsertOnly: [seats]\nrows:\n  - { slug: a, seats: 1 }\n'), catalog);
    expect(plan.steps[0]!.insertOnly).toEqual(['seats']);
    expect(planError(['table: workspaces\nkey: slug\ninsertOnly: [seat]\nrows: []\n']).message).toBe(
      'seeds/01.yaml:3: table workspaces has no column seat; check the spelling or add it with a migration',
    );
  });
});

describe('planSeed: references', () => {
  it('checks each literal once per type, where it first appears, and gives equal references one id', () => {
    const plan = planSeed(
      files(
        WORKSPACES,
        `table: comments
key: key
rows:
  - { key: c-1, body: hi, workspace_id: { $ref: workspaces, slug: acme } }
  - { key: c-2, body: hi, workspace_id: { slug: acme, $ref: workspaces } }
  - { key: c-3, body: c-1, workspace_id: { $ref: workspaces, slug: globex } }
  - { key: c-4, workspace_id: { $ref: workspaces, slug: acme }, parent_id: { $ref: comments, key: c-1, workspace_id: { $ref: workspaces, slug: acme } } }
`,
      ),
      catalog,
    );
    // acme (text) is checked in the first file already, body c-1 (text) as comments.key in row 1
    expect(plan.checks.filter((c) => c.at.file === 'seeds/02.yaml').map((c) => [c.column, c.value, c.at.row])).toEqual([
      ['comments.key', 'c-1', 1],
      ['comments.body', 'hi', 1],
      ['comments.key', 'c-2', 2],
      ['comments.key', 'c-3', 3],
      ['workspaces.slug', 'globex', 3],
      ['comments.key', 'c-4', 4],
    ]);
    const refs = plan.steps[1]!.levels.flatMap((level) =>
      level.flatMap((batch) => batch.rows.map((row) => row.values.get('workspace_id'))),
    );
    const ids = refs.map((ref) => (isReference(ref) ? ref.id : null));
    expect(ids[0]).toBe(ids[1]);
    expect(ids[0]).toBe(ids[3]);
    expect(ids[0]).not.toBe(ids[2]);
    // written alike, one is read once and shared (messages take the place from the row that is written)
    expect(refs[3]).toBe(refs[0]);
    expect(refs[1]).not.toBe(refs[0]);
  });

  it('keys a reference nested 60 deep by short ids, one per level, in time linear in its size', () => {
    let ref = '{ $ref: comments, key: k0 }';
    for (let d = 1; d < 60; d++) ref = `{ $ref: comments, key: k${d}, parent_id: ${ref} }`;
    const plan = planSeed(
      files(`table: comments\nkey: key\nrows:\n  - { key: leaf, parent_id: ${ref} }\n  - { key: leaf-2, parent_id: ${ref} }\n`),
      catalog,
    );
    const [first, second] = plan.steps[0]!.levels[0]!.flatMap((b) => b.rows).map((row) => row.values.get('parent_id'));
    const ids: string[] = [];
    for (let value = first; isReference(value); value = value.key.get('parent_id')) ids.push(value.id);
    expect(ids).toHaveLength(60);
    expect(new Set(ids).size).toBe(60);
    expect(Math.max(...ids.map((id) => id.length))).toBeLessThan(4);
    expect(isReference(second) && second.id).toBe(ids[0]);
  });

  it('keeps references, nested ones included, to resolve at load time', () => {
    const plan = planSeed(
      files(
        WORKSPACES,
        'table: comments\nkey: key\nrows:\n  - { key: c-1, workspace_id: { $ref: workspaces, slug: acme }, parent_id: { $ref: comments, key: old, workspace_id: { $ref: workspaces, slug: acme } } }\n',
      ),
      catalog,
    );
    const values = plan.steps[1]!.levels[0]![0]!.rows[0]!.values;
    const workspace = values.get('workspace_id');
    expect(isReference(workspace) && [workspace.table.name, Object.fromEntries(workspace.key)]).toEqual(['workspaces', { slug: 'acme' }]);
    const parent = values.get('parent_id');
    expect(isReference(parent) && parent.table.name).toBe('comments');
    const nested = isReference(parent) ? parent.key.get('workspace_id') : undefined;
    expect(isReference(nested) && Object.fromEntries(nested.key)).toEqual({ slug: 'acme' });
    expect(plan.checks.map((c) => c.column)).toContain('comments.key');
  });

  it('orders rows of one file that refer to each other in levels; rows of earlier files need none', () => {
    const plan = planSeed(
      files(
        'table: comments\nkey: key\nrows:\n  - { key: root }\n',
        `table: comments
key: key
rows:
  - { key: c-3, parent_id: { $ref: comments, key: c-2 } }
  - { key: c-1, parent_id: { $ref: comments, key: root } }
  - { key: c-2, parent_id: { $ref: comments, key: c-1 } }
  - { key: other }
  - { key: c-2b, parent_id: { $ref: comments, key: c-1 } }
`,
      ),
      catalog,
    );
    expect(levelKeys(plan, 1, 'key')).toEqual([['c-1', 'other'], ['c-2', 'c-2b'], ['c-3']]);
  });

  it.each([
    [
      'a reference to a table that does not exist',
      [WORKSPACES.replace('{ slug: acme }', '{ slug: acme, seats: { $ref: nope, id: 1 } }')],
      'seeds/01.yaml:4 (row 1): unknown table nope',
    ],
    [
      'a reference to a table without a single-column primary key',
      ['table: comments\nkey: key\nrows:\n  - { key: a, body: { $ref: events, name: x } }\n'],
      'cannot refer to events: it has no single-column primary key',
    ],
    [
      'a reference that names no column',
      ['table: comments\nkey: key\nrows:\n  - { key: a, parent_id: { $ref: comments } }\n'],
      'reference to comments names no column; add the columns that identify the row',
    ],
    [
      'a reference by an unknown column',
      ['table: comments\nkey: key\nrows:\n  - { key: a, parent_id: { $ref: comments, kee: b } }\n'],
      'seeds/01.yaml:4 (row 1): table comments has no column kee',
    ],
    [
      'a reference with a null key value',
      ['table: comments\nkey: key\nrows:\n  - { key: a, parent_id: { $ref: comments, key: null } }\n'],
      'reference to comments has key: null, which matches no row',
    ],
    [
      'a mapping without $ref',
      ['table: comments\nkey: key\nrows:\n  - { key: a, parent_id: { ref: comments, key: b } }\n'],
      'column comments.parent_id is uuid: got a mapping',
    ],
    [
      'a reference to a row that a later file seeds',
      ['table: comments\nkey: key\nrows:\n  - { key: a, workspace_id: { $ref: workspaces, slug: acme } }\n', WORKSPACES],
      'seeds/01.yaml:4 (row 1): refers to a workspaces row that seeds/02.yaml seeds later; rename the files so that one sorts first',
    ],
    [
      'a row that refers to itself',
      ['table: comments\nkey: key\nrows:\n  - { key: a, parent_id: { $ref: comments, key: a } }\n'],
      'seeds/01.yaml:4 (row 1): the row refers to itself',
    ],
    [
      'rows that refer to each other in a cycle',
      [
        'table: comments\nkey: key\nrows:\n  - { key: ok }\n  - { key: a, parent_id: { $ref: comments, key: b } }\n  - { key: b, parent_id: { $ref: comments, key: a } }\n',
      ],
      'seeds/01.yaml:5 (row 2): rows refer to each other in a cycle (or to a row in one): seeds/01.yaml:5 (row 2), seeds/01.yaml:6 (row 3)',
    ],
  ])('refuses %s', (_name, texts, message) => {
    expect(planError(texts).message).toContain(message);
  });

  it('refuses one table written two ways', () => {
    const aliased: Catalog = new Map([...catalog, ['public.workspaces', { ...workspaces, name: 'public.workspaces' }]]);
    const error = planError(
      [WORKSPACES, 'table: comments\nkey: key\nrows:\n  - { key: a, workspace_id: { $ref: public.workspaces, slug: acme } }\n'],
      aliased,
    );
    expect(error.message).toBe(
      'seeds/02.yaml:4 (row 1): public.workspaces and workspaces are the same table; write it one way in every seed file',
    );
  });
});

describe('tablesToLookUp', () => {
  it('lists seeded and referenced tables once, quoted, leaving out what cannot be a table name', () => {
    const list = tablesToLookUp(
      files(
        'table: ops.Agents\nkey: name\nrows:\n  - { name: a, owner: { $ref: people, team: { $ref: "ops.Teams", name: x } }, doc: { $ref: "http://a.b/c.json" } }\n',
        'table: people\nkey: name\nrows: []\n',
      ),
    );
    expect(list).toEqual([
      { name: 'ops.Agents', sqlName: '"ops"."Agents"' },
      { name: 'people', sqlName: '"people"' },
      { name: 'ops.Teams', sqlName: '"ops"."Teams"' },
    ]);
  });
});

describe('planSeed: more', () => {
  it('checks exactly the literals the files hold', () => {
    expect(planSeed(files(WORKSPACES), catalog).checks.map((c) => [c.column, c.type, c.value])).toEqual([
      ['workspaces.slug', 'text', 'acme'],
    ]);
  });

  it('writes a number with a fraction as it is', () => {
    const plan = planSeed(files('table: workspaces\nkey: slug\nrows:\n  - { slug: a, seats: 1.5 }\n'), catalog);
    expect(plan.steps[0]!.levels[0]![0]!.rows[0]!.values.get('seats')).toBe('1.5');
  });

  it("refuses a key that holds a unique index's columns and more, or shares only some with one", () => {
    const bySlug = new Map([
      ...catalog,
      ['workspaces', table('workspaces', 1, 'id', [...workspaces.columns.values()], [['slug'], ['plan', 'seats']])],
    ]);
    expect(planError(['table: workspaces\nkey: [slug, plan]\nrows: []\n'], bySlug).message).toBe(
      'seeds/01.yaml:2: table workspaces has no unique index on the seed key (slug, plan), so runs that do not share the lock could insert a row twice; add one with a migration: CREATE UNIQUE INDEX ON "workspaces" ("slug", "plan")',
    );
    expect(planError(['table: workspaces\nkey: [plan, active]\nrows: []\n'], bySlug).message).toContain(
      'no unique index on the seed key (plan, active)',
    );
  });

  it('keeps file order inside a level whatever order the rows they refer to come in', () => {
    const plan = planSeed(
      files(`table: comments
key: key
rows:
  - { key: p0 }
  - { key: p1 }
  - { key: x1, parent_id: { $ref: comments, key: p1 } }
  - { key: x0, parent_id: { $ref: comments, key: p0 } }
`),
      catalog,
    );
    expect(levelKeys(plan, 0, 'key')).toEqual([
      ['p0', 'p1'],
      ['x1', 'x0'],
    ]);
  });

  it('orders a row after one of its file that a reference inside its reference points to', () => {
    const plan = planSeed(
      files(`table: comments
key: key
rows:
  - { key: b, parent_id: { $ref: comments, key: z, workspace_id: { $ref: workspaces, slug: w }, parent_id: { $ref: comments, key: a } } }
  - { key: a }
`),
      catalog,
    );
    expect(levelKeys(plan, 0, 'key')).toEqual([['a'], ['b']]);
  });

  it('batches rows by their exact set of columns, even where the names run together alike', () => {
    const wide = table(
      'wide',
      9,
      'k',
      ['k', 'a', 'bb', 'ab', 'b'].map((name) => column(name, 'text', { text: true })),
    );
    const plan = planSeed(
      files('table: wide\nkey: k\nrows:\n  - { k: "1", a: x, bb: y }\n  - { k: "2", ab: x, b: y }\n'),
      new Map([['wide', wide]]),
    );
    expect(plan.steps[0]!.levels[0]!.map((b) => b.columns)).toEqual([
      ['k', 'a', 'bb'],
      ['k', 'ab', 'b'],
    ]);
  });

  it('does not take a row of another table with the same key value for the row referred to', () => {
    const tags = table('tags', 7, 'key', [column('key', 'text', { text: true })]);
    const plan = planSeed(
      files(
        'table: comments\nkey: key\nrows:\n  - { key: c, parent_id: { $ref: comments, key: k } }\n',
        'table: tags\nkey: key\nrows:\n  - { key: k }\n',
      ),
      new Map([...catalog, ['tags', tags]]),
    );
    expect(levelKeys(plan, 0, 'key')).toEqual([['c']]);
  });
});

describe('planSeed: rows, batches and levels, exactly', () => {
  it('reads a row like a Map: its size, each column with its value in order, nothing past them', () => {
    const plan = planSeed(files('table: workspaces\nkey: slug\nrows:\n  - { slug: a, seats: 2, plan: null }\n'), catalog);
    const values = plan.steps[0]!.levels[0]![0]!.rows[0]!.values;
    expect(values.size).toBe(3);
    expect([...values]).toEqual([
      ['slug', 'a'],
      ['seats', '2'],
      ['plan', null],
    ]);
    expect([...values.keys()]).toEqual(['slug', 'seats', 'plan']);
    expect([...values.values()]).toEqual(['a', '2', null]);
    expect(values.get('active')).toBeUndefined();
  });

  it('shares one column list among rows that give the same columns in the same order, and only among those', () => {
    const plan = planSeed(
      files(
        'table: workspaces\nkey: slug\nrows:\n  - { slug: a, seats: 1 }\n  - { slug: b, seats: 2 }\n  - { seats: 3, slug: c }\n  - { slug: d }\n  - { slug: e, seats: 5 }\n  - { slug: f, seats: 6 }\n',
      ),
      catalog,
    );
    const rows = plan.steps[0]!.levels[0]!.flatMap((batch) => batch.rows);
    const columnsOf = (slug: string) => rows.find((row) => row.key.slug === slug)!.values.columns;
    expect(columnsOf('b')).toBe(columnsOf('a'));
    expect(columnsOf('c')).not.toBe(columnsOf('b'));
    expect(columnsOf('c')).toEqual(['seats', 'slug']);
    expect(columnsOf('d')).toEqual(['slug']);
    expect(columnsOf('e')).not.toBe(columnsOf('a'));
    expect(columnsOf('f')).toBe(columnsOf('e'));
  });

  it('batches a row apart from the row before when they give as many columns but other ones', () => {
    const plan = planSeed(files('table: workspaces\nkey: slug\nrows:\n  - { slug: a, seats: 1 }\n  - { plan: p, slug: b }\n'), catalog);
    expect(plan.steps[0]!.levels[0]!.map((b) => [b.columns, b.rows.map((r) => r.key.slug)])).toEqual([
      [['slug', 'seats'], ['a']],
      [['plan', 'slug'], ['b']],
    ]);
  });

  it('gives a file without rows no level', () => {
    expect(planSeed(files('table: workspaces\nkey: slug\nrows: []\n'), catalog).steps[0]!.levels).toEqual([]);
  });

  it('refuses two rows that refer only to each other as a cycle', () => {
    expect(
      planError([
        'table: comments\nkey: key\nrows:\n  - { key: a, parent_id: { $ref: comments, key: b } }\n  - { key: b, parent_id: { $ref: comments, key: a } }\n',
      ]).message,
    ).toBe(
      'seeds/01.yaml:4 (row 1): rows refer to each other in a cycle (or to a row in one): seeds/01.yaml:4 (row 1), seeds/01.yaml:5 (row 2); break it with a row that refers to none of them',
    );
  });

  it('finds the row referred to by a key written in another order than its columns sort', () => {
    const places = table(
      'places',
      8,
      'id',
      [
        column('id', 'integer'),
        column('zone', 'text', { text: true }),
        column('name', 'text', { text: true }),
        column('parent_id', 'integer'),
      ],
      [['name', 'zone']],
    );
    const plan = planSeed(
      files(
        'table: places\nkey: [zone, name]\nrows:\n  - { zone: eu, name: b, parent_id: { $ref: places, zone: eu, name: a } }\n  - { zone: eu, name: a }\n',
      ),
      new Map([['places', places]]),
    );
    expect(levelKeys(plan, 0, 'name')).toEqual([['a'], ['b']]);
  });

  it('refuses a key that holds a unique index of fewer columns as its first ones', () => {
    const byPlan = new Map([...catalog, ['workspaces', table('workspaces', 1, 'id', [...workspaces.columns.values()], [['plan']])]]);
    expect(planError(['table: workspaces\nkey: [plan, slug]\nrows: []\n'], byPlan).message).toContain(
      'no unique index on the seed key (plan, slug)',
    );
  });

  it('writes a list of lists as a multi-dimensional array literal', () => {
    const plan = planSeed(files('table: workspaces\nkey: slug\nrows:\n  - { slug: a, tags: [[x, "y,z"], [null, w]] }\n'), catalog);
    expect(plan.steps[0]!.levels[0]![0]!.rows[0]!.values.get('tags')).toBe('{{"x","y,z"},{NULL,"w"}}');
  });
});
