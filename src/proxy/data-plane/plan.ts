import { MeshError } from '../../core/index.ts';
import type { ProxyListener } from '../listeners/index.ts';
import type { TrellisProxy } from '../proxy.ts';

/** One listener a data-plane process opens. Plain data: it is sent to worker processes as JSON. */
export type ListenerSpec =
  | { kind: 'gateway'; host: string; port: number }
  | { kind: 'outbound'; host: string; port: number }
  | { kind: 'inbound'; host: string; port: number; app: { address: string; port: number }; service: string };

/** What every data-plane process (the only one, or each worker) runs. */
export interface DataPlanePlan {
  listeners: ListenerSpec[];
  /** How long closing waits for exchanges in progress. */
  drainTimeoutMs: number;
  /** Busy polling while fast upstreams' replies are due, up to this long (createProxy's busyPollMs); 0: off. */
  busyPollMs: number;
}

export interface ListenerAddress {
  readonly host: string;
  readonly port: number;
}

/** Opens the plan's listeners on `proxy`, in order; if one cannot listen, closes the others and throws. */
export async function openListeners(proxy: TrellisProxy, plan: DataPlanePlan): Promise<ProxyListener[]> {
  const opened: ProxyListener[] = [];
  for (const spec of plan.listeners) {
    const options = { host: spec.host, port: spec.port, drainTimeoutMs: plan.drainTimeoutMs };
    try {
      if (spec.kind === 'gateway') opened.push(await proxy.gateway(options));
      else if (spec.kind === 'outbound') opened.push(await proxy.outbound(options));
      else opened.push(await proxy.inbound({ ...options, app: spec.app, service: spec.service }));
    } catch (error) {
      await Promise.all(opened.map((listener) => listener.close()));
      throw listenError(spec, error);
    }
  }
  return opened;
}

/**
 * Closes what `openListeners` opened, inbound listeners first: while an inbound request is still in
 * flight the app may call other services for it, so the other listeners keep serving until the
 * inbound ones have drained, then drain for what is left of the drain timeout.
 */
export async function closeListeners(
  listeners: readonly ProxyListener[],
  plan: DataPlanePlan,
  shared = false,
): Promise<void> {
  const isInbound = (i: number) => plan.listeners[i]?.kind === 'inbound';
  const started = performance.now();
  await Promise.all(
    listeners.filter((_, i) => isInbound(i)).map((listener) => listener.close(undefined, shared)),
  );
  const left = Math.max(0, plan.drainTimeoutMs - (performance.now() - started));
  await Promise.all(
    listeners.filter((_, i) => !isInbound(i)).map((listener) => listener.close(left, shared)),
  );
}

export function listenError(spec: ListenerSpec, error: unknown): MeshError {
  const code = (error as NodeJS.ErrnoException).code;
  const reason =
    code === 'EADDRINUSE'
      ? 'the address is already in use'
      : code === 'EADDRNOTAVAIL'
        ? 'no such local address'
        : code === 'EACCES'
          ? 'permission denied'
          : (error as Error).message;
  return new MeshError(
    'INTERNAL',
    `the ${spec.kind} listener cannot listen on ${spec.host}:${spec.port}: ${reason}`,
    {
      cause: error,
    },
  );
}
