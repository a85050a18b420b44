import { describe, expect, it } from 'vitest';
import { createEndpoint } from '../../../src/core/index.ts';
import type { SdkEndpoint } from '../../../src/sdk/cluster.ts';
import { attemptsFailed, classifyError, deadlineExceeded } from '../../../src/sdk/failures.ts';

function coded(code: string, name = 'Error'): Error {
  return Object.assign(new Error(`failed: ${code}`), { code, name });
}

describe('classifyError', () => {
  it('sorts undici and socket errors into connect failures and resets, and the idle timeout into UPSTREAM_TIMEOUT', () => {
    for (const code of ['ECONNREFUSED', 'EHOSTUNREACH', 'ENOTFOUND', 'UND_ERR_CONNECT_TIMEOUT'])
      expect(classifyError(coded(code))).toBe('connect-failure');
    for (const code of ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ESOMETHINGELSE'])
      expect(classifyError(coded(code))).toBe('reset');
    // The proxy answers its idle timeout at once: not an attempt failure to retry.
    expect(classifyError(coded('UND_ERR_HEADERS_TIMEOUT'))).toMatchObject({ code: 'UPSTREAM_TIMEOUT' });
  });

  it('turns malformed responses into BAD_GATEWAY and refused requests into BAD_REQUEST', () => {
    expect(classifyError(coded('HPE_INVALID_CONSTANT', 'HTTPParserError'))).toMatchObject({
      code: 'BAD_GATEWAY',
    });
    expect(classifyError(Object.assign(new Error('bad'), { name: 'HTTPParserError' }))).toMatchObject({
      code: 'BAD_GATEWAY',
    });
    expect(classifyError(coded('UND_ERR_INVALID_ARG'))).toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('leaves errors that are not about the connection alone', () => {
    expect(classifyError(new Error('the caller stream broke'))).toBeUndefined();
    expect(classifyError(coded('ERR_STREAM_PREMATURE_CLOSE'))).toBeUndefined();
    expect(classifyError(undefined)).toBeUndefined();
  });
});

describe('attemptsFailed / deadlineExceeded', () => {
  const a = createEndpoint({ id: 'a', address: '127.0.0.1', port: 1 }) as SdkEndpoint;
  const b = createEndpoint({ id: 'b', address: '::1', port: 2 }) as SdkEndpoint;

  it('names the code by the last failure and lists every attempt', () => {
    const error = attemptsFailed('pay', 'connect-failure', [
      { endpoint: a, outcome: 503 },
      { endpoint: b, outcome: 'connect-failure', error: coded('ECONNREFUSED') },
    ]);
    expect(error.code).toBe('UPSTREAM_CONNECT_FAILED');
    expect(error.status).toBe(502);
    expect(error.message).toBe('pay: cannot connect (ECONNREFUSED) (after 2 attempts: a, b)');
    expect(error.details).toEqual([
      { message: 'HTTP 503', endpoint: 'a', address: 'http://127.0.0.1:1', outcome: 503 },
      {
        message: 'cannot connect (ECONNREFUSED)',
        endpoint: 'b',
        address: 'http://[::1]:2',
        outcome: 'connect-failure',
      },
    ]);
    expect(attemptsFailed('pay', 'reset', [{ endpoint: a, outcome: 'reset' }]).code).toBe('UPSTREAM_RESET');
    expect(attemptsFailed('pay', 'timeout', [{ endpoint: a, outcome: 'timeout' }]).code).toBe(
      'UPSTREAM_TIMEOUT',
    );
  });

  it('says whether the deadline had passed before the call', () => {
    expect(deadlineExceeded('pay', [], true).message).toContain('before the call started');
    const error = deadlineExceeded('pay', [{ endpoint: a, outcome: 'timeout' }]);
    expect(error).toMatchObject({ code: 'UPSTREAM_TIMEOUT', status: 504 });
    expect(error.message).toBe('pay: no response before the deadline (a)');
  });
});
