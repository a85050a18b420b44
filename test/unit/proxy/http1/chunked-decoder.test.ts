import { describe, expect, it } from 'vitest';
import {
  ChunkedDecoder,
  CloseDelimitedDecoder,
  ContentLengthDecoder,
  createBodyDecoder,
} from '../../../../src/proxy/http1/index.ts';
import { feedBody, latin1, prng, randomCuts } from './helpers.ts';

const BODY =
  '5\r\nhello\r\n' +
  '1A;name=value;quoted="a \\"b\\" c"\r\n' +
  'abcdefghijklmnopqrstuvwxyz\r\n' +
  '0000000000000003 ; x = y\r\nxyz\r\n' +
  '0\r\n' +
  'Expires: never\r\n' +
  'X-Checksum:\tabc\r\n' +
  '\r\n';

describe('chunked decoder', () => {
  it('finds the end of a chunked body with extensions and trailers, leaving what follows', () => {
    const buf = latin1(`${BODY}GET / HTTP/1.1\r\n`);
    expect(new ChunkedDecoder().consume(buf, 0)).toEqual({ consumed: BODY.length, done: true });
  });

  it('hands over the trailer section, and only it, for every split', () => {
    const buf = latin1(`${BODY}NEXT`);
    const trailers = 'Expires: never\r\nX-Checksum:\tabc\r\n\r\n';
    const rand = prng(5);
    const splits = [
      ...Array.from({ length: buf.length - 1 }, (_, i) => [i + 1]),
      Array.from({ length: buf.length }, (_, i) => i),
      ...Array.from({ length: 100 }, () => randomCuts(rand, buf.length, 12)),
    ];
    for (const cuts of splits) {
      let section = '';
      const decoder = new ChunkedDecoder({
        onTrailerBytes: (bytes, start, end) => {
          section += bytes.toString('latin1', start, end);
        },
      });
      expect(feedBody(decoder, buf, 0, cuts)).toEqual({ kind: 'done', end: BODY.length });
      expect(section).toBe(trailers);
    }
    let none = '';
    const plain = new ChunkedDecoder({
      onTrailerBytes: (bytes, start, end) => (none += bytes.toString('latin1', start, end)),
    });
    plain.consume(latin1('3\r\nabc\r\n0\r\n\r\n'), 0);
    expect(none).toBe('\r\n');
  });

  it('gives the same result for every split, including one byte at a time', () => {
    const buf = latin1(`${BODY}NEXT`);
    for (let cut = 1; cut < buf.length; cut++) {
      expect(feedBody(new ChunkedDecoder(), buf, 0, [cut])).toEqual({ kind: 'done', end: BODY.length });
    }
    const all = Array.from({ length: buf.length }, (_, i) => i);
    expect(feedBody(new ChunkedDecoder(), buf, 0, all)).toEqual({ kind: 'done', end: BODY.length });
    const rand = prng(3);
    for (let i = 0; i < 200; i++) {
      expect(feedBody(new ChunkedDecoder(), buf, 0, randomCuts(rand, buf.length, 12))).toEqual({
        kind: 'done',
        end: BODY.length,
      });
    }
  });

  it('hands the chunk data to onData when asked', () => {
    const parts: string[] = [];
    const decoder = new ChunkedDecoder({ onData: (b, s, e) => parts.push(b.toString('latin1', s, e)) });
    feedBody(decoder, latin1(BODY), 0, [4, 7, 30]);
    expect(parts.join('')).toBe('helloabcdefghijklmnopqrstuvwxyzxyz');
  });

  it('is done after the final CRLF and takes nothing more', () => {
    const decoder = new ChunkedDecoder();
    decoder.consume(latin1('0\r\n\r\n'));
    expect(decoder.done).toBe(true);
    expect(decoder.consume(latin1('more'))).toEqual({ consumed: 0, done: true });
    decoder.reset();
    expect(decoder.done).toBe(false);
    expect(decoder.consume(latin1('1\r\na\r\n0\r\n\r\n'))).toEqual({ consumed: 11, done: true });
  });

  it('accepts the largest chunk size and counts down data of any length', () => {
    const decoder = new ChunkedDecoder();
    expect(decoder.consume(latin1('1fffffffffffff\r\n'))).toEqual({ consumed: 16, done: false });
    expect(decoder.consume(Buffer.alloc(1 << 20))).toEqual({ consumed: 1 << 20, done: false });
  });

  const refused: Array<[string, string, string]> = [
    ['0x prefix', '0x5\r\nhello\r\n0\r\n\r\n', 'INVALID_CHUNK_SIZE'],
    ['leading space', ' 5\r\nhello\r\n0\r\n\r\n', 'INVALID_CHUNK_SIZE'],
    ['plus sign', '+5\r\nhello\r\n0\r\n\r\n', 'INVALID_CHUNK_SIZE'],
    ['negative size', '-5\r\nhello\r\n0\r\n\r\n', 'INVALID_CHUNK_SIZE'],
    ['empty size', '\r\nhello\r\n0\r\n\r\n', 'INVALID_CHUNK_SIZE'],
    ['trailing space without extension', '5 \r\nhello\r\n0\r\n\r\n', 'INVALID_CHUNK_SIZE'],
    ['non-hex digit', '5g\r\nhello\r\n0\r\n\r\n', 'INVALID_CHUNK_SIZE'],
    ['17 hex digits', '00000000000000005\r\nhello\r\n0\r\n\r\n', 'INVALID_CHUNK_SIZE'],
    ['size above 2^53-1', 'ffffffffffffffff\r\n', 'CHUNK_SIZE_OVERFLOW'],
    ['size overflowing 64 bits', 'ffffffffffffffffff\r\n', 'CHUNK_SIZE_OVERFLOW'],
    ['LF after the size', '5\nhello\r\n0\r\n\r\n', 'BARE_LF'],
    ['CR without LF after the size', '5\rhello\r\n0\r\n\r\n', 'BARE_CR'],
    ['data longer than the size', '5\r\nhello!\r\n0\r\n\r\n', 'MISSING_CHUNK_CRLF'],
    ['data shorter than the size', '5\r\nhell\r\n0\r\n\r\n', 'MISSING_CHUNK_CRLF'],
    ['LF-only data terminator', '5\r\nhello\n0\r\n\r\n', 'MISSING_CHUNK_CRLF'],
    ['CR without LF after data', '5\r\nhello\r0\r\n\r\n', 'MISSING_CHUNK_CRLF'],
    ['LF-only last chunk', '5\r\nhello\r\n0\n\n', 'BARE_LF'],
    ['extension without a name', '5;\r\nhello\r\n0\r\n\r\n', 'INVALID_CHUNK_EXTENSION'],
    ['extension with a bad value', '5;a=b@c\r\nhello\r\n0\r\n\r\n', 'INVALID_CHUNK_EXTENSION'],
    ['unterminated quoted extension', '5;a="b\r\nhello\r\n0\r\n\r\n', 'INVALID_CHUNK_EXTENSION'],
    ['extension with trailing space', '5;a \r\nhello\r\n0\r\n\r\n', 'INVALID_CHUNK_EXTENSION'],
    ['extension with a bare LF', '5;a\nhello\r\n0\r\n\r\n', 'BARE_LF'],
    ['extension with NUL', '5;a=\0\r\nhello\r\n0\r\n\r\n', 'NUL_BYTE'],
    ['extension too long', `5;a=${'x'.repeat(5000)}\r\nhello\r\n0\r\n\r\n`, 'CHUNK_EXTENSION_TOO_LONG'],
    ['obs-fold in trailers', '0\r\nX: a\r\n b\r\n\r\n', 'OBS_FOLD'],
    ['trailer without colon', '0\r\nX\r\n\r\n', 'INVALID_HEADER_NAME'],
    ['space before colon in trailer', '0\r\nX : a\r\n\r\n', 'INVALID_HEADER_NAME'],
    ['control in trailer value', '0\r\nX: a\x01\r\n\r\n', 'INVALID_HEADER_VALUE'],
    ['bare LF in trailers', '0\r\nX: a\n\r\n', 'BARE_LF'],
    ['bare LF ending trailers', '0\r\nX: a\r\n\n', 'BARE_LF'],
    ['bare CR ending trailers', '0\r\n\rX', 'BARE_CR'],
    [
      'trailers too large',
      `0\r\n${'X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n'.repeat(400)}\r\n`,
      'TRAILERS_TOO_LARGE',
    ],
  ];
  for (const [name, raw, code] of refused) {
    it(`refuses ${name} with ${code}`, () => {
      expect(feedBody(new ChunkedDecoder(), latin1(raw), 0)).toEqual({ kind: 'error', code });
      const all = Array.from({ length: raw.length }, (_, i) => i);
      expect(feedBody(new ChunkedDecoder(), latin1(raw), 0, all)).toEqual({ kind: 'error', code });
    });
  }

  it('keeps failing after an error and carries status 502 when told', () => {
    const decoder = new ChunkedDecoder({ errorStatus: 502 });
    expect(() => decoder.consume(latin1('zz'))).toThrow(
      expect.objectContaining({ code: 'INVALID_CHUNK_SIZE', status: 502 }),
    );
    expect(() => decoder.consume(latin1('0\r\n\r\n'))).toThrow(
      expect.objectContaining({ code: 'INVALID_CHUNK_SIZE' }),
    );
    expect(decoder.done).toBe(false);
  });
});

describe('content-length and close-delimited decoders', () => {
  it('counts Content-Length bytes across pieces and stops at the boundary', () => {
    const decoder = new ContentLengthDecoder(10);
    expect(decoder.consume(latin1('abcd'))).toEqual({ consumed: 4, done: false });
    expect(decoder.consume(latin1('xxefghijGET /'), 2)).toEqual({ consumed: 6, done: true });
    expect(decoder.consume(latin1('more'))).toEqual({ consumed: 0, done: true });
    decoder.reset(1);
    expect(decoder.consume(latin1('ab'), 0, 1)).toEqual({ consumed: 1, done: true });
  });

  it('takes every byte of a close-delimited body', () => {
    expect(new CloseDelimitedDecoder().consume(latin1('abc'), 1)).toEqual({ consumed: 2, done: false });
  });

  it('picks the decoder from the framing', () => {
    expect(createBodyDecoder({ framing: 'none', contentLength: -1 }).done).toBe(true);
    expect(createBodyDecoder({ framing: 'content-length', contentLength: 3 })).toBeInstanceOf(
      ContentLengthDecoder,
    );
    expect(createBodyDecoder({ framing: 'chunked', contentLength: -1 })).toBeInstanceOf(ChunkedDecoder);
    expect(createBodyDecoder({ framing: 'close', contentLength: -1 })).toBeInstanceOf(CloseDelimitedDecoder);
  });
});
