import {
  accessLogRule,
  addressRule,
  busyPollRule,
  DEFAULT_BUSY_POLL_MS,
  durationMs,
  integer,
  listenPortRule,
  OptionReader,
  sampleRatioRule,
  text,
} from '../config/fields.ts';
import { createJsonLogger, DEFAULT_PROXY_SAMPLE_RATIO } from '../core/index.ts';
import { type ListenerAddress, type ProxyProcessOptions, startDataPlane } from './data-plane/index.ts';

export interface GatewayOptions extends ProxyProcessOptions {
  /** The control plane whose routes and services the gateway follows. */
  control: string;
  token?: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 7480; 0 lets the OS pick. */
  port?: number;
}

/** An edge gateway running apart from the control plane. */
export interface Gateway {
  readonly gateway: ListenerAddress;
  workerPids(): number[];
  /** `http://host:port/metrics` when a metrics port was asked for. */
  readonly metricsUrl: string | undefined;
  /** Stops accepting, drains the exchanges in progress (within the drain timeout), stops. */
  close(): Promise<void>;
}

/** Validates the options; throws BAD_REQUEST naming every bad field. */
function gatewaySettingsOf(options: GatewayOptions) {
  const read = new OptionReader(options, 'gateway options');
  const settings = {
    control: read.required('control', text({ min: 1 })),
    token: read.field('token', text({ min: 1 })),
    host: read.field('host', addressRule, '127.0.0.1'),
    port: read.field('port', listenPortRule, 7480),
    drainTimeout: read.field('drainTimeout', durationMs(), 10_000),
    busyPoll: read.field('busyPoll', busyPollRule, DEFAULT_BUSY_POLL_MS),
    workers: read.field('workers', integer(1, 128, 'must be from 1 to 128'), 1),
    sampleRatio: read.field('sampleRatio', sampleRatioRule, DEFAULT_PROXY_SAMPLE_RATIO),
    accessLog: read.field('accessLog', accessLogRule, 'off'),
    metricsPort: read.field('metricsPort', listenPortRule),
  };
  read.done();
  return settings;
}

/** The service name of the gateway's spans (the caller side of `gateway → service` edges). */
export const GATEWAY_SERVICE = 'gateway';

/**
 * Starts the gateway listener fed by the control plane's watch stream (routes, services, policies).
 * The control plane need not be up: the gateway listens at once, answers NO_HEALTHY_UPSTREAM or
 * NO_ROUTE until the first view arrives, and keeps its last view while the control plane is away.
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const settings = gatewaySettingsOf(options);
  const dataPlane = await startDataPlane({
    control: settings.control,
    token: settings.token,
    plan: {
      listeners: [{ kind: 'gateway', host: settings.host, port: settings.port }],
      drainTimeoutMs: settings.drainTimeout,
      busyPollMs: settings.busyPoll,
    },
    workers: settings.workers,
    observability: {
      tracing: { service: GATEWAY_SERVICE, sampleRatio: settings.sampleRatio },
      accessLog: settings.accessLog,
      metricsPort: settings.metricsPort,
      metricsHost: settings.host,
    },
    logger: options.logger ?? createJsonLogger({ level: 'silent' }),
    logLevel: options.logLevel,
    clock: options.clock,
    random: options.random,
    backoff: options.backoff,
  });
  return {
    gateway: dataPlane.listeners[0]!,
    workerPids: () => dataPlane.workerPids(),
    metricsUrl: dataPlane.metrics?.url,
    close: () => dataPlane.close(),
  };
}
