import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

/**
 * deploy/tracker against the service it deploys: probe paths are routes the app serves, the
 * port is the one the service listens on, every environment variable is one it reads (with a
 * value it accepts), and the migrations folder is where the image puts the example's migrations.
 */
const root = path.resolve('.');
const deploy = path.join(root, 'deploy/tracker');
const source = (file: string) => readFileSync(path.join(root, 'examples/tracker/src', file), 'utf8');

type Doc = { kind: string; metadata: { name: string }; spec: Record<string, any> };
function manifests(dir: string): Doc[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) =>
      parseAllDocuments(readFileSync(path.join(dir, f), 'utf8')).map((d) => {
        expect(d.errors).toEqual([]);
        return d.toJS() as Doc;
      }),
    );
}

const config = source('config.ts');
const app = source('app.ts');
/** Environment variables the service reads. */
const read = new Set([...config.matchAll(/env\.([A-Z_]+)/g)].map((m) => m[1]!));
/** Routes the service registers. */
const routes = new Set([...app.matchAll(/app\.get\('([^']+)'/g)].map((m) => m[1]!));
const defaultPort = Number(/env\.PORT \?\? (\d+)/.exec(config)![1]);
const dockerfile = readFileSync(path.join(deploy, 'Dockerfile'), 'utf8');
const workdir = /^WORKDIR (\S+)$/m.exec(dockerfile.split(/^FROM /m).at(-1)!)![1]!;
/** A path in the image, as a path in this repository (the image copies the repository's layout under WORKDIR). */
const inRepo = (imagePath: string) => {
  expect(imagePath.startsWith(`${workdir}/`)).toBe(true);
  return path.join(root, imagePath.slice(workdir.length + 1));
};

const patterns = {
  'migrate-at-startup': manifests(path.join(deploy, 'migrate-at-startup')),
  'migration-job': manifests(path.join(deploy, 'migration-job')),
};
const service = manifests(deploy).find((d) => d.kind === 'Service')!;

function envOf(container: any): Map<string, any> {
  return new Map((container.env ?? []).map((e: any) => [e.name, e.value ?? e.valueFrom]));
}

describe('deploy/tracker', () => {
  it('the scan of the service found what it checks against', () => {
    expect(routes).toEqual(new Set(['/healthz', '/readyz', ...[...routes].filter((r) => r.startsWith('/workspaces'))]));
    expect(read).toContain('DATABASE_URL');
    expect(read).toContain('MIGRATE_ON_START');
    expect(defaultPort).toBe(3000);
  });

  it.each(Object.entries(patterns))('%s: the Deployment matches the service', (pattern, docs) => {
    const deployment = docs.find((d) => d.kind === 'Deployment')!;
    expect(deployment).toBeDefined();
    const pod = deployment.spec.template.spec;
    expect(deployment.spec.selector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
    expect(service.spec.selector).toEqual(deployment.spec.template.metadata.labels);
    const [container] = pod.containers;
    const env = envOf(container);

    // Every variable is one the service reads; the ones it requires are there.
    for (const name of env.keys()) expect(read, `${pattern}: ${name}`).toContain(name);
    expect(env.get('DATABASE_URL')).toEqual({ secretKeyRef: { name: 'tracker-db', key: 'DATABASE_URL' } });
    expect(env.get('HOST')).toBe('0.0.0.0');
    expect(env.get('MIGRATE_ON_START')).toBe(pattern === 'migrate-at-startup' ? 'true' : 'false');

    // The port it listens on is the port the probes and the Service use.
    const port = Number(env.get('PORT') ?? defaultPort);
    const http = container.ports.find((p: any) => p.name === 'http');
    expect(http.containerPort).toBe(port);
    expect(service.spec.ports[0].targetPort).toBe('http');
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    for (const probe of [container.readinessProbe, container.livenessProbe, container.startupProbe].filter(Boolean))
      expect(routes).toContain(probe.httpGet.path);
    // A replica that migrates listens only afterwards: a startup probe keeps liveness from killing a long migration.
    if (pattern === 'migrate-at-startup')
      expect(container.startupProbe.periodSeconds * container.startupProbe.failureThreshold).toBeGreaterThanOrEqual(300);

    // The migrations folder is where the image has the example's migrations.
    const folder = inRepo(env.get('SLIPWAY_DIR'));
    expect(folder).toBe(path.join(root, 'examples/tracker/migrations'));
    expect(readdirSync(folder).filter((f) => f.endsWith('.up.sql')).length).toBeGreaterThan(0);
    expect(dockerfile).toContain(`COPY --from=build /app/examples/tracker/migrations examples/tracker/migrations`);
  });

  it('migration-job: the Job runs slipway up on the folder and database the service checks', () => {
    const docs = patterns['migration-job'];
    const job = docs.find((d) => d.kind === 'Job')!;
    const deployment = docs.find((d) => d.kind === 'Deployment')!;
    const [migrate] = job.spec.template.spec.containers;
    const [serve] = deployment.spec.template.spec.containers;
    expect(job.spec.template.spec.restartPolicy).toBe('Never');
    expect(migrate.image).toBe(serve.image);
    // The command is the package's CLI, in the image.
    const bin = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).bin.slipway.replace(/^\.\//, '');
    expect(migrate.command).toEqual(['node', bin]);
    expect(dockerfile).toContain('COPY --from=build /app/dist dist');
    const args: string[] = migrate.args;
    expect(args[0]).toBe('up');
    expect(args[args.indexOf('--dir') + 1]).toBe(envOf(serve).get('SLIPWAY_DIR'));
    expect(envOf(migrate).get('DATABASE_URL')).toEqual(envOf(serve).get('DATABASE_URL'));
    // Same table and lock key as the service: neither is set, both use slipway's defaults.
    for (const name of ['SLIPWAY_TABLE', 'SLIPWAY_LOCK_KEY']) expect(envOf(migrate).get(name)).toEqual(envOf(serve).get(name));
    expect(args).not.toContain('--table');
  });

  it('post-deploy: a Job after the rollout runs up --post-deploy on the same folder, database and image as the migration Job', () => {
    const [post] = manifests(path.join(deploy, 'post-deploy')).find((d) => d.kind === 'Job')!.spec.template.spec.containers;
    const [migrate] = patterns['migration-job'].find((d) => d.kind === 'Job')!.spec.template.spec.containers;
    expect(post.image).toBe(migrate.image);
    expect(post.command).toEqual(migrate.command);
    const args: string[] = post.args;
    expect(args.slice(0, 2)).toEqual(['up', '--post-deploy']);
    expect(Number(args[args.indexOf('--traffic-window') + 1])).toBeGreaterThan(0);
    expect(args[args.indexOf('--dir') + 1]).toBe(migrate.args[migrate.args.indexOf('--dir') + 1]);
    expect(envOf(post)).toEqual(envOf(migrate));
  });

  it('the image runs the compiled service where its tsconfig puts it', () => {
    const tsconfig = JSON.parse(readFileSync(path.join(root, 'examples/tracker/tsconfig.json'), 'utf8'));
    const main = path.join('examples/tracker', tsconfig.compilerOptions.outDir, 'main.js');
    expect(dockerfile).toMatch(new RegExp(`^CMD \\["node", "${main.replaceAll('.', '\\.')}"\\]$`, 'm'));
    expect(existsSync(path.join(root, 'examples/tracker/src/main.ts'))).toBe(true);
    expect(dockerfile).toMatch(/^EXPOSE 3000$/m);
  });
});

describe('MIGRATE_ON_START', () => {
  it('defaults to true; false for a migration Job; anything else is a config error naming it', async () => {
    const { readConfig, ConfigError } = await import('../../examples/tracker/src/config.js');
    const env = { DATABASE_URL: 'postgres://app@127.0.0.1/app' };
    expect(readConfig(env).migrateOnStart).toBe(true);
    expect(readConfig({ ...env, MIGRATE_ON_START: 'false' }).migrateOnStart).toBe(false);
    expect(() => readConfig({ ...env, MIGRATE_ON_START: 'no' })).toThrow(
      new ConfigError('MIGRATE_ON_START="no" is not a switch: use true or false'),
    );
  });
});

describe('DESCRIPTION_COLUMN', () => {
  it("defaults to body; description runs release 0.1.0's code; anything else is a config error naming it", async () => {
    const { readConfig, ConfigError } = await import('../../examples/tracker/src/config.js');
    const env = { DATABASE_URL: 'postgres://app@127.0.0.1/app' };
    expect(readConfig(env).descriptionColumn).toBe('body');
    expect(readConfig({ ...env, DESCRIPTION_COLUMN: 'description' }).descriptionColumn).toBe('description');
    expect(() => readConfig({ ...env, DESCRIPTION_COLUMN: 'text' })).toThrow(
      new ConfigError('DESCRIPTION_COLUMN="text" is not a column of issues: use body, or description for release 0.1.0\'s code'),
    );
  });
});
