import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createControlClient } from '../../src/client/index.ts';
import { startTestControl } from '../helpers/control.ts';

const CHILD = fileURLToPath(new URL('./sdk-signal-child.ts', import.meta.url));

describe('SDK: handleSignals', () => {
  const children: ChildProcess[] = [];
  const cleanup: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const step of cleanup.reverse()) await step().catch(() => {});
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`deregisters on ${signal}, then lets the signal end the process`, async () => {
      const node = await startTestControl();
      cleanup.push(() => node.close());
      const client = createControlClient({ url: node.url });
      cleanup.push(() => client.close());

      const child = spawn(process.execPath, ['--import', 'tsx', CHILD, node.url, '9300'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(child);
      const [line] = (await once(child.stdout!, 'data')) as [Buffer];
      const { id, pid } = JSON.parse(line.toString()) as { id: string; pid: number };
      expect(pid).toBe(child.pid);
      expect((await client.getInstance(id)).service).toBe('signalled');

      const exited = once(child, 'exit');
      process.kill(pid, signal);
      const [code, exitSignal] = (await exited) as [number | null, NodeJS.Signals | null];
      expect({ code, exitSignal }).toEqual({ code: null, exitSignal: signal });
      expect((await client.listInstances({ service: 'signalled' })).instances).toEqual([]);
    });
  }
});
