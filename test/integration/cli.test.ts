/** The real `trellis` binary, run as a child process against control planes started in this process. */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestControl, type TestControl } from '../helpers/control.ts';
import { freePort } from '../helpers/ports.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TRELLIS_BIN = fileURLToPath(new URL('../../bin/trellis.js', import.meta.url));

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment without the TRELLIS_* variables of whoever runs the tests. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env))
    if (!name.startsWith('TRELLIS_')) env[name] = value;
  return { ...env, ...extra };
}

function trellis(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [TRELLIS_BIN, ...args],
      { cwd: options.cwd ?? REPO_ROOT, env: cleanEnv(options.env), timeout: 30_000 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') reject(Object.assign(error, { stdout, stderr }));
        else resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
      },
    );
  });
}

interface Running {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];

function spawnTrellis(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Running {
  const child = spawn(process.execPath, [TRELLIS_BIN, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: cleanEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  const collect = (chunk: string) => {
    output += chunk;
  };
  child.stdout!.setEncoding('utf8').on('data', collect);
  child.stderr!.setEncoding('utf8').on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'trellis-cli-'));
  dirs.push(dir);
  return dir;
}

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

// Each CLI run starts a Node process (a second or more on a busy machine): generous timeouts, and
// independent runs go in parallel.
describe('trellis client commands', { timeout: 90_000 }, () => {
  let node: TestControl;
  let control: string[];

  beforeAll(async () => {
    node = await startTestControl();
    control = ['--control', node.url];
  });

  afterAll(async () => {
    await node?.close();
  });

  it('registers instances', async () => {
    const [first, second] = await Promise.all([
      trellis([
        'register',
        'web',
        '127.0.0.1:8081',
        '--ttl',
        '30s',
        '--tag',
        'frontend',
        '--tag',
        'v1',
        '--meta',
        'team=store',
        '--weight',
        '50',
        '--zone',
        'local-a',
        ...control,
      ]),
      trellis(['register', 'web', '127.0.0.1:8082', '--id', 'web-b', '--json', ...control]),
    ]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('registered web-127.0.0.1-8081');
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({
      id: 'web-b',
      service: 'web',
      port: 8082,
      weight: 100,
    });
  });

  it('lists services and instances as aligned tables, and as JSON', async () => {
    const [services, instances, instancesJson, servicesJson] = await Promise.all([
      trellis(['services', ...control]),
      trellis(['instances', 'web', ...control]),
      trellis(['instances', 'web', '--json', ...control]),
      trellis(['services', '--json', ...control]),
    ]);
    expect(services.code).toBe(0);
    const lines = services.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^SERVICE\s+INSTANCES\s+HEALTHY\s+DEGRADED\s+UNHEALTHY\s+UNKNOWN\s+TAGS$/);
    expect(lines.find((line) => line.startsWith('web '))).toMatch(/^web\s+2\s+/);
    // Columns line up: every row has a space just before where the header's second column starts.
    const column = lines[0]!.indexOf('INSTANCES');
    for (const line of lines.slice(1)) expect(line[column - 1]).toBe(' ');

    expect(instances.code).toBe(0);
    expect(instances.stdout).toMatch(/^ID\s+ADDRESS\s+HEALTH\s+WEIGHT\s+ZONE\s+VERSION\s+CHECK\s+TAGS\n/);
    expect(instances.stdout).toMatch(
      /web-127\.0\.0\.1-8081\s+127\.0\.0\.1:8081\s+\w+\s+50\s+local-a\s+-\s+ttl 30s\s+frontend,v1/,
    );
    expect(instances.stdout).toContain('web-b');

    const parsed = JSON.parse(instancesJson.stdout);
    expect(parsed.service.name).toBe('web');
    const first = parsed.instances.find((instance: { id: string }) => instance.id === 'web-127.0.0.1-8081');
    expect(first).toMatchObject({ metadata: { team: 'store' }, tags: ['frontend', 'v1'], zone: 'local-a' });
    const names = JSON.parse(servicesJson.stdout).services.map((service: { name: string }) => service.name);
    expect(names).toContain('web');
  });

  it('records heartbeats and shows mesh health', async () => {
    const [heartbeat, health, healthJson] = await Promise.all([
      trellis(['heartbeat', 'web-127.0.0.1-8081', ...control]),
      trellis(['health', ...control]),
      trellis(['health', '--json', ...control]),
    ]);
    expect(heartbeat.code).toBe(0);
    expect(heartbeat.stdout).toContain('heartbeat recorded');
    expect(health.code).toBe(0);
    expect(health.stdout).toMatch(/^mesh: \w+ \(store memory, connected; revision \d+\)/);
    expect(JSON.parse(healthJson.stdout).services.web.total).toBe(2);
  });

  it("deregisters, and fails with the server's code for an unknown id", async () => {
    const deregistered = await trellis(['deregister', 'web-b', ...control]);
    expect(deregistered.code).toBe(0);
    expect(deregistered.stdout).toBe('deregistered web-b\n');
    expect(node.registry.getInstance('web-b')).toBeUndefined();

    const again = await trellis(['deregister', 'web-b', ...control]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: INSTANCE_NOT_FOUND: /);
  });

  it('rejects a bad port before sending, naming the field', async () => {
    const offline = ['--control', `http://127.0.0.1:${await freePort()}`];
    const [result, local, missing, usage] = await Promise.all([
      trellis(['register', 'web', '127.0.0.1:70000', ...control]),
      // Nothing listens there: exit 1 rather than 2 shows the CLI validated without calling out.
      trellis(['register', 'web', '127.0.0.1:70000', ...offline]),
      trellis(['register', 'web', 'localhost', ...control]),
      trellis(['register', 'web', ...control]),
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: BAD_REQUEST: .*port: ports are 1-65535/);
    expect(local.code).toBe(1);
    expect(local.stderr).toMatch(/^error: BAD_REQUEST: .*port: ports are 1-65535/);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('port');
    expect(usage.code).toBe(1);
    expect(usage.stderr).toContain("missing required argument 'host:port'");
  });

  it('exits 2 when the control plane is unreachable, naming its URL', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const [result, fromEnv] = await Promise.all([
      trellis(['services', '--control', url]),
      trellis(['health'], { env: { TRELLIS_CONTROL: url } }),
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: CONTROL_PLANE_UNAVAILABLE: /);
    expect(result.stderr).toContain(url);
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toContain(url);
  });

  it('sends the admin token from --token or TRELLIS_ADMIN_TOKEN', async () => {
    const token = 'cli-test-admin-token-123';
    const secured = await startTestControl({ control: { adminToken: token } });
    try {
      const denied = await trellis(['services', '--control', secured.url]);
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(/^error: UNAUTHORIZED: /);
      expect((await trellis(['services', '--control', secured.url, '--token', token])).code).toBe(0);
      const fromEnv = await trellis(['services', '--control', secured.url], {
        env: { TRELLIS_ADMIN_TOKEN: token },
      });
      expect(fromEnv.code).toBe(0);
    } finally {
      await secured.close();
    }
  });

  it('documents the exit codes in --help', async () => {
    const help = await trellis(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit codes:');
    expect(help.stdout).toMatch(/2\s+the control plane could not be reached/);
    for (const command of [
      'start',
      'register',
      'deregister',
      'heartbeat',
      'services',
      'instances',
      'health',
    ]) {
      expect(help.stdout).toContain(command);
    }
  });
});

describe('trellis start', { timeout: 90_000 }, () => {
  it('serves until SIGTERM, then exits 0', async () => {
    const cwd = await tempDir();
    const dataDir = join(cwd, 'data');
    const port = await freePort();
    const running = spawnTrellis(
      ['start', '--port', String(port), '--gateway-port', '0', '--data-dir', dataDir, '--log-level', 'warn'],
      {
        cwd,
      },
    );
    const url = `http://127.0.0.1:${port}`;
    await eventually(async () => (await fetch(`${url}/readyz`)).ok, 20_000, 100);
    expect(running.output()).toContain(`listening on ${url}`);
    expect(running.output()).toContain(dataDir);

    const registered = await trellis(['register', 'api', '127.0.0.1:9001', '--control', url]);
    expect(registered.code).toBe(0);

    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
  });

  it('reads --config, with flags winning over the file', async () => {
    const cwd = await tempDir();
    const port = await freePort();
    const config = join(cwd, 'mesh.yaml');
    await writeFile(
      config,
      [
        'control:',
        '  port: 1', // overridden by --port
        `  dataDir: ${join(cwd, 'data')}`,
        'services:',
        '  - name: static',
        '    instances:',
        '      - address: 127.0.0.1',
        '        port: 9200',
        '',
      ].join('\n'),
    );
    const running = spawnTrellis(
      ['start', '--config', config, '--port', String(port), '--gateway-port', '0', '--log-level', 'silent'],
      {
        cwd,
      },
    );
    const url = `http://127.0.0.1:${port}`;
    await eventually(async () => (await fetch(`${url}/readyz`)).ok, 20_000, 100);
    const instances = await trellis(['instances', 'static', '--json', '--control', url]);
    expect(JSON.parse(instances.stdout).instances[0]).toMatchObject({ port: 9200 });
    running.child.kill('SIGINT');
    expect(await running.exited).toBe(0);
  });

  it('refuses a non-loopback host without an admin token', async () => {
    const cwd = await tempDir();
    const result = await trellis(
      ['start', '--host', '0.0.0.0', '--port', '0', '--data-dir', join(cwd, 'data')],
      {
        cwd,
      },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('admin token');
    expect(result.stderr).toContain('0.0.0.0');
  });

  it('exits 1 naming the file and the field of a bad --config', async () => {
    const cwd = await tempDir();
    const config = join(cwd, 'bad.yaml');
    await writeFile(
      config,
      'services:\n  - name: web\n    instances:\n      - address: 127.0.0.1\n        port: 70000\n',
    );
    const result = await trellis(['start', '--config', config], { cwd });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `error: INVALID_CONFIG: ${config}: services.0.instances.0.port: ports are 1-65535`,
    );
    expect(result.stderr).toContain('line 5');

    const missing = await trellis(['start', '--config', join(cwd, 'nope.yaml')], { cwd });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read');
    expect(missing.stderr).toContain('nope.yaml');
  });

  it('rejects a bad --port as a usage error', async () => {
    const result = await trellis(['start', '--port', 'eighty']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--port');
  });
});
