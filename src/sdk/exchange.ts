/**
 * One `mesh.fetch()` call after the interceptors: deadline, admission, then attempts on endpoints the
 * cluster picks, retried per the service's policy. The order of the layers is the proxy's: timeout →
 * retry → balancer pick + circuit breaker → upstream.
 */
import type { Logger } from 'pino';
import type { Dispatcher, Response } from 'undici';
import {
  type AttemptFailure,
  attemptTimeoutMs,
  backoffDelay,
  type Clock,
  DEADLINE_HEADER,
  effectiveDeadline,
  formatDeadline,
  MeshError,
  retryFits,
  shouldRetry,
} from '../core/index.ts';
import type { HopSpan } from '../telemetry/index.ts';
import { type BodyEnd, onBodyEnd } from './body-end.ts';
import type { SdkCluster, SdkEndpoint } from './cluster.ts';
import { type AttemptRecord, attemptsFailed, classifyError, deadlineExceeded } from './failures.ts';
import { type OutgoingBody, outgoingHeaders, prepareBody } from './request.ts';
import { toResponse } from './response.ts';
import { recordAttempt } from './tracing.ts';
import type { MeshRequest } from './types.ts';

export interface ExchangeDeps {
  clock: Clock;
  random: () => number;
  logger: Logger;
}

/** A retry is not worth starting with less than this left before the deadline. */
const MIN_ATTEMPT_MS = 5;

/**
 * A response head. The attempt stays open (the request's deadline and the caller's signal still apply
 * to the body) until `settle` records its outcome, as the proxy records it when the response ends.
 */
interface AttemptResponse {
  kind: 'response';
  data: Dispatcher.ResponseData;
  settle(end: BodyEnd, error?: unknown): void;
}

type AttemptResult =
  | AttemptResponse
  | { kind: 'failure'; failure: AttemptFailure; error: unknown; deadline: boolean };

/** `span`, when the call is sampled, gets the balancer and one event per attempt with its outcome. */
export async function exchange(
  cluster: SdkCluster,
  request: MeshRequest,
  deps: ExchangeDeps,
  span: HopSpan | null = null,
): Promise<Response> {
  const { clock } = deps;
  const { service, headers, method } = request;
  const signal = request.signal;
  signal?.throwIfAborted();

  const start = clock.now();
  const localTimeout = request.timeoutMs ?? cluster.policy.timeout.requestMs;
  const deadline = effectiveDeadline(start, headers.get(DEADLINE_HEADER), localTimeout);
  if (deadline <= start) throw deadlineExceeded(service, [], true);
  if (Number.isFinite(deadline)) headers.set(DEADLINE_HEADER, formatDeadline(deadline));
  else headers.delete(DEADLINE_HEADER);

  const body = await prepareBody(request.body, headers);
  const sent = outgoingHeaders(headers, body);
  const retry = cluster.retry;
  // A stream can be sent once; bytes can be sent again, but a non-idempotent method only within the buffer limit.
  const replayable = body.kind !== 'stream';
  const bodyBuffered =
    body.kind === 'none' || (body.kind === 'buffer' && body.bytes.length <= retry.maxBufferedBodyBytes);
  const hashKey =
    (cluster.hashHeader !== undefined ? headers.get(cluster.hashHeader) : null) ?? request.hashKey;

  if (span !== null) span.balancer = cluster.balancer.kind;
  await admit(cluster, request, deadline, deps);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    cluster.release();
  };

  try {
    cluster.budget.recordRequest();
    const attempts: AttemptRecord[] = [];
    let previous: SdkEndpoint | undefined;
    for (let attempt = 1; ; attempt++) {
      const endpoint = cluster.pick(hashKey, previous);
      previous = endpoint;
      const result = await attemptOnce(cluster, endpoint, request, sent, body, deadline, deps);
      const outcome = result.kind === 'response' ? result.data.statusCode : result.failure;
      attempts.push({ endpoint, outcome, error: result.kind === 'failure' ? result.error : undefined });

      if (result.kind === 'failure' && result.deadline) {
        if (span !== null) recordAttempt(span, endpoint, 'timeout', 0);
        throw deadlineExceeded(service, attempts);
      }
      const delay = replayable
        ? retryDelay(cluster, attempt, method, bodyBuffered, outcome, deadline, deps)
        : -1;
      if (span !== null) {
        const status = result.kind === 'response' ? result.data.statusCode : 0;
        const traced = result.kind === 'failure' ? result.failure : delay < 0 ? 'ok' : 'status';
        recordAttempt(span, endpoint, traced, status);
      }
      if (delay < 0) {
        if (result.kind === 'failure') throw attemptsFailed(service, result.failure, attempts);
        const body = result.data.body;
        onBodyEnd(body, result.settle);
        const response = toResponse(result.data, method);
        // The concurrency slot is held until the body is read (or dropped).
        if (body.destroyed) release();
        else body.once('close', release);
        return response;
      }
      deps.logger.debug(
        { service, endpoint: endpoint.id, attempt, outcome, delayMs: delay },
        'mesh sdk: retrying',
      );
      if (result.kind === 'response') {
        // A retried status counts at its head, as the proxy's retryOnStatus does.
        result.settle('complete');
        await result.data.body.dump().catch(() => {});
      }
      await sleep(clock, delay, signal);
    }
  } catch (error) {
    release();
    throw error;
  }
}

/** The back-off before the next attempt, or -1 when there is none: the policy, the deadline and the budget all agree. */
function retryDelay(
  cluster: SdkCluster,
  attempt: number,
  method: string,
  bodyBuffered: boolean,
  outcome: number | AttemptFailure,
  deadline: number,
  deps: ExchangeDeps,
): number {
  const retry = cluster.retry;
  if (!shouldRetry(retry, attempt, method, bodyBuffered, outcome)) return -1;
  const delay = backoffDelay(retry.backoffBaseMs, retry.backoffCapMs, attempt, deps.random);
  if (!retryFits(deps.clock.now(), deadline, delay, MIN_ATTEMPT_MS)) return -1;
  if (!cluster.budget.tryAcquireRetry()) {
    deps.logger.debug({ service: cluster.name }, 'mesh sdk: retry budget spent');
    return -1;
  }
  return delay;
}

async function attemptOnce(
  cluster: SdkCluster,
  endpoint: SdkEndpoint,
  request: MeshRequest,
  headers: Record<string, string>,
  body: OutgoingBody,
  deadline: number,
  deps: ExchangeDeps,
): Promise<AttemptResult> {
  const { clock } = deps;
  const signal = request.signal;
  const controller = new AbortController();
  const started = clock.now();
  const limit = attemptTimeoutMs(started, deadline, cluster.retry.perTryTimeoutMs);
  const limitIsDeadline = started + limit >= deadline;
  let timedOut = false;
  const arm = (ms: number, reason: string) =>
    Number.isFinite(ms)
      ? clock.setTimeout(
          () => {
            timedOut = true;
            controller.abort(new MeshError('UPSTREAM_TIMEOUT', `${cluster.name}: ${reason}`));
          },
          Math.max(0, ms),
        )
      : undefined;
  let timer = arm(limit, 'attempt timed out');
  const onAbort = () => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const idleMs = cluster.policy.timeout.idleMs;

  cluster.recordStart(endpoint);
  try {
    const data = await endpoint.pool.request({
      path: request.path,
      method: request.method as Dispatcher.HttpMethod,
      headers,
      body: body.kind === 'none' ? null : body.kind === 'buffer' ? body.bytes : body.stream,
      signal: controller.signal,
      headersTimeout: idleMs,
      bodyTimeout: idleMs,
    });
    if (timer !== undefined) clock.clearTimeout(timer);
    const latency = clock.now() - started;
    // The per-try timeout covers the wait for the head; the body has what is left of the deadline
    // (the proxy cuts a response still coming at the deadline).
    timer = arm(deadline - clock.now(), 'the response did not end before the deadline');
    let settled = false;
    const settle = (end: BodyEnd): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      // The caller's signal aborts the body until it ends.
      signal?.removeEventListener('abort', onAbort);
      if (end === 'complete') {
        if (data.statusCode >= 500) cluster.recordFailure(endpoint, latency);
        else cluster.recordSuccess(endpoint, latency);
      } else if (end === 'error' && !signal?.aborted) {
        // Cut short by the upstream (a reset, the idle timeout) or by the deadline.
        cluster.recordFailure(endpoint, latency);
      } else {
        cluster.recordCancel(endpoint, latency);
      }
    };
    return { kind: 'response', data, settle };
  } catch (error) {
    if (timer !== undefined) clock.clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    const latency = clock.now() - started;
    if (timedOut) {
      cluster.recordFailure(endpoint, latency);
      return { kind: 'failure', failure: 'timeout', error, deadline: limitIsDeadline };
    }
    if (signal?.aborted) {
      cluster.recordCancel(endpoint, latency);
      throw signal.reason;
    }
    const classified = classifyError(error);
    if (typeof classified === 'string') {
      cluster.recordFailure(endpoint, latency);
      return { kind: 'failure', failure: classified, error, deadline: false };
    }
    // A malformed response, or the idle timeout (which the proxy answers at once, without a retry).
    if (classified?.code === 'BAD_GATEWAY' || classified?.code === 'UPSTREAM_TIMEOUT')
      cluster.recordFailure(endpoint, latency);
    else cluster.recordCancel(endpoint, latency);
    throw classified ?? error;
  }
}

/** Waits for a concurrency slot; OVERFLOW when the queue is full too. */
async function admit(
  cluster: SdkCluster,
  request: MeshRequest,
  deadline: number,
  deps: ExchangeDeps,
): Promise<void> {
  let admitted!: () => void;
  let rejected!: (error: unknown) => void;
  const queued = new Promise<void>((resolve, reject) => {
    admitted = resolve;
    rejected = reject;
  });
  const overflow = () =>
    new MeshError(
      'OVERFLOW',
      `${cluster.name}: too many calls in flight (${cluster.limiter.inFlight}) and waiting (${cluster.limiter.pending})`,
    );
  const waiter = { onAdmitted: () => admitted(), onRejected: () => rejected(overflow()) };
  const admission = cluster.admit(waiter);
  if (admission === 'start') return;
  if (admission === 'reject') throw overflow();

  const { clock } = deps;
  const signal = request.signal;
  const timer = Number.isFinite(deadline)
    ? clock.setTimeout(
        () => {
          cluster.cancelWaiter(waiter);
          rejected(deadlineExceeded(request.service, []));
        },
        Math.max(0, deadline - clock.now()),
      )
    : undefined;
  const onAbort = () => {
    cluster.cancelWaiter(waiter);
    rejected(signal?.reason);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await queued;
  } finally {
    if (timer !== undefined) clock.clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

function sleep(clock: Clock, ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0) {
    signal?.throwIfAborted();
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clock.clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
