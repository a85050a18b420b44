/**
 * The seed mesh's runtime configuration: POST /api/v1/mesh/v2/configure/{kind} with snake_case
 * fields and times in seconds. Each kind is translated into a patch of the service's policy; errors
 * name the seed's fields, and a rejected body changes nothing.
 */
import type { z } from 'zod';
import {
  resolvePolicy,
  type ServicePolicyInput,
  seedCircuitBreakerConfig,
  seedLoadBalancerConfig,
  seedRetryConfig,
  seedTimeoutConfig,
  validate,
} from '../../config/index.ts';
import { type ErrorDetail, isMeshError, MeshError, type ServicePolicy } from '../../core/index.ts';
import type { ApiDeps, ControlRouter } from '../context.ts';
import { json } from '../http.ts';

const BASE = '/api/v1/mesh/v2/configure';

interface ConfigureKind<S extends z.ZodType> {
  schema: S;
  /** What the answer's message calls it. */
  label: string;
  section: keyof Omit<ServicePolicy, 'service'>;
  toPolicy(body: z.output<S>): ServicePolicyInput;
  /** Policy field path → the seed field it came from, to name the seed's field in errors. */
  fields: Record<string, string>;
}

function kind<S extends z.ZodType>(definition: ConfigureKind<S>): ConfigureKind<S> {
  return definition;
}

const KINDS = {
  load_balancer: kind({
    schema: seedLoadBalancerConfig,
    label: 'Load balancer',
    section: 'loadBalancer',
    toPolicy: (body) => ({ loadBalancer: { kind: body.strategy } }),
    fields: { 'loadBalancer.kind': 'strategy' },
  }),
  circuit_breaker: kind({
    schema: seedCircuitBreakerConfig,
    label: 'Circuit breaker',
    section: 'circuitBreaker',
    toPolicy: (body) => ({
      circuitBreaker: defined({
        consecutiveFailures: body.failure_threshold,
        recoveryTimeMs: body.recovery_timeout,
        halfOpenProbes: body.half_open_requests,
        failureRatio: body.failure_ratio,
      }),
    }),
    fields: {
      'circuitBreaker.consecutiveFailures': 'failure_threshold',
      'circuitBreaker.recoveryTimeMs': 'recovery_timeout',
      'circuitBreaker.halfOpenProbes': 'half_open_requests',
      'circuitBreaker.failureRatio': 'failure_ratio',
    },
  }),
  retry: kind({
    schema: seedRetryConfig,
    label: 'Retry policy',
    section: 'retry',
    toPolicy: (body) => ({
      retry: defined({
        maxAttempts: body.max_attempts,
        retryOn: body.retry_on,
        perTryTimeoutMs: body.per_try_timeout,
        backoffBaseMs: body.backoff_base,
        backoffMaxMs: body.backoff_max,
      }),
    }),
    fields: {
      'retry.maxAttempts': 'max_attempts',
      'retry.retryOn': 'retry_on',
      'retry.perTryTimeoutMs': 'per_try_timeout',
      'retry.backoffBaseMs': 'backoff_base',
      'retry.backoffMaxMs': 'backoff_max',
    },
  }),
  timeout: kind({
    schema: seedTimeoutConfig,
    label: 'Timeout',
    section: 'timeout',
    toPolicy: (body) => ({
      timeout: defined({ requestMs: body.request_timeout, idleMs: body.idle_timeout }),
    }),
    fields: { 'timeout.requestMs': 'request_timeout', 'timeout.idleMs': 'idle_timeout' },
  }),
} as const;

type KindName = keyof typeof KINDS;

export function registerSeedConfigureRoutes(router: ControlRouter, deps: ApiDeps): void {
  const { registry } = deps;

  router.add('POST', `${BASE}/:kind`, async (ctx) => {
    const name = ctx.params.kind!;
    if (!Object.hasOwn(KINDS, name)) {
      throw new MeshError(
        'NOT_FOUND',
        `unknown configuration "${name}": expected one of ${Object.keys(KINDS).join(', ')}`,
        { details: [{ path: 'kind', message: 'unknown', kinds: Object.keys(KINDS) }] },
      );
    }
    const config = KINDS[name as KindName] as ConfigureKind<z.ZodType>;
    const body = validate(config.schema, await ctx.body(), { what: 'configuration' }) as {
      service_name: string;
    };
    const service = body.service_name;
    const patch = config.toPolicy(body);
    let policy: ServicePolicy;
    try {
      policy = await registry.updatePolicy(service, (current) => resolvePolicy(service, patch, current));
    } catch (error) {
      throw renameFields(error, config.fields);
    }
    return json({
      service_name: service,
      status: 'configured',
      policy: policy[config.section],
      message: `${config.label} configured for ${service}`,
    });
  });
}

/** Drops undefined fields, so a field the caller left out keeps its current value. */
function defined<T extends Record<string, unknown>>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/** A policy validation error, restated with the seed's field names. */
function renameFields(error: unknown, fields: Record<string, string>): unknown {
  if (!isMeshError(error) || error.code !== 'BAD_REQUEST') return error;
  const rename = (path: string | undefined): string | undefined => {
    if (path === undefined) return undefined;
    for (const [from, to] of Object.entries(fields)) {
      if (path === from || path.startsWith(`${from}.`)) return to + path.slice(from.length);
    }
    return path;
  };
  const details: ErrorDetail[] = error.details.map((detail) => ({ ...detail, path: rename(detail.path) }));
  const first = details[0];
  const where = first?.path ? `${first.path}: ` : '';
  return new MeshError('BAD_REQUEST', `invalid configuration: ${where}${first?.message ?? error.message}`, {
    details,
    cause: error,
  });
}
