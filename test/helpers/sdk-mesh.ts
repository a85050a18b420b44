/** The setup the SDK integration tests share: a control node, an SDK mesh on it, and instances registered. */
import type { Logger } from 'pino';
import { connect, type Mesh } from '../../src/index.ts';
import { type App, type AppHandler, startApp } from '../integration/sdk-apps.ts';
import { startTestControl, type TestControl } from './control.ts';

export interface SdkTestMesh {
  readonly node: TestControl;
  readonly mesh: Mesh;
  /**
   * Starts an app (named `name`, else after the service) and registers it as an instance of
   * `service`, health-checked at /health every 200 ms; close() stops it.
   */
  instance(service: string, options?: { name?: string; handler?: AppHandler }): Promise<App>;
  /** Closes the apps, the mesh and the node, the last started first; a test may have closed one already. */
  close(): Promise<void>;
}

/** Answers "late" after `ms`, unless the caller has gone by then. */
export function answerLate(ms: number): AppHandler {
  return (_request, res) => {
    const timer = setTimeout(() => res.end('late'), ms);
    res.on('close', () => clearTimeout(timer));
  };
}

/** A control node on a free port and an SDK mesh connected to it (silent unless given a logger). */
export async function startSdkMesh(options: { logger?: Logger } = {}): Promise<SdkTestMesh> {
  const cleanup: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
  };
  try {
    const node = await startTestControl();
    cleanup.push(() => node.close());
    const mesh = await connect({ control: node.url, logger: options.logger });
    cleanup.push(() => mesh.close());
    return {
      node,
      mesh,
      async instance(service, { name = service, handler } = {}) {
        const app = await startApp(name, handler);
        cleanup.push(() => app.close());
        await mesh.register({ service, port: app.port, healthPath: '/health', checkInterval: '200ms' });
        return app;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
