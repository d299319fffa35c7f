import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonical, checkDuplicates, parseSeedFile, readSeedDir, SeedError, type SeedFile } from '../../src/seed/files.js';
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
      [{ file: 'seeds/02.yaml', line: 4, row: 1 }, { workspace_id: { $ref: 'workspaces', slug: 'acme' }, name: 'bot' }],
      [{ file: 'seeds/02.yaml', line: 8, row: 2 }, { workspace_id: 7, name: 'ada' }],
    ]);
    expect(file.rows[0]!.values).toEqual({ workspace_id: { $ref: 'workspaces', slug: 'acme' }, name: 'bot', kind: 'ai' });
    expect(file.rows[1]!.keyText).toBe(canonical({ name: 'ada', workspace_id: '7' }));
  });

  it.each([
    ['a syntax error, with its line', 'table: a\nkey: id\nrows:\n  - { id: 1\n', /^seeds\/01\.yaml:\d: .*; fix the YAML or JSON syntax$/],
    ['a repeated column', 'table: a\nkey: id\nrows:\n  - id: 1\n    id: 2\n', /^seeds\/01\.yaml:5: Map keys must be unique; fix the YAML or JSON syntax$/],
    ['an empty file', '', /^seeds\/01\.yaml:1: expected a mapping with table, key and rows$/],
    ['a list at the top', '- table: a\n', /^seeds\/01\.yaml:1: expected a mapping with table, key and rows$/],
    ['an unknown field', 'table: a\nkey: id\nrow: []\n', /^seeds\/01\.yaml:3: unknown field "row": a seed file has table, key and rows$/],
    ['no table', 'key: id\nrows: []\n', /^seeds\/01\.yaml:1: table must be a table name, e.g. table: agents$/],
    ['a table name with two dots', 'table: a.b.c\nkey: id\nrows: []\n', /^seeds\/01\.yaml:1: invalid table name "a\.b\.c"/],
    ['no key', 'table: a\nrows: []\n', /^seeds\/01\.yaml:1: key must name the columns that identify a row/],
    ['an empty key', 'table: a\nkey: []\nrows: []\n', /^seeds\/01\.yaml:2: key must name the columns/],
    ['a key column named twice', 'table: a\nkey: [id, id]\nrows: []\n', /^seeds\/01\.yaml:2: key names a column twice$/],
    ['rows that are not a list', 'table: a\nkey: id\nrows: { id: 1 }\n', /^seeds\/01\.yaml:3: rows must be a list of rows/],
    ['a row that is not a mapping', 'table: a\nkey: id\nrows:\n  - { id: 1 }\n  - 2\n', /^seeds\/01\.yaml:5 \(row 2\): a row must be a mapping of column: value$/],
    ['a row without a key column', 'table: a\nkey: [ws, name]\nrows:\n  - { ws: 1 }\n', /^seeds\/01\.yaml:4 \(row 1\): key column name missing or null; every row needs its whole key \(ws, name\)$/],
    ['a row with a null key column', 'table: a\nkey: id\nrows:\n  - { id: null }\n', /^seeds\/01\.yaml:4 \(row 1\): key column id missing or null/],
  ])('refuses %s', (_name, text, message) => {
    const error = parseError(text);
    expect(error.message).toMatch(message);
    expect(error.location?.file).toBe('seeds/01.yaml');
  });
});

describe('checkDuplicates', () => {
  const file = (name: string, text: string): SeedFile => parseSeedFile(text, name);

  it('finds two rows with one key in one file, also when one writes the number as text', () => {
    const files = [file('a.yaml', 'table: issues\nkey: [ws, number]\nrows:\n  - { ws: { $ref: w, slug: x }, number: 12 }\n  - { number: "12", ws: { slug: x, $ref: w } }\n')];
    expect(() => checkDuplicates(files)).toThrow(/^duplicate issues row with key .* at a\.yaml:4 \(row 1\) and a\.yaml:5 \(row 2\); keep one$/);
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
