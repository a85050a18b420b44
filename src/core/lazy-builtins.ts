import { createRequire } from 'node:module';

// Node's built-in modules that a proxy needs only in some configurations, loaded on first use
// rather than imported: each one a proxy imports costs resident memory in every proxy process
// whether or not it is used (node:http2 ~2.5 MiB, node:https with TLS ~1 MiB; issue 3 holds a
// sidecar under 60 MB). Loading a built-in synchronously takes microseconds and happens at
// configuration time (a first h2c session, an OTLP exporter), never per request.
const require = createRequire(import.meta.url);

/** node:http2, for h2c upstreams. */
export function loadHttp2(): typeof import('node:http2') {
  return require('node:http2');
}

/** node:https, for an https OTLP endpoint. */
export function loadHttps(): typeof import('node:https') {
  return require('node:https');
}

/** node:zlib, for gzip-compressed OTLP exports. */
export function loadZlib(): typeof import('node:zlib') {
  return require('node:zlib');
}

/** node:tls, for a proxy's https:// control plane. */
export function loadTls(): typeof import('node:tls') {
  return require('node:tls');
}

/** node:http, for the demo's traffic and the span exports of the SDK and the control plane (never a proxy's). */
export function loadHttp(): typeof import('node:http') {
  return require('node:http');
}
