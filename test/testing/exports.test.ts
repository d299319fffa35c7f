import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/** Every module a built module can load (static imports and import() of relative paths), transitively. */
function loads(entry: string, staticOnly = false): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    const pattern = staticOnly ? /^(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gm : /(?:from\s+|import\()'(\.[^']+)'/g;
    for (const m of text.matchAll(pattern)) visit(path.resolve(path.dirname(file), m[1]!));
  };
  visit(path.resolve(entry));
  return [...seen].map((f) => path.relative(path.resolve('dist'), f)).sort();
}

describe('slipway/testing as a subpath export', () => {
  it('is exported with its types, and the main entry never loads it', () => {
    type Entry = { types: string; default: string };
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { exports: Record<string, { import: Entry; require: Entry }> };
    expect(pkg.exports['./testing']).toEqual({
      import: { types: './dist/testing/index.d.ts', default: './dist/testing/index.js' },
      require: { types: './dist/cjs/testing/index.d.ts', default: './dist/cjs/testing/index.js' },
    });
    for (const entry of Object.values(pkg.exports['./testing']!)) {
      expect(existsSync(entry.types)).toBe(true);
      expect(existsSync(entry.default)).toBe(true);
    }
    expect(loads('dist/index.js').filter((f) => f.startsWith('testing/'))).toEqual([]);
  });

  it('loads, up front, neither the runner, the CLI, the linter, the tenants nor the local server', () => {
    const upFront = loads('dist/testing/index.js', true);
    expect(upFront).toContain('testing/template.js');
    // The runner: only in the process that builds the template.
    expect(upFront).not.toContain('commands/migrate.js');
    expect(loads('dist/testing/index.js')).toContain('commands/migrate.js');
    expect(upFront.filter((f) => /^(cli|lint|tenants)\/|^db\/embedded/.test(f))).toEqual([]);
  });
});
