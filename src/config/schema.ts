/**
 * The one schema. API bodies, trellis.yaml and CLI flags are all validated here, so a field means
 * the same thing and fails the same way wherever it comes from.
 */
import { z } from 'zod';
import { type ErrorCode, type ErrorDetail, MeshError, parseDuration } from '../core/index.ts';

const NAME = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/i;
const ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,252}$/;

export const serviceName = z
  .string()
  .regex(NAME, 'a service name is 1-63 letters, digits, ".", "_" or "-", starting and ending alphanumeric');

export const instanceId = z.string().regex(ID, 'an id is 1-253 letters, digits, ".", "_", ":", "@" or "-"');

export const port = z
  .number()
  .int('must be an integer')
  .min(1, 'ports are 1-65535')
  .max(65535, 'ports are 1-65535');

export const address = z
  .string()
  .min(1, 'required')
  .max(253)
  .regex(/^[A-Za-z0-9.:_[\]-]+$/, 'must be a host name or an IP address');

/** `500ms`, `10s`, `5m`, `1h`, or a number of milliseconds; the parsed value is milliseconds. */
export const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  try {
    return parseDuration(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

export const tags = z.array(z.string().min(1).max(128)).max(64);
export const metadata = z.record(z.string().max(128), z.string().max(1024));

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
      .record(
        z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'a header name is an HTTP token'),
        z.string().regex(/^[^\r\n\0]*$/, 'a header value cannot contain CR, LF or NUL'),
      )
      .default({}),
    interval: duration.default(10_000),
    timeout: duration.default(2_000),
    successesBeforeHealthy: z.number().int().min(1).max(100).default(1),
    failuresBeforeUnhealthy: z.number().int().min(1).max(100).default(3),
    deregisterAfter: duration.default(0),
  })
  .strict()
  .superRefine((check, ctx) => {
    const kinds = [check.http, check.tcp, check.ttl].filter((kind) => kind !== undefined).length;
    if (kinds !== 1)
      ctx.addIssue({ code: 'custom', message: 'a check needs exactly one of http, tcp or ttl' });
    if (check.interval < 100) ctx.addIssue({ code: 'custom', path: ['interval'], message: 'at least 100ms' });
    if (check.timeout <= 0) ctx.addIssue({ code: 'custom', path: ['timeout'], message: 'must be positive' });
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
    weight: z.number().int().min(0).max(10_000).default(100),
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
  port: z.coerce.number().pipe(port),
  tags: tags.default([]),
  metadata: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String))
    .default({}),
  weight: z.number().int().min(0).max(10_000).default(100),
  health_check: z.string().min(1).optional(),
});
export type SeedRegistration = z.infer<typeof seedRegistration>;

const storeUrl = z
  .string()
  .regex(/^(memory|etcd:\/\/[^,\s]+(,[^,\s]+)*)$/, 'expected "memory" or "etcd://host:port[,host:port…]"');

export const controlSettings = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(7400),
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

/** trellis.yaml */
export const trellisConfig = z
  .object({
    control: controlSettings.default(controlSettings.parse({})),
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
          })
          .strict(),
      )
      .default([]),
  })
  .strict();
export type TrellisConfig = z.infer<typeof trellisConfig>;

/** Turns zod issues into error details whose `path` names the bad field (`instances.0.port`). */
export function issuesToDetails(error: z.ZodError, prefix: string[] = []): ErrorDetail[] {
  return error.issues.map((issue) => ({
    path: [...prefix, ...issue.path.map(String)].join('.'),
    message: issue.message,
  }));
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
