/**
 * OTLP/HTTP JSON export: POST <url> with an ExportTraceServiceRequest, by default over a keep-alive
 * node:http(s) agent (loaded on first use; a proxy passes its own client instead, see `post`).
 * 429 and 5xx (but 501) and connection errors or timeouts are retryable, honouring Retry-After;
 * other statuses are not (the OTLP spec's rules, with every 5xx treated as transient).
 */
import type { IncomingMessage } from 'node:http';
import { defaultSecureContext, loadHttp, loadHttps, loadZlib } from '../../core/index.ts';
import {
  BatchExporter,
  type BatchExporterOptions,
  ExportError,
  type SpanTransport,
} from './batch-exporter.ts';
import { encodeTraceRequestJson } from './otlp-encode.ts';
import type { SpanData } from './span.ts';

export interface OtlpHttpOptions {
  /** The full traces URL; a URL with no path gets `/v1/traces`. */
  url: string;
  headers?: Record<string, string>;
  /** Per request (default 10 s). */
  timeoutMs?: number;
  compression?: 'gzip' | 'none';
  /** How the requests are made; default a keep-alive node:http(s) agent. */
  post?: OtlpPoster;
}

/** The answer to one export request; `text` is its body (the exporter reads at most 64 KiB of it). */
export interface OtlpAnswer {
  status: number;
  /** Lower-case names. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  text: string;
}

/** Makes the export requests; rejects when no answer came (refused, reset, timed out). */
export interface OtlpPoster {
  post(
    url: string,
    request: { headers: Record<string, string>; body: Buffer | string; timeoutMs: number },
  ): Promise<OtlpAnswer>;
  close(): void;
}

export interface OtlpHttpTransport extends SpanTransport {
  readonly url: string;
  /** Spans the receiver reported as rejected (OTLP partial success). */
  rejectedSpans(): number;
}

/** `http://collector:4318` → `http://collector:4318/v1/traces`; a URL with a path is kept. */
export function otlpTracesUrl(endpoint: string): string {
  const url = new URL(endpoint);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RangeError(`an OTLP endpoint is an http(s) URL, got "${endpoint}"`);
  }
  if (url.pathname === '' || url.pathname === '/') url.pathname = '/v1/traces';
  return url.toString();
}

export function createOtlpHttpTransport(options: OtlpHttpOptions): OtlpHttpTransport {
  const url = new URL(otlpTracesUrl(options.url));
  const target = url.toString();
  const poster = options.post ?? nodePoster(url.protocol === 'https:');
  const timeoutMs = options.timeoutMs ?? 10_000;
  const gzipSync = options.compression === 'gzip' ? loadZlib().gzipSync : null;
  let rejected = 0;

  return {
    url: target,
    rejectedSpans: () => rejected,
    close: () => poster.close(),
    async send(batch: SpanData[]): Promise<void> {
      // Posted as a string: Node frees its copy once written, where a Buffer of it that lived
      // through the write was often freed only at V8's next full collection.
      const json = encodeTraceRequestJson(batch);
      const body = gzipSync ? gzipSync(json) : json;
      const headers: Record<string, string> = { ...options.headers, 'content-type': 'application/json' };
      if (gzipSync) headers['content-encoding'] = 'gzip';
      let answer: OtlpAnswer;
      try {
        answer = await poster.post(target, { headers, body, timeoutMs });
      } catch (error) {
        if (error instanceof ExportError) throw error;
        throw new ExportError(
          `could not send spans to ${url.host}: ${(error as Error).message}`,
          true,
          undefined,
          { cause: error },
        );
      }
      const { status, text } = answer;
      if (status >= 200 && status < 300) {
        rejected += partialRejections(text);
        return;
      }
      const retryable = status === 429 || (status >= 500 && status !== 501);
      const retryAfter = answer.headers['retry-after'];
      throw new ExportError(
        `the OTLP receiver at ${url.host} answered ${status}${text ? `: ${text.slice(0, 200)}` : ''}`,
        retryable,
        retryAfterMs(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter),
      );
    },
  };
}

/** Export requests over a keep-alive node:http(s) agent of two sockets. */
function nodePoster(secure: boolean): OtlpPoster {
  const stack = secure ? loadHttps() : loadHttp();
  const agent = new stack.Agent({
    keepAlive: true,
    maxSockets: 2,
    ...(secure ? { secureContext: defaultSecureContext() } : {}),
  });
  return {
    close: () => agent.destroy(),
    post(url, { headers, body, timeoutMs }) {
      return new Promise((resolve, reject) => {
        const req = stack.request(
          url,
          {
            method: 'POST',
            agent,
            headers: { ...headers, 'content-length': Buffer.byteLength(body) },
            timeout: timeoutMs,
          },
          (res) => {
            readAll(res).then(
              (text) => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }),
              reject,
            );
          },
        );
        req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        req.on('error', reject);
        req.end(body);
      });
    },
  };
}

export interface OtlpExporterOptions extends OtlpHttpOptions, Omit<BatchExporterOptions, 'transport'> {}

/**
 * Spans per request that keep each export young. A proxy's span encodes to ~1.2 KB of OTLP JSON, so a
 * 64-span request's JSON (and the objects it is built from) stays below V8's large-object size and
 * inside the young generation, where it dies; a 512-span one (the BatchExporter default) is allocated
 * in the old generation at every flush: ~3 MiB more resident in a proxy after 10 s of saturation at
 * 1% sampling. The proxies use it; the SDK and the control plane still send the default.
 */
export const YOUNG_EXPORT_BATCH_SPANS = 64;

/** A BatchExporter over OTLP/HTTP JSON: the usual way to ship spans to a collector. */
export function createOtlpExporter(options: OtlpExporterOptions): BatchExporter {
  return new BatchExporter({ ...options, transport: createOtlpHttpTransport(options) });
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      // The answer is informational; keep at most 64 KiB of it.
      if (size < 65_536) chunks.push(chunk);
      size += chunk.length;
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', (error) => reject(new ExportError(`reading the OTLP answer: ${error.message}`, true)));
  });
}

function partialRejections(text: string): number {
  if (!text.includes('rejectedSpans')) return 0;
  try {
    const count = Number(JSON.parse(text)?.partialSuccess?.rejectedSpans ?? 0);
    return Number.isFinite(count) && count > 0 ? count : 0;
  } catch {
    return 0;
  }
}

/** Retry-After in seconds or as an HTTP date. */
function retryAfterMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
