/**
 * The one schema. API bodies, trellis.yaml and CLI flags are all validated here, so a field means
 * the same thing and fails the same way wherever it comes from.
 */
import { z } from 'zod';
import {
  BALANCER_KINDS,
  defaultPolicy,
  type ErrorCode,
  type ErrorDetail,
  formatDuration,
  MeshError,
  type PathMatch,
  parseDuration,
  parseTimeout,
  RETRY_ON,
  type ServicePolicy,
  TIMEOUT_MESSAGE,
} from '../core/index.ts';
import {
  ACCESS_LOG_MESSAGE,
  ACCESS_LOG_NUL_MESSAGE,
  ADDRESS_MAX,
  ADDRESS_MESSAGE,
  ADDRESS_PATTERN,
  DEFAULT_BUSY_POLL_MS,
  DURATION_MESSAGE,
  ID_MESSAGE,
  ID_PATTERN,
  METADATA_KEY_MAX,
  METADATA_VALUE_MAX,
  NAME_MESSAGE,
  NAME_PATTERN,
  RATIO_MESSAGE,
  TAG_MAX,
  TAGS_MAX,
} from './fields.ts';

export const serviceName = z.string().regex(NAME_PATTERN, NAME_MESSAGE);

export const instanceId = z.string().regex(ID_PATTERN, ID_MESSAGE);

export const port = z
  .number()
  .int('must be an integer')
  .min(1, 'ports are 1-65535')
  .max(65535, 'ports are 1-65535');

/** A port to listen on: 0 lets the OS pick. */
const listenPort = z
  .number()
  .int('must be an integer')
  .min(0, 'ports are 0-65535')
  .max(65535, 'ports are 0-65535');

export const address = z
  .string()
  .min(1, 'required')
  .max(ADDRESS_MAX, `at most ${ADDRESS_MAX} characters`)
  .regex(ADDRESS_PATTERN, ADDRESS_MESSAGE);

/** A string or a number, else "expected a duration…" (zod's own union message is a bare "Invalid input"). */
const durationInput = z.union([z.string(), z.number()], { error: DURATION_MESSAGE });

/** `500ms`, `10s`, `5m`, `1h`, or a number of milliseconds; the parsed value is milliseconds. */
export const duration = durationInput.transform((value, ctx) => {
  try {
    return parseDuration(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

/** A duration (see `duration`) within [minMs, maxMs]. */
function durationBetween(minMs: number, maxMs: number) {
  return duration.pipe(
    z
      .number()
      .min(minMs, `at least ${formatDuration(minMs)}`)
      .max(maxMs, `at most ${formatDuration(maxMs)}`),
  );
}

/** A timeout: 0 (none), or a duration from 1 ms to `maxMs`; below 1 ms is refused (see parseTimeout). */
function timeoutUpTo(maxMs: number) {
  return durationInput
    .transform((value, ctx) => {
      try {
        return parseTimeout(value);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    })
    .pipe(z.number().max(maxMs, `at most ${formatDuration(maxMs)}`));
}

function intBetween(min: number, max: number) {
  const message = `must be an integer from ${min} to ${max}`;
  return z.number().int(message).min(min, message).max(max, message);
}

export const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'a header name is an HTTP token');

export const tags = z.array(z.string().min(1).max(TAG_MAX)).max(TAGS_MAX);
export const metadata = z.record(z.string().max(METADATA_KEY_MAX), z.string().max(METADATA_VALUE_MAX));

/**
 * A check as a user writes it (Consul style): exactly one of `http`, `tcp`, `ttl`.
 * `http` is a URL or a path on the instance; `tcp` is `host:port` or `true` for the instance itself.
 */
export const checkInput = z
  .object({
    http: z
      .string()
      .min(1)
      .regex(/^(https?:\/\/[^\s]+|\/?[^\s]*)$/, 'expected an http(s) URL or a path')
      .optional(),
    tcp: z.union([z.literal(true), z.string().regex(/^.+:\d+$/, 'expected host:port')]).optional(),
    ttl: duration.optional(),
    method: z.enum(['GET', 'HEAD']).default('GET'),
    headers: z
      .record(headerName, z.string().regex(/^[^\r\n\0]*$/, 'a header value cannot contain CR, LF or NUL'))
      .default({}),
    interval: duration.default(10_000),
    timeout: duration.default(2_000),
    successesBeforeHealthy: intBetween(1, 100).default(1),
    failuresBeforeUnhealthy: intBetween(1, 100).default(3),
    deregisterAfter: duration.default(0),
  })
  .strict()
  .superRefine((check, ctx) => {
    const kinds = [check.http, check.tcp, check.ttl].filter((kind) => kind !== undefined).length;
    if (kinds !== 1)
      ctx.addIssue({ code: 'custom', message: 'a check needs exactly one of http, tcp or ttl' });
    if (check.interval < 100) ctx.addIssue({ code: 'custom', path: ['interval'], message: 'at least 100ms' });
    if (check.timeout < 1) ctx.addIssue({ code: 'custom', path: ['timeout'], message: 'at least 1ms' });
    if (check.ttl !== undefined && check.ttl < 100) {
      ctx.addIssue({ code: 'custom', path: ['ttl'], message: 'at least 100ms' });
    }
  });
export type CheckInput = z.infer<typeof checkInput>;

/** Body of POST /api/v1/instances, and one static instance in trellis.yaml (with `service` implied). */
export const instanceRegistration = z
  .object({
    id: instanceId.optional(),
    service: serviceName,
    address,
    port,
    tags: tags.default([]),
    metadata: metadata.default({}),
    weight: intBetween(0, 10_000).default(100),
    zone: z.string().min(1).max(64).optional(),
    version: z.string().min(1).max(64).optional(),
    check: checkInput.optional(),
  })
  .strict();
export type InstanceRegistration = z.infer<typeof instanceRegistration>;

/** Body of POST /api/v1/services. */
export const serviceDefinition = z
  .object({
    name: serviceName,
    tags: tags.default([]),
    metadata: metadata.default({}),
  })
  .strict();
export type ServiceDefinition = z.infer<typeof serviceDefinition>;

/** Body of POST /api/v1/mesh/v2/register (the earlier mesh's API; snake_case, extra fields ignored). */
export const seedRegistration = z.object({
  service_name: serviceName,
  address,
  port: z.coerce.number({ error: 'ports are 1-65535' }).pipe(port),
  tags: tags.default([]),
  metadata: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String))
    .default({}),
  weight: intBetween(0, 10_000).default(100),
  health_check: z.string().min(1).optional(),
});
export type SeedRegistration = z.infer<typeof seedRegistration>;

// ── service policies ─────────────────────────────────────────────────────────────────────────────

const ratio = z.number().min(0, 'a ratio is from 0 to 1').max(1, 'a ratio is from 0 to 1');
const percent = z.number().min(0, 'a percentage is from 0 to 100').max(100, 'a percentage is from 0 to 100');
const statusCode = intBetween(100, 599).describe('an HTTP status');
const HOUR = 3_600_000;

/** Each section of a policy with every field required; inputs use `.partial()` of these. */
const loadBalancerFields = z
  .object({
    kind: z.enum(BALANCER_KINDS, { error: `expected one of ${BALANCER_KINDS.join(', ')}` }),
    hashHeader: headerName.transform((name) => name.toLowerCase()),
  })
  .strict();

const circuitBreakerFields = z
  .object({
    enabled: z.boolean(),
    /** 0 disables the consecutive-failures trigger. */
    consecutiveFailures: intBetween(0, 10_000),
    /** 0 disables the ratio trigger. */
    failureRatio: ratio,
    minRequests: intBetween(1, 1_000_000),
    windowMs: durationBetween(1_000, HOUR),
    recoveryTimeMs: durationBetween(100, HOUR),
    halfOpenProbes: intBetween(1, 1_000),
  })
  .strict();

const outlierDetectionFields = z
  .object({
    enabled: z.boolean(),
    consecutiveErrors: intBetween(1, 10_000),
    baseEjectionTimeMs: durationBetween(100, HOUR),
    maxEjectionTimeMs: durationBetween(100, 24 * HOUR),
    maxEjectionPercent: percent,
  })
  .strict();

const retryBudgetFields = z
  .object({
    ratio,
    minPerSecond: z
      .number()
      .min(0, 'must be from 0 to 100000 retries per second')
      .max(100_000, 'must be from 0 to 100000 retries per second'),
  })
  .strict();

const retryFields = z
  .object({
    maxAttempts: intBetween(1, 10),
    retryOn: z
      .array(z.enum(RETRY_ON, { error: `expected one of ${RETRY_ON.join(', ')}` }))
      .transform((conditions) => [...new Set(conditions)]),
    retriableStatusCodes: z
      .array(statusCode)
      .max(100, 'at most 100 status codes')
      .transform((codes) => [...new Set(codes)]),
    /** 0 disables. */
    perTryTimeoutMs: timeoutUpTo(HOUR),
    backoffBaseMs: durationBetween(1, 60_000),
    backoffMaxMs: durationBetween(1, 10 * 60_000),
    maxBufferedBodyBytes: intBetween(0, 64 * 1024 * 1024),
    budget: retryBudgetFields.partial(),
  })
  .strict();

const timeoutFields = z
  .object({
    /** 0 disables. */
    requestMs: timeoutUpTo(24 * HOUR),
    /** 0 disables. */
    idleMs: timeoutUpTo(24 * HOUR),
  })
  .strict();

const concurrencyFields = z
  .object({
    maxInFlight: intBetween(1, 1_000_000),
    maxPending: intBetween(0, 1_000_000),
  })
  .strict();

export const UPSTREAM_PROTOCOLS = ['http1', 'h2c'] as const;

/**
 * A service policy as a user writes it (API bodies, trellis.yaml, `trellis policy --set`): every
 * field optional, durations as `500ms`/`10s` or milliseconds. `resolvePolicy()` merges it over a base.
 * `service` is accepted (so a policy read from the API can be sent back) but must name the service.
 */
export const servicePolicyInput = z
  .object({
    service: serviceName.optional(),
    loadBalancer: loadBalancerFields.partial().optional(),
    circuitBreaker: circuitBreakerFields.partial().optional(),
    outlierDetection: outlierDetectionFields.partial().optional(),
    retry: retryFields.partial().optional(),
    timeout: timeoutFields.partial().optional(),
    concurrency: concurrencyFields.partial().optional(),
    upstreamProtocol: z.enum(UPSTREAM_PROTOCOLS, { error: 'expected http1 or h2c' }).optional(),
  })
  .strict();
export type ServicePolicyInput = z.input<typeof servicePolicyInput>;
export type ParsedServicePolicyInput = z.output<typeof servicePolicyInput>;

export { DEFAULT_SERVICE_POLICY, defaultPolicy } from '../core/index.ts';

/**
 * Merges a parsed input over `base`, section by section (and `retry.budget` field by field); lists
 * replace lists. No validation: see `resolvePolicy()`.
 */
export function mergePolicy(
  service: string,
  input: ParsedServicePolicyInput,
  base: ServicePolicy,
): ServicePolicy {
  const from = structuredClone(base);
  const { budget, ...retry } = input.retry ?? {};
  return {
    service,
    loadBalancer: { ...from.loadBalancer, ...input.loadBalancer },
    circuitBreaker: { ...from.circuitBreaker, ...input.circuitBreaker },
    outlierDetection: { ...from.outlierDetection, ...input.outlierDetection },
    retry: { ...from.retry, ...retry, budget: { ...from.retry.budget, ...budget } },
    timeout: { ...from.timeout, ...input.timeout },
    concurrency: { ...from.concurrency, ...input.concurrency },
    upstreamProtocol: input.upstreamProtocol ?? from.upstreamProtocol,
  };
}

/** Rules that involve more than one field, checked on the merged policy. */
export function policyProblems(policy: ServicePolicy): ErrorDetail[] {
  const problems: ErrorDetail[] = [];
  const { retry, outlierDetection } = policy;
  if (retry.backoffBaseMs > retry.backoffMaxMs) {
    problems.push({
      path: 'retry.backoffBaseMs',
      message: `must not exceed retry.backoffMaxMs (${formatDuration(retry.backoffMaxMs)})`,
    });
  }
  if (outlierDetection.baseEjectionTimeMs > outlierDetection.maxEjectionTimeMs) {
    problems.push({
      path: 'outlierDetection.baseEjectionTimeMs',
      message: `must not exceed outlierDetection.maxEjectionTimeMs (${formatDuration(outlierDetection.maxEjectionTimeMs)})`,
    });
  }
  if (retry.retryOn.includes('retriable-status-codes') && retry.retriableStatusCodes.length === 0) {
    problems.push({
      path: 'retry.retriableStatusCodes',
      message: 'retryOn "retriable-status-codes" needs at least one status code',
    });
  }
  return problems;
}

/**
 * Validates a policy input (raw or already parsed: the schema is idempotent) and merges it over
 * `base` (the defaults unless given): PUT merges over the defaults, PATCH over the current policy.
 * Throws BAD_REQUEST with the path of every bad field.
 */
export function resolvePolicy(
  service: string,
  input: unknown,
  base: ServicePolicy = defaultPolicy(service),
): ServicePolicy {
  const name = serviceName.safeParse(service);
  if (!name.success) throw invalid('policy', [{ path: 'service', message: name.error.issues[0]!.message }]);
  const parsed = validate(servicePolicyInput, input ?? {}, { what: 'policy' });
  if (parsed.service !== undefined && parsed.service !== service) {
    throw invalid('policy', [{ path: 'service', message: `must be "${service}" (the service in the path)` }]);
  }
  const policy = mergePolicy(service, parsed, base);
  const problems = policyProblems(policy);
  if (problems.length > 0) throw invalid('policy', problems);
  return policy;
}

// ── the seed mesh's runtime configuration (POST /api/v1/mesh/v2/configure/{kind}) ─────────────────

/** A number, or digits in a string (the seed's clients send both). */
const seedNumber = z.union(
  [
    z.number(),
    z
      .string()
      .regex(/^-?\d+(\.\d+)?$/, 'expected a number')
      .transform(Number),
  ],
  { error: 'expected a number' },
);

const SEED_SECONDS_MESSAGE = 'expected a number of seconds, or a duration such as 500ms';

/**
 * Seconds as a number (`1.5`) or numeric string, or a duration string (`1500ms`); the value is ms.
 * A `timeout` is 0 (none) or at least 1 ms: less is refused, not rounded to 0 (see parseTimeout).
 */
function seedSeconds(kind: 'duration' | 'timeout' = 'duration') {
  return z.union([z.number(), z.string()], { error: SEED_SECONDS_MESSAGE }).transform((value, ctx) => {
    const text = typeof value === 'string' ? value.trim() : undefined;
    const seconds = text === undefined ? value : /^\d+(\.\d+)?$/.test(text) ? Number(text) : undefined;
    if (seconds !== undefined) {
      if (typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0) {
        const ms = seconds * 1000;
        if (kind === 'timeout' && ms > 0 && ms < 1) {
          ctx.addIssue({ code: 'custom', message: `${TIMEOUT_MESSAGE}, got ${seconds} seconds` });
          return z.NEVER;
        }
        return Math.round(ms);
      }
      ctx.addIssue({ code: 'custom', message: 'expected a number of seconds, at least 0' });
      return z.NEVER;
    }
    try {
      parseDuration(text!);
    } catch {
      ctx.addIssue({ code: 'custom', message: SEED_SECONDS_MESSAGE });
      return z.NEVER;
    }
    try {
      return kind === 'timeout' ? parseTimeout(text!) : parseDuration(text!);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  });
}

/** The seed's strategy names; the kebab-case balancer names are accepted too. */
export const SEED_STRATEGIES = [
  'round_robin',
  'least_connections',
  'weighted',
  'random',
  'ip_hash',
  'ewma',
] as const;

const seedStrategy = z
  .string()
  .transform((name) => name.trim().toLowerCase().replaceAll('_', '-'))
  .pipe(z.enum(BALANCER_KINDS, { error: `expected one of ${SEED_STRATEGIES.join(', ')}` }));

const seedRetryOn = z
  .union([z.array(z.string()), z.string().transform((list) => list.split(','))])
  .transform((names) => names.map((name) => name.trim().toLowerCase().replaceAll('_', '-')))
  .pipe(z.array(z.enum(RETRY_ON, { error: `expected one of ${RETRY_ON.join(', ')}` })));

/** Extra fields are ignored, as the seed mesh did. */
export const seedLoadBalancerConfig = z.object({ service_name: serviceName, strategy: seedStrategy });

export const seedCircuitBreakerConfig = z.object({
  service_name: serviceName,
  failure_threshold: seedNumber.optional(),
  recovery_timeout: seedSeconds().optional(),
  half_open_requests: seedNumber.optional(),
  failure_ratio: seedNumber.optional(),
});

export const seedRetryConfig = z.object({
  service_name: serviceName,
  max_attempts: seedNumber.optional(),
  retry_on: seedRetryOn.optional(),
  per_try_timeout: seedSeconds('timeout').optional(),
  backoff_base: seedSeconds().optional(),
  backoff_max: seedSeconds().optional(),
});

export const seedTimeoutConfig = z.object({
  service_name: serviceName,
  request_timeout: seedSeconds('timeout').optional(),
  idle_timeout: seedSeconds('timeout').optional(),
});

// ── gateway routes ───────────────────────────────────────────────────────────────────────────────

const MAX_PATTERN_LENGTH = 1_000;

/** A regular expression that compiles and is at most 1,000 characters. */
export const regexPattern = z.string().superRefine((pattern, ctx) => {
  if (pattern.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'a pattern cannot be empty' });
    return;
  }
  if (pattern.length > MAX_PATTERN_LENGTH) {
    ctx.addIssue({ code: 'custom', message: `a pattern is at most ${MAX_PATTERN_LENGTH} characters` });
    return;
  }
  try {
    new RegExp(pattern);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${(error as Error).message}` });
  }
});

const urlPath = z
  .string()
  .max(2048, 'a path is at most 2048 characters')
  .regex(/^\/[^\s?#]*$/, 'a path starts with "/" and has no spaces, "?" or "#"');

export const pathMatch = z
  .object({ exact: urlPath.optional(), prefix: urlPath.optional(), regex: regexPattern.optional() })
  .strict()
  .superRefine((match, ctx) => {
    const kinds = [match.exact, match.prefix, match.regex].filter((kind) => kind !== undefined).length;
    if (kinds !== 1)
      ctx.addIssue({ code: 'custom', message: 'a path match needs exactly one of exact, prefix or regex' });
  })
  .transform(
    (match): PathMatch =>
      match.exact !== undefined
        ? { exact: match.exact }
        : match.prefix !== undefined
          ? { prefix: match.prefix }
          : { regex: match.regex! },
  );

export const headerMatch = z
  .object({
    name: headerName.transform((name) => name.toLowerCase()),
    exact: z
      .string()
      .max(8192)
      .regex(/^[^\r\n\0]*$/, 'a header value cannot contain CR, LF or NUL')
      .optional(),
    regex: regexPattern.optional(),
    present: z.boolean().optional(),
  })
  .strict()
  .superRefine((match, ctx) => {
    const kinds = [match.exact, match.regex, match.present].filter((kind) => kind !== undefined).length;
    if (kinds !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: 'a header match needs exactly one of exact, regex or present',
      });
    }
  });

const HOST_PATTERN = /^(\*\.)?[a-z0-9]([a-z0-9_-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9_-]*[a-z0-9])?)*$/i;

const hostMatch = z
  .string()
  .max(253, 'a host is at most 253 characters')
  .regex(HOST_PATTERN, 'expected a host name such as api.example.com or *.example.com, without a port')
  .transform((host) => host.toLowerCase());

const httpMethod = z
  .string()
  .regex(/^[A-Za-z]{1,20}$/, 'expected an HTTP method such as GET')
  .transform((method) => method.toUpperCase());

const ROUTE_NAME_MESSAGE =
  'a route name is 1-63 letters, digits, ".", "_" or "-", starting and ending alphanumeric';

export const routeName = z.string().regex(NAME_PATTERN, ROUTE_NAME_MESSAGE);

/**
 * A gateway route (POST/PUT /api/v1/routes, `routes:` in trellis.yaml). `createdAt` is accepted (so
 * a route read from the API can be sent back) and ignored: the registry keeps the original.
 */
export const routeInput = z
  .object({
    name: routeName,
    priority: intBetween(-10_000, 10_000).default(0),
    match: z
      .object({
        hosts: z.array(hostMatch).min(1, 'list at least one host, or leave hosts out').max(64).optional(),
        path: pathMatch.optional(),
        methods: z
          .array(httpMethod)
          .min(1, 'list at least one method, or leave methods out')
          .max(16)
          .transform((methods) => [...new Set(methods)])
          .optional(),
        headers: z.array(headerMatch).max(32).optional(),
      })
      .strict()
      .default({}),
    service: serviceName,
    stripPrefix: z.boolean().default(false),
    rewriteHost: z
      .string()
      .max(259)
      .regex(
        /^[A-Za-z0-9.\-_]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/,
        'expected a host, optionally with :port',
      )
      .optional(),
    timeout: timeoutFields.partial().optional(),
    retry: retryFields.omit({ budget: true }).partial().optional(),
    createdAt: z.number().optional(),
  })
  .strict()
  .superRefine((route, ctx) => {
    if (route.stripPrefix && (!route.match.path || !('prefix' in route.match.path))) {
      ctx.addIssue({
        code: 'custom',
        path: ['stripPrefix'],
        message: 'stripPrefix needs a prefix path match',
      });
    }
    const retry = route.retry;
    if (
      retry?.backoffBaseMs !== undefined &&
      retry.backoffMaxMs !== undefined &&
      retry.backoffBaseMs > retry.backoffMaxMs
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['retry', 'backoffBaseMs'],
        message: 'must not exceed retry.backoffMaxMs',
      });
    }
  })
  .transform(({ createdAt: _ignored, ...route }) => route);
export type RouteInput = z.input<typeof routeInput>;
/** A validated route without its `createdAt`, which the registry sets. */
export type RouteDefinition = z.output<typeof routeInput>;

// ── the earlier mesh's service invocation (POST /api/v1/mesh/v2/call) ───────────────────────────

const headerValue = z
  .string()
  .max(8192, 'a header value is at most 8192 characters')
  .regex(/^[^\r\n\0]*$/, 'a header value cannot contain CR, LF or NUL');

/**
 * Body of POST /api/v1/mesh/v2/call. Extra fields are ignored, as the earlier mesh did (its
 * `retry_count` too: retries follow the service's policy). `timeout` is seconds or a duration; the
 * parsed value is milliseconds. `body` is sent as is when a string, as JSON otherwise.
 */
export const seedCallRequest = z.object({
  service_name: serviceName,
  method: httpMethod.default('GET'),
  path: z
    .string()
    .max(8192, 'a path is at most 8192 characters')
    .regex(
      /^\/[\x21\x22\x24-\x7e]*$/,
      'a path starts with "/" and has visible ASCII characters only (percent-encode the others), no "#"',
    )
    .default('/'),
  headers: z.record(headerName, headerValue).default({}),
  body: z.unknown().optional(),
  timeout: seedSeconds()
    .pipe(z.number().min(1, 'at least 1ms').max(300_000, 'at most 300 seconds'))
    .optional(),
});
export type SeedCallRequest = z.output<typeof seedCallRequest>;

// ── alerts ───────────────────────────────────────────────────────────────────────────────────────

/** The rate and latency metrics are read over `window`; the counts are read as they are now. */
export const ALERT_METRICS = ['errorRate', 'p99Latency', 'unhealthyInstances', 'openCircuits'] as const;
export const ALERT_OPS = ['>', '>=', '<', '<='] as const;
export const ALERT_SEVERITIES = ['info', 'warning', 'critical'] as const;
const WINDOWED_METRICS: ReadonlySet<string> = new Set(['errorRate', 'p99Latency']);
const DEFAULT_ALERT_WINDOW_MS = 60_000;

export const alertRuleName = z
  .string()
  .regex(
    NAME_PATTERN,
    'a rule name is 1-63 letters, digits, ".", "_" or "-", starting and ending alphanumeric',
  );

/**
 * An alert rule (PUT /api/v1/alerts/rules/:name, `alerts.rules` in trellis.yaml). `for` and
 * `window` are durations; the parsed rule has `forMs` and (for errorRate and p99Latency only)
 * `windowMs`, which are accepted as input too so a rule read from the API can be sent back.
 * errorRate is a ratio (0.05 = 5%), p99Latency milliseconds, the others counts.
 */
export const alertRuleInput = z
  .object({
    name: alertRuleName,
    metric: z.enum(ALERT_METRICS, { error: `expected one of ${ALERT_METRICS.join(', ')}` }),
    /** Absent: mesh-wide. */
    service: serviceName.optional(),
    op: z.enum(ALERT_OPS, { error: `expected one of ${ALERT_OPS.join(' ')}` }),
    threshold: z.number({ error: 'expected a number' }).min(0, 'must be at least 0'),
    for: durationBetween(0, 24 * HOUR).optional(),
    forMs: durationBetween(0, 24 * HOUR).optional(),
    window: durationBetween(1_000, HOUR).optional(),
    windowMs: durationBetween(1_000, HOUR).optional(),
    severity: z
      .enum(ALERT_SEVERITIES, { error: `expected one of ${ALERT_SEVERITIES.join(', ')}` })
      .default('warning'),
    description: z.string().max(1024, 'at most 1024 characters').optional(),
  })
  .strict()
  .superRefine((rule, ctx) => {
    if (rule.for !== undefined && rule.forMs !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['forMs'], message: 'give for or forMs, not both' });
    }
    if (rule.window !== undefined && rule.windowMs !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['windowMs'], message: 'give window or windowMs, not both' });
    }
    if (!WINDOWED_METRICS.has(rule.metric)) {
      for (const field of ['window', 'windowMs'] as const) {
        if (rule[field] !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [field],
            message: `applies only to errorRate and p99Latency, not ${rule.metric}`,
          });
        }
      }
    }
    if (rule.metric === 'errorRate' && rule.threshold > 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['threshold'],
        message: 'an error rate is a ratio from 0 to 1 (0.05 = 5%)',
      });
    }
  })
  .transform(({ for: forInput, forMs, window, windowMs, severity, description, ...rule }) => ({
    ...rule,
    forMs: forMs ?? forInput ?? 0,
    ...(WINDOWED_METRICS.has(rule.metric) ? { windowMs: windowMs ?? window ?? DEFAULT_ALERT_WINDOW_MS } : {}),
    severity,
    ...(description === undefined ? {} : { description }),
  }));
export type AlertRuleInput = z.input<typeof alertRuleInput>;
export type AlertRuleDefinition = z.output<typeof alertRuleInput>;

/** Headers a webhook delivery sets itself. */
const WEBHOOK_OWN_HEADERS = new Set(['content-type', 'content-length', 'host', 'user-agent', 'connection']);

export const alertWebhookSettings = z
  .object({
    url: z.string().superRefine((url, ctx) => {
      if (!/^https?:\/\/\S+$/.test(url) || !URL.canParse(url)) {
        ctx.addIssue({ code: 'custom', message: 'expected an http(s) URL' });
      }
    }),
    /** Per delivery attempt. */
    timeout: durationBetween(100, 60_000).default(5_000),
    /** Attempts after the first, with exponential back-off. */
    maxRetries: intBetween(0, 20).default(5),
    /** Sent with every delivery, e.g. `Authorization: Bearer …` for a receiver that wants one. */
    headers: z
      .record(
        headerName.refine((name) => !WEBHOOK_OWN_HEADERS.has(name.toLowerCase()), {
          message: 'set by Trellis: content-type, content-length, host, user-agent, connection',
        }),
        z
          .string()
          .max(4096)
          .refine((value) => !/[\r\n\0]/.test(value), 'a header value cannot contain CR, LF or NUL'),
      )
      .refine((headers) => Object.keys(headers).length <= 32, 'at most 32 headers')
      .optional(),
  })
  .strict();

export const alertSettings = z
  .object({
    evaluationInterval: durationBetween(100, HOUR).default(10_000),
    /** Applied at start (each replaces a rule of the same name set through the API). */
    rules: z
      .array(alertRuleInput)
      .max(1_000, 'at most 1000 rules')
      .default([])
      .superRefine((rules, ctx) => {
        const seen = new Set<string>();
        rules.forEach((rule, index) => {
          if (seen.has(rule.name)) {
            ctx.addIssue({
              code: 'custom',
              path: [index, 'name'],
              message: `duplicate rule name "${rule.name}"`,
            });
          }
          seen.add(rule.name);
        });
      }),
    webhook: alertWebhookSettings.optional(),
  })
  .strict();
export type AlertSettings = z.infer<typeof alertSettings>;

// ── telemetry: the span collector, OTLP forwarding, trace and statistics queries ─────────────────

const httpUrl = z.string().superRefine((url, ctx) => {
  if (!/^https?:\/\/\S+$/.test(url) || !URL.canParse(url)) {
    ctx.addIssue({ code: 'custom', message: 'expected an http(s) URL' });
  }
});

/** Share of new traces sampled, 0-1; requests that bring a sampling decision follow it (parent-based). */
export const sampleRatio = z
  .number({ error: 'expected a number from 0 to 1' })
  .min(0, RATIO_MESSAGE)
  .max(1, RATIO_MESSAGE);
export { DEFAULT_PROXY_SAMPLE_RATIO, DEFAULT_SAMPLE_RATIO } from '../core/index.ts';

/** Where a proxy's access log goes: `off`, `stdout`, or a file path (created with its directories). */
export const accessLogDestination = z
  .string()
  .trim()
  .min(1, ACCESS_LOG_MESSAGE)
  .refine((value) => !value.includes('\0'), ACCESS_LOG_NUL_MESSAGE);

export const telemetrySettings = z
  .object({
    /** Received spans are forwarded here too: an OTLP/HTTP traces URL (a bare origin gets /v1/traces). */
    otlpEndpoint: httpUrl.optional(),
    /** Sampling of the control node's own proxy (gateway, invocation); default 1 (DEFAULT_SAMPLE_RATIO). */
    sampleRatio: sampleRatio.optional(),
    /** The control node's proxy's access log; default `off`. */
    accessLog: accessLogDestination.optional(),
    /** Traces the collector keeps; the oldest by arrival are evicted first. */
    maxTraces: intBetween(1, 1_000_000).default(10_000),
    maxSpansPerTrace: intBetween(1, 100_000).default(1_000),
    /** Spans of all traces together. */
    maxSpans: intBetween(1, 10_000_000).default(200_000),
    /** Largest OTLP request body accepted at /v1/traces, after decompression, bytes. */
    maxOtlpBodyBytes: intBetween(1024, 256 * 1024 * 1024).default(16 * 1024 * 1024),
  })
  .strict();
export type TelemetrySettings = z.infer<typeof telemetrySettings>;

/** A query-string duration: `30s`, `5m`, or digits meaning milliseconds. */
const queryDuration = z
  .string()
  .transform((value) => (/^\d+$/.test(value) ? Number(value) : value))
  .pipe(duration);

/** Statistics and topology windows: 10s to 1h (what the sliding windows keep). */
export const telemetryWindowQuery = z.object({
  window: queryDuration
    .pipe(z.number().min(10_000, 'at least 10s').max(HOUR, 'at most 1h'))
    .default(5 * 60_000),
});

/** Epoch milliseconds, or an ISO 8601 date-time. */
const queryTimestamp = z.string().transform((value, ctx) => {
  const ms = /^\d+$/.test(value)
    ? Number(value)
    : /^\d{4}-\d{2}-\d{2}/.test(value)
      ? Date.parse(value)
      : Number.NaN;
  if (Number.isFinite(ms)) return ms;
  ctx.addIssue({ code: 'custom', message: 'expected epoch milliseconds or an ISO 8601 date-time' });
  return z.NEVER;
});

/** GET /api/v1/traces */
export const traceSearchQuery = z
  .object({
    service: z.string().min(1).max(256, 'at most 256 characters').optional(),
    operation: z.string().min(1).max(1024, 'at most 1024 characters').optional(),
    status: z.enum(['ok', 'error'], { error: 'expected ok or error' }).optional(),
    minDuration: queryDuration.optional(),
    start: queryTimestamp.optional(),
    end: queryTimestamp.optional(),
    limit: z
      .string()
      .regex(/^\d+$/, 'must be an integer from 1 to 1000')
      .transform(Number)
      .pipe(intBetween(1, 1000))
      .default(20),
  })
  .superRefine((query, ctx) => {
    if (query.start !== undefined && query.end !== undefined && query.start > query.end) {
      ctx.addIssue({ code: 'custom', path: ['end'], message: 'must not be before start' });
    }
  });
export type TraceSearchQuery = z.output<typeof traceSearchQuery>;

/** A trace id: 32 hex digits (16, as B3 allows, are the low half of one). */
export const traceIdParam = z
  .string()
  .regex(/^([0-9a-fA-F]{16}){1,2}$/, 'expected 32 hex digits')
  .transform((id) => id.toLowerCase().padStart(32, '0'))
  .refine((id) => !/^0+$/.test(id), 'an all-zero trace id is invalid');

const storeUrl = z
  .string()
  .regex(/^(memory|etcd:\/\/[^,\s]+(,[^,\s]+)*)$/, 'expected "memory" or "etcd://host:port[,host:port…]"');

export const controlSettings = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: listenPort.default(7400),
    dataDir: z.string().min(1).default('./.trellis'),
    store: storeUrl.default('memory'),
    adminToken: z.string().min(16, 'an admin token has at least 16 characters').optional(),
    /** Largest accepted request body, bytes. */
    maxBodyBytes: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(1024 * 1024),
  })
  .strict();
export type ControlSettings = z.infer<typeof controlSettings>;

/**
 * The gateway `trellis start` runs. It is the mesh's edge, so a non-loopback host needs no admin token:
 * it serves the routed services, not the admin API.
 */
export const gatewaySettings = z
  .object({
    enabled: z.boolean().default(true),
    host: z.string().min(1).default('127.0.0.1'),
    /** 0 picks a free port. */
    port: listenPort.default(7480),
    /** How long stopping waits for exchanges in progress. */
    drainTimeout: durationBetween(0, 10 * 60_000).default(5_000),
    /**
     * While a request awaits a reply from an upstream that answers within this long, the node's proxy
     * polls for it instead of sleeping (src/proxy/engine/reply-poller.ts); 0 turns it off.
     */
    busyPoll: durationBetween(0, 10).default(DEFAULT_BUSY_POLL_MS),
  })
  .strict();
export type GatewaySettings = z.infer<typeof gatewaySettings>;

/** trellis.yaml */
export const trellisConfig = z
  .object({
    control: controlSettings.default(controlSettings.parse({})),
    gateway: gatewaySettings.default(gatewaySettings.parse({})),
    services: z
      .array(
        z
          .object({
            name: serviceName,
            tags: tags.default([]),
            metadata: metadata.default({}),
            /** Default check for this service's static instances. */
            check: checkInput.optional(),
            instances: z.array(instanceRegistration.omit({ service: true })).default([]),
            /** Applied at start, over the defaults (it replaces a policy set through the API). */
            policy: servicePolicyInput.optional(),
          })
          .strict()
          .superRefine((service, ctx) => {
            if (!service.policy) return;
            if (service.policy.service !== undefined && service.policy.service !== service.name) {
              ctx.addIssue({
                code: 'custom',
                path: ['policy', 'service'],
                message: `must be "${service.name}" (the service it belongs to)`,
              });
            }
            const merged = mergePolicy(service.name, service.policy, defaultPolicy(service.name));
            for (const problem of policyProblems(merged)) {
              ctx.addIssue({
                code: 'custom',
                path: ['policy', ...problem.path!.split('.')],
                message: problem.message,
              });
            }
          }),
      )
      .default([]),
    /** Gateway routes, applied at start (each replaces a route of the same name). */
    routes: z
      .array(routeInput)
      .default([])
      .superRefine((routes, ctx) => {
        const seen = new Set<string>();
        routes.forEach((route, index) => {
          if (seen.has(route.name)) {
            ctx.addIssue({
              code: 'custom',
              path: [index, 'name'],
              message: `duplicate route name "${route.name}"`,
            });
          }
          seen.add(route.name);
        });
      }),
    alerts: alertSettings.default(alertSettings.parse({})),
    telemetry: telemetrySettings.default(telemetrySettings.parse({})),
  })
  .strict();
export type TrellisConfig = z.infer<typeof trellisConfig>;

/** Turns zod issues into error details whose `path` names the bad field (`instances.0.port`). */
export function issuesToDetails(error: z.ZodError, prefix: string[] = []): ErrorDetail[] {
  return error.issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path.map(String)];
    // One detail per unknown key, with the key in the path, so a typo is named like any bad field.
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: [...path, key].join('.'), message: `unknown field "${key}"` }));
    }
    return [{ path: path.join('.'), message: issue.message }];
  });
}

/** Validates `input`; on failure throws a MeshError whose details name every bad field. */
export function validate<S extends z.ZodType>(
  schema: S,
  input: unknown,
  options: { what?: string; code?: ErrorCode; prefix?: string[] } = {},
): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const details = issuesToDetails(result.error, options.prefix);
  const first = details[0]!;
  const where = first.path ? `${first.path}: ` : '';
  throw new MeshError(
    options.code ?? 'BAD_REQUEST',
    `invalid ${options.what ?? 'input'}: ${where}${first.message}`,
    { details },
  );
}

function invalid(what: string, details: ErrorDetail[]): MeshError {
  const first = details[0]!;
  return new MeshError(
    'BAD_REQUEST',
    `invalid ${what}: ${first.path ? `${first.path}: ` : ''}${first.message}`,
    {
      details,
    },
  );
}
