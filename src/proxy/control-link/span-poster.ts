import { CONTROL_KEEP_ALIVE_MS } from '../../client/index.ts';
import type { OtlpPoster } from '../../telemetry/tracing/otlp-http.ts';
import { createHttp1Transport } from './http1-transport.ts';

/** A proxy's span exports to its control plane's collector, over the proxy's own HTTP/1.1 client. */
export function createSpanPoster(controlUrl: string): OtlpPoster {
  const transport = createHttp1Transport(controlUrl, { keepAliveMs: CONTROL_KEEP_ALIVE_MS });
  return {
    post: (url, { headers, body, timeoutMs }) =>
      transport.exchange(url, { method: 'POST', headers, body, timeoutMs }),
    close() {
      void transport.destroy();
    },
  };
}
