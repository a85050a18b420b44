/**
 * Turns collected spans into statistics and graph edges (the collector's SpanObserver):
 * - a SERVER or CONSUMER span is one request its service handled → MeshStats;
 * - a span naming its callee in `peer.service` (the proxies' spans do) is one call caller → callee,
 *   measured by the caller → ServiceGraph;
 * - a parent and child span of different services are one call parent → child, measured by the
 *   child, unless the parent already named that callee in `peer.service` (counted above).
 * A request counts as failed when its span has status ERROR, except for an answered 4xx (the
 * caller's mistake, not the service's), as Linkerd's success rate does.
 */

import type { MeshStats } from './stats.ts';
import type { ServiceGraph } from './topology.ts';
import { ATTR } from './tracing/attributes.ts';
import type { SpanObserver, StoredSpan } from './tracing/collector.ts';
import { SpanKind } from './tracing/span.ts';

export interface SpanMetricsOptions {
  stats: MeshStats;
  graph: ServiceGraph;
}

export function createSpanMetrics(options: SpanMetricsOptions): SpanObserver {
  const { stats, graph } = options;
  return {
    span(span) {
      const kind = span.data.kind;
      if (kind === SpanKind.Server || kind === SpanKind.Consumer) {
        stats.record(span.service, span.durationMs, failed(span), span.endMs, span.weight);
      }
      const callee = peerService(span);
      if (callee !== undefined)
        graph.record(span.service, callee, span.durationMs, failed(span), span.endMs, span.weight);
    },
    link(parent, child) {
      if (parent.service === child.service || peerService(parent) === child.service) return;
      graph.record(parent.service, child.service, child.durationMs, failed(child), child.endMs, child.weight);
    },
  };
}

function peerService(span: StoredSpan): string | undefined {
  const peer = span.data.attributes[ATTR.PEER_SERVICE];
  return typeof peer === 'string' && peer.length > 0 && peer !== span.service ? peer : undefined;
}

export function failed(span: StoredSpan): boolean {
  if (!span.error) return false;
  const status = span.data.attributes[ATTR.HTTP_RESPONSE_STATUS_CODE];
  const code = typeof status === 'number' ? status : typeof status === 'string' ? Number(status) : 0;
  return !(code >= 400 && code < 500);
}
