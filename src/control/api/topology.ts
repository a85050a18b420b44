/**
 * The service graph and mesh statistics read from collected spans: `GET /api/v1/topology`,
 * `GET /api/v1/stats` and the earlier mesh's `GET /api/v1/mesh/v2/topology` (its node and instance
 * fields unchanged, edges in its snake_case).
 */

import type { Logger } from 'pino';
import { telemetryWindowQuery, validate } from '../../config/index.ts';
import type { Registry } from '../../registry/index.ts';
import type { ControlRouter } from '../context.ts';
import { json } from '../http.ts';
import type { ControlTelemetry } from '../telemetry.ts';
import { groupByService } from './mesh-health.ts';
import { toSeedInstance } from './seed.ts';
import { queryObject } from './traces.ts';

export interface TopologyApiDeps {
  registry: Registry;
  telemetry: ControlTelemetry;
  logger: Logger;
}

export function registerTopologyRoutes(router: ControlRouter, deps: TopologyApiDeps): void {
  const { registry, telemetry, logger } = deps;
  const windowOf = (query: URLSearchParams) =>
    validate(telemetryWindowQuery, queryObject(query), { what: 'query' }).window;

  router
    .add('GET', '/api/v1/topology', ({ query }) => {
      const windowMs = windowOf(query);
      const groups = groupByService(
        registry.listServices().map((service) => service.name),
        registry.listInstances(),
      );
      const graph = telemetry.graph.graph({ windowMs, services: groups.keys(), stats: telemetry.stats });
      const nodes = graph.nodes.map((node) => {
        const members = groups.get(node.id) ?? [];
        return {
          id: node.id,
          registered: node.registered,
          instances: members.length,
          healthy: members.filter((instance) => instance.health === 'healthy').length,
          stats: node.stats,
        };
      });
      return json({ windowMs, nodes, edges: graph.edges });
    })

    .add('GET', '/api/v1/stats', ({ query }) => {
      const windowMs = windowOf(query);
      const names = registry.listServices().map((service) => service.name);
      return json(telemetry.stats.snapshot(windowMs, names));
    })

    .add('GET', '/api/v1/mesh/v2/topology', ({ query }) => {
      const windowMs = windowOf(query);
      // The dashboard polls this; whatever goes wrong, it gets a (possibly empty) graph, never a 500.
      try {
        const instances = registry.listInstances();
        const names = registry.listServices().map((service) => service.name);
        const nodes = [...groupByService(names, instances)].map(([name, members]) => ({
          id: name,
          type: 'service' as const,
          instances: members.length,
          healthy: members.filter((instance) => instance.health === 'healthy').length,
        }));
        const graph = telemetry.graph.graph({ windowMs });
        // Services seen only in spans are nodes too, so every edge joins two nodes.
        const known = new Set(nodes.map((node) => node.id));
        for (const edge of graph.edges) {
          for (const id of [edge.source, edge.target]) {
            if (known.has(id)) continue;
            known.add(id);
            nodes.push({ id, type: 'service', instances: 0, healthy: 0 });
          }
        }
        const edges = graph.edges.map((edge) => ({
          source: edge.source,
          target: edge.target,
          requests: edge.requests,
          failed: edge.failed,
          request_rate: edge.rps,
          error_rate: edge.errorRate,
          avg_ms: edge.avgMs,
          p50_ms: edge.p50Ms,
          p95_ms: edge.p95Ms,
          p99_ms: edge.p99Ms,
        }));
        return json({ nodes, edges, instances: instances.map(toSeedInstance) });
      } catch (error) {
        logger.error({ err: error }, 'could not build the topology');
        return json({ nodes: [], edges: [], instances: [] });
      }
    });
}
