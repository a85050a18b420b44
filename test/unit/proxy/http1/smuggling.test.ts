import { describe, expect, it } from 'vitest';
import {
  createBodyDecoder,
  createRequestParser,
  isHttpParseError,
} from '../../../../src/proxy/http1/index.ts';
import { latin1 } from './helpers.ts';

/**
 * Request smuggling / desync payloads (CL.TE, TE.CL, TE.TE obfuscations, malformed lengths and chunk
 * sizes, header and line tricks). Each is either refused with a code, or accepted with an exact
 * framing: parsing the head and its body must take exactly `message` and leave `rest` untouched.
 */
type Case =
  | { name: string; raw: string; code: string }
  | { name: string; message: string; rest: string; framing: 'none' | 'content-length' | 'chunked' };

const P = 'POST / HTTP/1.1\r\nHost: victim\r\n';
const SMUGGLED = 'GET /admin HTTP/1.1\r\nHost: victim\r\n\r\n';

const corpus: Case[] = [
  // CL.TE and TE.CL
  {
    name: 'CL.TE',
    raw: `${P}Content-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED`,
    code: 'CL_TE_CONFLICT',
  },
  {
    name: 'TE.CL',
    raw: `${P}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n`,
    code: 'CL_TE_CONFLICT',
  },
  {
    name: 'CL.TE with CL 0',
    raw: `${P}Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    code: 'CL_TE_CONFLICT',
  },
  // TE.TE obfuscations
  {
    name: 'TE xchunked',
    raw: `${P}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`,
    code: 'INVALID_TRANSFER_ENCODING',
  },
  {
    name: 'TE with space before colon',
    raw: `${P}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`,
    code: 'WHITESPACE_BEFORE_COLON',
  },
  {
    name: 'TE with tab before colon',
    raw: `${P}Transfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n`,
    code: 'WHITESPACE_BEFORE_COLON',
  },
  {
    name: 'TE repeated',
    raw: `${P}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    code: 'DUPLICATE_TRANSFER_ENCODING',
  },
  {
    name: 'TE chunked then identity',
    raw: `${P}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n`,
    code: 'DUPLICATE_TRANSFER_ENCODING',
  },
  {
    name: 'TE identity, chunked',
    raw: `${P}Transfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n`,
    code: 'UNSUPPORTED_TRANSFER_ENCODING',
  },
  {
    name: 'TE chunked, identity',
    raw: `${P}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`,
    code: 'INVALID_TRANSFER_ENCODING',
  },
  {
    name: 'TE with vertical tab',
    raw: `${P}Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n`,
    code: 'INVALID_HEADER_VALUE',
  },
  {
    name: 'TE with form feed',
    raw: `${P}Transfer-Encoding: chunked\x0c\r\n\r\n0\r\n\r\n`,
    code: 'INVALID_HEADER_VALUE',
  },
  {
    name: 'TE quoted',
    raw: `${P}Transfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n`,
    code: 'INVALID_TRANSFER_ENCODING',
  },
  { name: 'TE chunk', raw: `${P}Transfer-Encoding: chunk\r\n\r\n`, code: 'INVALID_TRANSFER_ENCODING' },
  {
    name: 'TE with obs-text',
    raw: `${P}Transfer-Encoding: chunked\xff\r\n\r\n0\r\n\r\n`,
    code: 'INVALID_TRANSFER_ENCODING',
  },
  { name: 'TE with NUL', raw: `${P}Transfer-Encoding: chunked\0\r\n\r\n0\r\n\r\n`, code: 'NUL_BYTE' },
  {
    name: 'TE on an obs-fold line',
    raw: `${P}X: x\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    code: 'OBS_FOLD',
  },
  {
    name: 'TE value folded',
    raw: `${P}Transfer-Encoding: chunked\r\n , identity\r\n\r\n0\r\n\r\n`,
    code: 'OBS_FOLD',
  },
  {
    name: 'TE value on the folded line',
    raw: `${P}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`,
    code: 'INVALID_TRANSFER_ENCODING',
  },
  {
    name: 'TE as first line with leading space',
    raw: `POST / HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: v\r\n\r\n`,
    code: 'OBS_FOLD',
  },
  {
    name: 'TE name with space',
    raw: `${P}Transfer Encoding: chunked\r\n\r\n0\r\n\r\n`,
    code: 'INVALID_HEADER_NAME',
  },
  {
    name: 'TE name split by a line end',
    raw: `${P}Transfer-Encoding\r\n: chunked\r\n\r\n`,
    code: 'INVALID_HEADER_NAME',
  },
  {
    name: 'TE name with NBSP',
    raw: `${P}Transfer-Encoding\xa0: chunked\r\n\r\n`,
    code: 'INVALID_HEADER_NAME',
  },
  {
    name: 'TE hidden behind a bare LF',
    raw: `${P}X: a\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    code: 'BARE_LF',
  },
  {
    name: 'TE hidden behind a bare CR',
    raw: `${P}X: a\rTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    code: 'BARE_CR',
  },
  {
    name: 'TE in HTTP/1.0',
    raw: 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    code: 'TRANSFER_ENCODING_HTTP10',
  },
  {
    name: 'CL.TE in HTTP/1.0',
    raw: 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n',
    code: 'CL_TE_CONFLICT',
  },
  // Content-Length tricks
  { name: 'CL with plus sign', raw: `${P}Content-Length: +5\r\n\r\nhello`, code: 'INVALID_CONTENT_LENGTH' },
  {
    name: 'CL with a space inside the digits',
    raw: `${P}Content-Length: 1 3\r\n\r\nhello`,
    code: 'INVALID_CONTENT_LENGTH',
  },
  { name: 'CL negative', raw: `${P}Content-Length: -1\r\n\r\n`, code: 'INVALID_CONTENT_LENGTH' },
  { name: 'CL hex', raw: `${P}Content-Length: 0x5\r\n\r\nhello`, code: 'INVALID_CONTENT_LENGTH' },
  {
    name: 'CL beyond 2^53',
    raw: `${P}Content-Length: 99999999999999999999\r\n\r\n`,
    code: 'INVALID_CONTENT_LENGTH',
  },
  { name: 'CL list', raw: `${P}Content-Length: 5, 6\r\n\r\nhello`, code: 'INVALID_CONTENT_LENGTH' },
  {
    name: 'CL with trailing junk',
    raw: `${P}Content-Length: 5;\r\n\r\nhello`,
    code: 'INVALID_CONTENT_LENGTH',
  },
  {
    name: 'CL twice, equal',
    raw: `${P}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`,
    code: 'DUPLICATE_CONTENT_LENGTH',
  },
  {
    name: 'CL twice, different',
    raw: `${P}Content-Length: 5\r\nContent-Length: 40\r\n\r\nhello`,
    code: 'CONFLICTING_CONTENT_LENGTH',
  },
  {
    name: 'CL with space before colon',
    raw: `${P}Content-Length : 5\r\n\r\nhello`,
    code: 'WHITESPACE_BEFORE_COLON',
  },
  {
    name: 'Connection strips CL',
    raw: `${P}Content-Length: 5\r\nConnection: Content-Length\r\n\r\nhello`,
    code: 'INVALID_CONNECTION',
  },
  {
    name: 'Connection strips TE',
    raw: `${P}Transfer-Encoding: chunked\r\nConnection: close, Transfer-Encoding\r\n\r\n`,
    code: 'INVALID_CONNECTION',
  },
  // chunked body tricks
  {
    name: 'chunk size with 0x',
    raw: `${P}Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n`,
    code: 'INVALID_CHUNK_SIZE',
  },
  {
    name: 'chunk size overflow',
    raw: `${P}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n`,
    code: 'CHUNK_SIZE_OVERFLOW',
  },
  {
    name: 'chunk size 2^64+1 (wraps to 1 elsewhere)',
    raw: `${P}Transfer-Encoding: chunked\r\n\r\n10000000000000001\r\nx\r\n0\r\n\r\n`,
    code: 'CHUNK_SIZE_OVERFLOW',
  },
  {
    name: 'chunk size with leading space',
    raw: `${P}Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n`,
    code: 'INVALID_CHUNK_SIZE',
  },
  {
    name: 'chunk size with trailing space',
    raw: `${P}Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n`,
    code: 'INVALID_CHUNK_SIZE',
  },
  {
    name: 'missing CRLF after chunk data',
    raw: `${P}Transfer-Encoding: chunked\r\n\r\n5\r\nhelloX0\r\n\r\n`,
    code: 'MISSING_CHUNK_CRLF',
  },
  {
    name: 'LF-only chunk size line',
    raw: `${P}Transfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n`,
    code: 'BARE_LF',
  },
  {
    name: 'LF-only chunk data terminator',
    raw: `${P}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n`,
    code: 'MISSING_CHUNK_CRLF',
  },
  {
    name: 'chunk extension hiding a line end',
    raw: `${P}Transfer-Encoding: chunked\r\n\r\n5;a="\n"\r\nhello\r\n0\r\n\r\n`,
    code: 'BARE_LF',
  },
  {
    name: 'chunk extension with bare CR',
    raw: `${P}Transfer-Encoding: chunked\r\n\r\n5;a\rb\r\nhello\r\n0\r\n\r\n`,
    code: 'BARE_CR',
  },
  {
    name: 'obs-fold in trailers',
    raw: `${P}Transfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n`,
    code: 'OBS_FOLD',
  },
  // request line and head tricks
  {
    name: 'extra space in the request line',
    raw: `GET  /admin HTTP/1.1\r\nHost: v\r\n\r\n`,
    code: 'INVALID_REQUEST_LINE',
  },
  {
    name: 'extra token after the version',
    raw: `GET / HTTP/1.1 x\r\nHost: v\r\n\r\n`,
    code: 'INVALID_REQUEST_LINE',
  },
  { name: 'request line with a bare LF', raw: `GET / HTTP/1.1\nHost: v\r\n\r\n`, code: 'BARE_LF' },
  { name: 'HTTP/1.1 without Host', raw: 'GET / HTTP/1.1\r\n\r\n', code: 'MISSING_HOST' },
  {
    name: 'two Host headers',
    raw: 'GET / HTTP/1.1\r\nHost: victim\r\nHost: evil\r\n\r\n',
    code: 'DUPLICATE_HOST',
  },
  { name: 'HTTP/0.9 version', raw: 'GET / HTTP/0.9\r\n\r\n', code: 'UNSUPPORTED_VERSION' },
  { name: 'HTTP/2.0 version', raw: 'GET / HTTP/2.0\r\nHost: v\r\n\r\n', code: 'UNSUPPORTED_VERSION' },
  { name: 'HTTP/0.9 request (no version)', raw: 'GET /\r\n', code: 'INVALID_REQUEST_LINE' },
  { name: 'NUL in a header value', raw: `${P}X: a\0b\r\n\r\n`, code: 'NUL_BYTE' },
  {
    name: 'space in the target',
    raw: 'GET /a HTTP/1.1 HTTP/1.1\r\nHost: v\r\n\r\n',
    code: 'INVALID_REQUEST_LINE',
  },
  // valid ones, with exact framing
  {
    name: 'TE with HTAB before the value (OWS, valid)',
    message: `${P}Transfer-Encoding:\tchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    rest: SMUGGLED,
    framing: 'chunked',
  },
  {
    name: 'TE in uppercase (valid)',
    message: `${P}TRANSFER-ENCODING: CHUNKED\r\n\r\n0\r\n\r\n`,
    rest: SMUGGLED,
    framing: 'chunked',
  },
  {
    name: 'Transfer_Encoding is just another header (no body)',
    message: `${P}Transfer_Encoding: chunked\r\n\r\n`,
    rest: SMUGGLED,
    framing: 'none',
  },
  {
    name: 'CL body followed by a pipelined request',
    message: `${P}Content-Length: 5\r\n\r\nhello`,
    rest: SMUGGLED,
    framing: 'content-length',
  },
  {
    name: 'chunked body with extensions and trailers, then a pipelined request',
    message: `${P}Transfer-Encoding: chunked\r\n\r\n5;ext="a;b"\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n`,
    rest: SMUGGLED,
    framing: 'chunked',
  },
  {
    name: 'GET with a body announced by CL',
    message: 'GET / HTTP/1.1\r\nHost: v\r\nContent-Length: 3\r\n\r\nabc',
    rest: SMUGGLED,
    framing: 'content-length',
  },
  {
    name: 'absolute-form target with a mismatching Host (allowed; the proxy decides)',
    message: 'GET http://internal.admin/ HTTP/1.1\r\nHost: victim\r\n\r\n',
    rest: '',
    framing: 'none',
  },
  {
    name: 'leading empty line before the request line',
    message: '\r\nGET / HTTP/1.1\r\nHost: v\r\n\r\n',
    rest: SMUGGLED,
    framing: 'none',
  },
];

type Verdict = { code: string } | { framing: string; consumed: number };

function judge(raw: string): Verdict {
  const buf = latin1(raw);
  const parser = createRequestParser();
  try {
    const end = parser.execute(buf, 0);
    if (end < 0) return { code: 'NEED_MORE' };
    const progress = createBodyDecoder(parser).consume(buf, end);
    if (!progress.done) return { code: 'BODY_INCOMPLETE' };
    return { framing: parser.framing, consumed: end + progress.consumed };
  } catch (error) {
    if (isHttpParseError(error)) return { code: error.code };
    throw error;
  }
}

describe('request smuggling corpus', () => {
  it('has at least 30 payloads', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(30);
  });

  for (const c of corpus) {
    if ('code' in c) {
      it(`refuses ${c.name} (${c.code})`, () => {
        expect(judge(c.raw)).toEqual({ code: c.code });
      });
    } else {
      it(`frames ${c.name} exactly`, () => {
        expect(judge(c.message + c.rest)).toEqual({ framing: c.framing, consumed: c.message.length });
        if (c.rest !== '') {
          const next = createRequestParser();
          expect(next.execute(latin1(c.rest))).toBeGreaterThan(0);
        }
      });
    }
  }
});
