import type { MeshChange, MeshSnapshot } from '../../core/index.ts';
import type { DataPlanePlan } from '../data-plane/plan.ts';

/** The environment variable that carries a worker's WorkerConfig (JSON). */
export const WORKER_CONFIG_ENV = 'TRELLIS_WORKER_CONFIG';

/** What the primary tells a worker to run. */
export interface WorkerConfig {
  plan: DataPlanePlan;
  logLevel: string;
}

/** Primary → worker. */
export type PrimaryMessage =
  /** The whole view (null while the primary has none); sent first, and again after every new snapshot. */
  | { type: 'view'; snapshot: MeshSnapshot | null }
  | { type: 'change'; change: MeshChange }
  /** Stop accepting, finish the exchanges in progress, exit 0. */
  | { type: 'drain' };

/** Worker → primary. */
export type WorkerMessage =
  /** The worker listens for messages: it can be sent the view. */
  | { type: 'hello' }
  /** The worker's listeners are open, on these ports (in plan order). */
  | { type: 'ready'; ports: number[] }
  /** The worker could not open its listeners; it exits next. */
  | { type: 'failed'; message: string };

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  const type = (value as { type?: unknown } | null)?.type;
  return type === 'hello' || type === 'ready' || type === 'failed';
}

export function isPrimaryMessage(value: unknown): value is PrimaryMessage {
  const type = (value as { type?: unknown } | null)?.type;
  return type === 'view' || type === 'change' || type === 'drain';
}
