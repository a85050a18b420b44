/** The API's answers, as far as the dashboard reads them (see docs/api.md). */
// The server's own model types (type-only imports: nothing of src/ reaches the bundle).
import type { HealthState as Health } from '../../src/core/model/health.ts';
import type { Instance } from '../../src/core/model/instance.ts';
import type { Service } from '../../src/core/model/service.ts';
import type { WindowFigures as Figures } from '../../src/telemetry/latency-window.ts';

export type { Figures, Health, Instance, Service };

export interface Policy {
  service: string;
  loadBalancer: { kind: string };
  [section: string]: unknown;
}

export interface Route {
  name: string;
  service: string;
  priority: number;
  match?: unknown;
  [field: string]: unknown;
}

export interface Snapshot {
  revision: number;
  /** The control plane's store; a resume names it, so another store answers with a snapshot. */
  storeId?: string;
  services: Service[];
  instances: Instance[];
  policies: Policy[];
  routes: Route[];
}

export type Change =
  | { type: 'service.put'; service: Service; revision: number }
  | { type: 'service.delete'; name: string; revision: number }
  | { type: 'instance.put'; instance: Instance; revision: number }
  | { type: 'instance.delete'; id: string; service: string; revision: number }
  | { type: 'policy.put'; policy: Policy; revision: number }
  | { type: 'policy.delete'; service: string; revision: number }
  | { type: 'route.put'; route: Route; revision: number }
  | { type: 'route.delete'; name: string; revision: number };

export interface Stats {
  windowMs: number;
  mesh: Figures;
  services: Record<string, Figures>;
}

export interface Topology {
  windowMs: number;
  nodes: { id: string; registered: boolean; instances: number; healthy: number; stats: Figures }[];
  edges: ({ source: string; target: string } & Figures)[];
}

export interface TraceSummary {
  traceId: string;
  rootService: string;
  rootOperation: string;
  startTime: number;
  durationMs: number;
  spanCount: number;
  errorCount: number;
  error: boolean;
  services: string[];
}

export interface SpanEvent {
  name: string;
  time: number;
  attributes: Record<string, unknown>;
}

export interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: string;
  service: string;
  startTime: number;
  endTime: number;
  durationMs: number;
  status: { code: 'unset' | 'ok' | 'error'; message?: string };
  attributes: Record<string, unknown>;
  events: SpanEvent[];
  children: Span[];
}

export interface Alert {
  id: string;
  rule: string;
  metric: string;
  service?: string;
  op: string;
  threshold: number;
  severity: string;
  description?: string;
  state: 'pending' | 'firing' | 'resolved';
  value: number;
  activeAt: number;
  firedAt?: number;
  resolvedAt?: number;
  resolution?: string;
}

export interface AlertRule {
  name: string;
  metric: string;
  service?: string;
  op: string;
  threshold: number;
  forMs: number;
  windowMs?: number;
  severity: string;
  description?: string;
}

export interface Endpoint {
  id: string;
  address: string;
  port: number;
  weight: number;
  zone: string | null;
  health: Health;
  breaker: 'closed' | 'open' | 'half-open' | 'disabled';
  ejected: boolean;
  inRotation: boolean;
  inFlight: number;
  requests: number;
  failures: number;
  latencyMs: number | null;
}

export interface Cluster {
  service: string;
  balancer: string;
  inFlight: number;
  pending: number;
  endpoints: Endpoint[];
}
