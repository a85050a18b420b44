/**
 * Parse errors of the HTTP/1.1 codec. Every refusal carries a stable `code` naming the rule that was
 * broken and the HTTP `status` the proxy answers with before closing the connection (400, 431, 501 or
 * 505 for requests; 502 for anything wrong in an upstream's response). Messages are fixed per code and
 * never echo the offending bytes back.
 */
import { reasonPhrase } from './reasons.ts';

export const HTTP_PARSE_ERRORS = {
  HEAD_TOO_LARGE: { status: 431, message: 'The request head is larger than the limit.' },
  TOO_MANY_HEADERS: { status: 431, message: 'The request has more header fields than the limit.' },
  LEADING_EMPTY_LINES: { status: 400, message: 'Too many empty lines before the request line.' },
  BARE_LF: { status: 400, message: 'A line ends with LF alone; HTTP/1.1 requires CRLF.' },
  BARE_CR: { status: 400, message: 'A CR is not followed by LF.' },
  NUL_BYTE: { status: 400, message: 'The message contains a NUL byte.' },
  OBS_FOLD: {
    status: 400,
    message: 'Obsolete line folding (a header line starting with SP or HTAB) is not allowed.',
  },
  INVALID_METHOD: { status: 400, message: 'The method is not a valid token.' },
  INVALID_TARGET: {
    status: 400,
    message: 'The request-target contains a space, a control or a non-ASCII byte.',
  },
  INVALID_REQUEST_LINE: {
    status: 400,
    message: 'The request line is not "method SP target SP version CRLF".',
  },
  INVALID_VERSION: { status: 400, message: 'The HTTP version is malformed.' },
  UNSUPPORTED_VERSION: { status: 505, message: 'Only HTTP/1.0 and HTTP/1.1 are supported.' },
  INVALID_HEADER_NAME: {
    status: 400,
    message: 'A header field name is empty or contains a non-token character.',
  },
  WHITESPACE_BEFORE_COLON: { status: 400, message: 'Whitespace between a header field name and the colon.' },
  INVALID_HEADER_VALUE: { status: 400, message: 'A header field value contains a control character.' },
  MISSING_HOST: { status: 400, message: 'An HTTP/1.1 request must carry a Host header.' },
  DUPLICATE_HOST: { status: 400, message: 'The request carries more than one Host header.' },
  INVALID_HOST: { status: 400, message: 'The Host header is not a valid host[:port].' },
  INVALID_CONTENT_LENGTH: {
    status: 400,
    message: 'Content-Length is not a decimal number of at most 2^53-1.',
  },
  DUPLICATE_CONTENT_LENGTH: { status: 400, message: 'Content-Length appears more than once.' },
  CONFLICTING_CONTENT_LENGTH: {
    status: 400,
    message: 'Content-Length appears more than once with different values.',
  },
  CL_TE_CONFLICT: { status: 400, message: 'Content-Length and Transfer-Encoding must not both be present.' },
  INVALID_TRANSFER_ENCODING: {
    status: 400,
    message: 'Transfer-Encoding must end with chunked, applied once.',
  },
  UNSUPPORTED_TRANSFER_ENCODING: { status: 501, message: 'Only the chunked transfer coding is supported.' },
  DUPLICATE_TRANSFER_ENCODING: { status: 400, message: 'Transfer-Encoding appears more than once.' },
  TRANSFER_ENCODING_HTTP10: {
    status: 400,
    message: 'Transfer-Encoding is not allowed in an HTTP/1.0 message.',
  },
  INVALID_CONNECTION: {
    status: 400,
    message:
      'Connection must be a list of tokens and must not name Host, Content-Length or Transfer-Encoding.',
  },
  INVALID_STATUS_LINE: {
    status: 502,
    message: 'The status line is not "HTTP-version SP 3DIGIT SP reason CRLF".',
  },
  INVALID_CHUNK_SIZE: { status: 400, message: 'A chunk size is not 1 to 16 hexadecimal digits.' },
  CHUNK_SIZE_OVERFLOW: { status: 400, message: 'A chunk size is larger than 2^53-1.' },
  INVALID_CHUNK_EXTENSION: { status: 400, message: 'A chunk extension is malformed.' },
  CHUNK_EXTENSION_TOO_LONG: { status: 400, message: 'A chunk extension is longer than the limit.' },
  MISSING_CHUNK_CRLF: { status: 400, message: 'Chunk data is not followed by CRLF.' },
  TRAILERS_TOO_LARGE: { status: 400, message: 'The chunked trailer section is larger than the limit.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type HttpParseErrorCode = keyof typeof HTTP_PARSE_ERRORS;

const BRAND = Symbol.for('trellis.HttpParseError');

export class HttpParseError extends Error {
  readonly code: HttpParseErrorCode;
  /** The status to answer with: the code's own for requests, 502 for upstream responses. */
  readonly status: number;
  readonly [BRAND] = true;

  constructor(code: HttpParseErrorCode, status: number = HTTP_PARSE_ERRORS[code].status) {
    super(HTTP_PARSE_ERRORS[code].message);
    this.name = 'HttpParseError';
    this.code = code;
    this.status = status;
  }
}

export function isHttpParseError(value: unknown): value is HttpParseError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** Status used for every error found in an upstream's response: the client gets a Bad Gateway. */
export const UPSTREAM_PARSE_STATUS = 502;

/**
 * A complete `connection: close` error response in the API's JSON shape:
 * `{"error":{"code","message","details"}}`, with `x-trellis-error: <code>`. `code` is a mesh error
 * code (see src/core/errors.ts); `status` is sent as is.
 */
export function errorResponse(
  status: number,
  code: string,
  message: string,
  details: unknown[] = [],
): Buffer {
  const body = JSON.stringify({ error: { code, message, details } });
  const head =
    `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n` +
    'content-type: application/json\r\n' +
    `x-trellis-error: ${code}\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    'connection: close\r\n\r\n';
  return Buffer.from(head + body, 'utf8');
}

/**
 * The response the proxy sends before closing when a request head or body is refused. The mesh code
 * is BAD_REQUEST whatever the status (400, 431, 501, 505); the parser's own code is in
 * `details[0].reason`, e.g. `{"message":"…","reason":"CL_TE_CONFLICT"}`.
 */
export function parseErrorResponse(error: HttpParseError, meshCode = 'BAD_REQUEST'): Buffer {
  return errorResponse(error.status, meshCode, error.message, [
    { message: error.message, reason: error.code },
  ]);
}
