import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';

const ETCD = '/usr/bin/etcd';
const READY_TIMEOUT_MS = 20_000;

export interface EtcdProcess {
  /** `127.0.0.1:port` of the client listener. */
  endpoints: string[];
  pid: number;
  /** SIGTERM, then SIGKILL after 5 s; removes the data directory. */
  stop(): Promise<void>;
  /** SIGKILL, now (the data directory stays until stop()). */
  kill9(): void;
}

/** Starts a single-member etcd on free loopback ports with a fresh data directory. */
export async function startEtcd(): Promise<EtcdProcess> {
  if (!existsSync(ETCD)) {
    throw new Error(
      `${ETCD} is missing: run \`bash scripts/provision.sh\` to install etcd (tests never skip it).`,
    );
  }
  let lastError: unknown;
  // A port picked by freePort() can be taken before etcd binds it; try again with new ports.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce();
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function startOnce(): Promise<EtcdProcess> {
  const clientPort = await freePort();
  let peerPort = await freePort();
  while (peerPort === clientPort) peerPort = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), 'trellis-etcd-'));
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const env = { ...process.env };
  if (process.arch !== 'x64') env.ETCD_UNSUPPORTED_ARCH = process.arch;
  const child = spawn(
    ETCD,
    [
      '--name=trellis-test',
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=trellis-test=${peer}`,
      '--initial-cluster-state=new',
      // Short raft timers: a lone member elects itself fast, and the minimum lease TTL drops to 1 s.
      '--heartbeat-interval=50',
      '--election-timeout=500',
      '--logger=zap',
      '--log-outputs=stderr',
      '--log-level=warn',
    ],
    { env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8000);
  });
  const pid = child.pid;
  if (pid === undefined) {
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(`could not spawn ${ETCD}`);
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      signal(pid, 'SIGTERM');
      const killTimer = setTimeout(() => signal(pid, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(killTimer);
    }
    await rm(dataDir, { recursive: true, force: true });
  };

  try {
    await waitUntilHealthy(client, child, () => output);
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoints: [`127.0.0.1:${clientPort}`], pid, stop, kill9: () => signal(pid, 'SIGKILL') };
}

async function waitUntilHealthy(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `etcd exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output()}`,
      );
    }
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      const body = (await response.json()) as { health?: string };
      if (body.health === 'true') return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`etcd at ${url} was not healthy after ${READY_TIMEOUT_MS} ms:\n${output()}`);
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}
