import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, it, expect } from 'vitest';

// Static checks of temporal-compose.yml and the Dockerfile: this machine has no Docker engine, so these keep the
// stack's wiring honest (names, ports, start order, env the app understands) without running it.
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (rel: string) => readFileSync(path.join(ROOT, rel), 'utf8');

type Healthcheck = { test?: string | string[]; disable?: boolean };
type Service = {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number | { target: number; published?: string | number })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: Healthcheck;
  volumes?: (string | { type?: string; source?: string; target: string })[];
};
type Compose = { services: Record<string, Service>; volumes?: Record<string, unknown> };

const composeText = read('temporal-compose.yml');
const compose = parse(composeText, { merge: true }) as Compose;
const services = compose.services;
const dockerfile = read('Dockerfile');

/** The variables src/config.ts reads, taken from the keys of its EnvSchema so this test follows the code. */
const FALLBACK_CONFIG_KEYS = [
  'NODE_ENV', 'PORT', 'HOST', 'PUBLIC_BASE_URL', 'DATA_DIR', 'DATABASE_URL', 'DATABASE_POOL_SIZE',
  'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_TASK_QUEUE', 'TEMPORAL_CLI_PATH', 'TEMPORAL_DEV_PORT',
  'TEMPORAL_UI_PORT', 'SMTP_URL', 'SMTP_POOL_SIZE', 'SMTP_RATE_PER_SECOND', 'MAIL_FROM', 'SIGNING_SECRET',
  'LOG_LEVEL', 'WORKER_MAX_CACHED_WORKFLOWS',
];
function configKeys(): string[] {
  const file = path.join(ROOT, 'src/config.ts');
  if (!existsSync(file)) return FALLBACK_CONFIG_KEYS;
  const source = readFileSync(file, 'utf8');
  const start = source.search(/\bEnvSchema\s*=\s*z\.object\(\{/);
  expect(start, 'src/config.ts exists but has no `EnvSchema = z.object({`').toBeGreaterThanOrEqual(0);
  const body = source.slice(start, source.indexOf('\n});', start));
  return [...body.matchAll(/^ {2}([A-Z][A-Z0-9_]*)\s*:/gm)].map((m) => m[1]!);
}

const EXPECTED_SEARCH_ATTRIBUTES = { JourneyId: 'Keyword', JourneyVersion: 'Int', ContactId: 'Keyword', JourneyStep: 'Keyword' };

function environment(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((e) => [e.split('=')[0]!, e.slice(e.indexOf('=') + 1)]));
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

function dependsOn(service: Service): Record<string, string> {
  const deps = service.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([k, v]) => [k, v.condition ?? 'service_started']));
}

/** [published host port, container port] pairs. */
function ports(service: Service): [number, number][] {
  return (service.ports ?? []).map((p) => {
    if (typeof p === 'object') return [Number(p.published ?? p.target), Number(p.target)];
    const parts = String(p).split('/')[0]!.split(':');
    const container = Number(parts.at(-1));
    return [parts.length > 1 ? Number(parts.at(-2)) : container, container];
  });
}

function commandText(service: Service): string {
  const part = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(' ') : (v ?? ''));
  return `${part(service.entrypoint)} ${part(service.command)}`;
}

/** `${VAR}`, `${VAR:-x}`, `${VAR:?msg}`, `$VAR` — compose interpolation, ignoring `$$` escapes. */
function interpolatedVariables(value: unknown): string[] {
  const text = JSON.stringify(value).replaceAll('$$', '');
  return [...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)|\$([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => (m[1] ?? m[2])!);
}

const byImage = (prefix: string) => Object.entries(services).filter(([, s]) => s.image?.startsWith(prefix));
const itineraServices = Object.entries(services).filter(([, s]) => s.build !== undefined);
const postgresName = byImage('postgres:')[0]?.[0];
const temporalName = byImage('temporalio/server:')[0]?.[0];

describe('temporal-compose.yml: services and ports', () => {
  it('defines the whole stack', () => {
    for (const name of ['postgresql', 'temporal-schema', 'temporal', 'temporal-namespace', 'temporal-ui', 'mailpit', 'itinera-init', 'itinera-api', 'itinera-worker']) {
      expect(services, name).toHaveProperty(name);
    }
    expect(postgresName).toBe('postgresql');
    expect(temporalName).toBe('temporal');
    expect(services['temporal-ui']!.image).toMatch(/^temporalio\/ui:/);
    // Server and admin tools at one version (the admin-tools tag starts with the server's).
    const version = services.temporal!.image!.split(':')[1]!;
    for (const job of ['temporal-schema', 'temporal-namespace']) expect(services[job]!.image, job).toMatch(new RegExp(`^temporalio/admin-tools:${version.replaceAll('.', '\\.')}-`));
    expect(services.mailpit!.image).toMatch(/^axllent\/mailpit:/);
  });

  it('publishes Temporal 7233, Temporal UI 8080, the API 3000 and Mailpit 8025', () => {
    expect(ports(services.temporal!)).toContainEqual([7233, 7233]);
    expect(ports(services['temporal-ui']!)).toContainEqual([8080, 8080]);
    expect(ports(services['itinera-api']!)).toContainEqual([3000, 3000]);
    expect(ports(services.mailpit!)).toContainEqual([8025, 8025]);
    // No two services fight over one host port.
    const published = Object.values(services).flatMap((s) => ports(s).map(([host]) => host));
    expect(new Set(published).size).toBe(published.length);
  });

  it('runs the API and the worker from the same image with the package.json scripts', () => {
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    const expected: Record<string, string> = { 'itinera-api': 'api', 'itinera-worker': 'worker' };
    // The one-shot init job: migrate, then publish the journey files (the CLI's publish), each a package.json script.
    const init = commandText(services['itinera-init']!);
    for (const script of ['db:migrate', 'itinera']) expect(init).toContain(`npm run --silent ${script}`);
    for (const script of ['db:migrate', 'itinera']) expect(scripts).toHaveProperty(script);
    expect(init).toContain('-- publish');
    for (const [name, service] of itineraServices) {
      if (name === 'itinera-init') continue;
      const match = /^npm run ([\w:-]+)$/.exec(commandText(service).trim());
      expect(match, `${name} command`).not.toBeNull();
      expect(scripts, `${name} runs a script package.json defines`).toHaveProperty(match![1]!);
      if (expected[name]) expect(match![1]).toBe(expected[name]);
    }
    expect(itineraServices.map(([n]) => n)).toEqual(expect.arrayContaining(['itinera-api', 'itinera-worker']));
  });

  it('binds the API on all interfaces on the port it publishes', () => {
    const env = environment(services['itinera-api']!);
    expect(env.HOST).toBe('0.0.0.0');
    expect(ports(services['itinera-api']!).map(([, container]) => container)).toContain(Number(env.PORT ?? 3000));
  });
});

describe('temporal-compose.yml: start order', () => {
  it('sets up the schema once Postgres is healthy, and starts Temporal only after that', () => {
    expect(dependsOn(services['temporal-schema']!)).toMatchObject({ postgresql: 'service_healthy' });
    expect(dependsOn(services.temporal!)).toMatchObject({ 'temporal-schema': 'service_completed_successfully' });
    expect(dependsOn(services['temporal-namespace']!)).toMatchObject({ temporal: 'service_healthy' });
  });

  it('starts the API and workers after the init job, the namespace job and the mail sink', () => {
    expect(dependsOn(services['itinera-init']!)).toMatchObject({ postgresql: 'service_healthy' });
    for (const name of ['itinera-api', 'itinera-worker']) {
      expect(dependsOn(services[name]!), name).toMatchObject({
        'itinera-init': 'service_completed_successfully',
        'temporal-namespace': 'service_completed_successfully',
        mailpit: 'service_healthy',
      });
    }
    expect(dependsOn(services['temporal-ui']!)).toHaveProperty('temporal');
  });

  it('lets the worker scale: no container name, no published port', () => {
    const worker = services['itinera-worker']! as Service & { container_name?: string };
    expect(worker.container_name).toBeUndefined();
    expect(ports(worker)).toEqual([]);
  });

  it('only waits on health of services that have a health check, and only on services that exist', () => {
    const dockerfileHasHealthcheck = /^HEALTHCHECK\s+(?!NONE)/m.test(dockerfile);
    for (const [name, service] of Object.entries(services)) {
      for (const [dep, condition] of Object.entries(dependsOn(service))) {
        expect(services, `${name} depends on ${dep}`).toHaveProperty(dep);
        const target = services[dep]!;
        if (condition === 'service_healthy') {
          const own = target.healthcheck;
          const hasCheck = own ? !own.disable && own.test !== undefined : target.build !== undefined && dockerfileHasHealthcheck;
          expect(hasCheck, `${name} waits for ${dep} to be healthy but ${dep} has no health check`).toBe(true);
        }
        if (condition === 'service_completed_successfully') {
          expect(JSON.stringify(target), `${dep} must be a one-shot job`).toMatch(/"restart":"no"/);
        }
      }
    }
  });

  it('checks Postgres with pg_isready and Temporal by its frontend port', () => {
    expect(JSON.stringify(services.postgresql!.healthcheck?.test)).toContain('pg_isready');
    expect(services.temporal!.healthcheck?.test).toEqual(['CMD', 'nc', '-z', 'localhost', '7233']);
  });
});

describe('temporal-compose.yml: itinera configuration', () => {
  const known = new Set(configKeys());

  it('reads the known variable list from src/config.ts', () => {
    for (const key of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'SMTP_URL', 'SIGNING_SECRET', 'PUBLIC_BASE_URL']) {
      expect(known, key).toContain(key);
    }
  });

  it('sets and interpolates only variables the config understands', () => {
    expect(itineraServices.length).toBeGreaterThanOrEqual(2);
    for (const [name, service] of itineraServices) {
      const env = environment(service);
      expect(Object.keys(env).length, `${name} has an environment`).toBeGreaterThan(0);
      for (const key of Object.keys(env)) expect(known, `${name} sets ${key}`).toContain(key);
      for (const variable of interpolatedVariables(service)) expect(known, `${name} interpolates \${${variable}}`).toContain(variable);
    }
  });

  it('gives every itinera service the database, Temporal, SMTP, public URL and signing secret', () => {
    for (const [name, service] of itineraServices) {
      expect(Object.keys(environment(service)), name).toEqual(
        expect.arrayContaining(['DATABASE_URL', 'TEMPORAL_ADDRESS', 'SMTP_URL', 'PUBLIC_BASE_URL', 'SIGNING_SECRET']),
      );
    }
  });

  it('requires SIGNING_SECRET and MAIL_PHYSICAL_ADDRESS from the caller instead of shipping defaults', () => {
    for (const [name, service] of itineraServices) {
      expect(environment(service).SIGNING_SECRET, name).toMatch(/^\$\{SIGNING_SECRET:\?.+\}$/);
      // The production worker refuses to start without it (every marketing email carries the sender's address).
      expect(environment(service).MAIL_PHYSICAL_ADDRESS, name).toMatch(/^\$\{MAIL_PHYSICAL_ADDRESS:\?.+\}$/);
      expect(environment(service).NODE_ENV, name).toBe('production');
    }
  });

  it('points DATABASE_URL at the Postgres service and the itinera database its init script creates', () => {
    const initDir = (services.postgresql!.volumes ?? [])
      .map((v) => (typeof v === 'string' ? v.split(':') : [v.source ?? '', v.target]))
      .find(([, target]) => target === '/docker-entrypoint-initdb.d')?.[0];
    expect(initDir, 'postgresql mounts an init script directory').toBeDefined();
    const initSql = read(path.join(initDir!, '10-itinera.sql'));

    for (const [name, service] of itineraServices) {
      const url = new URL(environment(service).DATABASE_URL!);
      expect(url.protocol, name).toMatch(/^postgres(ql)?:$/);
      expect(url.hostname, name).toBe(postgresName);
      expect(url.port || '5432', name).toBe('5432');
      const database = url.pathname.slice(1);
      expect(database, `${name} uses its own database, not Temporal's`).not.toMatch(/^(temporal|temporal_visibility|postgres)$/);
      expect(initSql).toMatch(new RegExp(`CREATE DATABASE ${database}\\b`, 'i'));
      expect(initSql).toMatch(new RegExp(`CREATE ROLE ${url.username}\\b[^;]*PASSWORD '${url.password}'`, 'i'));
    }
  });

  it('points TEMPORAL_ADDRESS and SMTP_URL at the services that serve them', () => {
    for (const [name, service] of itineraServices) {
      const env = environment(service);
      const [host, port] = env.TEMPORAL_ADDRESS!.split(':');
      expect(host, name).toBe(temporalName);
      expect(ports(services[temporalName!]!).map(([, container]) => container)).toContain(Number(port));
      expect(new URL(env.SMTP_URL!).hostname, name).toBe('mailpit');
    }
    expect(environment(services['temporal-ui']!).TEMPORAL_ADDRESS).toBe(`${temporalName}:7233`);
  });
});

describe('temporal-compose.yml: Temporal setup', () => {
  it('uses Postgres persistence against the postgresql service, the same databases the schema job sets up', () => {
    const schemaEnv = environment(services['temporal-schema']!);
    for (const key of ['POSTGRES_SEEDS', 'DB_PORT', 'POSTGRES_USER', 'POSTGRES_PWD', 'DBNAME', 'VISIBILITY_DBNAME']) {
      expect(environment(services.temporal!)[key], key).toBe(schemaEnv[key]);
    }
    expect(Number(environment(services.temporal!).NUM_HISTORY_SHARDS)).toBeGreaterThan(0);
    expect(environment(services.temporal!)).toMatchObject({
      DB: 'postgres12',
      DB_PORT: '5432',
      POSTGRES_SEEDS: postgresName,
      POSTGRES_USER: environment(services.postgresql!).POSTGRES_USER,
      POSTGRES_PWD: environment(services.postgresql!).POSTGRES_PASSWORD,
    });
  });

  it('mounts the dynamic config file it names', () => {
    const env = environment(services.temporal!);
    const mount = (services.temporal!.volumes ?? [])
      .map((v) => (typeof v === 'string' ? v.split(':') : [v.source ?? '', v.target]))
      .find(([, target]) => target === '/etc/temporal/config/dynamicconfig');
    expect(mount).toBeDefined();
    const file = path.join(mount![0]!, path.basename(env.DYNAMIC_CONFIG_FILE_PATH!));
    expect(env.DYNAMIC_CONFIG_FILE_PATH).toBe(`config/dynamicconfig/${path.basename(file)}`);
    expect(parse(read(file))).toBeTypeOf('object');
  });

  it('registers exactly the search attributes the workflows use', () => {
    const job = services['temporal-namespace']!;
    const scriptsDir = (job.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':') : [v.source ?? '', v.target])).find(([, t]) => t === '/scripts')?.[0];
    expect(scriptsDir, 'temporal-namespace mounts its scripts at /scripts').toBeDefined();
    const script = read(path.join(scriptsDir!, path.basename(commandText(job).trim().split(/\s+/).at(-1)!)));
    expect(script).toContain('cli operator search-attribute create');
    // Every CLI call goes through `cli`, which bounds it (the CLI's own default is no deadline).
    expect(script).toMatch(/^cli\(\) \{ temporal "\$@" .*--command-timeout /m);
    expect(script.split('\n').filter((l) => /^\s*(until |if ! )?temporal /.test(l))).toEqual([]);
    const registered = Object.fromEntries(
      [...script.matchAll(/--name\s+(\w+)\s+--type\s+(\w+)/g)].map((m) => [m[1], m[2]]),
    );
    expect(registered).toEqual(EXPECTED_SEARCH_ATTRIBUTES);

    const source = path.join(ROOT, 'src/contracts/search-attributes.ts');
    const defined = Object.fromEntries(
      [...readFileSync(source, 'utf8').matchAll(/defineSearchAttributeKey\(\s*'(\w+)',\s*SearchAttributeType\.(\w+)\s*\)/g)].map(
        (m) => [m[1], m[2]!.charAt(0) + m[2]!.slice(1).toLowerCase()],
      ),
    );
    expect(Object.keys(defined).length).toBeGreaterThan(0);
    expect(registered).toEqual(defined);
  });
});

describe('temporal-compose.yml: images and build', () => {
  it('pins every pulled image to a specific version', () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.build !== undefined) continue;
      const image = service.image ?? '';
      const tag = /^[^@]+:([^:@/]+)(@sha256:[0-9a-f]{64})?$/.exec(image)?.[1];
      expect(tag, `${name} image ${image} has a tag`).toBeDefined();
      expect(tag, `${name} image ${image}`).not.toMatch(/latest|^(main|master|edge|nightly)$/);
      expect(tag, `${name} image ${image} is pinned to at least major.minor`).toMatch(/\d+\.\d+/);
    }
  });

  it('builds itinera from a Dockerfile that exists in an existing context', () => {
    for (const [name, service] of itineraServices) {
      const build = typeof service.build === 'string' ? { context: service.build } : service.build!;
      const context = path.join(ROOT, build.context ?? '.');
      expect(statSync(context).isDirectory(), `${name} build context`).toBe(true);
      expect(existsSync(path.join(context, build.dockerfile ?? 'Dockerfile')), `${name} Dockerfile`).toBe(true);
      expect(existsSync(path.join(context, 'package.json'))).toBe(true);
    }
  });

  it('mounts only host paths that exist', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const source = typeof volume === 'string' ? volume.split(':')[0]! : (volume.source ?? '');
        if (source.startsWith('.') || source.startsWith('/')) {
          expect(existsSync(path.join(ROOT, source)), `${name} mounts ${source}`).toBe(true);
        } else {
          expect(compose.volumes ?? {}, `${name} uses named volume ${source}`).toHaveProperty(source);
        }
      }
    }
  });
});

describe('Dockerfile', () => {
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const lastStage = instructions.slice(instructions.findLastIndex((l) => /^FROM\s/i.test(l)));

  it('is multi-stage on bookworm-slim with the Node major CI tests on, and installs with npm ci', () => {
    expect(instructions.filter((l) => /^FROM\s/i.test(l)).length).toBeGreaterThanOrEqual(2);
    const ciNode = /^NODE_VERSION=(\d+)\./m.exec(read('.ci/run'))?.[1];
    expect(ciNode, '.ci/run pins NODE_VERSION').toBe('24');
    expect(dockerfile).toMatch(new RegExp(`node:${ciNode}[\\w.-]*-bookworm-slim`));
    expect(instructions.some((l) => /^RUN\s.*\bnpm ci\b/.test(l))).toBe(true);
  });

  it('runs the final stage as a non-root user', () => {
    const users = lastStage.filter((l) => /^USER\s/i.test(l)).map((l) => l.split(/\s+/)[1]!);
    expect(users.length, 'final stage sets USER').toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:.*)?$/);
  });

  it('sets NODE_ENV=production and defaults to the API', () => {
    expect(lastStage.some((l) => /^ENV\s.*\bNODE_ENV=production\b/.test(l))).toBe(true);
    const cmd = lastStage.filter((l) => /^CMD\s/.test(l)).at(-1);
    expect(JSON.parse(cmd!.replace(/^CMD\s+/, ''))).toEqual(['npm', 'run', 'api']);
  });

  it('has a HEALTHCHECK that asks /healthz with node (no curl in slim images)', () => {
    const check = lastStage.find((l) => /^HEALTHCHECK\s/.test(l));
    expect(check).toBeDefined();
    expect(check).toContain('http://127.0.0.1:3000/healthz');
    expect(check).toMatch(/CMD \["node",/);
    expect(check).not.toMatch(/\b(curl|wget)\b/);
  });

  it('keeps local state out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim().replace(/\/$/, ''));
    for (const entry of ['node_modules', '.data', '.tools', '.git', 'bench/results', 'coverage']) {
      expect(ignored, entry).toContain(entry);
    }
  });
});
