/**
 * The proxy half of `npm run bench:observability`: a Trellis gateway made with createProxy, so that
 * metrics can be off as well as on (the CLI gateway always records them). The route `/` goes to the
 * one upstream; with --tracing every request is traced (ratio 1) and its span exported over OTLP to
 * the collector at `<control>/v1/traces`; with --metrics requests are counted and timed and the
 * Prometheus text served on --metrics-port.
 * Args: --port P --upstream PORT --control URL [--tracing --service NAME] [--metrics --metrics-port P]
 * On SIGTERM it prints `EXPORTER {json}` (spans exported, dropped…) before it exits.
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type { Instance, Route } from '../../src/core/index.ts';
import { createProxy, createStaticSource } from '../../src/proxy/index.ts';
import { type BatchExporter, createOtlpExporter, createTracer } from '../../src/telemetry/index.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    upstream: { type: 'string' },
    control: { type: 'string' },
    tracing: { type: 'boolean', default: false },
    service: { type: 'string', default: 'bench-gateway' },
    metrics: { type: 'boolean', default: false },
    'metrics-port': { type: 'string' },
  },
});

const upstream: Instance = {
  id: 'bench-1',
  service: 'bench',
  address: '127.0.0.1',
  port: Number(values.upstream),
  tags: [],
  metadata: {},
  weight: 100,
  health: 'healthy',
  registeredAt: 0,
  healthChangedAt: 0,
};
const route: Route = {
  name: 'bench',
  priority: 0,
  match: { path: { prefix: '/' } },
  service: 'bench',
  stripPrefix: false,
  createdAt: 0,
};

const logger = pino({ level: 'warn' });
let exporter: BatchExporter | undefined;
let tracing: { tracer: ReturnType<typeof createTracer> } | undefined;
if (values.tracing) {
  exporter = createOtlpExporter({
    url: new URL('/v1/traces', values.control).toString(),
    onError: (error, spans) => logger.warn({ err: error, spans }, 'spans not delivered'),
  });
  tracing = { tracer: createTracer({ service: values.service, sampleRatio: 1, sink: exporter }) };
}
const proxy = createProxy({
  source: createStaticSource({ instances: [upstream], routes: [route] }),
  logger,
  metrics: values.metrics ? {} : false,
  tracing,
});
await proxy.gateway({ port: Number(values.port), host: '127.0.0.1' });
if (values.metrics && values['metrics-port'] !== undefined) {
  await proxy.serveMetrics({ port: Number(values['metrics-port']) });
}

process.once('SIGTERM', () => {
  void (async () => {
    await proxy.close();
    await exporter?.close();
    if (exporter !== undefined) process.stdout.write(`EXPORTER ${JSON.stringify(exporter.stats())}\n`);
    process.exit(0);
  })();
});
