import type { HealthCheck } from './check.ts';
import type { HealthState } from './health.ts';

/** What a caller tells the registry about one running copy of a service. */
export interface InstanceSpec {
  id: string;
  service: string;
  address: string;
  port: number;
  tags: string[];
  metadata: Record<string, string>;
  weight: number;
  zone?: string;
  version?: string;
  check?: HealthCheck;
}

/** An instance as the registry stores and serves it. */
export interface Instance extends InstanceSpec {
  health: HealthState;
  /** Epoch ms of registration. */
  registeredAt: number;
  /** Epoch ms of the last health transition. */
  healthChangedAt: number;
  /** Last check output, for humans. */
  healthOutput?: string;
}

/** The seed API's id form: `<service>-<address>-<port>`. */
export function defaultInstanceId(service: string, address: string, port: number): string {
  return `${service}-${address}-${port}`;
}
