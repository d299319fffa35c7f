import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AbortedError, MigrationFailedError, type MigrateOptions, type MigrateResult } from '../../src/index.js';
import { captureLogger, sandbox, type Sandbox, migrateIn, urlWithSearchPath } from '../support/db.js';
import { migrationsDir } from '../support/files.js';

// On an empty ledger consecutive transactional migrations share one transaction; a failure
// rolls the batch back and runs its files one by one. Each file records txid_current(): one
// transaction id for a batch, one per file otherwise.

let box: Sandbox;
afterEach(async () => box?.cleanup());

function up(dir: string, extra: Partial<MigrateOptions> = {}) {
  return migrateIn(box, 'up', dir, extra);
}

/** `n` migrations from `first`, each recording its transaction; the first creates the table. */
function recording(first: number, n: number, extra: Record<string, string> = {}): Record<string, string> {
  const files: Record<string, string> = {};
  for (let i = first; i < first + n; i++) {
    const v = String(i).padStart(3, '0');
    const create = i === 1 ? 'CREATE TABLE seen (version text, xid bigint);\n' : '';
    files[`${v}_m${v}.up.sql`] = `${create}INSERT INTO seen VALUES ('${v}', txid_current());`;
  }
  return { ...files, ...extra };
}

async function transactions(): Promise<number> {
  return Number((await box.admin.query('SELECT count(DISTINCT xid) AS n FROM seen')).rows[0].n);
}
async function versions(): Promise<string[]> {
  return (await box.admin.query(`SELECT version FROM ${box.table} ORDER BY version`)).rows.map((r) => r.version);
}

describe('batches on an empty ledger', () => {
  it('applies N files in one transaction, with N rows, each with its own time', async () => {
    box = await sandbox();
    const result = await up(migrationsDir(recording(1, 6)));
    expect(result.executed.map((s) => s.version)).toEqual(['001_m001', '002_m002', '003_m003', '004_m004', '005_m005', '006_m006']);
    expect(await versions()).toEqual(['001_m001', '002_m002', '003_m003', '004_m004', '005_m005', '006_m006']);
    expect(await transactions()).toBe(1);
    const { rows } = await box.admin.query(`SELECT state, duration_ms, applied_at FROM ${box.table}`);
    for (const row of rows) {
      expect(row.state).toBe('applied');
      expect(row.duration_ms).toBeGreaterThanOrEqual(0);
    }
  });

  it('gives every file of a batch the session as the run started it', async () => {
    box = await sandbox();
    const dir = migrationsDir({
      '001_a.up.sql': `SET search_path = pg_catalog; SET LOCAL statement_timeout = '1s'; CREATE TABLE ${box.schema}.a (id int);`,
      '002_b.up.sql': `CREATE TABLE b (setting text); INSERT INTO b VALUES (current_setting('statement_timeout'));`,
    });
    await up(dir);
    // b landed in the sandbox schema (search_path restored) and saw the session's statement_timeout.
    expect((await box.admin.query(`SELECT setting FROM ${box.schema}.b`)).rows).toEqual([{ setting: '15s' }]);
  });

  it('a failure in file k rolls the batch back, applies 1..k-1 one by one and reports k as an unbatched run does', async () => {
    const failing = { '004_m004.up.sql': "INSERT INTO seen VALUES ('004', txid_current());\nSELECT no_such_column FROM seen;" };
    const dir = migrationsDir(recording(1, 5, failing));
    box = await sandbox();
    const unbatched = await up(dir, { batch: false }).catch((e: unknown) => e);
    await box.cleanup();

    box = await sandbox();
    const error = await up(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationFailedError);
    expect((error as Error).message).toMatch(
      /^migration 004_m004 \(up\) failed at .*004_m004\.up\.sql:2: column "no_such_column" does not exist/,
    );
    expect((error as Error).message).toBe((unbatched as Error).message);
    expect(await versions()).toEqual(['001_m001', '002_m002', '003_m003']);
    // Run one by one after the rollback: one transaction each, nothing of 004 or 005.
    expect((await box.admin.query('SELECT version FROM seen ORDER BY 1')).rows.map((r) => r.version)).toEqual(['001', '002', '003']);
    expect(await transactions()).toBe(3);
  });

  it('never succeeds where the files one by one fail: a deferred constraint is checked at the end of its file', async () => {
    const dir = migrationsDir({
      '001_orphan.up.sql':
        'CREATE TABLE parent (id int PRIMARY KEY);\nCREATE TABLE child (parent int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);\nINSERT INTO child VALUES (1);',
      '002_parent.up.sql': 'INSERT INTO parent VALUES (1);',
    });
    box = await sandbox();
    const unbatched = await up(dir, { batch: false }).catch((e: unknown) => e);
    await box.cleanup();
    box = await sandbox();
    const error = await up(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationFailedError);
    expect((error as Error).message).toMatch(/^migration 001_orphan \(up\) failed in .*violates foreign key constraint/);
    expect((error as Error).message).toBe((unbatched as Error).message);
    expect(await versions()).toEqual([]);
  });

  it('a statement Postgres refuses in a transaction ends a batch', async () => {
    box = await sandbox();
    const dir = migrationsDir(recording(1, 5, { '003_m003.up.sql': 'VACUUM seen;' }));
    await up(dir);
    expect(await versions()).toEqual(['001_m001', '002_m002', '003_m003', '004_m004', '005_m005']);
    // 001-002 in one, 004-005 in another.
    expect((await box.admin.query('SELECT version FROM seen GROUP BY version, xid ORDER BY 1')).rows).toHaveLength(4);
    expect(await transactions()).toBe(2);
  });
});

describe('an enum value added in a batch', () => {
  it('starts and ends its batch: the type is committed before it, the value after it, and no batch is rolled back', async () => {
    box = await sandbox();
    const { logger, lines } = captureLogger();
    const dir = migrationsDir({
      '001_mood.up.sql': "CREATE TYPE mood AS ENUM ('ok'); CREATE TABLE days (mood mood, xid bigint);",
      '002_meh.up.sql': "ALTER TYPE mood ADD VALUE 'meh';",
      '003_day.up.sql': "INSERT INTO days VALUES ('meh', txid_current());",
      '004_day.up.sql': "INSERT INTO days VALUES ('ok', txid_current());",
    });
    await up(dir, { logger });
    expect(await versions()).toEqual(['001_mood', '002_meh', '003_day', '004_day']);
    expect(lines.filter((l) => /failed and was rolled back/.test(String(l.msg)))).toEqual([]);
    // 003 and 004 share the batch after 002's commit.
    expect((await box.admin.query('SELECT count(DISTINCT xid) AS n FROM days')).rows).toEqual([{ n: '1' }]);
  });
});

describe('an index built concurrently on a table the batch creates', () => {
  const indexValid = async (schema: string, index: string) =>
    (
      await box.admin.query(
        `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
        [schema, index],
      )
    ).rows;

  it('joins the batch: the same index, built in it without CONCURRENTLY, and the batch goes on', async () => {
    box = await sandbox();
    const { logger, lines } = captureLogger();
    const dir = migrationsDir(
      recording(1, 5, { '003_m003.up.sql': '-- by version\nCREATE INDEX CONCURRENTLY seen_version ON seen (version);' }),
    );
    const result = await up(dir, { logger });
    expect(await versions()).toEqual(['001_m001', '002_m002', '003_m003', '004_m004', '005_m005']);
    expect(await transactions()).toBe(1);
    expect(await indexValid(box.schema, 'seen_version')).toEqual([{ valid: true }]);
    expect(result.executed.map((s) => s.transactional)).toEqual([true, true, true, true, true]);
    expect(lines.find((l) => l.version === '003_m003')?.msg).toMatch(
      /^applied 003_m003 \(\d+ ms, in its table's transaction: CONCURRENTLY not needed\)$/,
    );
    // The ledger's rows, the index's among them, commit together.
    const { rows } = await box.admin.query(`SELECT count(DISTINCT xmin::text) AS n FROM ${box.table}`);
    expect(Number(rows[0].n)).toBe(1);
  });

  it('builds the same indexes as the files run one by one, whatever their shape', async () => {
    const dir = migrationsDir({
      // A quoted, mixed-case table, as Prisma writes them.
      '001_items.up.sql': 'CREATE TABLE "Items" (id int PRIMARY KEY, name text, price numeric, tags text[], deleted_at timestamptz);',
      '002_indexes.up.sql': [
        'CREATE UNIQUE INDEX CONCURRENTLY items_name ON "Items" (lower(name)) WHERE deleted_at IS NULL;',
        '/* covering */ CREATE INDEX CONCURRENTLY IF NOT EXISTS items_price ON "Items" (price DESC NULLS LAST) INCLUDE (name);',
        'create index concurrently items_tags on "Items" using gin (tags) with (fastupdate = off);',
        '-- unnamed\nCREATE INDEX CONCURRENTLY ON "Items" (deleted_at);',
      ].join('\n'),
    });
    const indexes = async (result: MigrateResult) => ({
      transactional: result.executed.map((s) => s.transactional),
      indexes: (
        await box.admin.query('SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY 1', [box.schema])
      ).rows.map((r) => ({ ...r, indexdef: r.indexdef.replace(`${box.schema}.`, '') })),
    });
    box = await sandbox();
    const batched = await indexes(await up(dir));
    await box.cleanup();
    box = await sandbox();
    const alone = await indexes(await up(dir, { batch: false }));
    expect(batched.transactional).toEqual([true, true]);
    expect(alone.transactional).toEqual([true, false]);
    expect(batched.indexes).toHaveLength(6); // the primary key too
    expect(batched.indexes).toEqual(alone.indexes);
  });

  it('checks at run time that the table is new: an index whose name now reaches an older table is built concurrently, alone', async () => {
    box = await sandbox();
    const old = `${box.schema}_old`;
    await box.admin.query(`CREATE SCHEMA ${old}; CREATE TABLE ${old}.t (id int)`);
    try {
      const dir = migrationsDir({
        // The new t goes where nothing but running it can tell; then t is the older one.
        '001_t.up.sql': "CREATE TABLE t (id int);\nDO $$BEGIN EXECUTE 'DROP TABLE ' || quote_ident(current_schema()) || '.t'; END$$;",
        '002_t_id.up.sql': 'CREATE INDEX CONCURRENTLY t_id ON t (id);',
      });
      const result = await up(dir, { databaseUrl: urlWithSearchPath(`${box.schema},${old}`) });
      expect(result.executed.map((s) => [s.version, s.transactional])).toEqual([
        ['001_t', true],
        ['002_t_id', false],
      ]);
      expect(await indexValid(old, 't_id')).toEqual([{ valid: true }]);
      const { rows } = await box.admin.query(`SELECT count(DISTINCT xmin::text) AS n FROM ${box.table}`);
      expect(Number(rows[0].n)).toBe(2);
    } finally {
      await box.admin.query(`DROP SCHEMA ${old} CASCADE`);
    }
  });
});

describe('a file that runs outside a transaction after another that runs in one', () => {
  const noTransaction = (table: string, version = '003_m003') =>
    `-- slipway:no-transaction\nINSERT INTO seen SELECT 'mark', xmin::text::bigint FROM ${table} WHERE version = '${version}';`;

  it('has its in-flight row committed by the batch before it: one commit less', async () => {
    box = await sandbox();
    await up(migrationsDir(recording(1, 4, { '003_m003.up.sql': noTransaction(box.table) })));
    expect(await versions()).toEqual(['001_m001', '002_m002', '003_m003', '004_m004']);
    // The row the file saw was written by the batch's transaction (xmin is the xid's low 32 bits).
    const { rows } = await box.admin.query(`SELECT version, xid FROM seen WHERE version IN ('001', 'mark') ORDER BY version`);
    expect(rows).toHaveLength(2);
    expect(BigInt(rows[1].xid)).toBe(BigInt(rows[0].xid) & 0xffffffffn);
    const { rows: row } = await box.admin.query(`SELECT state, progress FROM ${box.table} WHERE version = '003_m003'`);
    expect(row).toEqual([{ state: 'applied', progress: null }]);
  });

  it('after a lone file, and on a ledger with rows too, that file commits it', async () => {
    box = await sandbox();
    await up(migrationsDir(recording(1, 1)));
    await up(migrationsDir(recording(1, 2, { '003_m003.up.sql': noTransaction(box.table) })));
    expect(await versions()).toEqual(['001_m001', '002_m002', '003_m003']);
    const { rows } = await box.admin.query(`SELECT version, xid FROM seen WHERE version IN ('002', 'mark') ORDER BY version`);
    expect(rows).toHaveLength(2);
    expect(BigInt(rows[1].xid)).toBe(BigInt(rows[0].xid) & 0xffffffffn);
  });

  it('after another file that runs outside one, the commit that settles that file writes it', async () => {
    box = await sandbox();
    const dir = migrationsDir(
      recording(1, 1, {
        '002_m002.up.sql': "-- slipway:no-transaction\nINSERT INTO seen VALUES ('002', 0);",
        '003_m003.up.sql': noTransaction(box.table),
      }),
    );
    await up(dir);
    expect(await versions()).toEqual(['001_m001', '002_m002', '003_m003']);
    const mark = (await box.admin.query(`SELECT xid FROM seen WHERE version = 'mark'`)).rows[0].xid;
    const settled = (await box.admin.query(`SELECT xmin::text AS xid FROM ${box.table} WHERE version = '002_m002'`)).rows[0].xid;
    expect(String(mark)).toBe(settled);
  });

  it('a run stopped between the batch and the file leaves no mark of it', async () => {
    box = await sandbox();
    const controller = new AbortController();
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk, _encoding, done) {
          if (String(chunk).includes('applied 002_m002')) controller.abort();
          done();
        },
      }),
    );
    const dir = migrationsDir(recording(1, 4, { '003_m003.up.sql': noTransaction(box.table) }));
    const error = await up(dir, { signal: controller.signal, logger }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortedError);
    expect((error as Error).message).toMatch(/^stopped before 003_m003: 2 migration\(s\) ran, 2 not started/);
    expect(await versions()).toEqual(['001_m001', '002_m002']);
    await up(dir);
    expect(await versions()).toEqual(['001_m001', '002_m002', '003_m003', '004_m004']);
  });
});

describe('lock timeouts in a batch', () => {
  it('a batch that times out on a lock is rolled back; its files then run one by one and are retried until they get it', async () => {
    box = await sandbox();
    await box.admin.query('CREATE TABLE busy (id int)');
    const dir = migrationsDir(
      recording(1, 3, { '002_m002.up.sql': "ALTER TABLE busy ADD COLUMN note text;\nINSERT INTO seen VALUES ('002', txid_current());" }),
    );
    const holder = await box.connect();
    await holder.query('BEGIN; LOCK TABLE busy IN ACCESS SHARE MODE');
    const { logger, lines } = captureLogger();
    const running = up(dir, { logger, lockTimeout: 200, lockRetries: 8 });
    // Released once a retry was announced: the run must then get the lock and finish.
    for (let i = 0; i < 600 && !lines.some((l) => /could not get a lock within lock_timeout/.test(String(l.msg))); i++)
      await new Promise((r) => setTimeout(r, 25));
    await holder.query('COMMIT');
    const result = await running;
    expect(result.executed.map((s) => s.version)).toEqual(['001_m001', '002_m002', '003_m003']);
    expect(lines.some((l) => /^002_m002 could not get a lock within lock_timeout \(200 ms\).*retrying/.test(String(l.msg)))).toBe(true);
    expect(await versions()).toEqual(['001_m001', '002_m002', '003_m003']);
    // After the rollback the batch's files ran one by one, each in its own transaction.
    expect(await transactions()).toBe(3);
    expect(
      (
        await box.admin.query(
          `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'busy' ORDER BY 1`,
          [box.schema],
        )
      ).rows.map((r) => r.column_name),
    ).toEqual(['id', 'note']);
  });
});

describe('stopping a batch', () => {
  it('an abort during a batch rolls all of it back and says so, naming the running file', async () => {
    box = await sandbox();
    const dir = migrationsDir({
      '001_users.up.sql': 'CREATE TABLE users (id int);',
      '002_slow.up.sql': 'CREATE TABLE posts (id int);\nSELECT pg_sleep(60);',
      '003_tags.up.sql': 'CREATE TABLE tags (id int);',
    });
    const controller = new AbortController();
    const running = up(dir, { signal: controller.signal }).catch((e: unknown) => e);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const { rows } = await box.admin.query(
        `SELECT 1 FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()`,
      );
      if (rows.length > 0) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    controller.abort();
    const error = await running;
    expect(error).toBeInstanceOf(AbortedError);
    expect((error as Error).message).toMatch(
      /^stopped during 002_slow \(up\), which ran in one transaction with 001_users to 003_tags .*none of them is applied; 0 migration\(s\) ran before it$/,
    );
    expect((await box.admin.query(`SELECT count(*)::int AS n FROM ${box.table}`)).rows[0].n).toBe(0);
    expect((await box.admin.query(`SELECT to_regclass('users') AS t`)).rows[0].t).toBeNull();
  });
});

describe('a ledger with rows', () => {
  it('commits each migration on its own, unless asked to batch', async () => {
    box = await sandbox();
    await up(migrationsDir(recording(1, 1)));
    await up(migrationsDir(recording(1, 4)));
    expect(await versions()).toEqual(['001_m001', '002_m002', '003_m003', '004_m004']);
    expect(await transactions()).toBe(4);

    await up(migrationsDir(recording(1, 7)), { batch: true });
    expect(await versions()).toHaveLength(7);
    expect(await transactions()).toBe(5);
  });

  it('batch: false commits each migration on an empty ledger too', async () => {
    box = await sandbox();
    await up(migrationsDir(recording(1, 3)), { batch: false });
    expect(await transactions()).toBe(3);
  });
});
