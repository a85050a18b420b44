/** The API's view of collected traces: plain JSON, times in epoch ms with the exact nanos beside. */
import type { SpanNode, StoredSpan, TraceTree } from './collector.ts';
import {
  type Attributes,
  type AttributeValue,
  nanosToMs,
  SPAN_KIND_NAMES,
  type SpanKindName,
  STATUS_CODE_NAMES,
} from './span.ts';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface SpanJson {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  kind: SpanKindName;
  service: string;
  /** Epoch ms. */
  startTime: number;
  endTime: number;
  durationMs: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  status: { code: 'unset' | 'ok' | 'error'; message?: string };
  attributes: Record<string, JsonValue>;
  events: { name: string; time: number; attributes: Record<string, JsonValue> }[];
  traceState?: string;
  resource: Record<string, JsonValue>;
  scope?: { name: string; version?: string };
}

export interface SpanTreeJson extends SpanJson {
  children: SpanTreeJson[];
}

export function spanJson(stored: StoredSpan): SpanJson {
  const span = stored.data;
  const json: SpanJson = {
    traceId: span.traceId,
    spanId: span.spanId,
    parentSpanId: span.parentSpanId || null,
    name: span.name,
    kind: SPAN_KIND_NAMES[span.kind] ?? 'unspecified',
    service: stored.service,
    startTime: round3(stored.startMs),
    endTime: round3(stored.endMs),
    durationMs: round3(stored.durationMs),
    startTimeUnixNano: span.startTimeUnixNano.toString(),
    endTimeUnixNano: span.endTimeUnixNano.toString(),
    status: span.status.message
      ? { code: STATUS_CODE_NAMES[span.status.code], message: span.status.message }
      : { code: STATUS_CODE_NAMES[span.status.code] },
    attributes: attributesJson(span.attributes),
    events: span.events.map((event) => ({
      name: event.name,
      time: round3(nanosToMs(event.timeUnixNano)),
      attributes: attributesJson(event.attributes),
    })),
    resource: attributesJson(span.resource.attributes),
  };
  if (span.traceState) json.traceState = span.traceState;
  if (span.scope.name) {
    json.scope = span.scope.version
      ? { name: span.scope.name, version: span.scope.version }
      : { name: span.scope.name };
  }
  return json;
}

export function traceTreeJson(tree: TraceTree): { trace: TraceTree['summary']; spans: SpanTreeJson[] } {
  const toJson = (node: SpanNode): SpanTreeJson => ({
    ...spanJson(node.span),
    children: node.children.map(toJson),
  });
  return { trace: tree.summary, spans: tree.roots.map(toJson) };
}

function attributesJson(attributes: Attributes): Record<string, JsonValue> {
  const json: Record<string, JsonValue> = {};
  for (const key in attributes) json[key] = valueJson(attributes[key]!);
  return json;
}

/** bigint → decimal string, bytes → base64. */
function valueJson(value: AttributeValue): JsonValue {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(valueJson);
  return attributesJson(value);
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
