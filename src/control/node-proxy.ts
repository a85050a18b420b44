/**
 * The control node's own data plane: one proxy fed straight from the in-process registry, its gateway
 * listener (when enabled), and an internal outbound listener on 127.0.0.1 that service invocation
 * reaches through the invoker.
 */
import type { Logger } from 'pino';
import { DEFAULT_SAMPLE_RATIO, type GatewaySettings } from '../config/index.ts';
import { MeshError } from '../core/index.ts';
import { createProxy, type TrellisProxy } from '../proxy/index.ts';
import type { Registry } from '../registry/index.ts';
import { type AccessLog, createTracer, openAccessLog, type SpanSink } from '../telemetry/index.ts';
import { createRegistrySource } from './discovery-source.ts';
import { createMeshInvoker, type MeshInvoker } from './invoker.ts';
import { type ListenAddress, urlHost } from './server.ts';

export interface NodeProxyOptions {
  registry: Registry;
  logger: Logger;
  gateway: GatewaySettings;
  /**
   * Tracing into this node's collector (`sink`): the gateway's hop as service `gateway`, invocation's
   * as service `trellis`; and the access log (default off). Absent: neither.
   */
  telemetry?: { sink: SpanSink; sampleRatio?: number; accessLog?: string };
}

/** The service names of the node's own hops: the edges `gateway → service`, `trellis → service`. */
const GATEWAY_SERVICE = 'gateway';
const INVOCATION_SERVICE = 'trellis';

export interface NodeProxy {
  readonly proxy: TrellisProxy;
  /** Undefined when the gateway is disabled. */
  readonly gateway: ListenAddress | undefined;
  readonly invoker: MeshInvoker;
  /** Drains the listeners (exchanges in progress finish), then closes the invoker's connections. */
  close(): Promise<void>;
}

export async function startNodeProxy(options: NodeProxyOptions): Promise<NodeProxy> {
  const logger = options.logger.child({ part: 'proxy' });
  const settings = options.gateway;
  const source = createRegistrySource(options.registry, (error) =>
    logger.error({ err: error }, 'proxy: a change listener failed'),
  );
  const telemetry = options.telemetry;
  const sampleRatio = telemetry?.sampleRatio ?? DEFAULT_SAMPLE_RATIO;
  const tracerOf = (service: string) =>
    telemetry === undefined ? null : createTracer({ service, sampleRatio, sink: telemetry.sink });
  let accessLog: AccessLog | undefined;
  if (telemetry?.accessLog !== undefined && telemetry.accessLog !== 'off') {
    accessLog = await openAccessLog({
      destination: telemetry.accessLog,
      fields: { proxy: 'control' },
      logger,
    });
  }
  const gatewayTracer = tracerOf(GATEWAY_SERVICE);
  const proxy = createProxy({ source, logger, accessLog, busyPollMs: settings.busyPoll });
  let invoker: MeshInvoker | undefined;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await proxy.close();
      await invoker?.close();
      await accessLog?.close();
      source.close();
    })();
    return closing;
  };

  try {
    const drainTimeoutMs = settings.drainTimeout;
    // Invocation only: an ephemeral port on loopback, the trust of a sidecar's outbound port.
    const internal = await proxy.outbound({
      host: '127.0.0.1',
      port: 0,
      drainTimeoutMs,
      tracer: tracerOf(INVOCATION_SERVICE),
    });
    invoker = createMeshInvoker({ host: internal.host, port: internal.port });
    let gateway: ListenAddress | undefined;
    if (settings.enabled) {
      const listener = await proxy
        .gateway({ host: settings.host, port: settings.port, drainTimeoutMs, tracer: gatewayTracer })
        .catch((error: unknown) => {
          throw cannotListen(error, settings);
        });
      gateway = {
        host: listener.host,
        port: listener.port,
        url: `http://${urlHost(listener.host)}:${listener.port}`,
      };
      logger.info({ url: gateway.url }, 'gateway listening');
    }
    return { proxy, gateway, invoker, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** A gateway address that cannot be bound, said in terms of the setting that chose it. */
function cannotListen(error: unknown, settings: GatewaySettings): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== 'EADDRINUSE' && code !== 'EACCES' && code !== 'EADDRNOTAVAIL') return error;
  const reason =
    code === 'EADDRINUSE'
      ? 'the address is in use'
      : code === 'EACCES'
        ? 'permission denied'
        : 'no such address';
  return new MeshError(
    'INVALID_CONFIG',
    `the gateway cannot listen on ${settings.host}:${settings.port}: ${reason}. ` +
      'Choose another port (--gateway-port, 0 picks a free one; gateway.port) or run without it (--no-gateway).',
    {
      details: [{ path: code === 'EADDRNOTAVAIL' ? 'gateway.host' : 'gateway.port', message: reason }],
      cause: error,
    },
  );
}
