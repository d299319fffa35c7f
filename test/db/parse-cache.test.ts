import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { migrate, type MigrateOptions } from '../../src/index.js';
import { parserCalls, parseSql } from '../../src/sql/parse.js';
import { useParseCache } from '../../src/sql/parse-cache.js';
import { sandbox, silentLogger, type Sandbox } from '../support/db.js';
import { migrationsDir, tempFolder } from '../support/files.js';

// What the parser said about a file is kept across runs in the parse cache (the CLI turns it on): a second run over
// unchanged files does not call it (parserCalls counts the calls); a damaged entry is ignored.

let box: Sandbox;
let cacheDir: string;
afterEach(async () => box?.cleanup());
beforeAll(() => {
  cacheDir = tempFolder({}, 'slipway-cache-');
  // As the CLI does; the library leaves it off.
  useParseCache(cacheDir, () => 'parse-cache test');
});
afterAll(() => {
  useParseCache(null, () => '');
  delete process.env.SLIPWAY_CACHE;
});

function up(dir: string, extra: Partial<MigrateOptions> = {}) {
  return migrate({
    databaseUrl: box.url,
    dir,
    direction: 'up',
    table: box.table,
    lockKey: box.lockKey,
    logger: silentLogger,
    lint: true,
    ...extra,
  } as MigrateOptions);
}

function entries(): string[] {
  return readdirSync(cacheDir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

describe('the parse cache', () => {
  it('a second run (and its lint) parses no unchanged file; a changed one is parsed', async () => {
    const files = {
      '001_items.up.sql': `-- ${Math.random()}\nCREATE TABLE items (id int PRIMARY KEY, name text);`,
      '002_index.up.sql': `-- ${Math.random()}\nCREATE INDEX CONCURRENTLY items_name ON items (name);`,
      '003_fill.up.sql': `-- ${Math.random()}\nINSERT INTO items VALUES (1, 'a');`,
    };
    box = await sandbox();
    const before = parserCalls.count;
    await up(migrationsDir(files));
    expect(parserCalls.count - before).toBe(3);
    expect(entries().length).toBeGreaterThanOrEqual(3);
    await box.cleanup();

    box = await sandbox();
    const second = parserCalls.count;
    // Not batched, so that the index runs as the file says (a batch would build it in its transaction).
    const result = await up(migrationsDir(files), { batch: false });
    expect(result.executed.map((s) => [s.version, s.transactional])).toEqual([
      ['001_items', true],
      ['002_index', false],
      ['003_fill', true],
    ]);
    expect(parserCalls.count).toBe(second);
    await box.cleanup();

    box = await sandbox();
    await up(migrationsDir({ ...files, '003_fill.up.sql': `-- ${Math.random()}\nINSERT INTO items VALUES (2, 'b');` }));
    expect(parserCalls.count - second).toBe(1);
    expect((await box.admin.query('SELECT id FROM items')).rows).toEqual([{ id: 2 }]);
  });

  it('ignores a damaged entry and parses the file again, as it is', async () => {
    const text = `-- ${Math.random()}\nCREATE TABLE a (id int);\nCREATE INDEX CONCURRENTLY a_id ON a (id);`;
    const first = await parseSql(text, 'x.sql');
    const known = new Set(entries());
    const calls = parserCalls.count;
    expect(await parseSql(text, 'x.sql')).toEqual(first);
    expect(parserCalls.count).toBe(calls);

    // The entry this text made, edited to say one statement: its checksum no longer matches.
    const [entry] = entries().filter((e) => known.has(e) && readFileSync(e, 'utf8').includes('a_id'));
    const content = readFileSync(entry!, 'utf8');
    const payload = JSON.parse(content.slice(65)) as unknown[];
    writeFileSync(entry!, `${content.slice(0, 65)}${JSON.stringify(payload.slice(0, 1))}`);
    const again = await parseSql(text, 'x.sql');
    expect(parserCalls.count).toBe(calls + 1);
    expect(again).toEqual(first);
    expect(again.statements).toHaveLength(2);

    // Torn (cut short) and not JSON at all: the same.
    for (const damage of [content.slice(0, 100), 'garbage']) {
      writeFileSync(entry!, damage);
      const before = parserCalls.count;
      expect(await parseSql(text, 'x.sql')).toEqual(first);
      expect(parserCalls.count).toBe(before + 1);
    }
  });

  it('SLIPWAY_CACHE_DIR moves it', async () => {
    const moved = tempFolder({}, 'slipway-cache-moved-');
    process.env.SLIPWAY_CACHE_DIR = moved;
    try {
      const text = `-- ${Math.random()}\nSELECT 2;`;
      const before = parserCalls.count;
      await parseSql(text, 'x.sql');
      await parseSql(text, 'x.sql');
      expect(parserCalls.count - before).toBe(1);
      expect(readdirSync(moved, { recursive: true }).some((f) => String(f).endsWith('.json'))).toBe(true);
    } finally {
      delete process.env.SLIPWAY_CACHE_DIR;
    }
  });

  it('SLIPWAY_CACHE=off parses every time', async () => {
    const text = `-- ${Math.random()}\nSELECT 1;`;
    process.env.SLIPWAY_CACHE = 'off';
    try {
      const before = parserCalls.count;
      await parseSql(text, 'x.sql');
      await parseSql(text, 'x.sql');
      expect(parserCalls.count - before).toBe(2);
    } finally {
      delete process.env.SLIPWAY_CACHE;
    }
  });
});
