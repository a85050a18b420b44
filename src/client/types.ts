import type { z } from 'zod';
import type {
  instanceRegistration,
  routeInput,
  serviceDefinition,
  servicePolicyInput,
} from '../config/index.ts';
import type { HealthState, Instance, Service } from '../core/index.ts';

/** A registration as a caller writes it: durations as `10s` or ms, defaults may be left out. */
export type RegistrationInput = z.input<typeof instanceRegistration>;
export type ServiceInput = z.input<typeof serviceDefinition>;
/** A policy patch or replacement as a caller writes it: every field optional, durations as `2s` or ms. */
export type PolicyInput = z.input<typeof servicePolicyInput>;
/** A gateway route as a caller writes it; `priority` and `stripPrefix` may be left out. */
export type RouteSpec = z.input<typeof routeInput>;

/** One row of GET /api/v1/services. */
export interface ServiceSummary extends Service {
  instances: Record<HealthState, number>;
}

/** GET /api/v1/services/:name */
export interface ServiceDetail {
  service: Service;
  instances: Instance[];
}

/** GET /api/v1/instances */
export interface InstanceList {
  instances: Instance[];
  revision: number;
}

export interface InstanceQuery {
  service?: string;
  /** One state, or several (sent comma-separated). */
  health?: HealthState | HealthState[];
}

export type HealthCounts = Record<HealthState, number> & { total: number };

/** GET /api/v1/health. */
export interface MeshHealth {
  status: 'healthy' | 'degraded' | 'unhealthy';
  instances: HealthCounts;
  services: Record<string, HealthCounts>;
  store: { kind: string; connected: boolean };
  revision: number;
  leader?: boolean;
  nodeId?: string;
  timestamp?: string;
}
