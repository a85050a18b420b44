/**
 * The per-hop recorder for proxies and the SDK. A Tracer is built once per proxy (service, sampling
 * ratio, sink); each connection gets a HopTrace and reuses it for every request: it extracts the
 * incoming context, decides sampling, writes the `traceparent` line for the next hop into a buffer it
 * owns, and creates a span only when the request is sampled.
 */
import { INSTRUMENTATION_SCOPE } from './attributes.ts';
import {
  boundTraceState,
  DEFAULT_MAX_TRACESTATE_LENGTH,
  Decision,
  ParentContext,
  parseB3Multi,
  parseB3Single,
  parseTraceparent,
  TRACEPARENT_LENGTH,
  writeTraceparent,
} from './context.ts';
import { toHex } from './hex.ts';
import { HopSpan } from './hop-span.ts';
import { type IdSource, RandomIdSource, SPAN_ID_BYTES, TRACE_ID_BYTES } from './ids.ts';
import { RatioSampler } from './sampler.ts';
import {
  type Attributes,
  createResource,
  type Resource,
  type Scope,
  type SpanKind,
  type SpanSink,
} from './span.ts';
import { createSpanClock, type SpanClock } from './span-clock.ts';

export interface TracerOptions {
  /** `service.name` of every span (the sidecar's service, or the gateway's name). */
  service: string;
  /** More resource attributes (host, instance id…). */
  resourceAttributes?: Attributes;
  /** Share of new traces sampled, 0-1 (default 1). Requests with a parent follow the parent. */
  sampleRatio?: number;
  sink: SpanSink;
  ids?: IdSource;
  clock?: SpanClock;
  /** Longer incoming tracestate values are truncated (W3C rules); default 512. */
  maxTraceStateLength?: number;
}

const TRACEPARENT_PREFIX = 'traceparent: ';
const VALUE_AT = TRACEPARENT_PREFIX.length;
const LINE_LENGTH = VALUE_AT + TRACEPARENT_LENGTH + 2;
const SPAN_AT = TRACE_ID_BYTES;

export class Tracer {
  readonly resource: Resource;
  readonly scope: Scope = { name: INSTRUMENTATION_SCOPE, version: '' };
  readonly sampler: RatioSampler;
  readonly sink: SpanSink;
  readonly ids: IdSource;
  readonly clock: SpanClock;
  readonly maxTraceStateLength: number;
  /** `tracestate: ot=th:…` for sampled roots when the ratio is below 1; built once. */
  readonly rootTraceStateLine: Buffer | null;

  constructor(options: TracerOptions) {
    this.resource = createResource({
      ...options.resourceAttributes,
      'service.name': options.service,
      'telemetry.sdk.name': 'trellis',
    });
    this.sampler = new RatioSampler(options.sampleRatio ?? 1);
    this.sink = options.sink;
    this.ids = options.ids ?? new RandomIdSource();
    this.clock = options.clock ?? createSpanClock();
    this.maxTraceStateLength = options.maxTraceStateLength ?? DEFAULT_MAX_TRACESTATE_LENGTH;
    this.rootTraceStateLine = this.sampler.traceState
      ? Buffer.from(`tracestate: ${this.sampler.traceState}\r\n`, 'latin1')
      : null;
  }

  /** A recorder for one connection (or one SDK client); reuse it for each request in turn. */
  hop(kind: SpanKind): HopTrace {
    return new HopTrace(this, kind);
  }
}

export function createTracer(options: TracerOptions): Tracer {
  return new Tracer(options);
}

/**
 * One hop's trace state, reused request after request. After `begin…()`:
 * - append `traceparentLine` to the upstream head, dropping the incoming `traceparent`;
 * - when `dropTraceState`, drop the incoming `tracestate` header(s);
 * - when `traceStateLine` is set, append it too;
 * - `span` is non-null only for a sampled request: fill its fields, then call `end()`.
 */
export class HopTrace {
  readonly parent = new ParentContext();
  /** `traceparent: 00-<trace id>-<this hop's span id>-<flags>\r\n`, rewritten by each begin. */
  readonly traceparentLine: Buffer;
  sampled = false;
  dropTraceState = false;
  traceStateLine: Buffer | null = null;
  span: HopSpan | null = null;
  /** This hop's trace id (0-15; a copy of the parent's or a new one) and span id (16-23). */
  private readonly own = new Uint8Array(TRACE_ID_BYTES + SPAN_ID_BYTES);

  constructor(
    private readonly tracer: Tracer,
    readonly kind: SpanKind,
  ) {
    this.traceparentLine = Buffer.alloc(LINE_LENGTH);
    this.traceparentLine.write(TRACEPARENT_PREFIX, 0, 'latin1');
    this.traceparentLine[LINE_LENGTH - 2] = 0x0d;
    this.traceparentLine[LINE_LENGTH - 1] = 0x0a;
  }

  /**
   * Starts the hop from a request head: `traceparent` is `head[tpStart, tpEnd)` and `tracestate`
   * `head[tsStart, tsEnd)`, each -1 when absent (the proxy's head parser has these offsets).
   * Reads no strings unless the request is sampled (or its tracestate is over the bound).
   */
  begin(
    head: Uint8Array | string | undefined,
    tpStart = -1,
    tpEnd = -1,
    tsStart = -1,
    tsEnd = -1,
  ): HopSpan | null {
    const parent = this.parent;
    if (head === undefined || tpStart < 0 || !parseTraceparent(head, parent, tpStart, tpEnd)) {
      parent.reset();
    }
    const hasState = head !== undefined && tsStart >= 0;
    const sampled = this.decide();
    let state = '';
    if (hasState && parent.valid && (sampled || tsEnd - tsStart > this.tracer.maxTraceStateLength)) {
      state = latin1(head!, tsStart, tsEnd);
    }
    return this.place(hasState, state);
  }

  /**
   * Starts the hop from header values (SDKs, slow paths): W3C first, then B3 single, then B3 multi.
   * `get` returns a header's value (lowercase name), undefined when absent.
   */
  beginFromHeaders(get: (name: string) => string | undefined): HopSpan | null {
    const parent = this.parent;
    const traceparent = get('traceparent');
    if (traceparent === undefined || !parseTraceparent(traceparent.trim(), parent)) {
      const single = get('b3');
      if (single !== undefined) {
        if (!parseB3Single(single, parent)) parent.reset();
      } else {
        const b3 = {
          traceId: get('x-b3-traceid'),
          spanId: get('x-b3-spanid'),
          sampled: get('x-b3-sampled'),
          flags: get('x-b3-flags'),
        };
        if (!parseB3Multi(b3, parent)) parent.reset();
      }
    }
    const state = get('tracestate');
    this.decide();
    return this.place(state !== undefined, state ?? '');
  }

  /** The traceparent value for the next hop (allocates; for SDKs). */
  traceparent(): string {
    return this.traceparentLine.toString('latin1', VALUE_AT, VALUE_AT + TRACEPARENT_LENGTH);
  }

  /** Ends the sampled span (if any) and hands it to the sink. */
  end(statusCode: number, errorCode?: string): void {
    const span = this.span;
    if (span === null) return;
    this.span = null;
    span.statusCode = statusCode;
    if (errorCode !== undefined) span.errorCode = errorCode;
    span.finish();
    this.tracer.sink.export(span);
  }

  /** Picks trace id, span id and decision, and writes the traceparent line. */
  private decide(): boolean {
    const { parent, own, tracer } = this;
    if (parent.valid) {
      const ids = parent.ids;
      for (let i = 0; i < TRACE_ID_BYTES; i++) own[i] = ids[i]!;
    } else {
      tracer.ids.fill(own, 0, TRACE_ID_BYTES);
    }
    const sampled =
      parent.decision === Decision.Deferred
        ? tracer.sampler.sample(own)
        : parent.decision === Decision.Sampled;
    tracer.ids.fill(own, SPAN_AT, SPAN_ID_BYTES);
    writeTraceparent(own, 0, own, SPAN_AT, sampled, this.traceparentLine, VALUE_AT);
    this.sampled = sampled;
    return sampled;
  }

  /**
   * Settles which tracestate goes on (the incoming one, a truncated copy, the root's, or none) and
   * starts the span of a sampled hop. `state` is the incoming value when it matters, else ''.
   */
  private place(hasState: boolean, state: string): HopSpan | null {
    const { parent, tracer } = this;
    let spanState = '';
    if (parent.valid) {
      if (hasState && state.length > tracer.maxTraceStateLength) {
        const bounded = boundTraceState(state, tracer.maxTraceStateLength);
        this.dropTraceState = true;
        this.traceStateLine = bounded ? Buffer.from(`tracestate: ${bounded}\r\n`, 'latin1') : null;
        spanState = bounded;
      } else {
        this.dropTraceState = false;
        this.traceStateLine = null;
        spanState = state;
      }
    } else {
      // A new trace: tracestate that came without a valid traceparent belongs to nothing (W3C).
      this.dropTraceState = hasState;
      this.traceStateLine = this.sampled ? tracer.rootTraceStateLine : null;
      spanState = this.sampled ? tracer.sampler.traceState : '';
    }
    if (!this.sampled) return null;
    const line = this.traceparentLine;
    const span = new HopSpan(
      tracer.clock,
      this.kind,
      tracer.resource,
      tracer.scope,
      line.toString('latin1', VALUE_AT + 3, VALUE_AT + 35),
      line.toString('latin1', VALUE_AT + 36, VALUE_AT + 52),
      parent.valid ? toHex(parent.ids, SPAN_AT, SPAN_AT + SPAN_ID_BYTES) : '',
      spanState,
    );
    this.span = span;
    return span;
  }
}

function latin1(head: Uint8Array | string, start: number, end: number): string {
  if (typeof head === 'string') return head.slice(start, end);
  const buf = Buffer.isBuffer(head) ? head : Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  return buf.toString('latin1', start, end);
}
