import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The dependency rule of docs/contributing.md, checked on the source: the layers read top down
 * (cli → commands → {migrations, seed, lint, tenants} → {db, sql} → {errors, log, secrets}),
 * nothing imports upward or sideways across a layer, and no module imports itself round a cycle.
 */
const LAYER: Record<string, number> = {
  index: 8,
  cli: 7,
  testing: 6,
  api: 5,
  commands: 4,
  migrations: 3,
  seed: 3,
  lint: 3,
  tenants: 3,
  schema: 3,
  db: 2,
  sql: 2,
  errors: 1,
  log: 1,
  secrets: 0,
  version: 0,
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

/** Every relative import of a file (static, type-only and dynamic), as source paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)].map((m) =>
    path.normalize(path.join(path.dirname(file), m[1]!)).replace(/\.js$/, '.ts'),
  );
}

/** `src/migrations/formats/x.ts` → `migrations`; `src/api.ts` → `api`. */
function groupOf(file: string): string {
  const [, first] = file.split(path.sep);
  return first!.replace(/\.ts$/, '');
}

const files = sources('src');
const graph = new Map(files.map((f) => [f, importsOf(f)]));

describe('the import graph of src/', () => {
  it('names a layer for every folder', () => {
    expect(files.map(groupOf).filter((g) => LAYER[g] === undefined)).toEqual([]);
  });

  it('has no arrow upward, and none sideways between two groups of one layer', () => {
    const wrong: string[] = [];
    for (const [from, targets] of graph) {
      for (const to of targets) {
        const [a, b] = [groupOf(from), groupOf(to)];
        if (a !== b && LAYER[a]! <= LAYER[b]!) wrong.push(`${from} → ${to}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('has no cycle', () => {
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, trail: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...trail.slice(trail.indexOf(file)), file].join(' → '));
        return;
      }
      state.set(file, 'open');
      for (const next of graph.get(file) ?? []) visit(next, [...trail, file]);
      state.set(file, 'done');
    };
    for (const file of files) visit(file, []);
    expect(cycles).toEqual([]);
  });
});

describe('the lines of src/', () => {
  // An error message longer than this puts its detail on a second line (after a `\n`).
  const MAX = 200;
  it(`are at most ${MAX} characters long`, () => {
    const long = files.flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .flatMap((line, i) => (line.length > MAX ? [`${file}:${i + 1} (${line.length} characters)`] : [])),
    );
    expect(long).toEqual([]);
  });
});

describe('the version', () => {
  it('src/version.ts says what package.json says', async () => {
    const { SLIPWAY_VERSION } = await import('../../src/version.js');
    expect(SLIPWAY_VERSION).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
  });
});
