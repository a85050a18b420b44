import type { MeshChange, MeshSnapshot } from '../../core/index.ts';
import type { WireFamily } from '../../telemetry/exposition/wire.ts';
import type { ObservabilitySettings } from '../data-plane/observability.ts';
import type { DataPlanePlan } from '../data-plane/plan.ts';

/** The environment variable that carries a worker's WorkerConfig (JSON). */
export const WORKER_CONFIG_ENV = 'TRELLIS_WORKER_CONFIG';

/** What the primary tells a worker to run. */
export interface WorkerConfig {
  plan: DataPlanePlan;
  logLevel: string;
  /** Tracing and the access log (each worker has its own exporter and log writer). */
  observability?: ObservabilitySettings;
  /** Where spans go (`<control>/v1/traces`). */
  control?: string;
  token?: string;
  /** Keep metrics and answer the primary's `metrics` requests (it serves the metrics port). */
  metrics?: boolean;
}

/** One worker's metric families, as JSON carries them (`toWire`; the primary reads them with `fromWire`). */
export type WorkerMetrics = WireFamily[];

/** Primary → worker. */
export type PrimaryMessage =
  /** The whole view (null while the primary has none); sent first, and again after every new snapshot. */
  | { type: 'view'; snapshot: MeshSnapshot | null }
  | { type: 'change'; change: MeshChange }
  /** Stop accepting, finish the exchanges in progress, exit 0. */
  | { type: 'drain' }
  /** Send your metric families, answering with the same id. */
  | { type: 'metrics'; id: number };

/** Worker → primary. */
export type WorkerMessage =
  /** The worker listens for messages: it can be sent the view. */
  | { type: 'hello' }
  /** The worker's listeners are open, on these ports (in plan order). */
  | { type: 'ready'; ports: number[] }
  /** The worker could not open its listeners; it exits next. */
  | { type: 'failed'; message: string }
  /** The answer to a `metrics` request. */
  | { type: 'metrics'; id: number; metrics: WorkerMetrics };

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  const type = (value as { type?: unknown } | null)?.type;
  return type === 'hello' || type === 'ready' || type === 'failed' || type === 'metrics';
}

export function isPrimaryMessage(value: unknown): value is PrimaryMessage {
  const type = (value as { type?: unknown } | null)?.type;
  return type === 'view' || type === 'change' || type === 'drain' || type === 'metrics';
}
