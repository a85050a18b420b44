import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.ts';
import { rejection as failure } from '../../helpers/mesh-error.ts';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trellis-config-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

const YAML = `control:
  port: 7500
  dataDir: /tmp/somewhere
services:
  - name: web
    check:
      http: /healthz
      interval: 5s
    instances:
      - address: 127.0.0.1
        port: 8081
      - address: 127.0.0.1
        port: 8082
        weight: 10
`;

describe('loadConfig', () => {
  it('reads YAML, fills defaults and parses durations', async () => {
    const config = await loadConfig({ file: await file('trellis.yaml', YAML), env: {} });
    expect(config.control).toMatchObject({
      host: '127.0.0.1',
      port: 7500,
      dataDir: '/tmp/somewhere',
      store: 'memory',
    });
    expect(config.services[0]!.check).toMatchObject({ http: '/healthz', interval: 5000, timeout: 2000 });
    expect(config.services[0]!.instances.map((instance) => [instance.port, instance.weight])).toEqual([
      [8081, 100],
      [8082, 10],
    ]);
  });

  it('reads JSON', async () => {
    const json = JSON.stringify({ control: { port: 7600 }, services: [{ name: 'api', instances: [] }] });
    const config = await loadConfig({ file: await file('trellis.json', json), env: {} });
    expect(config.control.port).toBe(7600);
    expect(config.services.map((service) => service.name)).toEqual(['api']);
  });

  it('gives defaults without a file, and treats an empty file as no settings', async () => {
    expect((await loadConfig({ env: {} })).control).toMatchObject({ host: '127.0.0.1', port: 7400 });
    const config = await loadConfig({ file: await file('empty.yaml', ''), env: {} });
    expect(config.services).toEqual([]);
  });

  it('loads the shipped example', async () => {
    const config = await loadConfig({ file: 'examples/trellis.yaml', env: {} });
    expect(config.services.map((service) => service.name)).toEqual(['web', 'orders']);
    expect(config.services.every((service) => service.policy !== undefined)).toBe(true);
    expect(config.routes.map((route) => route.name)).toEqual(['orders-api', 'web']);
  });

  it('applies the environment over the file, and flags over both', async () => {
    const path = await file('precedence.yaml', YAML);
    const env = {
      TRELLIS_HOST: '127.0.0.2',
      TRELLIS_PORT: '7700',
      TRELLIS_STORE: 'etcd://127.0.0.1:2379',
      TRELLIS_ADMIN_TOKEN: 'a-token-of-sixteen-chars',
      TRELLIS_DATA_DIR: '',
    };
    const fromEnv = await loadConfig({ file: path, env });
    expect(fromEnv.control).toMatchObject({
      host: '127.0.0.2',
      port: 7700,
      dataDir: '/tmp/somewhere',
      store: 'etcd://127.0.0.1:2379',
      adminToken: 'a-token-of-sixteen-chars',
    });
    const fromFlags = await loadConfig({
      file: path,
      env,
      overrides: { port: 7800, dataDir: '/tmp/flag', host: undefined },
    });
    expect(fromFlags.control).toMatchObject({ host: '127.0.0.2', port: 7800, dataDir: '/tmp/flag' });
  });

  it('returns a deeply frozen result', async () => {
    const config = await loadConfig({ file: await file('frozen.yaml', YAML), env: {} });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.control)).toBe(true);
    expect(Object.isFrozen(config.services[0]!.instances[1])).toBe(true);
    expect(() => {
      (config.control as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('names the file, the path and the line of a bad port', async () => {
    const path = await file('trellis.yaml', YAML.replace('port: 8082', 'port: 70000'));
    const error = await failure(() => loadConfig({ file: path, env: {} }));
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toBe(`${path}: services.0.instances.1.port: ports are 1-65535 (line 13)`);
    expect(error.details).toEqual([
      { path: 'services.0.instances.1.port', message: 'ports are 1-65535', source: path, line: 13 },
    ]);
  });

  it('points a missing field at the line of its parent', async () => {
    const path = await file('missing.yaml', YAML.replace('        port: 8081\n', ''));
    const error = await failure(() => loadConfig({ file: path, env: {} }));
    expect(error.details[0]).toMatchObject({
      path: 'services.0.instances.0.port',
      message: 'required',
      line: 10,
    });
  });

  it('finds lines in JSON files too', async () => {
    const json = '{\n  "control": {\n    "port": 70000\n  }\n}\n';
    const error = await failure(async () => loadConfig({ file: await file('bad.json', json), env: {} }));
    expect(error.message).toContain('bad.json: control.port:');
    expect(error.details[0]).toMatchObject({ path: 'control.port', line: 3 });
  });

  it('rejects unknown fields by name', async () => {
    const path = await file('unknown.yaml', 'control:\n  prot: 7400\n');
    const error = await failure(() => loadConfig({ file: path, env: {} }));
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toBe(`${path}: control.prot: unknown field "prot" (line 2)`);
  });

  it('reads policies and routes, and names the line of a bad policy field or route', async () => {
    const good = await file(
      'policy.yaml',
      `services:
  - name: web
    policy:
      loadBalancer: { kind: round-robin }
      retry: { maxAttempts: 3, perTryTimeoutMs: 500ms }
routes:
  - name: web
    service: web
    match: { path: { prefix: /web } }
    stripPrefix: true
`,
    );
    const config = await loadConfig({ file: good, env: {} });
    expect(config.services[0]!.policy).toEqual({
      loadBalancer: { kind: 'round-robin' },
      retry: { maxAttempts: 3, perTryTimeoutMs: 500 },
    });
    expect(config.routes[0]).toMatchObject({ name: 'web', service: 'web', stripPrefix: true, priority: 0 });
    expect(Object.isFrozen(config.routes[0]!.match)).toBe(true);

    const badPolicy = await file(
      'bad-policy.yaml',
      'services:\n  - name: web\n    policy:\n      retry:\n        maxAttempts: 50\n',
    );
    const error = await failure(() => loadConfig({ file: badPolicy, env: {} }));
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toBe(
      `${badPolicy}: services.0.policy.retry.maxAttempts: must be an integer from 1 to 10 (line 5)`,
    );

    const badRoute = await file(
      'bad-route.yaml',
      'routes:\n  - name: api\n    service: api\n    match:\n      path: { regex: "(" }\n',
    );
    const routeError = await failure(() => loadConfig({ file: badRoute, env: {} }));
    expect(routeError.details[0]).toMatchObject({ path: 'routes.0.match.path.regex', line: 5 });
  });

  it('refuses a timeout below 1 ms in a policy or a route, naming the path and the line', async () => {
    const path = await file(
      'sub-ms.yaml',
      'services:\n  - name: web\n    policy:\n      timeout: { requestMs: 500us }\nroutes:\n  - name: web\n    service: web\n    timeout:\n      idleMs: 0.25\n',
    );
    const error = await failure(() => loadConfig({ file: path, env: {} }));
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toBe(
      `${path}: services.0.policy.timeout.requestMs: a timeout is 0 (none) or at least 1ms, got "500us" (line 4) (and 1 more)`,
    );
    expect(error.details[1]).toMatchObject({ path: 'routes.0.timeout.idleMs', line: 9 });
  });

  it('reports a YAML syntax error with its line and column', async () => {
    const path = await file('syntax.yaml', 'control:\n  port: 7400\nservices: [a,\n');
    const error = await failure(() => loadConfig({ file: path, env: {} }));
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toMatch(new RegExp(`^${path}: YAML syntax error at line \\d+, column \\d+: `));
    expect(error.details[0]).toMatchObject({
      file: path,
      line: expect.any(Number),
      column: expect.any(Number),
    });
  });

  it('reports malformed JSON', async () => {
    const error = await failure(async () =>
      loadConfig({ file: await file('broken.json', '{"control": '), env: {} }),
    );
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toContain('broken.json: invalid JSON');
  });

  it('reports a missing file', async () => {
    const path = join(dir, 'nope.yaml');
    const error = await failure(() => loadConfig({ file: path, env: {} }));
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toMatch(`cannot read ${path}: ENOENT`);
  });

  it('names the variable or flag a bad control setting came from', async () => {
    const badEnv = await failure(() => loadConfig({ env: { TRELLIS_STORE: 'redis://x' } }));
    expect(badEnv.message).toMatch(/^TRELLIS_STORE: control\.store: expected "memory"/);
    const badPort = await failure(() => loadConfig({ env: { TRELLIS_PORT: 'seventy' } }));
    expect(badPort.message).toBe('TRELLIS_PORT: control.port: expected a port number, got "seventy"');
    expect(badPort.details[0]!.path).toBe('control.port');
    const badFlag = await failure(() => loadConfig({ env: {}, overrides: { adminToken: 'short' } }));
    expect(badFlag.message).toMatch(/^--admin-token: control\.adminToken: /);
  });
});
