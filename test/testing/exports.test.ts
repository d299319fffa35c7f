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
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { exports: Record<string, { types: string; import: string }> };
    expect(pkg.exports['./testing']).toMatchObject({ types: './dist/testing/index.d.ts', import: './dist/testing/index.js' });
    expect(existsSync(pkg.exports['./testing']!.types)).toBe(true);
    expect(loads('dist/index.js').filter((f) => f.startsWith('testing/'))).toEqual([]);
  });

  it('loads, up front, neither the CLI, the linter, the tenants nor the local server', () => {
    const upFront = loads('dist/testing/index.js', true);
    expect(upFront).toContain('migrations/runner.js');
    expect(upFront.filter((f) => /^(cli|lint|tenants)\/|^db\/embedded/.test(f))).toEqual([]);
  });
});
