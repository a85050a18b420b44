import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  DEFERRED_EXTRA_CA_CERTS,
  PROXY_NODE_OPTIONS,
  relaunchCommandLine,
  relaunchEnvironment,
} from '../../../bin/relaunch.js';
import { DEFERRED_EXTRA_CA_CERTS as READ_FROM } from '../../../src/core/index.ts';
import { REPO_ROOT } from '../../helpers/processes.ts';

const NODE = '/usr/bin/node';
const BIN = '/app/bin/trellis.js';

function proxyProcess(overrides: Partial<Parameters<typeof relaunchCommandLine>[0]> = {}) {
  return {
    argv: [NODE, BIN, 'proxy', '--service', 'orders'],
    execArgv: [],
    execPath: NODE,
    env: {},
    channel: undefined,
    ...overrides,
  };
}

/** Runs `script` (ES module) in a child node; its stdout, stderr, exit code and PID. */
async function runChild(script: string) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { stdout, stderr, code, pid: child.pid };
}

describe('relaunchCommandLine', () => {
  it("starts a proxy's Node again with one V8 background thread, its options and arguments kept", () => {
    expect(PROXY_NODE_OPTIONS).toEqual(['--v8-pool-size=1']);
    expect(relaunchCommandLine(proxyProcess({ execArgv: ['--max-old-space-size=256'] }))).toEqual([
      NODE,
      '--max-old-space-size=256',
      '--v8-pool-size=1',
      BIN,
      'proxy',
      '--service',
      'orders',
    ]);
    expect(relaunchCommandLine(proxyProcess({ argv: [NODE, BIN, 'gateway'] }))?.slice(1)).toEqual([
      '--v8-pool-size=1',
      BIN,
      'gateway',
    ]);
  });

  it('leaves other commands, a process that has the options, and one with an IPC channel alone', () => {
    expect(relaunchCommandLine(proxyProcess({ argv: [NODE, BIN, 'start'] }))).toBeUndefined();
    expect(relaunchCommandLine(proxyProcess({ argv: [NODE, BIN] }))).toBeUndefined();
    // Relaunched already, or the user's own choice, on the command line or in NODE_OPTIONS.
    expect(relaunchCommandLine(proxyProcess({ execArgv: ['--v8-pool-size=1'] }))).toBeUndefined();
    expect(relaunchCommandLine(proxyProcess({ execArgv: ['--v8-pool-size=4'] }))).toBeUndefined();
    expect(
      relaunchCommandLine(proxyProcess({ env: { NODE_OPTIONS: '--trace-warnings --v8-pool-size=2' } })),
    ).toBeUndefined();
    expect(relaunchCommandLine(proxyProcess({ channel: {} }))).toBeUndefined();
  });
});

describe('relaunchEnvironment: NODE_EXTRA_CA_CERTS deferred', () => {
  const CA_FILE = '/etc/mesh/ca.pem';

  it('starts Node without the variable, its file named where src/core/extra-ca-certs.ts reads it', () => {
    expect(DEFERRED_EXTRA_CA_CERTS).toBe(READ_FROM);
    const env = { PATH: '/usr/bin', NODE_EXTRA_CA_CERTS: CA_FILE };
    expect(relaunchEnvironment({ execArgv: [], env })).toEqual({
      PATH: '/usr/bin',
      [DEFERRED_EXTRA_CA_CERTS]: CA_FILE,
    });
    expect(env).toEqual({ PATH: '/usr/bin', NODE_EXTRA_CA_CERTS: CA_FILE });
  });

  it('is a reason to relaunch even when every option is there already', () => {
    const given = proxyProcess({ execArgv: ['--v8-pool-size=1'], env: { NODE_EXTRA_CA_CERTS: CA_FILE } });
    expect(relaunchCommandLine(given)).toEqual([
      NODE,
      '--v8-pool-size=1',
      BIN,
      'proxy',
      '--service',
      'orders',
    ]);
    // The relaunched process has nothing left to defer: no loop.
    expect(relaunchCommandLine({ ...given, env: relaunchEnvironment(given) })).toBeUndefined();
  });

  it("keeps the variable where the default trust is OpenSSL's store, and when there is none", () => {
    for (const given of [
      { execArgv: ['--use-openssl-ca'], env: { NODE_EXTRA_CA_CERTS: CA_FILE } },
      { execArgv: [], env: { NODE_OPTIONS: '--use-openssl-ca', NODE_EXTRA_CA_CERTS: CA_FILE } },
      { execArgv: [], env: { NODE_EXTRA_CA_CERTS: '' } },
      { execArgv: [], env: {} },
    ]) {
      expect(relaunchEnvironment(given)).toBe(given.env);
      expect(
        relaunchCommandLine(
          proxyProcess({ execArgv: ['--v8-pool-size=1', ...given.execArgv], env: given.env }),
        ),
      ).toBeUndefined();
    }
  });
});

describe('relaunch (native/process-exec)', () => {
  it('replaces the process: same PID and standard streams, the new program decides the exit code', async () => {
    const { stdout, stderr, code, pid } = await runChild(`
      import { relaunch } from './bin/relaunch.js';
      relaunch(new URL('file://${REPO_ROOT}/'), ['/bin/sh', '-c', 'echo "pid $$ $GREETING"; echo to-stderr >&2; exit 7'], { GREETING: 'hello' });
      console.log('not replaced');
    `);
    expect(stdout.trim()).toBe(`pid ${pid} hello`);
    expect(stderr.trim()).toBe('to-stderr');
    expect(code).toBe(7);
  });

  it('returns, with the reason, when the system cannot run the program', async () => {
    const { stdout, code } = await runChild(`
      import { relaunch } from './bin/relaunch.js';
      relaunch(new URL('file://${REPO_ROOT}/'), ['/nonexistent/node'], {}, (error) => console.log(error.code, error.message));
      console.log('still running');
    `);
    expect(stdout.trim().split('\n')).toEqual([
      'TRELLIS_EXEC_FAILED No such file or directory',
      'still running',
    ]);
    expect(code).toBe(0);
  });

  it('returns without a word where the native module is not built', async () => {
    const { stdout, code } = await runChild(`
      import { relaunch } from './bin/relaunch.js';
      relaunch(new URL('file:///nonexistent/'), ['/bin/true'], {}, () => console.log('error'));
      console.log('still running');
    `);
    expect(stdout.trim()).toBe('still running');
    expect(code).toBe(0);
  });
});
