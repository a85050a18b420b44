import { Headers, Response } from 'undici';
import { describe, expect, it } from 'vitest';
import { MeshError } from '../../../src/core/index.ts';
import { createInterceptors } from '../../../src/sdk/interceptors.ts';
import type { MeshRequest } from '../../../src/sdk/types.ts';

function request(path = '/'): MeshRequest {
  return {
    service: 'web',
    path,
    method: 'GET',
    headers: new Headers(),
    body: null,
    timeoutMs: undefined,
    signal: undefined,
    hashKey: undefined,
  };
}

describe('interceptors', () => {
  it('runs request interceptors in the order added, each on what the previous returned', async () => {
    const chain = createInterceptors();
    chain.request.use((req) => ({ ...req, path: `${req.path}a` }));
    chain.request.use(async (req) => {
      req.headers.set('x-seen', req.path);
    });
    chain.request.use((req) => ({ ...req, path: `${req.path}b` }));
    const out = await chain.runRequest(request('/'));
    expect(out.path).toBe('/ab');
    expect(out.headers.get('x-seen')).toBe('/a');
  });

  it('ejects and clears', async () => {
    const chain = createInterceptors();
    const a = chain.request.use((req) => ({ ...req, path: `${req.path}a` }));
    chain.request.use((req) => ({ ...req, path: `${req.path}b` }));
    chain.request.eject(a);
    expect((await chain.runRequest(request('/'))).path).toBe('/b');
    chain.request.clear();
    expect((await chain.runRequest(request('/'))).path).toBe('/');
  });

  it('passes the outcome through unchanged without response interceptors', async () => {
    const chain = createInterceptors();
    const response = new Response('x');
    await expect(chain.runResponse(Promise.resolve(response), request())).resolves.toBe(response);
    const error = new MeshError('CIRCUIT_OPEN', 'open');
    await expect(chain.runResponse(Promise.reject(error), request())).rejects.toBe(error);
  });

  it('chains responses and errors axios-style', async () => {
    const chain = createInterceptors();
    const seen: string[] = [];
    chain.response.use(async (res, req) => {
      seen.push(`1:${res.status}:${req.path}`);
      if (res.status === 500) throw new Error('server said 500');
      return res;
    });
    chain.response.use(
      (res) => {
        seen.push(`2:${res.status}`);
        return res;
      },
      (error) => {
        seen.push(`2:error:${(error as Error).message}`);
        return new Response('recovered', { status: 299 });
      },
    );
    chain.response.use((res) => {
      seen.push(`3:${res.status}`);
      return new Response('last', { status: res.status, headers: { 'x-last': '1' } });
    });

    const ok = await chain.runResponse(Promise.resolve(new Response('a', { status: 200 })), request('/p'));
    expect(await ok.text()).toBe('last');
    expect(seen).toEqual(['1:200:/p', '2:200', '3:200']);

    seen.length = 0;
    const recovered = await chain.runResponse(
      Promise.resolve(new Response('a', { status: 500 })),
      request('/q'),
    );
    expect(recovered.status).toBe(299);
    expect(seen).toEqual(['1:500:/q', '2:error:server said 500', '3:299']);

    // An error skips fulfilled handlers until one with onRejected handles it.
    seen.length = 0;
    const failed = await chain.runResponse(Promise.reject(new MeshError('OVERFLOW', 'full')), request());
    expect(failed.status).toBe(299);
    expect(seen).toEqual(['2:error:full', '3:299']);
  });

  it('rethrows an error no handler recovers', async () => {
    const chain = createInterceptors();
    chain.response.use(
      (res) => res,
      (error) => {
        throw new MeshError('UPSTREAM_TIMEOUT', `wrapped: ${(error as Error).message}`);
      },
    );
    await expect(chain.runResponse(Promise.reject(new Error('x')), request())).rejects.toMatchObject({
      code: 'UPSTREAM_TIMEOUT',
      message: 'wrapped: x',
    });
  });
});
