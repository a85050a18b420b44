import { Readable } from 'node:stream';
import { Headers } from 'undici';
import { describe, expect, it } from 'vitest';
import { createMeshRequest, outgoingHeaders, prepareBody } from '../../../src/sdk/request.ts';

describe('createMeshRequest', () => {
  it('normalises method, path, headers and timeout', () => {
    const request = createMeshRequest('web', 'items?x=1', {
      method: 'post',
      headers: { 'X-A': '1', 'x-b': ['2', '3'] },
      timeout: '1.5s',
      hashKey: 'user-1',
    });
    expect(request).toMatchObject({
      service: 'web',
      path: '/items?x=1',
      method: 'POST',
      body: null,
      timeoutMs: 1_500,
      hashKey: 'user-1',
      signal: undefined,
    });
    expect(request.headers.get('x-a')).toBe('1');
    expect(request.headers.get('x-b')).toBe('2, 3');
    expect(createMeshRequest('web', '/', { headers: [['x-c', '4']] }).headers.get('x-c')).toBe('4');
    expect(createMeshRequest('web', '/', { headers: new Headers({ 'x-d': '5' }) }).headers.get('x-d')).toBe(
      '5',
    );
    expect(createMeshRequest('web', '/').method).toBe('GET');
  });

  it('refuses what cannot be sent, naming the argument', () => {
    expect(() => createMeshRequest('', '/')).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    expect(() => createMeshRequest('web', 'https://web/x')).toThrow(
      expect.objectContaining({ code: 'BAD_REQUEST', details: [expect.objectContaining({ path: 'path' })] }),
    );
    expect(() => createMeshRequest('web', '/', { timeout: 'soon' })).toThrow(
      expect.objectContaining({ details: [expect.objectContaining({ path: 'timeout' })] }),
    );
    for (const timeout of ['500us', '0.4ms', 0.5]) {
      expect(() => createMeshRequest('web', '/', { timeout })).toThrow(
        expect.objectContaining({
          details: [
            { path: 'timeout', message: expect.stringMatching(/^a timeout is 0 \(none\) or at least 1ms/) },
          ],
        }),
      );
    }
    expect(createMeshRequest('web', '/', { timeout: 0 }).timeoutMs).toBe(0);
    expect(() => createMeshRequest('web', '/', { headers: { 'bad header': 'x' } })).toThrow(
      expect.objectContaining({ details: [expect.objectContaining({ path: 'headers' })] }),
    );
  });
});

describe('prepareBody', () => {
  it('buffers strings, bytes, forms and blobs, with the content type fetch would set', async () => {
    const headers = new Headers();
    const text = await prepareBody('héllo', headers);
    expect(text).toEqual({ kind: 'buffer', bytes: Buffer.from('héllo') });
    expect(headers.get('content-type')).toBe('text/plain;charset=UTF-8');

    const explicit = new Headers({ 'content-type': 'application/json' });
    await prepareBody('{}', explicit);
    expect(explicit.get('content-type')).toBe('application/json');

    const form = new Headers();
    expect(await prepareBody(new URLSearchParams({ a: '1' }), form)).toEqual({
      kind: 'buffer',
      bytes: Buffer.from('a=1'),
    });
    expect(form.get('content-type')).toBe('application/x-www-form-urlencoded;charset=UTF-8');

    const bytes = new Uint8Array([0, 1, 2, 3]).subarray(1, 3);
    expect(await prepareBody(bytes, new Headers())).toEqual({ kind: 'buffer', bytes: Buffer.from([1, 2]) });
    expect(await prepareBody(new Uint8Array([9]).buffer, new Headers())).toEqual({
      kind: 'buffer',
      bytes: Buffer.from([9]),
    });
    const blobHeaders = new Headers();
    expect(await prepareBody(new Blob(['xy'], { type: 'text/csv' }), blobHeaders)).toEqual({
      kind: 'buffer',
      bytes: Buffer.from('xy'),
    });
    expect(blobHeaders.get('content-type')).toBe('text/csv');
    expect(await prepareBody(null, new Headers())).toEqual({ kind: 'none' });
  });

  it('passes streams through as streams', async () => {
    const readable = Readable.from(['a']);
    expect(await prepareBody(readable, new Headers())).toEqual({ kind: 'stream', stream: readable });
    async function* generate() {
      yield new Uint8Array([1]);
    }
    const fromIterable = await prepareBody(generate(), new Headers());
    expect(fromIterable.kind).toBe('stream');
    const web = await prepareBody(new Blob(['z']).stream(), new Headers());
    expect(web.kind).toBe('stream');
    const chunks: Buffer[] = [];
    if (web.kind === 'stream') for await (const chunk of web.stream) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('z');
    await expect(prepareBody(42 as never, new Headers())).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });
});

describe('outgoingHeaders', () => {
  it('drops hop-by-hop headers and those named by Connection', () => {
    const headers = new Headers({
      connection: 'close, x-hop',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      upgrade: 'websocket',
      te: 'trailers',
      expect: '100-continue',
      'x-hop': '1',
      'x-keep': '2',
      traceparent: '00-abc-def-01',
      'content-length': '3',
    });
    expect(outgoingHeaders(headers, { kind: 'buffer', bytes: Buffer.from('abc') })).toEqual({
      'x-keep': '2',
      traceparent: '00-abc-def-01',
    });
    // A stream keeps its declared length (so it is not sent chunked).
    expect(
      outgoingHeaders(new Headers({ 'content-length': '3' }), { kind: 'stream', stream: Readable.from([]) }),
    ).toEqual({
      'content-length': '3',
    });
  });
});
