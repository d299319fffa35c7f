import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

const made: string[] = [];
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Writes `{ 'file.yaml': 'text' }` into a new temp folder, removed after the test file. */
export function seedDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-seeds-'));
  made.push(dir);
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
  return dir;
}
