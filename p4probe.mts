import { mkdtempSync, writeFileSync, symlinkSync, rmSync } from 'node:fs';
import os from 'node:os'; import path from 'node:path';
import { readMigrationsDir } from './src/migrations/source.js';
const a = mkdtempSync(path.join(os.tmpdir(), 'p4-')); const b = mkdtempSync(path.join(os.tmpdir(), 'p4-'));
writeFileSync(path.join(a, 'shared.sql.txt'), 'CREATE TABLE s (id int);');
writeFileSync(path.join(b, '001_a.up.sql'), 'CREATE TABLE a (id int);');
symlinkSync(path.join(a, 'shared.sql.txt'), path.join(b, '002_shared.up.sql'));
console.log((await readMigrationsDir(b)).map((m) => m.version));
rmSync(a, { recursive: true }); rmSync(b, { recursive: true });
