/**
 * The control plane's tracing side, wired once per node: the span collector, the statistics and
 * service graph fed from it, and (with `telemetry.otlpEndpoint`) a batched, bounded forwarder of
 * every received span to another OTLP collector.
 */
import type { Logger } from 'pino';
import { type TelemetrySettings, telemetrySettings } from '../config/index.ts';
import {
  type AddResult,
  type BatchExporter,
  createBatchExporter,
  createMeshStats,
  createOtlpExporter,
  createServiceGraph,
  createSpanMetrics,
  createTraceCollector,
  type ExporterStats,
  type MeshStats,
  plainSpan,
  type ServiceGraph,
  type SpanData,
  type SpanSink,
  type TraceCollector,
} from '../telemetry/index.ts';

export interface ControlTelemetry {
  readonly settings: TelemetrySettings;
  readonly collector: TraceCollector;
  readonly stats: MeshStats;
  readonly graph: ServiceGraph;
  /** Stores spans, feeds the statistics and graph, and forwards them when an endpoint is set. */
  ingest(spans: SpanData[]): AddResult;
  /** For proxies in this process: spans are batched (as over OTLP) into `ingest`. */
  readonly sink: SpanSink;
  /** The forwarder's counters; undefined without `otlpEndpoint`. */
  forwarding(): (ExporterStats & { url: string }) | undefined;
  /** Delivers what the local sink and the forwarder hold (bounded), then stops them. */
  close(): Promise<void>;
}

export interface ControlTelemetryOptions {
  logger: Logger;
  /** Epoch ms, for the statistics windows (tests); default Date.now. */
  now?: () => number;
}

export function createControlTelemetry(
  settings: TelemetrySettings = telemetrySettings.parse({}),
  options: ControlTelemetryOptions,
): ControlTelemetry {
  const { logger } = options;
  const stats = createMeshStats({ now: options.now });
  const graph = createServiceGraph({ now: options.now });
  const collector = createTraceCollector({
    maxTraces: settings.maxTraces,
    maxSpansPerTrace: settings.maxSpansPerTrace,
    maxSpans: settings.maxSpans,
    observer: createSpanMetrics({ stats, graph }),
  });

  let forwarder: BatchExporter | undefined;
  let forwardUrl = '';
  if (settings.otlpEndpoint !== undefined) {
    forwardUrl = settings.otlpEndpoint;
    forwarder = createOtlpExporter({
      url: settings.otlpEndpoint,
      onError: (error, spans) =>
        logger.warn({ err: error, spans }, 'could not forward spans to %s', forwardUrl),
    });
  }

  const ingest = (spans: SpanData[]): AddResult => {
    const result = collector.add(spans);
    if (forwarder !== undefined) for (const span of spans) forwarder.export(span);
    return result;
  };

  const local = createBatchExporter({
    transport: {
      async send(batch) {
        ingest(batch.map(plainSpan));
      },
    },
    maxQueueSize: 8192,
    onError: (error, spans) => logger.error({ err: error, spans }, 'could not store spans from this process'),
  });

  let closing: Promise<void> | undefined;
  return {
    settings,
    collector,
    stats,
    graph,
    ingest,
    sink: local,
    forwarding: () => (forwarder === undefined ? undefined : { url: forwardUrl, ...forwarder.stats() }),
    close() {
      closing ??= (async () => {
        await local.close();
        await forwarder?.close();
      })();
      return closing;
    },
  };
}
