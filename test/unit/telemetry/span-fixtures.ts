/** Synthetic spans for collector, topology and statistics tests. */
import {
  type Attributes,
  createResource,
  SpanKind as Kind,
  msToNanos,
  type Resource,
  type SpanData,
  type SpanKind,
  StatusCode,
} from '../../../src/telemetry/index.ts';

const resources = new Map<string, Resource>();

export function resourceOf(service: string): Resource {
  let resource = resources.get(service);
  if (!resource) {
    resource = createResource({ 'service.name': service });
    resources.set(service, resource);
  }
  return resource;
}

let nextId = 1;

/** A fresh, valid id of `bytes` bytes in hex. */
export function id(bytes: 8 | 16): string {
  return (nextId++).toString(16).padStart(2 * bytes, '0');
}

export interface SpanSpec {
  traceId: string;
  spanId?: string;
  parentSpanId?: string;
  service: string;
  name?: string;
  kind?: SpanKind;
  startMs: number;
  durationMs: number;
  error?: boolean;
  status?: number;
  peerService?: string;
  traceState?: string;
  attributes?: Attributes;
}

export function span(spec: SpanSpec): SpanData {
  const attributes: Attributes = { ...spec.attributes };
  if (spec.status !== undefined) attributes['http.response.status_code'] = spec.status;
  if (spec.peerService !== undefined) attributes['peer.service'] = spec.peerService;
  return {
    traceId: spec.traceId,
    spanId: spec.spanId ?? id(8),
    parentSpanId: spec.parentSpanId ?? '',
    traceState: spec.traceState ?? '',
    flags: 1,
    name: spec.name ?? 'GET /',
    kind: spec.kind ?? Kind.Server,
    startTimeUnixNano: msToNanos(spec.startMs),
    endTimeUnixNano: msToNanos(spec.startMs + spec.durationMs),
    attributes,
    events: [],
    links: [],
    status: { code: spec.error ? StatusCode.Error : StatusCode.Unset, message: '' },
    resource: resourceOf(spec.service),
    scope: { name: 'test', version: '' },
  };
}
