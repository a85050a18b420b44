/**
 * Traces: the OTLP/HTTP receiver (`POST /v1/traces`, protobuf or JSON, gzip or not) and the search
 * API over the collector (`GET /api/v1/traces`, `GET /api/v1/traces/:traceId`).
 */
import { traceIdParam, traceSearchQuery, validate } from '../../config/index.ts';
import { MeshError } from '../../core/index.ts';
import { decodeTraceRequest, encodeExportResponse, traceTreeJson } from '../../telemetry/index.ts';
import type { ControlRouter } from '../context.ts';
import { json, readRawBody } from '../http.ts';
import type { ControlTelemetry } from '../telemetry.ts';

const CONTENT_TYPES = { json: 'application/json', protobuf: 'application/x-protobuf' } as const;

export function registerTraceRoutes(router: ControlRouter, telemetry: ControlTelemetry): void {
  const maxBytes = telemetry.settings.maxOtlpBodyBytes;

  router
    .add('POST', '/v1/traces', async ({ req, res }) => {
      const body = await readRawBody(req, maxBytes);
      const { encoding, spans } = decodeTraceRequest(
        body,
        req.headers['content-type'],
        req.headers['content-encoding'],
        { maxBytes },
      );
      const result = telemetry.ingest(spans);
      const message =
        result.rejected > 0
          ? `${result.rejected} spans refused: their trace reached ${telemetry.settings.maxSpansPerTrace} spans`
          : '';
      // OTLP/HTTP: the answer is an ExportTraceServiceResponse in the request's encoding.
      const payload = encodeExportResponse(encoding, result.rejected, message);
      res.statusCode = 200;
      res.setHeader('Content-Type', CONTENT_TYPES[encoding]);
      res.setHeader('Content-Length', payload.length);
      res.end(payload);
      return undefined;
    })

    .add('GET', '/api/v1/traces', ({ query }) => {
      const input = validate(traceSearchQuery, queryObject(query), { what: 'query' });
      const found = telemetry.collector.search({
        service: input.service,
        operation: input.operation,
        status: input.status,
        minDurationMs: input.minDuration,
        startMs: input.start,
        endMs: input.end,
        limit: input.limit,
      });
      return json({ traces: found.traces, total: found.total, limit: input.limit });
    })

    .add('GET', '/api/v1/traces/:traceId', ({ params }) => {
      const traceId = validate(traceIdParam, params.traceId, { what: 'trace id', prefix: ['traceId'] });
      const tree = telemetry.collector.trace(traceId);
      if (tree === undefined) {
        throw new MeshError(
          'NOT_FOUND',
          `no trace ${traceId}: never received, or evicted (the collector keeps the most recent ${telemetry.settings.maxTraces})`,
        );
      }
      return json(traceTreeJson(tree));
    });
}

/** Query parameters as an object for the schema: the first value of each, empty ones left out. */
export function queryObject(query: URLSearchParams): Record<string, string> {
  const object: Record<string, string> = {};
  for (const [key, value] of query) {
    if (value !== '' && !(key in object)) object[key] = value;
  }
  return object;
}
