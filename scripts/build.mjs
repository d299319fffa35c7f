#!/usr/bin/env node
// Builds the package: the ES modules and the CLI (tsconfig.json), then the CommonJS copy of the
// library for `require('slipway')` (tsconfig.cjs.json, into dist/cjs, marked as CommonJS there).
import { spawnSync } from 'node:child_process';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
rmSync(path.join(root, 'dist'), { recursive: true, force: true });
for (const config of ['tsconfig.json', 'tsconfig.cjs.json']) {
  const result = spawnSync(process.execPath, [tsc, '-p', config], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
writeFileSync(path.join(root, 'dist/cjs/package.json'), '{ "type": "commonjs" }\n');
chmodSync(path.join(root, 'dist/cli/main.js'), 0o755);
