import { Agent, request } from 'undici';
import type { HttpCheck } from '../../core/index.ts';
import type { CheckResult } from './state.ts';

export interface HttpProber {
  probe(check: HttpCheck): Promise<CheckResult>;
  close(): Promise<void>;
}

/**
 * HTTP checks on their own dispatcher (not undici's global one). Each probe closes its connection
 * afterwards: a check should prove the instance still accepts connections, and 5,000 idle sockets
 * help no one.
 */
export function createHttpProber(): HttpProber {
  const agent = new Agent();

  return {
    async probe(check) {
      const started = performance.now();
      try {
        const response = await request(check.url, {
          dispatcher: agent,
          method: check.method,
          headers: check.headers,
          reset: true,
          signal: AbortSignal.timeout(check.timeoutMs),
          headersTimeout: check.timeoutMs,
          bodyTimeout: check.timeoutMs,
        });
        await response.body.dump();
        const status = response.statusCode;
        const output = `HTTP ${check.method} ${check.url}: ${status} in ${Math.round(performance.now() - started)}ms`;
        if (status >= 200 && status < 300) return { status: 'pass', output };
        if (status === 429) return { status: 'warn', output };
        return { status: 'fail', output };
      } catch (error) {
        return {
          status: 'fail',
          output: `HTTP ${check.method} ${check.url}: ${describe(error, check.timeoutMs)}`,
        };
      }
    },
    close: () => agent.close(),
  };
}

function describe(error: unknown, timeoutMs: number): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === 'TimeoutError' || error.name === 'AbortError' || /timeout/i.test(error.name)) {
    return `timed out after ${timeoutMs}ms`;
  }
  const code = (error as { code?: string }).code;
  return code ? `${code} ${error.message}` : error.message;
}
