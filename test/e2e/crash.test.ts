/**
 * Durability across a crash: every registration the control plane acknowledged with a 2xx is still
 * there after the process is SIGKILLed mid-stream and restarted on the same data directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { call } from '../helpers/control.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const CHILD = join(ROOT, 'test/helpers/control-child.ts');
const CONCURRENCY = 8;
const KILL_AFTER_ACKS = 300;

interface Child {
  process: ChildProcess;
  pid: number;
  url: string;
  exited: Promise<void>;
}

const children: Child[] = [];

async function startChild(dataDir: string): Promise<Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dataDir, '0', 'memory'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const url = await new Promise<string>((done, fail) => {
    let stdout = '';
    const timer = setTimeout(() => fail(new Error(`the control plane did not start:\n${stderr}`)), 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((candidate) => candidate.startsWith('{'));
      if (line) {
        clearTimeout(timer);
        done((JSON.parse(line) as { url: string }).url);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      fail(new Error(`the control plane exited (${code ?? signal}) before listening:\n${stderr}`));
    });
  });
  const started = { process: child, pid: child.pid!, url, exited };
  children.push(started);
  return started;
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

describe('control plane: crash durability', () => {
  let dataDir: string | undefined;

  afterAll(async () => {
    for (const child of children) {
      if (child.process.exitCode === null && child.process.signalCode === null) {
        kill(child.pid, 'SIGKILL');
        await child.exited;
      }
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps every acknowledged registration after SIGKILL and restart', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'trellis-crash-'));
    const first = await startChild(dataDir);

    const acked: string[] = [];
    let attempted = 0;
    let killed = false;
    const worker = async () => {
      while (!killed) {
        const id = `crash-${attempted++}`;
        try {
          const res = await call(first.url, 'POST', '/api/v1/instances', {
            id,
            service: 'crash',
            address: '127.0.0.1',
            port: 10_000 + (attempted % 50_000),
          });
          if (res.status >= 200 && res.status < 300) acked.push(id);
          else if (!killed)
            throw new Error(`registration ${id} failed: ${res.status} ${JSON.stringify(res.body)}`);
        } catch (error) {
          if (!killed) throw error;
        }
        if (!killed && acked.length >= KILL_AFTER_ACKS) {
          killed = true;
          kill(first.pid, 'SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await first.exited;
    expect(first.process.signalCode).toBe('SIGKILL');
    expect(acked.length).toBeGreaterThanOrEqual(KILL_AFTER_ACKS);

    const second = await startChild(dataDir);
    const listed = await call(second.url, 'GET', '/api/v1/instances?service=crash');
    expect(listed.status).toBe(200);
    const present = new Set((listed.body.instances as { id: string }[]).map((instance) => instance.id));
    const lost = acked.filter((id) => !present.has(id));
    expect(lost).toEqual([]);
    // Nothing appears that was never attempted.
    expect(present.size).toBeLessThanOrEqual(attempted);

    kill(second.pid, 'SIGTERM');
    await second.exited;
  });
});
