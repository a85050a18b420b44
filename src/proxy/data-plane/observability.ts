/**
 * What a data-plane process (the only one, or each worker) opens besides its listeners: the tracer
 * whose spans go to the control plane's collector (`<control>/v1/traces`, OTLP/HTTP, batched and
 * bounded) and the access log. Settings are plain data, so they travel to workers as JSON.
 */
import { hostname } from 'node:os';
import type { Logger } from '../../core/index.ts';
import type { AccessLog } from '../../telemetry/access-log.ts';
import type { AccessLogDestination } from '../../telemetry/access-record.ts';
import type { BatchExporter } from '../../telemetry/tracing/batch-exporter.ts';
import { createOtlpExporter, YOUNG_EXPORT_BATCH_SPANS } from '../../telemetry/tracing/otlp-http.ts';
import { createTracer, type Tracer } from '../../telemetry/tracing/tracer.ts';
import { createSpanPoster } from '../control-link/index.ts';

const CLOSE_TIMEOUT_MS = 2_000;

export interface ObservabilitySettings {
  /** Spans name this service (the sidecar's service, or `gateway`); absent: no tracing. */
  tracing?: { service: string; sampleRatio: number };
  /** Default `off`. */
  accessLog?: AccessLogDestination;
  /** Prometheus text on this port (the primary's when there are workers); absent: not served. */
  metricsPort?: number;
  /** The metrics port's address (default 127.0.0.1). */
  metricsHost?: string;
}

export interface OpenedObservability {
  readonly tracing: { tracer: Tracer } | undefined;
  readonly accessLog: AccessLog | undefined;
  /** Delivers the spans still queued (bounded) and flushes the log; call after the proxy closed. */
  close(): Promise<void>;
}

export interface ObservabilityDeps {
  /** The control plane's URL: spans go to its `/v1/traces`. */
  control: string;
  token?: string;
  logger: Logger;
}

export async function openObservability(
  settings: ObservabilitySettings | undefined,
  deps: ObservabilityDeps,
): Promise<OpenedObservability> {
  const { logger } = deps;
  const accessLog =
    settings?.accessLog === undefined || settings.accessLog === 'off'
      ? undefined
      : // Loaded only when asked for: the writer brings pino (~5 MB resident).
        await (await import('../../telemetry/access-log.ts')).openAccessLog({
          destination: settings.accessLog,
          logger,
        });
  let exporter: BatchExporter | undefined;
  let tracing: { tracer: Tracer } | undefined;
  if (settings?.tracing !== undefined) {
    const url = new URL('/v1/traces', deps.control).toString();
    exporter = createOtlpExporter({
      url,
      post: createSpanPoster(deps.control),
      headers: deps.token === undefined ? undefined : { authorization: `Bearer ${deps.token}` },
      onError: (error, spans) => logger.warn({ err: error, spans }, `could not send spans to ${url}`),
      // Shutting down while the control plane is away must not wait long for spans it cannot take.
      closeTimeoutMs: CLOSE_TIMEOUT_MS,
      // A busy proxy's exports must die young (see YOUNG_EXPORT_BATCH_SPANS).
      maxBatchSize: YOUNG_EXPORT_BATCH_SPANS,
    });
    tracing = {
      tracer: createTracer({
        service: settings.tracing.service,
        sampleRatio: settings.tracing.sampleRatio,
        sink: exporter,
        resourceAttributes: { 'host.name': hostname(), 'process.pid': process.pid },
      }),
    };
  }
  let closing: Promise<void> | undefined;
  return {
    tracing,
    accessLog,
    close() {
      closing ??= (async () => {
        await exporter?.close();
        await accessLog?.close();
      })();
      return closing;
    },
  };
}
