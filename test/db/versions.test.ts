/**
 * What differs between the supported PostgreSQL majors (14 to 18), through real runs: each test
 * runs on every version (`npm run test:matrix`) and asserts what that version does, branching on
 * server_version_num where the server differs. Nothing is skipped.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { migrate, MigrationFailedError, type MigrateOptions, type MigrateResult } from '../../src/index.js';
import { sandbox, silentLogger, type Sandbox } from '../support/db.js';
import { rejection } from '../support/errors.js';

let box: Sandbox;
afterEach(async () => box?.cleanup());

let version = 0;
beforeAll(async () => {
  box = await sandbox({ createSchema: false });
  version = Number((await box.admin.query(`SELECT current_setting('server_version_num') AS v`)).rows[0].v);
  await box.cleanup();
});

type Migration = { version: string; up: string };

function up(migrations: Migration[]): Promise<MigrateResult> {
  return migrate({
    databaseUrl: box.url,
    migrations,
    direction: 'up',
    table: box.table,
    lockKey: box.lockKey,
    logger: silentLogger,
  } as MigrateOptions);
}

/** The run fails on `failing` with SQLSTATE `code`; returns the error. */
async function failsWith(migrations: Migration[], failing: string, code: string): Promise<MigrationFailedError> {
  const error = await rejection(up(migrations), MigrationFailedError);
  expect(error.version).toBe(failing);
  expect((error.cause as { code?: string } | undefined)?.code).toBe(code);
  return error;
}

async function ledger(): Promise<Array<{ version: string; state: string }>> {
  return (await box.admin.query(`SELECT version, state FROM ${box.table} ORDER BY version`)).rows;
}

const applied = (...versions: string[]) => versions.map((v) => ({ version: v, state: 'applied' }));

async function rows(sql: string): Promise<unknown[]> {
  return (await box.admin.query(sql)).rows;
}

describe('the servers under test', () => {
  it('are a supported major (14 to 18)', () => {
    expect(Math.floor(version / 10000)).toBeGreaterThanOrEqual(14);
    expect(Math.floor(version / 10000)).toBeLessThanOrEqual(18);
  });
});

describe("ALTER TYPE ... ADD VALUE (in a transaction on every supported version; a new type's new value usable at once on 17+)", () => {
  const TYPE = { version: '001_mood', up: "CREATE TYPE mood AS ENUM ('sad');\nCREATE TABLE feelings (m mood);\n" };

  it('using the new value in the same migration fails (55P04) and rolls the whole migration back', async () => {
    box = await sandbox();
    const add = { version: '002_happy', up: "ALTER TYPE mood ADD VALUE 'happy';\nINSERT INTO feelings VALUES ('happy');\n" };
    const error = await failsWith([TYPE, add], '002_happy', '55P04');
    expect(error.message).toMatch(/unsafe use of new value "happy" of enum type mood/);
    expect(await ledger()).toEqual(applied('001_mood'));
    expect(await rows(`SELECT unnest(enum_range(NULL::${box.schema}.mood))::text AS v`)).toEqual([{ v: 'sad' }]);
  });

  it('split into two migrations (each its own transaction), the value is added, then used', async () => {
    box = await sandbox();
    const add = { version: '002_happy', up: "ALTER TYPE mood ADD VALUE 'happy';\n" };
    const use = { version: '003_use_happy', up: "INSERT INTO feelings VALUES ('happy');\n" };
    expect((await up([TYPE, add, use])).executed.map((m) => m.version)).toEqual(['001_mood', '002_happy', '003_use_happy']);
    expect(await rows('SELECT m::text FROM feelings')).toEqual([{ m: 'happy' }]);
    expect(await ledger()).toEqual(applied('001_mood', '002_happy', '003_use_happy'));
  });

  it('a type created in the same migration: its added value is usable at once on 17+, unsafe (55P04, rolled back) before', async () => {
    box = await sandbox();
    const all = {
      version: '001_all',
      up: "CREATE TYPE mood AS ENUM ('sad');\nALTER TYPE mood ADD VALUE 'happy';\nCREATE TABLE feelings (m mood);\nINSERT INTO feelings VALUES ('happy');\n",
    };
    if (version >= 170000) {
      await up([all]);
      expect(await rows('SELECT m::text FROM feelings')).toEqual([{ m: 'happy' }]);
      expect(await ledger()).toEqual(applied('001_all'));
    } else {
      await failsWith([all], '001_all', '55P04');
      expect(await rows(`SELECT to_regtype('${box.schema}.mood') AS t`)).toEqual([{ t: null }]);
    }
  });
});

describe('ALTER TABLE ... DETACH PARTITION CONCURRENTLY (14+: outside a transaction)', () => {
  const PARTITIONED = {
    version: '001_measures',
    up: 'CREATE TABLE measures (k int NOT NULL, v int) PARTITION BY RANGE (k);\nCREATE TABLE measures_1 PARTITION OF measures FOR VALUES FROM (0) TO (10);\nCREATE TABLE measures_2 PARTITION OF measures FOR VALUES FROM (10) TO (20);\nINSERT INTO measures SELECT g, g FROM generate_series(0, 19) g;\nCREATE TABLE log (note text);\n',
  };

  it('runs outside a transaction, with the statements after it, once', async () => {
    box = await sandbox();
    const detach = {
      version: '002_detach',
      up: "ALTER TABLE measures DETACH PARTITION measures_1 CONCURRENTLY;\nINSERT INTO log VALUES ('detached');\n",
    };
    await up([PARTITIONED, detach]);
    expect(await rows(`SELECT count(*)::int AS n FROM measures`)).toEqual([{ n: 10 }]);
    expect(await rows(`SELECT count(*)::int AS n FROM measures_1`)).toEqual([{ n: 10 }]);
    expect(
      await rows(
        `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '${box.schema}.measures'::regclass`,
      ),
    ).toEqual([{ relname: 'measures_2' }]);
    expect(await rows('SELECT note FROM log')).toEqual([{ note: 'detached' }]);
    expect(await ledger()).toEqual(applied('001_measures', '002_detach'));
    expect((await up([PARTITIONED, detach])).executed).toEqual([]);
  });

  it('a failing one (a default partition exists: 55000 on every version) leaves the partition attached and the migration not applied', async () => {
    box = await sandbox();
    const withDefault = { version: '002_default', up: 'CREATE TABLE measures_other PARTITION OF measures DEFAULT;\n' };
    const detach = { version: '003_detach', up: 'ALTER TABLE measures DETACH PARTITION measures_1 CONCURRENTLY;\n' };
    await failsWith([PARTITIONED, withDefault, detach], '003_detach', '55000');
    expect(await rows(`SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = '${box.schema}.measures'::regclass`)).toEqual([
      { n: 3 },
    ]);
    expect((await ledger()).filter((r) => r.state === 'applied')).toEqual(applied('001_measures', '002_default'));
  });
});

describe('MERGE (15+; WHEN NOT MATCHED BY SOURCE 17+)', () => {
  const STOCK = {
    version: '001_stock',
    up: 'CREATE TABLE stock (id int PRIMARY KEY, qty int NOT NULL);\nCREATE TABLE incoming (id int, qty int);\nINSERT INTO stock VALUES (1, 10), (2, 20);\nINSERT INTO incoming VALUES (2, 5), (3, 7);\n',
  };
  const MERGE = {
    version: '002_merge',
    up: 'MERGE INTO stock s USING incoming i ON s.id = i.id\n  WHEN MATCHED THEN UPDATE SET qty = s.qty + i.qty\n  WHEN NOT MATCHED THEN INSERT VALUES (i.id, i.qty);\n',
  };

  it('applies once on 15+, is a syntax error (42601) on 14 that changes nothing', async () => {
    box = await sandbox();
    if (version >= 150000) {
      await up([STOCK, MERGE]);
      expect(await rows('SELECT id, qty FROM stock ORDER BY id')).toEqual([
        { id: 1, qty: 10 },
        { id: 2, qty: 25 },
        { id: 3, qty: 7 },
      ]);
      expect(await ledger()).toEqual(applied('001_stock', '002_merge'));
      // Not idempotent: a second run must not merge again.
      await up([STOCK, MERGE]);
      expect(await rows('SELECT qty FROM stock WHERE id = 2')).toEqual([{ qty: 25 }]);
    } else {
      await failsWith([STOCK, MERGE], '002_merge', '42601');
      expect(await rows('SELECT id, qty FROM stock ORDER BY id')).toEqual([
        { id: 1, qty: 10 },
        { id: 2, qty: 20 },
      ]);
      expect(await ledger()).toEqual(applied('001_stock'));
    }
  });

  it('WHEN NOT MATCHED BY SOURCE deletes on 17+, is a syntax error (42601) before', async () => {
    box = await sandbox();
    const bySource = {
      version: '002_sync',
      up: 'MERGE INTO stock s USING incoming i ON s.id = i.id\n  WHEN NOT MATCHED BY SOURCE THEN DELETE;\n',
    };
    if (version >= 170000) {
      await up([STOCK, bySource]);
      expect(await rows('SELECT id FROM stock ORDER BY id')).toEqual([{ id: 2 }]);
      expect(await ledger()).toEqual(applied('001_stock', '002_sync'));
    } else {
      await failsWith([STOCK, bySource], '002_sync', '42601');
      expect(await rows('SELECT id FROM stock ORDER BY id')).toEqual([{ id: 1 }, { id: 2 }]);
      expect(await ledger()).toEqual(applied('001_stock'));
    }
  });
});

describe('UNIQUE ... NULLS NOT DISTINCT (15+)', () => {
  const TABLE = {
    version: '001_accounts',
    up: 'CREATE TABLE accounts (id int, email text);\nCREATE UNIQUE INDEX accounts_email ON accounts (email) NULLS NOT DISTINCT;\n',
  };
  const NULLS = { version: '002_two_nulls', up: 'INSERT INTO accounts VALUES (1, NULL);\nINSERT INTO accounts VALUES (2, NULL);\n' };

  it('on 15+ a second NULL is a duplicate (23505, rolled back); on 14 the index is a syntax error (42601)', async () => {
    box = await sandbox();
    if (version >= 150000) {
      await failsWith([TABLE, NULLS], '002_two_nulls', '23505');
      expect(await rows('SELECT count(*)::int AS n FROM accounts')).toEqual([{ n: 0 }]);
      expect(await ledger()).toEqual(applied('001_accounts'));
    } else {
      await failsWith([TABLE, NULLS], '001_accounts', '42601');
      expect(await rows(`SELECT to_regclass('${box.schema}.accounts') AS t`)).toEqual([{ t: null }]);
      expect(await ledger()).toEqual([]);
    }
  });

  it('built CONCURRENTLY over duplicate NULLs: on 15+ it fails (23505) and leaves no index behind to trip the next run', async () => {
    box = await sandbox();
    const table = {
      version: '001_accounts',
      up: 'CREATE TABLE accounts (id int, email text);\nINSERT INTO accounts VALUES (1, NULL), (2, NULL);\n',
    };
    const index = { version: '002_index', up: 'CREATE UNIQUE INDEX CONCURRENTLY accounts_email ON accounts (email) NULLS NOT DISTINCT;\n' };
    await failsWith([table, index], '002_index', version >= 150000 ? '23505' : '42601');
    const left = await rows(`SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('${box.schema}.accounts_email')`);
    // Postgres leaves the INVALID index of a failed CREATE INDEX CONCURRENTLY; a syntax error creates none.
    expect(left).toEqual(version >= 150000 ? [{ indisvalid: false }] : []);
    // Once the data is fixed, the next run builds it (dropping the INVALID leftover first).
    await box.admin.query(`DELETE FROM ${box.schema}.accounts WHERE id = 2`);
    if (version >= 150000) {
      await up([table, index]);
      expect(await rows(`SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('${box.schema}.accounts_email')`)).toEqual([
        { indisvalid: true },
      ]);
      expect(await ledger()).toEqual(applied('001_accounts', '002_index'));
    } else {
      await failsWith([table, index], '002_index', '42601');
    }
  });
});
