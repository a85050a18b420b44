/**
 * One control-plane node: store → registry → static configuration → health checker → proxy (gateway
 * and invocation) → HTTP server, started in that order and stopped in reverse, except that the proxy
 * drains before the server stops.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { resolvePolicy, type TrellisConfig } from '../config/index.ts';
import type { TrellisProxy } from '../proxy/index.ts';
import { createHealthChecker, createRegistry, type HealthChecker, type Registry } from '../registry/index.ts';
import { openStore, type Store } from '../store/index.ts';
import { HealthCheckStats } from '../telemetry/index.ts';
import { type Alerting, createAlerting } from './alerting.ts';
import { assertSafeBinding } from './auth.ts';
import { startNodeProxy } from './node-proxy.ts';
import {
  type ControlServer,
  type ControlServerOptions,
  createControlServer,
  type ListenAddress,
} from './server.ts';
import { type ControlTelemetry, createControlTelemetry } from './telemetry.ts';

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
  /** The node's proxy: the gateway's and invocation's clusters. */
  readonly proxy: TrellisProxy;
  /** The gateway's address; undefined when `gateway.enabled` is false. */
  readonly gateway?: ListenAddress;
  readonly alerting: Alerting;
  /** Span collector, statistics and service graph; `telemetry.sink` takes spans from in-process proxies. */
  readonly telemetry: ControlTelemetry;
  /** Drains the proxy, then stops the server, the health checker, the registry and the store. */
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

    const healthChecks = new HealthCheckStats();
    const checker = createHealthChecker({
      registry,
      store,
      logger,
      nodeId,
      onResult: (check, result) => healthChecks.record(check.type, result.status),
    });
    await checker.start();
    undo.push(() => checker.stop());

    // Before the proxy, whose spans it collects; stopped after it, so the last ones are delivered.
    const telemetry = createControlTelemetry(config.telemetry, { logger });
    undo.push(() => telemetry.close());

    const nodeProxy = await startNodeProxy({
      registry,
      logger,
      gateway: config.gateway,
      telemetry: {
        sink: telemetry.sink,
        sampleRatio: config.telemetry.sampleRatio,
        accessLog: config.telemetry.accessLog,
      },
    });
    undo.push(() => nodeProxy.close());

    const alerting = await createAlerting({
      settings: config.alerts,
      store,
      registry,
      logger,
      leader: checker,
      clusters: () => nodeProxy.proxy.clusters.list(),
      stats: telemetry.stats,
    });
    undo.push(() => alerting.close());

    const server = createControlServer({
      registry,
      store,
      checker,
      settings,
      logger,
      nodeId,
      watch: options.watch,
      alerts: { evaluator: alerting.evaluator, rules: alerting.rules },
      dataPlane: { invoker: nodeProxy.invoker, clusters: nodeProxy.proxy.clusters },
      healthChecks,
      telemetry,
    });
    undo.push(() => server.close());
    // The in-process proxy's metrics are part of this node's /metrics.
    if (nodeProxy.proxy.metrics !== null) server.metrics.include(nodeProxy.proxy.metrics);
    const address = await server.listen();
    // Unwound first: the proxy drains while the server still answers (its invocations are exchanges).
    undo.push(() => nodeProxy.close());
    alerting.start(address.url);

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
      alerting,
      telemetry,
      proxy: nodeProxy.proxy,
      gateway: nodeProxy.gateway,
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
