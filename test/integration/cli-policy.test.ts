/** `trellis policy`, `trellis routes` and `trellis route add|rm`: the real binary against a real control plane. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestControl, type TestControl } from '../helpers/control.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TRELLIS_BIN = fileURLToPath(new URL('../../bin/trellis.js', import.meta.url));

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function trellis(args: string[]): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env))
    if (!name.startsWith('TRELLIS_')) env[name] = value;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [TRELLIS_BIN, ...args],
      { cwd: REPO_ROOT, env, timeout: 30_000 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') reject(Object.assign(error, { stdout, stderr }));
        else resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
      },
    );
  });
}

// Each CLI run starts a Node process: generous timeouts, and independent runs go in parallel.
describe('trellis policy and route commands', { timeout: 90_000 }, () => {
  let node: TestControl;
  let control: string[];

  beforeAll(async () => {
    node = await startTestControl();
    control = ['--control', node.url];
    await call(node.url, 'POST', '/api/v1/instances', { service: 'web', address: '127.0.0.1', port: 8081 });
  });

  afterAll(async () => {
    await node?.close();
  });

  it('shows a policy as a table of the fields --set takes, and as JSON', async () => {
    const [table, json, missing] = await Promise.all([
      trellis(['policy', 'web', ...control]),
      trellis(['policy', 'web', '--json', ...control]),
      trellis(['policy', 'nobody', ...control]),
    ]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('policy of web (the defaults)');
    expect(table.stdout).toMatch(/^loadBalancer\.kind\s+ewma$/m);
    expect(table.stdout).toMatch(/^timeout\.requestMs\s+15s$/m);
    expect(table.stdout).toMatch(/^retry\.retryOn\s+connect-failure,reset,gateway-error$/m);
    expect(JSON.parse(json.stdout)).toMatchObject({ service: 'web', retry: { maxAttempts: 2 } });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('SERVICE_NOT_FOUND');
  });

  it('changes fields with --set, through the schema', async () => {
    const set = await trellis([
      'policy',
      'web',
      '--set',
      'loadBalancer.kind=round-robin',
      '--set',
      'retry.maxAttempts=3',
      '--set',
      'timeout.requestMs=2s',
      '--set',
      'retry.retryOn=connect-failure,5xx',
      '--set',
      'retry.retriableStatusCodes=502,503',
      '--set',
      'circuitBreaker.enabled=false',
      '--set',
      'retry.budget.ratio=0.1',
      ...control,
    ]);
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    expect(set.stdout).toContain('updated the policy of web');
    const policy = (await call(node.url, 'GET', '/api/v1/services/web/policy')).body;
    expect(policy).toMatchObject({
      loadBalancer: { kind: 'round-robin' },
      circuitBreaker: { enabled: false },
      retry: {
        maxAttempts: 3,
        retryOn: ['connect-failure', '5xx'],
        retriableStatusCodes: [502, 503],
        budget: { ratio: 0.1, minPerSecond: 10 },
      },
      timeout: { requestMs: 2000, idleMs: 60_000 },
    });

    const [range, typo, cross, malformed, shown] = await Promise.all([
      trellis(['policy', 'web', '--set', 'retry.maxAttempts=30', ...control]),
      trellis(['policy', 'web', '--set', 'retry.maxAtempts=3', ...control]),
      trellis(['policy', 'web', '--set', 'retry.backoffBaseMs=1s', ...control]),
      trellis(['policy', 'web', '--set', 'retry.maxAttempts', ...control]),
      trellis(['policy', 'web', ...control]),
    ]);
    expect(range.code).toBe(1);
    expect(range.stderr).toBe(
      'error: BAD_REQUEST: invalid policy: retry.maxAttempts: must be an integer from 1 to 10\n',
    );
    expect(typo.stderr).toContain('retry.maxAtempts: unknown field "maxAtempts"');
    // Checked by the server, on the merged policy.
    expect(cross.code).toBe(1);
    expect(cross.stderr).toContain('retry.backoffBaseMs: must not exceed retry.backoffMaxMs (250ms)');
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toContain('expected key=value');
    expect(shown.stdout).toContain('policy of web (set for this service)');
    // The refused runs changed nothing.
    expect((await call(node.url, 'GET', '/api/v1/services/web/policy')).body).toEqual(policy);

    const reset = await trellis(['policy', 'web', '--reset', ...control]);
    expect(reset.code).toBe(0);
    expect(reset.stdout).toContain('web is back on the default policy');
    expect((await call(node.url, 'GET', '/api/v1/policies')).body.policies).toEqual([]);
  });

  it('adds, lists and removes routes', async () => {
    const [added, json] = await Promise.all([
      trellis([
        'route',
        'add',
        'api',
        '--service',
        'orders',
        '--prefix',
        '/api',
        '--strip-prefix',
        '--host',
        'api.example.com',
        '--method',
        'GET',
        '--method',
        'post',
        '--rewrite-host',
        'orders.internal',
        ...control,
      ]),
      trellis([
        'route',
        'add',
        'versioned',
        '--service',
        'web',
        '--regex',
        '^/v[0-9]+/',
        '--priority',
        '10',
        '--header',
        'x-canary=1',
        '--json',
        ...control,
      ]),
    ]);
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    expect(added.stdout).toBe('added route api → orders\n');
    expect(JSON.parse(json.stdout)).toMatchObject({
      name: 'versioned',
      priority: 10,
      match: { path: { regex: '^/v[0-9]+/' }, headers: [{ name: 'x-canary', exact: '1' }] },
    });
    expect((await call(node.url, 'GET', '/api/v1/routes/api')).body).toMatchObject({
      service: 'orders',
      stripPrefix: true,
      rewriteHost: 'orders.internal',
      match: { path: { prefix: '/api' }, hosts: ['api.example.com'], methods: ['GET', 'POST'] },
    });

    const [table, duplicate, twoPaths, badPriority] = await Promise.all([
      trellis(['routes', ...control]),
      trellis(['route', 'add', 'api', '--service', 'orders', ...control]),
      trellis(['route', 'add', 'x', '--service', 'orders', '--prefix', '/a', '--exact', '/b', ...control]),
      trellis(['route', 'add', 'x', '--service', 'orders', '--priority', 'high', ...control]),
    ]);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+PRIORITY\s+HOSTS\s+METHODS\s+PATH\s+SERVICE\s+OPTIONS$/);
    expect(lines[1]).toMatch(/^versioned\s+10\s+\*\s+\*\s+~ \^\/v\[0-9\]\+\/\s+web\s+header x-canary=1$/);
    expect(lines[2]).toMatch(
      /^api\s+0\s+api\.example\.com\s+GET,POST\s+\/api\*\s+orders\s+strip-prefix, host=orders\.internal$/,
    );
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toContain('CONFLICT: a route named "api" already exists');
    expect(twoPaths.code).toBe(1);
    expect(twoPaths.stderr).toContain('match.path: a path match needs exactly one of exact, prefix or regex');
    expect(badPriority.stderr).toContain('priority:');

    const [removed, missing] = await Promise.all([
      trellis(['route', 'rm', 'api', ...control]),
      trellis(['route', 'rm', 'nope', ...control]),
    ]);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toBe('removed route api\n');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('NOT_FOUND: no route named "nope"');
    const after = await trellis(['routes', '--json', ...control]);
    expect(JSON.parse(after.stdout).routes.map((route: { name: string }) => route.name)).toEqual([
      'versioned',
    ]);
  });
});
