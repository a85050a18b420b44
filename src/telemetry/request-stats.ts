import { ERROR_CODES, type ErrorCode } from '../core/index.ts';
import { type Direction, DURATION_BUCKETS_SECONDS, METHODS, STATUS_CLASSES } from './names.ts';

export const METHOD_COUNT = METHODS.length;
export const STATUS_CLASS_COUNT = STATUS_CLASSES.length;
/** Index of `none` in STATUS_CLASSES. */
const NO_STATUS = STATUS_CLASS_COUNT - 1;

/** Bucket upper bounds in milliseconds (durations are recorded in ms; exposed in seconds). */
export const BUCKET_BOUNDS_MS: Float64Array = Float64Array.from(DURATION_BUCKETS_SECONDS, (s) => s * 1000);
const BUCKET_COUNT = BUCKET_BOUNDS_MS.length;

export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as ErrorCode[];
const ERROR_INDEX = new Map<string, number>(ERROR_CODE_LIST.map((code, index) => [code, index]));
const OVERFLOW_INDEX = ERROR_INDEX.get('OVERFLOW')!;

/** The METHODS index of a request method (`other` for any method not listed). */
export function methodIndex(method: string): number {
  switch (method) {
    case 'GET':
      return 0;
    case 'HEAD':
      return 1;
    case 'POST':
      return 2;
    case 'PUT':
      return 3;
    case 'DELETE':
      return 4;
    case 'PATCH':
      return 5;
    case 'OPTIONS':
      return 6;
    default:
      return 7;
  }
}

/** The STATUS_CLASSES index of a status: 1xx…5xx, and `none` for 0 (no response) or anything else. */
export function statusClassIndex(status: number): number {
  const index = ((status / 100) | 0) - 1;
  return index >= 0 && index < NO_STATUS ? index : NO_STATUS;
}

/** The bucket a duration (ms) falls in: the first bound it does not exceed; BUCKET_COUNT is +Inf. */
export function bucketIndex(ms: number): number {
  let i = 0;
  while (i < BUCKET_COUNT && ms > BUCKET_BOUNDS_MS[i]) i++;
  return i;
}

/** The ERROR_CODE_LIST index of a mesh error code, or -1 for a code core does not define. */
export function errorCodeIndex(code: string): number {
  return ERROR_INDEX.get(code) ?? -1;
}

/**
 * The counters of one (service, route, direction): plain numbers and typed arrays written on the
 * request path, read by the Prometheus collectors at scrape time. Created once, when a cluster or
 * route first carries traffic through a listener; the request path only holds a reference.
 */
export class RequestStats {
  /** Requests by method × status class: `requests[method * STATUS_CLASS_COUNT + class]`. */
  readonly requests = new Float64Array(METHOD_COUNT * STATUS_CLASS_COUNT);
  /** Request durations per bucket (not cumulative); the last slot is +Inf. */
  readonly buckets = new Float64Array(BUCKET_COUNT + 1);
  durationSumMs = 0;
  /** Mesh-generated error responses by ERROR_CODE_LIST index. */
  readonly errors = new Float64Array(ERROR_CODE_LIST.length);
  connectErrors = 0;
  retries = 0;
  budgetExhausted = 0;
  rateLimited = 0;

  constructor(
    readonly service: string,
    readonly route: string,
    readonly direction: Direction,
  ) {}

  /** One exchange ended with `status` (0: no response head was sent) after `ms` milliseconds. */
  record(method: number, status: number, ms: number): void {
    this.requests[method * STATUS_CLASS_COUNT + statusClassIndex(status)]++;
    this.buckets[bucketIndex(ms)]++;
    this.durationSumMs += ms;
  }

  /** The mesh answered with an error of this code (counted besides `record`). */
  recordError(code: string): void {
    const index = ERROR_INDEX.get(code);
    if (index !== undefined) this.errors[index]++;
  }

  /** For a rate-limit layer: a request refused by a rate limit. */
  recordRateLimited(): void {
    this.rateLimited++;
  }

  get overflowed(): number {
    return this.errors[OVERFLOW_INDEX];
  }

  /** Exchanges recorded (the histogram's count). */
  get count(): number {
    let total = 0;
    for (const n of this.buckets) total += n;
    return total;
  }
}
