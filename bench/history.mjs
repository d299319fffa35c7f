// A migration history shaped like a real product's, generated the same way every time:
// tables with foreign keys and indexes, about 40 % of the files CREATE INDEX CONCURRENTLY,
// columns added and backfilled, plpgsql functions and triggers, enums, views, a few large
// data backfills. Written for slipway (up/down files), dbmate (one file, transaction:false
// where needed) and psql (one script run in one session).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A small deterministic PRNG (mulberry32): the same history on every run. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The migrations: [{ name, up, down, transactional }]. */
export function history(count = 432) {
  const rand = random(432);
  const pick = (list) => list[Math.floor(rand() * list.length)];
  const tables = [];
  const migrations = [];
  let indexes = 0;
  let enums = 0;
  for (let i = 1; i <= count; i++) {
    const roll = rand();
    if (tables.length < 3 || roll < 0.14) {
      const t = `t${tables.length + 1}`;
      const parent = tables.length > 0 ? pick(tables) : null;
      tables.push(t);
      migrations.push({
        name: `create_${t}`,
        transactional: true,
        up: [
          `-- ${t}: a table of its own`,
          `CREATE TABLE ${t} (`,
          `  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,`,
          parent ? `  ${parent}_id bigint REFERENCES ${parent} (id),` : `  owner_id bigint,`,
          `  name text NOT NULL,`,
          `  status text NOT NULL DEFAULT 'active',`,
          `  payload jsonb NOT NULL DEFAULT '{}',`,
          `  created_at timestamptz NOT NULL DEFAULT now(),`,
          `  updated_at timestamptz NOT NULL DEFAULT now()`,
          `);`,
          `CREATE INDEX ${t}_created_at_idx ON ${t} (created_at);`,
          parent ? `CREATE INDEX ${t}_${parent}_idx ON ${t} (${parent}_id);` : `CREATE INDEX ${t}_owner_idx ON ${t} (owner_id);`,
          `COMMENT ON TABLE ${t} IS 'generated table ${t}';`,
          `INSERT INTO ${t} (name) SELECT 'row ' || g FROM generate_series(1, ${50 + Math.floor(rand() * 200)}) AS g;`,
          '',
        ].join('\n'),
        down: `DROP TABLE ${t};\n`,
      });
    } else if (roll < 0.54) {
      const t = pick(tables);
      const name = `${t}_idx${++indexes}`;
      const column = pick(['name', 'status', 'created_at', 'updated_at', "(payload->>'kind')"]);
      // One concurrent statement per file: dbmate runs a transaction:false file as one multi-statement query.
      const two = false;
      rand();
      migrations.push({
        name: `index_${name}`,
        transactional: false,
        up: [
          `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${name} ON ${t} (${column.startsWith('(') ? column : `${column}, id`});`,
          ...(two ? [`CREATE INDEX CONCURRENTLY IF NOT EXISTS ${name}_b ON ${t} (status) WHERE status <> 'active';`] : []),
          '',
        ].join('\n'),
        down: [`DROP INDEX CONCURRENTLY IF EXISTS ${name};`, ...(two ? [`DROP INDEX CONCURRENTLY IF EXISTS ${name}_b;`] : []), ''].join(
          '\n',
        ),
      });
    } else if (roll < 0.7) {
      const t = pick(tables);
      const c = `c${i}`;
      migrations.push({
        name: `add_${t}_${c}`,
        transactional: true,
        up: [
          `ALTER TABLE ${t} ADD COLUMN ${c} integer;`,
          `UPDATE ${t} SET ${c} = length(name) WHERE ${c} IS NULL;`,
          `ALTER TABLE ${t} ALTER COLUMN ${c} SET DEFAULT 0;`,
          '',
        ].join('\n'),
        down: `ALTER TABLE ${t} DROP COLUMN ${c};\n`,
      });
    } else if (roll < 0.8) {
      const t = pick(tables);
      const f = `touch_${t}_${i}`;
      migrations.push({
        name: `function_${f}`,
        transactional: true,
        up: [
          `CREATE OR REPLACE FUNCTION ${f}() RETURNS trigger LANGUAGE plpgsql AS $fn$`,
          `BEGIN`,
          `  NEW.updated_at := now();`,
          `  IF NEW.status IS NULL THEN`,
          `    NEW.status := 'active'; -- a semicolon; in a comment`,
          `  END IF;`,
          `  RETURN NEW;`,
          `END;`,
          `$fn$;`,
          `CREATE TRIGGER ${f}_trg BEFORE UPDATE ON ${t} FOR EACH ROW EXECUTE FUNCTION ${f}();`,
          '',
        ].join('\n'),
        down: `DROP TRIGGER ${f}_trg ON ${t};\nDROP FUNCTION ${f}();\n`,
      });
    } else if (roll < 0.9) {
      const t = pick(tables);
      const rows = i % 100 === 0 ? 20_000 : 100 + Math.floor(rand() * 400);
      migrations.push({
        name: `backfill_${t}_${i}`,
        transactional: true,
        up: `-- Backfill ${rows} rows.\nINSERT INTO ${t} (name, status, payload)\nSELECT 'backfill ${i} ' || g, CASE WHEN g % 7 = 0 THEN 'archived' ELSE 'active' END, jsonb_build_object('kind', g % 5)\n  FROM generate_series(1, ${rows}) AS g;\n`,
        down: `DELETE FROM ${t} WHERE name LIKE 'backfill ${i} %';\n`,
      });
    } else {
      const t = pick(tables);
      const e = `kind${++enums}`;
      migrations.push({
        name: `view_${t}_${i}`,
        transactional: true,
        up: [
          `CREATE TYPE ${e} AS ENUM ('small', 'medium', 'large');`,
          `CREATE VIEW ${t}_active_${i} AS SELECT id, name, created_at FROM ${t} WHERE status = 'active';`,
          `COMMENT ON VIEW ${t}_active_${i} IS 'active rows of ${t}';`,
          '',
        ].join('\n'),
        down: `DROP VIEW ${t}_active_${i};\nDROP TYPE ${e};\n`,
      });
    }
  }
  return migrations;
}

/** Writes the history for each tool; returns the folders and the psql script. */
export function writeHistory(count = 432) {
  const migrations = history(count);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-history-'));
  const sets = { dir, slipway: path.join(dir, 'slipway'), dbmate: path.join(dir, 'dbmate'), psql: path.join(dir, 'all.sql'), count };
  mkdirSync(sets.slipway);
  mkdirSync(sets.dbmate);
  const all = [];
  migrations.forEach((m, index) => {
    const version = String(index + 1).padStart(4, '0');
    writeFileSync(path.join(sets.slipway, `${version}_${m.name}.up.sql`), m.up);
    writeFileSync(path.join(sets.slipway, `${version}_${m.name}.down.sql`), m.down);
    const options = m.transactional ? '' : ' transaction:false';
    writeFileSync(
      path.join(sets.dbmate, `${version}_${m.name}.sql`),
      `-- migrate:up${options}\n${m.up}\n-- migrate:down${options}\n${m.down}`,
    );
    all.push(m.up);
  });
  writeFileSync(sets.psql, all.join('\n'));
  return sets;
}
