/**
 * The span collector: the most recent traces in bounded memory, searchable. Traces are kept in
 * arrival order (a trace that receives a span moves to the back) and the front is evicted when there
 * are more than `maxTraces` traces or `maxSpans` spans; a trace holds at most `maxSpansPerTrace`.
 * Service and operation are indexed; the other criteria filter the candidates. A span is stored once
 * (an exporter's retry of a delivered batch changes nothing), and an observer is told about each
 * stored span and each parent-child pair as soon as both halves are in, whatever their order.
 */
import { adjustedCount } from './sampler.ts';
import { nanosToMs, type SpanData, StatusCode } from './span.ts';

export interface StoredSpan {
  readonly data: SpanData;
  readonly service: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly durationMs: number;
  readonly error: boolean;
  /** How many requests this span stands for under probability sampling (1 when unsampled-aware). */
  readonly weight: number;
}

export interface SpanObserver {
  span(span: StoredSpan): void;
  /** Both spans are stored; called once per pair, when the second of them arrives. */
  link(parent: StoredSpan, child: StoredSpan): void;
}

export interface CollectorOptions {
  /** Default 10,000. */
  maxTraces?: number;
  /** Default 1,000. */
  maxSpansPerTrace?: number;
  /** All traces together (default 200,000). */
  maxSpans?: number;
  observer?: SpanObserver;
}

export interface AddResult {
  accepted: number;
  /** Spans refused because their trace is full. */
  rejected: number;
  /** Spans already stored (sent twice). */
  duplicates: number;
}

export interface TraceQuery {
  /** A span of this service (resource `service.name`). */
  service?: string;
  /** A span with this name (of `service`, when both are given). */
  operation?: string;
  /** `error`: some span has status ERROR; `ok`: none has. */
  status?: 'ok' | 'error';
  /** The trace's duration (first start to last end) is at least this. */
  minDurationMs?: number;
  /** The trace started at or after this (epoch ms). */
  startMs?: number;
  /** The trace started at or before this (epoch ms). */
  endMs?: number;
  /** Default 20. */
  limit?: number;
}

export interface TraceSummary {
  traceId: string;
  rootService: string;
  rootOperation: string;
  /** Epoch ms. */
  startTime: number;
  durationMs: number;
  spanCount: number;
  errorCount: number;
  error: boolean;
  services: string[];
  /** Spans refused because the trace reached its span limit. */
  droppedSpans: number;
}

export interface SpanNode {
  span: StoredSpan;
  children: SpanNode[];
}

export interface TraceTree {
  summary: TraceSummary;
  /** Root spans first; a span whose parent never arrived is a root too. Children by start time. */
  roots: SpanNode[];
}

export interface CollectorStats {
  traces: number;
  spans: number;
  evictedTraces: number;
  rejectedSpans: number;
}

interface TraceEntry {
  readonly traceId: string;
  readonly spans: Map<string, StoredSpan>;
  /** Spans that arrived before their parent, by the parent's span id (for the observer's pairs). */
  waiting: Map<string, StoredSpan[]> | undefined;
  readonly services: Set<string>;
  readonly operations: Set<string>;
  startMs: number;
  endMs: number;
  errorCount: number;
  dropped: number;
}

export class TraceCollector {
  private readonly maxTraces: number;
  private readonly maxSpansPerTrace: number;
  private readonly maxSpans: number;
  private readonly observer: SpanObserver | undefined;
  /** Insertion order is arrival order: the first entry is evicted first. */
  private readonly traces = new Map<string, TraceEntry>();
  private readonly byService = new Map<string, Set<TraceEntry>>();
  private readonly byOperation = new Map<string, Set<TraceEntry>>();
  private spanCount = 0;
  private evicted = 0;
  private rejected = 0;

  constructor(options: CollectorOptions = {}) {
    this.maxTraces = Math.max(1, options.maxTraces ?? 10_000);
    this.maxSpansPerTrace = Math.max(1, options.maxSpansPerTrace ?? 1_000);
    this.maxSpans = Math.max(1, options.maxSpans ?? 200_000);
    this.observer = options.observer;
  }

  add(spans: Iterable<SpanData>): AddResult {
    const result: AddResult = { accepted: 0, rejected: 0, duplicates: 0 };
    for (const data of spans) {
      let entry = this.traces.get(data.traceId);
      if (entry === undefined) {
        entry = {
          traceId: data.traceId,
          spans: new Map(),
          waiting: undefined,
          services: new Set(),
          operations: new Set(),
          startMs: Number.POSITIVE_INFINITY,
          endMs: Number.NEGATIVE_INFINITY,
          errorCount: 0,
          dropped: 0,
        };
      } else {
        // Moves it to the back: the most recently arrived is evicted last.
        this.traces.delete(data.traceId);
      }
      this.traces.set(data.traceId, entry);
      if (entry.spans.has(data.spanId)) {
        result.duplicates++;
        continue;
      }
      if (entry.spans.size >= this.maxSpansPerTrace) {
        entry.dropped++;
        result.rejected++;
        this.rejected++;
        continue;
      }
      this.store(entry, data);
      result.accepted++;
      this.evict();
    }
    return result;
  }

  /** Matching traces, newest first, at most `limit`; `total` counts every match. */
  search(query: TraceQuery = {}): { traces: TraceSummary[]; total: number } {
    const matches: TraceEntry[] = [];
    for (const entry of this.candidates(query)) {
      if (this.matches(entry, query)) matches.push(entry);
    }
    matches.sort((a, b) => b.startMs - a.startMs);
    const limit = query.limit ?? 20;
    return { traces: matches.slice(0, limit).map((entry) => summarize(entry)), total: matches.length };
  }

  trace(traceId: string): TraceTree | undefined {
    const entry = this.traces.get(traceId);
    if (entry === undefined) return undefined;
    const byStart = (a: SpanNode, b: SpanNode) => a.span.startMs - b.span.startMs;
    const nodes = new Map<string, SpanNode>();
    for (const [id, span] of entry.spans) nodes.set(id, { span, children: [] });
    const roots: SpanNode[] = [];
    for (const node of nodes.values()) {
      const parent = node.span.data.parentSpanId ? nodes.get(node.span.data.parentSpanId) : undefined;
      if (parent === undefined || parent === node) roots.push(node);
      else parent.children.push(node);
    }
    for (const node of nodes.values()) node.children.sort(byStart);
    // True roots before spans whose parent is missing, each group by start.
    roots.sort(
      (a, b) =>
        Number(a.span.data.parentSpanId !== '') - Number(b.span.data.parentSpanId !== '') || byStart(a, b),
    );
    return { summary: summarize(entry), roots };
  }

  has(traceId: string): boolean {
    return this.traces.has(traceId);
  }

  stats(): CollectorStats {
    return {
      traces: this.traces.size,
      spans: this.spanCount,
      evictedTraces: this.evicted,
      rejectedSpans: this.rejected,
    };
  }

  private store(entry: TraceEntry, data: SpanData): void {
    const startMs = nanosToMs(data.startTimeUnixNano);
    const endMs = nanosToMs(data.endTimeUnixNano);
    const span: StoredSpan = {
      data,
      service: data.resource.serviceName,
      startMs,
      endMs,
      durationMs: Math.max(0, endMs - startMs),
      error: data.status.code === StatusCode.Error,
      weight: adjustedCount(data.traceState),
    };
    entry.spans.set(data.spanId, span);
    this.spanCount++;
    if (startMs < entry.startMs) entry.startMs = startMs;
    if (endMs > entry.endMs) entry.endMs = endMs;
    if (span.error) entry.errorCount++;
    addIndexed(entry.services, span.service, this.byService, entry);
    addIndexed(entry.operations, data.name, this.byOperation, entry);

    const observer = this.observer;
    if (observer === undefined) return;
    observer.span(span);
    const parentId = data.parentSpanId;
    if (parentId !== '' && parentId !== data.spanId) {
      const parent = entry.spans.get(parentId);
      if (parent !== undefined) {
        observer.link(parent, span);
      } else {
        entry.waiting ??= new Map();
        const waiting = entry.waiting.get(parentId);
        if (waiting) waiting.push(span);
        else entry.waiting.set(parentId, [span]);
      }
    }
    const early = entry.waiting?.get(data.spanId);
    if (early !== undefined) {
      entry.waiting!.delete(data.spanId);
      for (const child of early) observer.link(span, child);
    }
  }

  private evict(): void {
    while (this.traces.size > this.maxTraces || this.spanCount > this.maxSpans) {
      const oldest = this.traces.values().next().value as TraceEntry | undefined;
      if (oldest === undefined) return;
      this.traces.delete(oldest.traceId);
      this.spanCount -= oldest.spans.size;
      this.evicted++;
      for (const service of oldest.services) unindex(this.byService, service, oldest);
      for (const operation of oldest.operations) unindex(this.byOperation, operation, oldest);
    }
  }

  private candidates(query: TraceQuery): Iterable<TraceEntry> {
    if (query.service !== undefined && query.operation !== undefined) {
      const services = this.byService.get(query.service);
      const operations = this.byOperation.get(query.operation);
      if (!services || !operations) return [];
      const [small, large] =
        services.size <= operations.size ? [services, operations] : [operations, services];
      return [...small].filter((entry) => large.has(entry));
    }
    if (query.service !== undefined) return this.byService.get(query.service) ?? [];
    if (query.operation !== undefined) return this.byOperation.get(query.operation) ?? [];
    return this.traces.values();
  }

  private matches(entry: TraceEntry, query: TraceQuery): boolean {
    if (query.status === 'error' && entry.errorCount === 0) return false;
    if (query.status === 'ok' && entry.errorCount > 0) return false;
    if (query.minDurationMs !== undefined && entry.endMs - entry.startMs < query.minDurationMs) return false;
    if (query.startMs !== undefined && entry.startMs < query.startMs) return false;
    if (query.endMs !== undefined && entry.startMs > query.endMs) return false;
    if (query.service !== undefined && query.operation !== undefined) {
      for (const span of entry.spans.values()) {
        if (span.service === query.service && span.data.name === query.operation) return true;
      }
      return false;
    }
    return true;
  }
}

export function createTraceCollector(options: CollectorOptions = {}): TraceCollector {
  return new TraceCollector(options);
}

function addIndexed(
  keys: Set<string>,
  key: string,
  index: Map<string, Set<TraceEntry>>,
  entry: TraceEntry,
): void {
  if (keys.has(key)) return;
  keys.add(key);
  const set = index.get(key);
  if (set) set.add(entry);
  else index.set(key, new Set([entry]));
}

function unindex(index: Map<string, Set<TraceEntry>>, key: string, entry: TraceEntry): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(entry);
  if (set.size === 0) index.delete(key);
}

/** The root: the earliest span without a parent, else the earliest whose parent is missing. */
function rootOf(entry: TraceEntry): StoredSpan | undefined {
  let root: StoredSpan | undefined;
  let orphan: StoredSpan | undefined;
  for (const span of entry.spans.values()) {
    const parentId = span.data.parentSpanId;
    if (parentId === '') {
      if (root === undefined || span.startMs < root.startMs) root = span;
    } else if (!entry.spans.has(parentId) && (orphan === undefined || span.startMs < orphan.startMs)) {
      orphan = span;
    }
  }
  return root ?? orphan;
}

function summarize(entry: TraceEntry): TraceSummary {
  const root = rootOf(entry);
  return {
    traceId: entry.traceId,
    rootService: root?.service ?? '',
    rootOperation: root?.data.name ?? '',
    startTime: entry.startMs,
    durationMs: Math.max(0, entry.endMs - entry.startMs),
    spanCount: entry.spans.size,
    errorCount: entry.errorCount,
    error: entry.errorCount > 0,
    services: [...entry.services].sort(),
    droppedSpans: entry.dropped,
  };
}
