/**
 * Prometheus exposition: `GET /metrics` (open, for scrapers) and the earlier mesh's
 * `GET /api/v1/mesh/v2/metrics` (behind the admin token like the rest of /api). Both serve this
 * node's metrics merged with those of any proxy running in its process; remote sidecars and gateways
 * are scraped on their own metrics ports.
 */
import type { MetricsSource } from '../../telemetry/index.ts';
import type { ControlRouter, Handler } from '../context.ts';

export function registerMetricsRoutes(router: ControlRouter, metrics: MetricsSource): void {
  const expose: Handler = async (ctx) => {
    const text = await metrics.text();
    ctx.res.writeHead(200, {
      'Content-Type': metrics.contentType,
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
    });
    ctx.res.end(text);
    return undefined;
  };
  router.add('GET', '/metrics', expose).add('GET', '/api/v1/mesh/v2/metrics', expose);
}
