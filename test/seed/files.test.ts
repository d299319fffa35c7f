import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SeedError } from '../../src/errors.js';
import { canonical, checkDuplicates, parseSeedFile, readSeedDir, type SeedFile } from '../../src/seed/files.js';
import { rejection, thrown } from '../support/errors.js';
import { seedDir } from './helpers.js';

function parseError(text: string): SeedError {
  const error = thrown(() => parseSeedFile(text, 'seeds/01.yaml'), SeedError);
  expect(error.code).toBe('SEED');
  expect(error.message).not.toContain('\n');
  return error;
}

describe('readSeedDir', () => {
  it('reads YAML and JSON files in name order and ignores other files and folders', async () => {
    const dir = seedDir({
      '02_agents.yml': 'table: agents\nkey: [workspace_id, name]\nrows: []\n',
      '10_issues.json': '{\n\t"table": "issues",\n\t"key": "number",\n\t"rows": [\n\t\t{ "number": 1 }\n\t]\n}',
      '01_workspaces.YAML': 'table: workspaces\nkey: slug\nrows:\n  - slug: acme\n',
      'README.md': '# seeds',
      'notes.txt': 'x',
    });
    mkdirSync(path.join(dir, '00_folder.yaml'));
    const files = await readSeedDir(dir);
    expect(files.map((f) => [path.basename(f.path), f.table, f.key])).toEqual([
      ['01_workspaces.YAML', 'workspaces', ['slug']],
      ['02_agents.yml', 'agents', ['workspace_id', 'name']],
      ['10_issues.json', 'issues', ['number']],
    ]);
    expect(files[2]!.rows[0]).toMatchObject({ at: { file: path.join(dir, '10_issues.json'), line: 5, row: 1 }, key: { number: 1 } });
  });

  it('refuses a folder that does not exist', async () => {
    const error = await rejection(readSeedDir('/nonexistent/seeds'), SeedError);
    expect(error.message).toBe('seeds folder /nonexistent/seeds does not exist: create it or pass another folder');
  });

  it('refuses duplicates across files before returning anything', async () => {
    const dir = seedDir({
      '01_a.yaml': 'table: workspaces\nkey: slug\nrows:\n  - slug: acme\n',
      '02_b.yaml': 'table: workspaces\nkey: slug\nrows:\n  - slug: globex\n  - slug: acme\n',
    });
    const error = await rejection(readSeedDir(dir), SeedError);
    expect(error.message).toBe(
      `duplicate workspaces row with key {"slug":"acme"} at ${path.join(dir, '01_a.yaml')}:4 (row 1) and ${path.join(dir, '02_b.yaml')}:5 (row 2); keep one`,
    );
  });
});

describe('parseSeedFile', () => {
  it('keeps each row with its line, position, key and canonical key', () => {
    const file = parseSeedFile(
      'table: ops.agents\nkey: [workspace_id, name]\nrows:\n  - workspace_id: { $ref: workspaces, slug: acme }\n    name: bot\n    kind: ai\n\n  - { workspace_id: 7, name: ada }\n',
      'seeds/02.yaml',
    );
    expect(file.table).toBe('ops.agents');
    expect(file.at).toEqual({ file: 'seeds/02.yaml', line: 1 });
    expect(file.rows.map((r) => [r.at, r.key])).toEqual([
      [
        { file: 'seeds/02.yaml', line: 4, row: 1 },
        { workspace_id: { $ref: 'workspaces', slug: 'acme' }, name: 'bot' },
      ],
      [
        { file: 'seeds/02.yaml', line: 8, row: 2 },
        { workspace_id: 7, name: 'ada' },
      ],
    ]);
    expect(file.rows[0]!.values).toEqual({ workspace_id: { $ref: 'workspaces', slug: 'acme' }, name: 'bot', kind: 'ai' });
    expect(file.rows[1]!.keyText).toBe(canonical({ name: 'ada', workspace_id: '7' }));
  });

  it.each([
    ['a syntax error, with its line', 'table: a\nkey: id\nrows:\n  - { id: 1\n', /^seeds\/01\.yaml:\d: .*; fix the YAML or JSON syntax$/],
    [
      'a repeated column',
      'table: a\nkey: id\nrows:\n  - id: 1\n    id: 2\n',
      /^seeds\/01\.yaml:5: Map keys must be unique; fix the YAML or JSON syntax$/,
    ],
    ['an empty file', '', /^seeds\/01\.yaml:1: expected a mapping with table, key and rows$/],
    ['a list at the top', '- table: a\n', /^seeds\/01\.yaml:1: expected a mapping with table, key and rows$/],
    [
      'an unknown field',
      'table: a\nkey: id\nrow: []\n',
      /^seeds\/01\.yaml:3: unknown field "row": a seed file has table, key, rows and optionally insertOnly$/,
    ],
    ['no table', 'key: id\nrows: []\n', /^seeds\/01\.yaml:1: table must be a table name, e.g. table: agents$/],
    ['a table name with two dots', 'table: a.b.c\nkey: id\nrows: []\n', /^seeds\/01\.yaml:1: invalid table name "a\.b\.c"/],
    ['no key', 'table: a\nrows: []\n', /^seeds\/01\.yaml:1: key must name the columns that identify a row/],
    ['an empty key', 'table: a\nkey: []\nrows: []\n', /^seeds\/01\.yaml:2: key must name the columns/],
    ['a key column named twice', 'table: a\nkey: [id, id]\nrows: []\n', /^seeds\/01\.yaml:2: key names a column twice$/],
    ['rows that are not a list', 'table: a\nkey: id\nrows: { id: 1 }\n', /^seeds\/01\.yaml:3: rows must be a list of rows/],
    [
      'a row that is not a mapping',
      'table: a\nkey: id\nrows:\n  - { id: 1 }\n  - 2\n',
      /^seeds\/01\.yaml:5 \(row 2\): a row must be a mapping of column: value$/,
    ],
    [
      'a row without a key column',
      'table: a\nkey: [ws, name]\nrows:\n  - { ws: 1 }\n',
      /^seeds\/01\.yaml:4 \(row 1\): key column name missing or null; every row needs its whole key \(ws, name\)$/,
    ],
    [
      'a row with a null key column',
      'table: a\nkey: id\nrows:\n  - { id: null }\n',
      /^seeds\/01\.yaml:4 \(row 1\): key column id missing or null/,
    ],
  ])('refuses %s', (_name, text, message) => {
    const error = parseError(text);
    expect(error.message).toMatch(message);
    expect(error.location?.file).toBe('seeds/01.yaml');
  });
});

describe('parseSeedFile: insertOnly', () => {
  it('reads one column or a list, none when absent', () => {
    expect(parseSeedFile('table: a\nkey: id\ninsertOnly: counter\nrows: []\n', 'seeds/01.yaml')).toMatchObject({
      insertOnly: ['counter'],
      insertOnlyAt: { line: 3 },
    });
    expect(parseSeedFile('table: a\nkey: id\ninsertOnly: [counter, status]\nrows: []\n', 'seeds/01.yaml').insertOnly).toEqual([
      'counter',
      'status',
    ]);
    expect(parseSeedFile('table: a\nkey: id\nrows: []\n', 'seeds/01.yaml').insertOnly).toEqual([]);
  });

  it.each([
    [
      'a key column',
      'table: a\nkey: [ws, id]\ninsertOnly: [n, id]\nrows: []\n',
      'seeds/01.yaml:3: insertOnly names the key column id; a key column identifies the row and is always compared: remove it from insertOnly',
    ],
    [
      'a mapping',
      'table: a\nkey: id\ninsertOnly: { n: 1 }\nrows: []\n',
      'seeds/01.yaml:3: insertOnly must name columns, e.g. insertOnly: [last_issue_number]',
    ],
    ['a column twice', 'table: a\nkey: id\ninsertOnly: [n, n]\nrows: []\n', 'seeds/01.yaml:3: insertOnly names a column twice'],
  ])('refuses %s, naming the line', (_name, text, message) => {
    expect(parseError(text).message).toBe(message);
  });
});

describe('parseSeedFile: aliases', () => {
  it('refuses an alias inside the value it names (a $ref that contains itself), naming file and line', () => {
    const error = parseError(
      'table: nodes\nkey: name\nrows:\n  - name: a\n    parent_id: &p { $ref: nodes,\n      name: b, parent_id: *p }\n',
    );
    expect(error.message).toBe(
      'seeds/01.yaml:6: the alias *p is inside the value &p it names, which makes an endless value; write the inner value out',
    );
    expect(error.location).toEqual({ file: 'seeds/01.yaml', line: 6 });
  });

  it('refuses aliases that expand into too many values (a billion laughs), naming file and line', () => {
    const anchors = ['  - { id: 0, v: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol] }'];
    for (let i = 1; i < 9; i++)
      anchors.push(
        `  - { id: ${i}, v: &a${i} [${Array(9)
          .fill(`*a${i - 1}`)
          .join(', ')}] }`,
      );
    const error = parseError(`table: t\nkey: id\nrows:\n${anchors.join('\n')}\n`);
    expect(error.message).toMatch(
      /^seeds\/01\.yaml:(\d+): the aliases expand into too many values \(Excessive alias count indicates a resource exhaustion attack\); write the values out, or refer to a row with \$ref instead of repeating an alias$/,
    );
    // The line of the row whose aliases cross the library's limit (maxAliasCount, 100).
    expect(error.location!.line).toBeGreaterThan(4);
    expect(error.location!.line).toBeLessThanOrEqual(12);
  });

  it('still reads ordinary aliases', () => {
    const file = parseSeedFile(
      'table: t\nkey: id\nrows:\n  - { id: 1, ws: &acme { $ref: w, slug: acme } }\n  - { id: 2, ws: *acme }\n',
      'seeds/01.yaml',
    );
    expect(file.rows.map((r) => r.values.ws)).toEqual([
      { $ref: 'w', slug: 'acme' },
      { $ref: 'w', slug: 'acme' },
    ]);
  });
});

describe('parseSeedFile: JSON', () => {
  // JSON text is read by JSON.parse, anything else by the YAML parser; both must give the same file.
  // A leading `---` (a YAML document marker) sends the same JSON through the YAML parser, one line lower.
  const viaYaml = (text: string) => {
    const file = parseSeedFile(`---\n${text}`, 'seeds/01.json');
    const up = (at: SeedFile['at']) => ({ ...at, line: at.line - 1 });
    return {
      ...file,
      at: up(file.at),
      keyAt: up(file.keyAt),
      insertOnlyAt: up(file.insertOnlyAt),
      rows: file.rows.map((r) => ({ ...r, at: { ...r.at, line: r.at.line - 1 } })),
    };
  };

  it.each([
    [
      'pretty-printed with tabs and CRLF',
      '{\r\n\t"table": "ops.agents",\r\n\t"key": ["ws", "name"],\r\n\t"rows": [\r\n\t\t{ "ws": { "$ref": "w", "slug": "a" }, "name": "x" },\r\n\r\n\t\t{"name": "y", "ws": 2}\r\n\t]\r\n}\r\n',
    ],
    ['on one line', '{"rows":[{"id":1},{"id":"2"},{"id":3,"tags":["a",null,{"b":[]}]}],"key":"id","table":"t"}'],
    [
      'with escapes, numbers and nesting',
      '{ "table": "t", "key": "k\\u00e9",\n  "rows": [\n    { "k\\u00e9": "a\\"b\\\\", "n": -0.5e3, "big": 12345678901234567890, "b": true, "z": null, "e": {}, "l": [[1], []] },\n    {"k\\u00e9":"\\ud83d\\ude00 \\/ \\n", "__proto__": {"x": 1}}\n  ]\n}',
    ],
  ])('reads %s as YAML would', (_name, text) => {
    expect(JSON.parse(text)).toBeTruthy(); // strict JSON: read by JSON.parse
    const file = parseSeedFile(text, 'seeds/01.json');
    expect(file).toEqual(viaYaml(text));
    expect(file.rows.length).toBeGreaterThan(1);
  });

  it('gives each row its line', () => {
    const file = parseSeedFile(
      '{\n  "table": "t",\n  "key": "id",\n  "rows": [\n    {"id": 1},\n\n    {\n      "id": 2\n    }, {"id": 3}\n  ]\n}\n',
      'seeds/01.json',
    );
    expect(file.at.line).toBe(2);
    expect(file.rows.map((r) => r.at.line)).toEqual([5, 7, 9]);
  });

  it.each([
    [
      'a repeated column',
      '{"table": "a", "key": "id",\n"rows": [\n{"id": 1, "id": 2}]}',
      /^seeds\/01\.json:3: Map keys must be unique; fix the YAML or JSON syntax$/,
    ],
    ['a repeated field', '{"table": "a", "key": "id", "rows": [],\n"rows": []}', /^seeds\/01\.json:2: Map keys must be unique/],
    [
      'an unknown field',
      '{"table": "a",\n"key": "id",\n"row":\n[]}',
      /^seeds\/01\.json:4: unknown field "row": a seed file has table, key, rows and optionally insertOnly$/,
    ],
    ['a list at the top', '[{"table": "a"}]', /^seeds\/01\.json:1: expected a mapping with table, key and rows$/],
    [
      'a row that is not a mapping',
      '{"table": "a", "key": "id", "rows": [\n{"id": 1},\n\n 2]}',
      /^seeds\/01\.json:4 \(row 2\): a row must be a mapping of column: value$/,
    ],
    [
      'a row without its key',
      '{"table": "a", "key": "id", "rows": [\n{"id": 1},\n  {"name": "x"}]}',
      /^seeds\/01\.json:3 \(row 2\): key column id missing or null/,
    ],
  ])('refuses %s, naming the line', (_name, text, message) => {
    const error = thrown(() => parseSeedFile(text, 'seeds/01.json'), SeedError);
    expect(error.message).toMatch(message);
  });
});

describe('checkDuplicates', () => {
  const file = (name: string, text: string): SeedFile => parseSeedFile(text, name);

  it('finds two rows with one key in one file, also when one writes the number as text', () => {
    const files = [
      file(
        'a.yaml',
        'table: issues\nkey: [ws, number]\nrows:\n  - { ws: { $ref: w, slug: x }, number: 12 }\n  - { number: "12", ws: { slug: x, $ref: w } }\n',
      ),
    ];
    expect(() => checkDuplicates(files)).toThrow(
      /^duplicate issues row with key .* at a\.yaml:4 \(row 1\) and a\.yaml:5 \(row 2\); keep one$/,
    );
  });

  it('accepts the same key in two tables and one table in two files with its key in any order', () => {
    const files = [
      file('a.yaml', 'table: agents\nkey: [ws, name]\nrows:\n  - { ws: 1, name: bot }\n'),
      file('b.yaml', 'table: people\nkey: [ws, name]\nrows:\n  - { ws: 1, name: bot }\n'),
      file('c.yaml', 'table: agents\nkey: [name, ws]\nrows:\n  - { ws: 2, name: bot }\n'),
    ];
    expect(() => checkDuplicates(files)).not.toThrow();
  });

  it('refuses one table with two different keys', () => {
    const files = [file('a.yaml', 'table: agents\nkey: [ws, name]\nrows: []\n'), file('b.yaml', 'table: agents\nkey: id\nrows: []\n')];
    expect(() => checkDuplicates(files)).toThrow('b.yaml:1: key (id) for agents, but a.yaml uses (ws, name); use one key per table');
  });
});

describe('canonical', () => {
  it('ignores mapping order and scalar types but not structure', () => {
    expect(canonical({ b: 1, a: { y: true, x: null } })).toBe(canonical({ a: { x: null, y: 'true' }, b: '1' }));
    expect(canonical([1, 2])).not.toBe(canonical([2, 1]));
    expect(canonical({ a: 1 })).not.toBe(canonical({ a: [1] }));
    expect(canonical(null)).not.toBe(canonical('null'));
  });
});
