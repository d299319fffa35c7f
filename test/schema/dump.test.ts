import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { dump, load, migrate } from '../../src/index.js';
import pg from 'pg';
import { databaseUrl, freshDatabasePerTest, silentLogger, type FreshDatabase } from '../support/db.js';
import { EVERY_KIND } from './fixture.js';

const database = freshDatabasePerTest();
/** The server's version number (150004): the fixture's shapes that came with 15 are not on 14. */
async function serverVersion(db: FreshDatabase): Promise<number> {
  return Number((await db.admin.query("SELECT current_setting('server_version_num') AS v")).rows[0].v);
}

describe('dump', () => {
  it('writes every kind of object, and loading the dump then dumping again gives the same text', async () => {
    const original = await database();
    await migrate({
      databaseUrl: original.url,
      migrations: [{ version: '001_every_kind', up: EVERY_KIND }],
      direction: 'up',
      logger: silentLogger,
    });
    const first = await dump({ databaseUrl: original.url, logger: silentLogger });
    for (const expected of [
      'CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA public;',
      'CREATE SCHEMA app;',
      "CREATE TYPE app.status AS ENUM ('open', 'closed', 'it''s done');",
      'CREATE TYPE app.float_range AS RANGE (SUBTYPE = double precision, SUBTYPE_DIFF = float8mi, MULTIRANGE_TYPE_NAME = app.float_multirange);',
      'ALTER DOMAIN app.email ADD CONSTRAINT email_short CHECK ((length(VALUE) < 200)) NOT VALID;',
      "CREATE AGGREGATE app.total(integer) (SFUNC = app.add, STYPE = integer, INITCOND = '0');",
      'id bigint GENERATED ALWAYS AS IDENTITY (START WITH 1000) NOT NULL',
      'lower_name text GENERATED ALWAYS AS (lower(name)) STORED',
      'ALTER TABLE ONLY app.users ALTER COLUMN name SET STORAGE EXTERNAL;',
      "CREATE TABLE app.events_2025 PARTITION OF app.events\n    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');\n" +
        "ALTER TABLE ONLY app.events_2025 ALTER COLUMN payload SET DEFAULT '{}'::jsonb;\nALTER TABLE ONLY app.events_2025 ALTER COLUMN payload SET NOT NULL;",
      'ADD CONSTRAINT title_short CHECK ((length(title) < 500)) NOT VALID;',
      'ADD CONSTRAINT issues_owner_fk FOREIGN KEY (owner_id) REFERENCES app.users(id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED;',
      'ADD CONSTRAINT no_overlap EXCLUDE USING gist (during WITH &&);',
      'CREATE INDEX issues_lower_title_idx ON app.issues USING btree (lower(title)) INCLUDE (owner_id);',
      'CREATE INDEX events_payload_idx ON app.events USING gin (payload);',
      'CREATE STATISTICS app.issues_owner_ticket (ndistinct, dependencies) ON ticket, owner_id FROM app.issues;',
      'ALTER SEQUENCE app.ticket_seq OWNED BY app.issues.ticket;',
      'ALTER TABLE app.issues DISABLE TRIGGER issues_touch_off;',
      "CREATE POLICY no_empty ON app.issues AS RESTRICTIVE FOR INSERT WITH CHECK ((title <> 'x'::text));",
      'WITH NO DATA;',
      "COMMENT ON COLUMN app.users.email IS 'where to write';",
      'INSERT INTO public.schema_migrations',
      'ALTER TABLE public.scratch REPLICA IDENTITY FULL;',
      'CREATE UNIQUE INDEX audit_id_key ON public.audit USING btree (id);\nALTER TABLE public.audit REPLICA IDENTITY USING INDEX audit_id_key;',
      'ADD CONSTRAINT codes_code_key UNIQUE (code);\nALTER TABLE public.codes REPLICA IDENTITY USING INDEX codes_code_key;\nALTER TABLE public.codes CLUSTER ON codes_code_key;',
      'ALTER TABLE ONLY app.issues ALTER COLUMN owner_id SET (n_distinct=100);\nALTER TABLE ONLY app.issues ALTER COLUMN title SET STATISTICS 500;',
      'ALTER TABLE app.issues CLUSTER ON issues_lower_title_idx;\nALTER INDEX app.issues_lower_title_idx ALTER COLUMN 1 SET STATISTICS 200;',
      "CREATE RULE audit_keep AS\n    ON DELETE TO public.audit DO INSTEAD NOTHING;\nCOMMENT ON RULE audit_keep ON public.audit IS 'audit rows stay';",
      "CREATE COLLATION app.case_insensitive (provider = icu, locale = 'und-u-ks-level2', deterministic = false);\nCOMMENT ON COLLATION app.case_insensitive IS 'ignores case';",
      "CREATE COLLATION app.c_copy (provider = libc, locale = 'C');",
      'name text COLLATE app.case_insensitive NOT NULL,',
      "CREATE CAST (character varying AS app.status) WITH INOUT AS IMPLICIT;\nCOMMENT ON CAST (character varying AS app.status) IS 'for drivers that send text';",
      'CREATE CAST (app.status AS integer) WITH FUNCTION app.status_rank(app.status) AS ASSIGNMENT;',
      "CREATE TEXT SEARCH DICTIONARY app.english_nostop (\n    TEMPLATE = pg_catalog.simple,\n    stopwords = 'english'\n);",
      'CREATE TEXT SEARCH CONFIGURATION app.english_unaccent (\n    PARSER = pg_catalog."default"\n);',
      'ALTER TEXT SEARCH CONFIGURATION app.english_unaccent\n    ADD MAPPING FOR asciiword WITH app.english_nostop;',
      'ALTER TEXT SEARCH CONFIGURATION app.english_unaccent\n    ADD MAPPING FOR word, hword_part, hword WITH public.unaccent, english_stem;',
      "search tsvector GENERATED ALWAYS AS (to_tsvector('app.english_unaccent'::regconfig, body)) STORED",
      'CREATE OPERATOR app.=~= (\n    FUNCTION = app.same_email,\n    LEFTARG = app.email,\n    RIGHTARG = app.email,\n    COMMUTATOR = OPERATOR(app.=~=)\n);',
      "COMMENT ON OPERATOR app.=~=(app.email,app.email) IS 'the same address, in any case';",
      "CREATE SERVER archive FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'archive.internal', dbname 'archive');",
      "    title text OPTIONS (column_name 'subject'),\n    closed_at timestamp with time zone DEFAULT now()\n) SERVER archive OPTIONS (schema_name 'app', table_name 'issues');",
      "COMMENT ON FOREIGN TABLE app.archived_issues IS 'read through postgres_fdw';",
      "ALTER TABLE app.archived_issues\n    ADD CONSTRAINT archived_title CHECK ((title <> ''::text));",
      'CREATE PUBLICATION realtime;\nALTER PUBLICATION realtime ADD TABLE ONLY app.tags;\nALTER PUBLICATION realtime ADD TABLE ONLY public.codes;',
      ...((await serverVersion(original)) >= 150000
        ? [
            "CREATE PUBLICATION new_issues WITH (publish = 'insert');\nALTER PUBLICATION new_issues ADD TABLE ONLY app.issues (id, title) WHERE ((id > 0));",
            'CREATE PUBLICATION app_tables WITH (publish_via_partition_root = true);\nALTER PUBLICATION app_tables ADD TABLES IN SCHEMA app;',
          ]
        : []),
    ]) {
      expect(first.sql).toContain(expected);
    }
    // No OIDs or timestamps of the dump itself, and views on views in dependency order, not by name.
    expect(first.sql.indexOf('-- view app.z_first')).toBeLessThan(first.sql.indexOf('-- view app.a_second'));
    expect(first.sql.indexOf('-- table app.issues')).toBeLessThan(first.sql.indexOf('-- foreign key issues_owner_fk'));
    expect(first.sql.indexOf('-- table app.issues')).toBeLessThan(first.sql.indexOf('-- function app.issue_count()'));
    expect(first.sql.indexOf('-- table app.users')).toBeLessThan(first.sql.indexOf('-- function app.active_users()'));
    expect(first.sql.indexOf('-- view app.open_issues')).toBeLessThan(first.sql.indexOf('-- rule open_issues_insert on app.open_issues'));
    expect(first.sql.indexOf('-- text search configuration app.english_unaccent')).toBeLessThan(first.sql.indexOf('-- table app.articles'));
    expect(first.sql.indexOf('-- function app.status_rank(app.status)')).toBeLessThan(first.sql.indexOf('-- cast (app.status AS integer)'));
    // User mappings hold credentials: never in a dump.
    expect(first.sql).not.toMatch(/USER MAPPING|not-in-the-dump/);

    const copy = await database();
    await load({ databaseUrl: copy.url, sql: first.sql, logger: silentLogger });
    const second = await dump({ databaseUrl: copy.url, logger: silentLogger });
    expect(second.sql).toBe(first.sql);
    // The loaded database is one slipway sees as up to date.
    const again = await migrate({
      databaseUrl: copy.url,
      migrations: [{ version: '001_every_kind', up: EVERY_KIND }],
      direction: 'up',
      logger: silentLogger,
    });
    expect(again.executed).toEqual([]);
  });

  it('gives the same text for a schema built by hand as for one built by slipway', async () => {
    const byHand = await database();
    await byHand.admin.query(EVERY_KIND);
    const bySlipway = await database();
    await migrate({
      databaseUrl: bySlipway.url,
      migrations: [{ version: '001_every_kind', up: EVERY_KIND }],
      direction: 'up',
      logger: silentLogger,
    });
    const a = await dump({ databaseUrl: byHand.url, logger: silentLogger });
    const b = await dump({ databaseUrl: bySlipway.url, logger: silentLogger, table: 'none_here' });
    expect(b.sql).toContain('-- table public.schema_migrations');
    const withoutLedger = (sql: string) =>
      sql
        .split('\n\n')
        .filter((block) => !block.includes('schema_migrations'))
        .join('\n\n');
    expect(a.sql).toBe(withoutLedger(b.sql));
  });
});

describe('dump with privileges', () => {
  it('writes owners and the grants that differ from the defaults, and they survive a load', async () => {
    const role = `r_${randomBytes(4).toString('hex')}`;
    const original = await database();
    try {
      await original.admin.query(`CREATE ROLE ${role};
        CREATE SCHEMA app AUTHORIZATION ${role};
        CREATE TABLE app.t (id int, secret text);
        GRANT SELECT, INSERT ON app.t TO ${role} WITH GRANT OPTION;
        GRANT SELECT ON app.t TO PUBLIC;
        CREATE FUNCTION app.f() RETURNS int LANGUAGE sql AS 'SELECT 1';
        REVOKE EXECUTE ON FUNCTION app.f() FROM PUBLIC;
        ALTER FUNCTION app.f() OWNER TO ${role};
        CREATE COLLATION app.c FROM "C";
        ALTER COLLATION app.c OWNER TO ${role};
        CREATE FOREIGN DATA WRAPPER plain;
        CREATE SERVER elsewhere FOREIGN DATA WRAPPER plain;
        GRANT USAGE ON FOREIGN SERVER elsewhere TO ${role}`);
      const plain = await dump({ databaseUrl: original.url, logger: silentLogger });
      expect(plain.sql).not.toMatch(/GRANT|REVOKE|OWNER TO/);
      const first = await dump({ databaseUrl: original.url, logger: silentLogger, privileges: true });
      expect(first.sql).toContain(`CREATE SCHEMA app;\nALTER SCHEMA app OWNER TO ${role};`);
      expect(first.sql).toContain(
        `GRANT INSERT, SELECT ON TABLE app.t TO ${role} WITH GRANT OPTION;\nGRANT SELECT ON TABLE app.t TO PUBLIC;`,
      );
      expect(first.sql).toContain(`ALTER FUNCTION app.f() OWNER TO ${role};\nREVOKE EXECUTE ON FUNCTION app.f() FROM PUBLIC;`);
      expect(first.sql).toContain(`ALTER COLLATION app.c OWNER TO ${role};`);
      expect(first.sql).toContain(
        `CREATE SERVER elsewhere FOREIGN DATA WRAPPER plain;\nALTER SERVER elsewhere OWNER TO postgres;\nGRANT USAGE ON FOREIGN SERVER elsewhere TO ${role};`,
      );
      expect(first.sql).toContain('CREATE FOREIGN DATA WRAPPER plain;\nALTER FOREIGN DATA WRAPPER plain OWNER TO postgres;');
      const copy = await database();
      await load({ databaseUrl: copy.url, sql: first.sql, logger: silentLogger });
      expect((await dump({ databaseUrl: copy.url, logger: silentLogger, privileges: true })).sql).toBe(first.sql);
    } finally {
      // The role owns objects in these databases: they go first.
      await database.dropAll();
      const server = new pg.Client({ connectionString: databaseUrl() });
      await server.connect();
      await server.query(`DROP ROLE IF EXISTS ${role}`);
      await server.end();
    }
  });
});

describe('load', () => {
  it('refuses a database that is not empty, and changes nothing in it', async () => {
    const db = await database();
    await db.admin.query('CREATE TABLE kept (id int)');
    await expect(load({ databaseUrl: db.url, sql: 'CREATE TABLE other (id int);', logger: silentLogger })).rejects.toThrow(
      /^load: database "slipway_\w+" is not empty \(it has table public\.kept\): load a dump into a new, empty database$/,
    );
    const { rows } = await db.admin.query("SELECT count(*)::int AS n FROM pg_class WHERE relname = 'other'");
    expect(rows[0].n).toBe(0);
    // Objects that are neither tables nor types count too.
    const other = await database();
    await other.admin.query(
      `CREATE COLLATION public.c FROM "C"; CREATE FOREIGN DATA WRAPPER plain; CREATE SERVER elsewhere FOREIGN DATA WRAPPER plain`,
    );
    await expect(load({ databaseUrl: other.url, sql: 'SELECT 1;', logger: silentLogger })).rejects.toThrow(
      /is not empty \(it has collation public\.c, server elsewhere\)/,
    );
  });
});
