import { describe, expect, it } from 'vitest';
import {
  errorResponse,
  HTTP_PARSE_ERRORS,
  HttpParseError,
  isHttpParseError,
  parseErrorResponse,
} from '../../../../src/proxy/http1/index.ts';

function split(buf: Buffer): { head: string; body: string } {
  const s = buf.toString('utf8');
  const i = s.indexOf('\r\n\r\n');
  return { head: s.slice(0, i + 4), body: s.slice(i + 4) };
}

describe('http1 errors', () => {
  it('gives every code a status of 400, 431, 501, 505 or 502', () => {
    for (const { status } of Object.values(HTTP_PARSE_ERRORS))
      expect([400, 431, 501, 502, 505]).toContain(status);
  });

  it('is recognisable across copies by its brand', () => {
    const error = new HttpParseError('OBS_FOLD');
    expect(isHttpParseError(error)).toBe(true);
    expect(isHttpParseError(new Error('x'))).toBe(false);
    expect(error.status).toBe(400);
    expect(new HttpParseError('OBS_FOLD', 502).status).toBe(502);
  });

  it('builds the canned close response in the API error shape', () => {
    const { head, body } = split(parseErrorResponse(new HttpParseError('CL_TE_CONFLICT')));
    const message = 'Content-Length and Transfer-Encoding must not both be present.';
    expect(JSON.parse(body)).toEqual({
      error: { code: 'BAD_REQUEST', message, details: [{ message, reason: 'CL_TE_CONFLICT' }] },
    });
    expect(head).toBe(
      'HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nx-trellis-error: BAD_REQUEST\r\n' +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n`,
    );
  });

  it('uses the status of the error and its reason phrase', () => {
    expect(split(parseErrorResponse(new HttpParseError('HEAD_TOO_LARGE'))).head).toMatch(
      /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/,
    );
    expect(split(parseErrorResponse(new HttpParseError('UNSUPPORTED_VERSION'))).head).toMatch(
      /^HTTP\/1\.1 505 HTTP Version Not Supported\r\n/,
    );
    const { head, body } = split(errorResponse(502, 'UPSTREAM_ERROR', 'bad gateway: "x"'));
    expect(head).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n[\s\S]*x-trellis-error: UPSTREAM_ERROR\r\n/);
    expect(JSON.parse(body)).toEqual({
      error: { code: 'UPSTREAM_ERROR', message: 'bad gateway: "x"', details: [] },
    });
  });
});
