import type { Logger } from 'pino';
import { z } from 'zod';
import type { BackoffOptions, RegistrationInput } from '../../client/index.ts';
import {
  accessLogDestination,
  address,
  DEFAULT_PROXY_SAMPLE_RATIO,
  duration,
  instanceId,
  metadata,
  port,
  sampleRatio,
  serviceName,
  tags,
  validate,
} from '../../config/index.ts';
import { type Clock, defaultInstanceId } from '../../core/index.ts';
import type { ListenerAddress } from '../data-plane/index.ts';

export interface SidecarOptions {
  /** The service the app is an instance of. */
  service: string;
  /** Where the app listens: `host:port`, or an address and a port. */
  app: string | { address: string; port: number };
  /** The control plane's URL. */
  control: string;
  token?: string;
  /** The address both listeners bind (default 127.0.0.1). */
  host?: string;
  /** Mesh → app (default 7482; 0 lets the OS pick). Its address is what gets registered. */
  inboundPort?: number;
  /** App → mesh (default 7481; 0 lets the OS pick). */
  outboundPort?: number;
  /** The address other services reach the inbound listener at (default: `host`; needed when it is a wildcard). */
  advertiseAddress?: string;
  /** The HTTP health check: this path on the app (default /health). */
  healthPath?: string;
  /** Check the app by connecting to it instead. */
  tcpCheck?: boolean;
  /** How often the control plane checks the app (default 5 s). */
  checkInterval?: string | number;
  tags?: string[];
  metadata?: Record<string, string>;
  weight?: number;
  zone?: string;
  version?: string;
  /** Default `<service>-<address>-<inbound port>`. */
  id?: string;
  /** How long shutting down waits for exchanges in progress (default 10 s). */
  drainTimeout?: string | number;
  /** How long the sidecar keeps serving after deregistering, while peers learn of it (default 500 ms). */
  propagationDelay?: string | number;
  /** Proxy processes (default 1: the listeners run in this process). */
  workers?: number;
  /**
   * Share of new traces sampled, 0-1 (default 1); requests bringing a decision follow it. Spans (one per
   * hop, named by `service`) go to the control plane's `/v1/traces`.
   */
  sampleRatio?: number;
  /** `off` (default), `stdout` or a file: one JSON line per request. */
  accessLog?: string;
  /** Prometheus text at `http://<host>:<port>/metrics` (every worker's metrics summed); default off. */
  metricsPort?: number;
  logger?: Logger;
  /** The workers' log level (default: the logger's). */
  logLevel?: string;
  clock?: Clock;
  random?: () => number;
  /** Reconnecting to the control plane, and retrying the registration (default 100 ms doubling up to 5 s). */
  backoff?: BackoffOptions;
}

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]']);

/** A port to listen on: 0 lets the OS pick. */
const listenPort = z
  .number()
  .int('must be an integer')
  .min(0, 'ports are 0-65535')
  .max(65535, 'ports are 0-65535');

const appAddress = z.union([
  z
    .string()
    .transform((value, ctx) => {
      const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
      const parsed = match && { address: match[1] ?? match[2]!, port: Number(match[3]) };
      if (!parsed || parsed.port < 1 || parsed.port > 65535) {
        ctx.addIssue({
          code: 'custom',
          message: `expected <host:port> such as 127.0.0.1:8080, got "${value}"`,
        });
        return z.NEVER;
      }
      return parsed;
    })
    .pipe(z.object({ address, port })),
  z.object({ address, port }).strict(),
]);

const controlUrl = z.string().refine((value) => {
  try {
    return ['http:', 'https:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}, 'expected an http:// or https:// URL such as http://127.0.0.1:7400');

const sidecarSettings = z
  .object({
    service: serviceName,
    app: appAddress,
    control: controlUrl,
    token: z.string().min(1).optional(),
    host: address.default('127.0.0.1'),
    inboundPort: listenPort.default(7482),
    outboundPort: listenPort.default(7481),
    advertiseAddress: address.optional(),
    healthPath: z
      .string()
      .regex(/^\/\S*$/, 'expected a path such as /health')
      .optional(),
    tcpCheck: z.boolean().default(false),
    checkInterval: duration.pipe(z.number().min(100, 'at least 100ms')).default(5_000),
    tags: tags.default([]),
    metadata: metadata.default({}),
    weight: z.number().int('must be an integer').min(0).max(10_000).optional(),
    zone: z.string().min(1).max(64).optional(),
    version: z.string().min(1).max(64).optional(),
    id: instanceId.optional(),
    drainTimeout: duration.default(10_000),
    propagationDelay: duration.default(500),
    workers: z.number().int('must be an integer').min(1, 'at least 1').max(128, 'at most 128').default(1),
    sampleRatio: sampleRatio.default(DEFAULT_PROXY_SAMPLE_RATIO),
    accessLog: accessLogDestination.default('off'),
    metricsPort: listenPort.optional(),
  })
  .superRefine((settings, ctx) => {
    if (settings.tcpCheck && settings.healthPath !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['tcpCheck'],
        message: 'choose a TCP check or a health path, not both',
      });
    if (WILDCARDS.has(settings.host) && settings.advertiseAddress === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['advertiseAddress'],
        message: `listening on ${settings.host}: name the address other services reach this host at`,
      });
    if (settings.inboundPort !== 0 && settings.inboundPort === settings.outboundPort)
      ctx.addIssue({ code: 'custom', path: ['outboundPort'], message: 'must differ from inboundPort' });
  });

export type SidecarSettings = z.output<typeof sidecarSettings>;

/** Validates the options; throws BAD_REQUEST naming every bad field. */
export function sidecarSettingsOf(options: SidecarOptions): SidecarSettings {
  return validate(sidecarSettings, options, { what: 'sidecar options' });
}

export function formatHostPort(target: { address: string; port: number }): string {
  return target.address.includes(':')
    ? `[${target.address}]:${target.port}`
    : `${target.address}:${target.port}`;
}

/**
 * The instance a sidecar registers: the address peers reach is the inbound listener's (as Consul
 * Connect registers the sidecar proxy), while the health check looks at the app itself.
 */
export function sidecarRegistration(settings: SidecarSettings, inbound: ListenerAddress): RegistrationInput {
  const address = settings.advertiseAddress ?? inbound.host;
  const app = formatHostPort(settings.app);
  return {
    id: settings.id ?? defaultInstanceId(settings.service, address, inbound.port),
    service: settings.service,
    address,
    port: inbound.port,
    tags: settings.tags,
    metadata: { ...settings.metadata, 'trellis.sidecar': 'true', 'trellis.app': app },
    weight: settings.weight,
    zone: settings.zone,
    version: settings.version,
    check: settings.tcpCheck
      ? { tcp: app, interval: settings.checkInterval }
      : { http: `http://${app}${settings.healthPath ?? '/health'}`, interval: settings.checkInterval },
  };
}
