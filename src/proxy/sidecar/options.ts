import type { RegistrationInput } from '../../client/index.ts';
import {
  accessLogRule,
  addressRule,
  boolean,
  busyPollRule,
  DEFAULT_BUSY_POLL_MS,
  durationMs,
  FieldProblem,
  httpUrlRule,
  instanceIdRule,
  integer,
  listenPortRule,
  metadataRule,
  OptionReader,
  portRule,
  type Rule,
  sampleRatioRule,
  serviceNameRule,
  tagsRule,
  text,
} from '../../config/fields.ts';
import { DEFAULT_PROXY_SAMPLE_RATIO, defaultInstanceId } from '../../core/index.ts';
import type { ListenerAddress, ProxyProcessOptions } from '../data-plane/index.ts';

export interface SidecarOptions extends ProxyProcessOptions {
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
  /** How long the sidecar keeps serving after deregistering, while peers learn of it (default 500 ms). */
  propagationDelay?: string | number;
}

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]']);

/** Where the app listens: `host:port` (`[v6]:port`), or an address and a port. */
const appAddress: Rule<{ address: string; port: number }> = (value) => {
  if (typeof value === 'string') {
    const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
    const port = match === null ? 0 : Number(match[3]);
    if (match === null || port < 1 || port > 65535) {
      throw new FieldProblem(`expected <host:port> such as 127.0.0.1:8080, got "${value}"`);
    }
    return { address: addressOf(match[1] ?? match[2]!, 'address'), port };
  }
  if (typeof value !== 'object' || value === null)
    throw new FieldProblem('expected <host:port> or {address, port}');
  const { address, port, ...rest } = value as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) throw new FieldProblem(`unknown field "${unknown}"`, [unknown]);
  return { address: addressOf(address, 'address'), port: portOf(port) };
};

function addressOf(value: unknown, path: string): string {
  try {
    return addressRule(value);
  } catch (error) {
    throw error instanceof FieldProblem ? new FieldProblem(error.message, [path]) : error;
  }
}

function portOf(value: unknown): number {
  try {
    return portRule(value);
  } catch (error) {
    throw error instanceof FieldProblem ? new FieldProblem(error.message, ['port']) : error;
  }
}

const limitedText = text({ min: 1, max: 64 });

export interface SidecarSettings {
  service: string;
  app: { address: string; port: number };
  control: string;
  token: string | undefined;
  host: string;
  inboundPort: number;
  outboundPort: number;
  advertiseAddress: string | undefined;
  healthPath: string | undefined;
  tcpCheck: boolean;
  checkInterval: number;
  tags: string[];
  metadata: Record<string, string>;
  weight: number | undefined;
  zone: string | undefined;
  version: string | undefined;
  id: string | undefined;
  drainTimeout: number;
  busyPoll: number;
  propagationDelay: number;
  workers: number;
  sampleRatio: number;
  accessLog: string;
  metricsPort: number | undefined;
}

/** Validates the options; throws BAD_REQUEST naming every bad field. */
export function sidecarSettingsOf(options: SidecarOptions): SidecarSettings {
  const read = new OptionReader(options, 'sidecar options');
  const settings: SidecarSettings = {
    service: read.required('service', serviceNameRule),
    app: read.required('app', appAddress),
    control: read.required(
      'control',
      httpUrlRule('expected an http:// or https:// URL such as http://127.0.0.1:7400'),
    ),
    token: read.field('token', text({ min: 1 })),
    host: read.field('host', addressRule, '127.0.0.1'),
    inboundPort: read.field('inboundPort', listenPortRule, 7482),
    outboundPort: read.field('outboundPort', listenPortRule, 7481),
    advertiseAddress: read.field('advertiseAddress', addressRule),
    healthPath: read.field(
      'healthPath',
      text({ pattern: /^\/\S*$/, message: 'expected a path such as /health' }),
    ),
    tcpCheck: read.field('tcpCheck', boolean(), false),
    checkInterval: read.field(
      'checkInterval',
      durationMs({ minMs: 100, minMessage: 'at least 100ms' }),
      5_000,
    ),
    tags: read.field('tags', tagsRule, []),
    metadata: read.field('metadata', metadataRule, {}),
    weight: read.field('weight', integer(0, 10_000)),
    zone: read.field('zone', limitedText),
    version: read.field('version', limitedText),
    id: read.field('id', instanceIdRule),
    drainTimeout: read.field('drainTimeout', durationMs(), 10_000),
    busyPoll: read.field('busyPoll', busyPollRule, DEFAULT_BUSY_POLL_MS),
    propagationDelay: read.field('propagationDelay', durationMs(), 500),
    workers: read.field('workers', integer(1, 128, 'must be from 1 to 128'), 1),
    sampleRatio: read.field('sampleRatio', sampleRatioRule, DEFAULT_PROXY_SAMPLE_RATIO),
    accessLog: read.field('accessLog', accessLogRule, 'off'),
    metricsPort: read.field('metricsPort', listenPortRule),
  };
  if (settings.tcpCheck && settings.healthPath !== undefined) {
    read.problem('tcpCheck', 'choose a TCP check or a health path, not both');
  }
  if (WILDCARDS.has(settings.host) && settings.advertiseAddress === undefined) {
    read.problem(
      'advertiseAddress',
      `listening on ${settings.host}: name the address other services reach this host at`,
    );
  }
  if (settings.inboundPort !== 0 && settings.inboundPort === settings.outboundPort) {
    read.problem('outboundPort', 'must differ from inboundPort');
  }
  read.done();
  return settings;
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
