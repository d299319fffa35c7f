import { describe, expect, it } from 'vitest';
import { SourceError, UsageError } from '../../src/errors.js';
import { binaryCoercible } from '../../src/lint/rules.js';
import { RULES } from '../../src/lint/rules.js';
import { lintSources, majorVersion, type LintSettings } from '../../src/lint/lint.js';
import { rejection } from '../support/errors.js';

/** A table every case may use as one that exists already (created by the history, not the run). */
const HISTORY = [
  {
    source: '001_base.up.sql',
    sql: `CREATE TABLE users (id bigint PRIMARY KEY, name varchar(50), score numeric(10,2), code int, email text);
CREATE TABLE orgs (id bigint PRIMARY KEY);
CREATE INDEX users_name_idx ON users (name);`,
  },
];

async function rulesOf(sql: string | string[], settings: LintSettings = {}): Promise<string[]> {
  const files = (Array.isArray(sql) ? sql : [sql]).map((text, i) => ({ source: `${100 + i}_case.up.sql`, sql: text }));
  const report = await lintSources(files, { enable: ['all'], ...settings }, HISTORY);
  return report.findings.map((f) => f.rule);
}

/** For every rule: SQL that must fire it, and the safe rewrite that must not. */
const CASES: Record<string, { fires: string | string[]; safe: string | string[]; settings?: LintSettings }> = {
  'require-concurrent-index-creation': {
    fires: 'CREATE INDEX users_email_idx ON users (email);',
    safe: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);',
  },
  'require-concurrent-index-deletion': {
    fires: 'DROP INDEX users_name_idx;',
    safe: 'DROP INDEX CONCURRENTLY IF EXISTS users_name_idx;',
  },
  'adding-foreign-key-constraint': {
    fires: 'ALTER TABLE users ADD CONSTRAINT users_org_fk FOREIGN KEY (code) REFERENCES orgs (id);',
    safe: 'ALTER TABLE users ADD CONSTRAINT users_org_fk FOREIGN KEY (code) REFERENCES orgs (id) NOT VALID;',
  },
  'constraint-missing-not-valid': {
    fires: 'ALTER TABLE users ADD CONSTRAINT users_code_positive CHECK (code > 0);',
    safe: [
      'ALTER TABLE users ADD CONSTRAINT users_code_positive CHECK (code > 0) NOT VALID;',
      'ALTER TABLE users VALIDATE CONSTRAINT users_code_positive;',
    ],
  },
  'adding-not-nullable-field': {
    fires: 'ALTER TABLE users ALTER COLUMN email SET NOT NULL;',
    safe: [
      'ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;',
      'ALTER TABLE users VALIDATE CONSTRAINT users_email_nn;',
      'ALTER TABLE users ALTER COLUMN email SET NOT NULL;\nALTER TABLE users DROP CONSTRAINT users_email_nn;',
    ],
  },
  'adding-required-field': {
    fires: 'ALTER TABLE users ADD COLUMN plan text NOT NULL;',
    safe: "ALTER TABLE users ADD COLUMN plan text NOT NULL DEFAULT 'free';",
  },
  'adding-field-with-default': {
    fires: 'ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();',
    safe: "ALTER TABLE users ADD COLUMN joined timestamptz DEFAULT now(), ADD COLUMN tags text[] DEFAULT '{}';",
  },
  'changing-column-type': {
    fires: 'ALTER TABLE users ALTER COLUMN code TYPE bigint;',
    safe: 'ALTER TABLE users ALTER COLUMN name TYPE text, ALTER COLUMN score TYPE numeric(12,2);',
  },
  'renaming-column': {
    fires: 'ALTER TABLE users RENAME COLUMN name TO full_name;',
    safe: 'ALTER TABLE users ADD COLUMN full_name text;',
  },
  'renaming-table': {
    fires: 'ALTER TABLE users RENAME TO accounts;',
    safe: 'CREATE TABLE accounts (id bigint PRIMARY KEY);',
  },
  'ban-drop-column': {
    fires: 'ALTER TABLE users DROP COLUMN code;',
    safe: 'ALTER TABLE users ALTER COLUMN code DROP DEFAULT;',
  },
  'ban-drop-table': {
    fires: 'DROP TABLE orgs;',
    safe: 'CREATE TABLE scratch (id bigint);\nDROP TABLE scratch;',
  },
  'ban-drop-default': {
    fires: 'ALTER TABLE users ALTER COLUMN code DROP DEFAULT;',
    safe: '-- slipway:post-deploy\nALTER TABLE users ALTER COLUMN code DROP DEFAULT;',
  },
  'ban-drop-not-null': {
    fires: 'ALTER TABLE users ALTER COLUMN name DROP NOT NULL;',
    safe: "ALTER TABLE users ALTER COLUMN name SET DEFAULT '';",
  },
  'disallowed-unique-constraint': {
    fires: 'ALTER TABLE users ADD CONSTRAINT users_email_unique UNIQUE (email);',
    safe: [
      'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_email_unique ON users (email);',
      'ALTER TABLE users ADD CONSTRAINT users_email_unique UNIQUE USING INDEX users_email_unique;',
    ],
  },
  'adding-serial-primary-key-field': {
    fires: 'ALTER TABLE orgs DROP CONSTRAINT orgs_pkey, ADD PRIMARY KEY (id);',
    safe: [
      'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS orgs_id_idx ON orgs (id);',
      'ALTER TABLE orgs ADD CONSTRAINT orgs_pk PRIMARY KEY USING INDEX orgs_id_idx;',
    ],
  },
  'ban-char-field': {
    fires: 'CREATE TABLE countries (code char(2) PRIMARY KEY);',
    safe: 'CREATE TABLE countries (code text PRIMARY KEY CHECK (length(code) = 2));',
  },
  'prefer-bigint-over-int': {
    fires: 'CREATE TABLE events (id integer PRIMARY KEY);',
    safe: 'CREATE TABLE events (id bigint PRIMARY KEY);',
  },
  'prefer-text-field': {
    fires: 'CREATE TABLE notes (body varchar(200));',
    safe: 'CREATE TABLE notes (body text CHECK (length(body) <= 200));',
  },
  'prefer-timestamptz': {
    fires: 'CREATE TABLE logs (at timestamp);',
    safe: 'CREATE TABLE logs (at timestamptz);',
  },
  'prefer-identity': {
    fires: 'CREATE TABLE tickets (id bigserial PRIMARY KEY);',
    safe: 'CREATE TABLE tickets (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);',
  },
  'require-lock-timeout': {
    fires: 'ALTER TABLE users ADD COLUMN nickname text;',
    safe: "SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN nickname text;",
    settings: { lockTimeout: 0 },
  },
  'prefer-robust-stmts': {
    fires: 'CREATE INDEX CONCURRENTLY users_email_idx ON users (email);',
    safe: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);',
  },
  'transaction-nesting': {
    fires: "BEGIN;\nBEGIN;\nUPDATE users SET name = 'x';\nCOMMIT;\nCOMMIT;",
    safe: "BEGIN;\nUPDATE users SET name = 'x';\nCOMMIT;",
  },
  'ban-concurrent-index-creation-in-transaction': {
    fires: 'BEGIN;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);\nCOMMIT;',
    safe: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);',
  },
  'adding-exclusion-constraint': {
    fires: 'ALTER TABLE users ADD CONSTRAINT users_no_twin EXCLUDE USING btree (email WITH =);',
    safe: 'CREATE TABLE bookings (room bigint, during tstzrange, EXCLUDE USING gist (room WITH =, during WITH &&));',
  },
  'identifier-too-long': {
    fires: `CREATE TABLE ${'t'.repeat(64)} (id bigint);`,
    safe: `CREATE TABLE ${'t'.repeat(63)} (id bigint);`,
  },
};

describe('every rule fires on its unsafe form and not on the safe rewrite', () => {
  it('has a case for every rule', () => {
    expect(Object.keys(CASES).sort()).toEqual(RULES.map((r) => r.id).sort());
  });
  for (const [id, { fires, safe, settings }] of Object.entries(CASES)) {
    it(id, async () => {
      expect(await rulesOf(fires, settings)).toContain(id);
      expect(await rulesOf(safe, settings)).not.toContain(id);
    });
  }
});

describe('history-aware', () => {
  it('leaves tables created earlier in the same run alone, in the same file or an earlier one', async () => {
    const create = 'CREATE TABLE items (id bigint PRIMARY KEY, name text);';
    const changes =
      'CREATE INDEX items_name_idx ON items (name);\nALTER TABLE items ADD COLUMN sku text NOT NULL, ADD CONSTRAINT items_sku UNIQUE (sku), ALTER COLUMN name SET NOT NULL;\nDROP INDEX items_name_idx;';
    expect(await rulesOf(`${create}\n${changes}`)).toEqual([]);
    expect(await rulesOf([create, changes])).toEqual([]);
    // The same changes on a table the history created fire (the index dropped is still the run's own).
    expect(await rulesOf(changes.replaceAll('items', 'users'))).toEqual(
      expect.arrayContaining([
        'require-concurrent-index-creation',
        'adding-required-field',
        'disallowed-unique-constraint',
        'adding-not-nullable-field',
      ]),
    );
  });

  it('knows column types from the history: varchar(50) to a shorter varchar rewrites, to a longer one does not', async () => {
    expect(await rulesOf('ALTER TABLE users ALTER COLUMN name TYPE varchar(20);')).toContain('changing-column-type');
    expect(await rulesOf('ALTER TABLE users ALTER COLUMN name TYPE varchar(80);')).not.toContain('changing-column-type');
    // A column no migration declared: the type it comes from is unknown, so the change is reported.
    const report = await lintSources([{ source: 'x.sql', sql: 'ALTER TABLE legacy ALTER COLUMN c TYPE text;' }]);
    expect(report.findings[0]?.message).toMatch(/current type is not declared by any migration/);
  });

  it('knows NOT NULL checks from the history: SET NOT NULL after a validated CHECK applied earlier does not scan', async () => {
    const checked = [
      ...HISTORY,
      {
        source: '002_email_checked.up.sql',
        sql: 'ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;\nALTER TABLE users VALIDATE CONSTRAINT users_email_nn;',
      },
    ];
    const run = [{ source: '003_email_required.up.sql', sql: 'ALTER TABLE users ALTER COLUMN email SET NOT NULL;' }];
    expect((await lintSources(run, {}, checked)).findings.map((f) => f.rule)).not.toContain('adding-not-nullable-field');
    expect((await lintSources(run, {}, HISTORY)).findings.map((f) => f.rule)).toContain('adding-not-nullable-field');
  });

  it('a NOT VALID constraint validated in the same transaction is reported; in a later file it is not', async () => {
    const add = 'ALTER TABLE users ADD CONSTRAINT users_code_positive CHECK (code > 0) NOT VALID;';
    const validate = 'ALTER TABLE users VALIDATE CONSTRAINT users_code_positive;';
    expect(await rulesOf(`${add}\n${validate}`)).toContain('constraint-missing-not-valid');
    expect(await rulesOf([add, validate])).not.toContain('constraint-missing-not-valid');
  });

  it('the target version changes what is safe', async () => {
    const constantDefault = "ALTER TABLE users ADD COLUMN plan text NOT NULL DEFAULT 'free';";
    expect(await rulesOf(constantDefault, { pgVersion: 10 })).toContain('adding-field-with-default');
    expect(await rulesOf(constantDefault, { pgVersion: 110005 })).not.toContain('adding-field-with-default');
    const viaCheck = [
      'ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;',
      'ALTER TABLE users VALIDATE CONSTRAINT users_email_nn;',
      'ALTER TABLE users ALTER COLUMN email SET NOT NULL;',
    ];
    expect(await rulesOf(viaCheck, { pgVersion: 11 })).toContain('adding-not-nullable-field');
    expect(await rulesOf(viaCheck, { pgVersion: 12 })).not.toContain('adding-not-nullable-field');
  });
});

describe('findings', () => {
  it('point at file, line and column of the offending part, with the source line', async () => {
    const report = await lintSources(
      [{ source: 'm/005_x.up.sql', sql: '-- index it\nSELECT 1;\n  CREATE INDEX i ON users (email);\n' }],
      {},
      HISTORY,
    );
    expect(report.findings).toEqual([
      expect.objectContaining({
        file: 'm/005_x.up.sql',
        line: 3,
        column: 21,
        rule: 'require-concurrent-index-creation',
        severity: 'error',
        sourceLine: '  CREATE INDEX i ON users (email);',
      }),
    ]);
    expect(report.errors).toBe(1);
  });

  it('counts columns in characters after multi-byte text', async () => {
    const report = await lintSources([{ source: 'a.sql', sql: "SELECT 'é€😀'; CREATE INDEX i ON users (email);" }], {}, HISTORY);
    expect(report.findings[0]).toMatchObject({ line: 1, column: "SELECT 'é€😀'; CREATE INDEX i ON ".length + 1 });
  });

  it('style rules are off by default; enable and disable change that', async () => {
    const sql = [{ source: 'a.sql', sql: 'CREATE TABLE t (id serial, c char(2));' }];
    expect((await lintSources(sql)).findings.map((f) => f.rule)).toEqual(['ban-char-field']);
    expect((await lintSources(sql, { enable: ['prefer-identity'], disable: ['ban-char-field'] })).findings.map((f) => f.rule)).toEqual([
      'prefer-identity',
    ]);
    await rejection(lintSources(sql, { enable: ['no-such-rule'] }), UsageError);
  });
});

describe('ignore comments', () => {
  it('silence the named rule on the statement below, keeping the reason', async () => {
    const report = await lintSources(
      [
        {
          source: 'a.sql',
          sql: '-- slipway:ignore require-concurrent-index-creation users has 12 rows\nCREATE INDEX i ON users (email);\nCREATE INDEX j ON users (name);',
        },
      ],
      {},
      HISTORY,
    );
    expect(report.findings.map((f) => f.line)).toEqual([3]);
    expect(report.ignored).toEqual([
      expect.objectContaining({ rule: 'require-concurrent-index-creation', line: 2, reason: 'users has 12 rows' }),
    ]);
  });

  it('refuse an unknown rule id or a missing reason, naming file and line', async () => {
    const unknown = await rejection(
      lintSources([{ source: 'a.sql', sql: 'SELECT 1;\n-- slipway:ignore no-such-rule because\nSELECT 2;' }]),
      UsageError,
    );
    expect(unknown.message).toMatch(/^a\.sql:2: unknown rule "no-such-rule"/);
    const bare = await rejection(lintSources([{ source: 'a.sql', sql: '-- slipway:ignore ban-drop-table\nDROP TABLE t;' }]), UsageError);
    expect(bare.message).toMatch(/^a\.sql:1: slipway:ignore ban-drop-table needs a reason/);
  });

  it('a syntax error names file and line', async () => {
    const error = await rejection(lintSources([{ source: 'a.sql', sql: 'SELECT 1;\n\nCREATE TABLE (;' }]), SourceError);
    expect(error.message).toMatch(/^a\.sql:3: syntax error/);
  });
});

describe('helpers', () => {
  it('reads versions as majors', () => {
    expect([majorVersion(16), majorVersion(9.6), majorVersion(160004), majorVersion(90624)]).toEqual([16, 9, 16, 9]);
  });
  it('binary-coercible changes', () => {
    const t = (name: string, ...mods: number[]) => ({ name, mods, array: false });
    expect(binaryCoercible(t('varchar', 10), t('text'))).toBe(true);
    expect(binaryCoercible(t('varchar', 10), t('varchar', 5))).toBe(false);
    expect(binaryCoercible(t('numeric', 10, 2), t('numeric', 12, 2))).toBe(true);
    expect(binaryCoercible(t('numeric', 10, 2), t('numeric', 12, 3))).toBe(false);
    expect(binaryCoercible(t('int4'), t('int8'))).toBe(false);
  });
});

/** Lints `sql` files as one run without a database, every rule on, after HISTORY. */
async function reportOf(sql: string | string[], settings: LintSettings = {}) {
  const files = (Array.isArray(sql) ? sql : [sql]).map((text, i) => ({ source: `${100 + i}_case.up.sql`, sql: text }));
  return lintSources(files, settings, HISTORY);
}

describe('shapes of real histories, without a database', () => {
  it("an index a DO block creates (under IF, or by EXECUTE of a constant) is the run's own: dropping it later is no finding", async () => {
    const create = `CREATE TABLE accounts (id bigint PRIMARY KEY, email text);
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'accounts_email_idx') THEN
    CREATE INDEX accounts_email_idx ON accounts (email);
  END IF;
  EXECUTE 'CREATE INDEX accounts_id_email_idx ON accounts (id, email)';
END
$$;`;
    expect(await rulesOf([create, 'DROP INDEX accounts_email_idx;\nDROP INDEX accounts_id_email_idx;'])).toEqual([]);
  });

  it('what a DO block does to a table in use is linted, pointed at its line', async () => {
    const report = await reportOf(`DO $$\nBEGIN\n  IF true THEN\n    CREATE INDEX users_email_idx ON users (email);\n  END IF;\nEND $$;`);
    expect(report.findings.map((f) => [f.rule, f.line, f.column])).toEqual([['require-concurrent-index-creation', 4, 5]]);
  });

  it('a TEMP table, and names resolved with their schema', async () => {
    // The TEMP table hides users for the unqualified names after it; public.users is the real one.
    const temp =
      "CREATE TEMP TABLE users (id bigint, email text);\nCREATE INDEX users_tmp_idx ON users (email);\nINSERT INTO users VALUES (1, 'a');";
    expect(await rulesOf(temp)).toEqual([]);
    expect(await rulesOf(`${temp}\nCREATE INDEX users_email_idx ON public.users (email);`)).toEqual(['require-concurrent-index-creation']);
    // A table of the same name in another schema is another table.
    expect(
      await rulesOf('CREATE SCHEMA archive;\nCREATE TABLE archive.users (id bigint);\nCREATE INDEX users_email_idx ON users (email);'),
    ).toEqual(['require-concurrent-index-creation']);
    expect(
      await rulesOf(
        'CREATE SCHEMA archive;\nCREATE TABLE archive.users (id bigint);\nCREATE INDEX archive_users_idx ON archive.users (id);',
      ),
    ).toEqual([]);
    // SET search_path holds to the end of its file.
    expect(
      await rulesOf([
        'CREATE SCHEMA app;\nSET search_path TO app;\nCREATE TABLE users (id bigint);\nCREATE INDEX users_id_idx ON users (id);',
        'CREATE INDEX users_id2_idx ON users (id);',
      ]),
    ).toEqual(['require-concurrent-index-creation']);
  });

  it('an unqualified name no schema of the path holds is the relation a migration put in another schema', async () => {
    const create =
      'CREATE SCHEMA auth;\nCREATE TABLE auth.members (id bigint, token text);\nCREATE INDEX IF NOT EXISTS members_token_idx ON auth.members (token);';
    expect(
      await rulesOf([create, 'DROP INDEX IF EXISTS members_token_idx;\nCREATE UNIQUE INDEX members_token_idx ON auth.members (token);']),
    ).toEqual([]);
  });

  it('CREATE TABLE IF NOT EXISTS of a table the history created leaves it in use', async () => {
    expect(await rulesOf('CREATE TABLE IF NOT EXISTS users (id bigint);\nCREATE INDEX users_email_idx ON users (email);')).toEqual([
      'require-concurrent-index-creation',
    ]);
  });

  it('ADD COLUMN with a CHECK, or of a domain with a CHECK, on a table in use', async () => {
    expect(await rulesOf('ALTER TABLE users ADD COLUMN rank bigint CHECK (rank > 0);')).toEqual(['constraint-missing-not-valid']);
    expect(await rulesOf(['CREATE DOMAIN positive AS bigint CHECK (VALUE > 0);', 'ALTER TABLE users ADD COLUMN rank positive;'])).toEqual([
      'adding-field-with-default',
    ]);
    expect(await rulesOf(['CREATE DOMAIN label AS text;', 'ALTER TABLE users ADD COLUMN tag label;'])).toEqual([]);
  });
});

describe('identifier-too-long', () => {
  const long = (suffix: string) => `${'a'.repeat(63)}${suffix}`;
  it('is a warning for one long name, an error when two names are cut to the same one', async () => {
    const one = await reportOf(`CREATE TABLE ${long('_x')} (id bigint);\nINSERT INTO ${long('_x')} VALUES (1);`);
    expect(one.findings.map((f) => [f.rule, f.severity])).toEqual([
      ['identifier-too-long', 'warning'],
      ['identifier-too-long', 'warning'],
    ]);
    expect(one.errors).toBe(0);
    const two = await reportOf([`CREATE TABLE ${long('_x')} (id bigint);`, `CREATE TABLE IF NOT EXISTS ${long('_y')} (id bigint);`]);
    expect(two.findings.map((f) => f.severity)).toEqual(['warning', 'error']);
    expect(two.findings[1]!.message).toMatch(/are both cut to the 63-byte a+/);
  });
});

describe('suppressions outside the files, and squawk-ignore comments', () => {
  const unsafe = 'CREATE INDEX users_email_idx ON users (email);\nALTER TABLE users DROP COLUMN code;';
  it('a suppression names file and rule, and the statement by its fingerprint', async () => {
    const first = await reportOf(unsafe);
    expect(first.findings.map((f) => f.rule)).toEqual(['require-concurrent-index-creation', 'ban-drop-column']);
    const index = first.findings[0]!;
    const silenced = await reportOf(unsafe, {
      suppressions: [{ file: 'migrations/100_case.up.sql', rule: index.rule, statement: index.statement, reason: 'users is tiny' }],
    });
    expect(silenced.findings.map((f) => f.rule)).toEqual(['ban-drop-column']);
    expect(silenced.ignored).toEqual([expect.objectContaining({ rule: 'require-concurrent-index-creation', reason: 'users is tiny' })]);
    // Another statement (the fingerprint differs) is not silenced; without a fingerprint, the whole file is.
    const other = await reportOf('CREATE INDEX users_name2_idx ON users (name);', {
      suppressions: [{ file: '100_case.up.sql', rule: index.rule, statement: index.statement, reason: 'r' }],
    });
    expect(other.findings).toHaveLength(1);
    const whole = await reportOf('CREATE INDEX users_name2_idx ON users (name);', {
      suppressions: [{ file: '100_case.up.sql', rule: index.rule, reason: 'r' }],
    });
    expect(whole.findings).toHaveLength(0);
    await rejection(reportOf(unsafe, { suppressions: [{ file: 'x.sql', rule: 'no-such-rule', reason: 'r' }] }), UsageError);
  });

  it("squawk-ignore: its rule ids where they map to slipway's, a bare one for every rule, -file for the file; others are left alone", async () => {
    const sql = (comment: string) => `${comment}\nCREATE INDEX users_email_idx ON users (email);\nALTER TABLE users DROP COLUMN code;`;
    expect(
      (await reportOf(sql('-- squawk-ignore require-concurrent-index-creation, prefer-robust-stmts -- tiny table'))).findings.map(
        (f) => f.rule,
      ),
    ).toEqual(['ban-drop-column']);
    expect((await reportOf(sql('-- squawk-ignore'))).findings.map((f) => f.rule)).toEqual(['ban-drop-column']);
    expect((await reportOf(sql('-- squawk-ignore-file ban-drop-column'))).findings.map((f) => f.rule)).toEqual([
      'require-concurrent-index-creation',
    ]);
    expect((await reportOf(sql('-- squawk-ignore some-rule-only-squawk-has'))).findings).toHaveLength(2);
    expect((await reportOf(sql('-- squawk-ignore prefer-big-int'), { enable: ['all'] })).ignored).toEqual([]);
  });
});
