/**
 * One control-plane node: store → registry → static configuration → health checker → HTTP
 * server, started in that order and stopped in reverse.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { resolvePolicy, type TrellisConfig } from '../config/index.ts';
import { createHealthChecker, createRegistry, type HealthChecker, type Registry } from '../registry/index.ts';
import { openStore, type Store } from '../store/index.ts';
import { assertSafeBinding } from './auth.ts';
import { type ControlServer, type ControlServerOptions, createControlServer } from './server.ts';

export interface ControlNodeOptions {
  logger: Logger;
  /** Identifies this node in health-check leader election. Default: host, pid and a random suffix. */
  nodeId?: string;
  watch?: ControlServerOptions['watch'];
}

export interface ControlNode {
  readonly nodeId: string;
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly store: Store;
  readonly registry: Registry;
  readonly checker: HealthChecker;
  readonly server: ControlServer;
  /** Stops the server, the health checker, the registry and the store, in that order. */
  close(): Promise<void>;
}

export async function startControlNode(
  config: TrellisConfig,
  options: ControlNodeOptions,
): Promise<ControlNode> {
  const settings = config.control;
  const nodeId = options.nodeId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const logger = options.logger.child({ node: nodeId });
  assertSafeBinding(settings.host, settings.adminToken);

  // Each step pushes its undo, so a failure half-way releases what was already started.
  const undo: Array<() => Promise<void> | void> = [];
  const unwind = async () => {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (error) {
        logger.warn({ err: error }, 'error while stopping the control node');
      }
    }
    undo.length = 0;
  };

  try {
    const store = await openStore(settings.store, { dataDir: settings.dataDir, logger });
    undo.push(() => store.close());

    const registry = await createRegistry({ store, logger });
    undo.push(() => registry.close());
    await applyStaticServices(registry, config);

    const checker = createHealthChecker({ registry, store, logger, nodeId });
    await checker.start();
    undo.push(() => checker.stop());

    const server = createControlServer({
      registry,
      store,
      checker,
      settings,
      logger,
      nodeId,
      watch: options.watch,
    });
    undo.push(() => server.close());
    const address = await server.listen();

    let closing: Promise<void> | undefined;
    return {
      nodeId,
      host: address.host,
      port: address.port,
      url: address.url,
      store,
      registry,
      checker,
      server,
      close() {
        closing ??= unwind().then(() => logger.info('control node stopped'));
        return closing;
      },
    };
  } catch (error) {
    await unwind();
    throw error;
  }
}

/**
 * Registers the services, instances, policies and routes listed in trellis.yaml; an instance without
 * a check gets its service's. A policy or route in the file replaces one set through the API.
 */
async function applyStaticServices(registry: Registry, config: TrellisConfig): Promise<void> {
  for (const service of config.services) {
    await registry.upsertService({ name: service.name, tags: service.tags, metadata: service.metadata });
    for (const instance of service.instances) {
      await registry.registerInstance({
        ...instance,
        service: service.name,
        check: instance.check ?? service.check,
      });
    }
    if (service.policy) await registry.setPolicy(service.name, resolvePolicy(service.name, service.policy));
  }
  for (const route of config.routes) await registry.putRoute(route);
}
