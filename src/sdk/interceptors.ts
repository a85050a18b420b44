import type { Response } from 'undici';
import type {
  ErrorInterceptor,
  InterceptorManager,
  Interceptors,
  MeshRequest,
  RequestInterceptor,
  ResponseInterceptor,
} from './types.ts';

interface Entry<F, E> {
  id: number;
  onFulfilled: F;
  onRejected: E | undefined;
}

class Manager<F, E> implements InterceptorManager<F, E> {
  entries: Entry<F, E>[] = [];
  private nextId = 0;

  use(onFulfilled: F, onRejected?: E): number {
    const id = this.nextId++;
    this.entries = [...this.entries, { id, onFulfilled, onRejected }];
    return id;
  }

  eject(id: number): void {
    this.entries = this.entries.filter((entry) => entry.id !== id);
  }

  clear(): void {
    this.entries = [];
  }
}

export interface InterceptorChain extends Interceptors {
  /** Runs the request interceptors in order; each gets what the previous returned. */
  runRequest(request: MeshRequest): Promise<MeshRequest>;
  /**
   * Runs the response interceptors on the call's outcome, axios style: a response goes through the
   * `onFulfilled` handlers, an error through the `onRejected` ones; a handler that throws turns the
   * outcome into an error, an `onRejected` that returns a response turns it back into a response.
   */
  runResponse(outcome: Promise<Response>, request: MeshRequest): Promise<Response>;
}

export function createInterceptors(): InterceptorChain {
  const request = new Manager<RequestInterceptor, never>();
  const response = new Manager<ResponseInterceptor, ErrorInterceptor>();
  return {
    request,
    response,
    async runRequest(initial) {
      let current = initial;
      for (const entry of request.entries) current = (await entry.onFulfilled(current)) ?? current;
      return current;
    },
    async runResponse(outcome, req) {
      const entries = response.entries;
      if (entries.length === 0) return outcome;
      let result: { ok: true; response: Response } | { ok: false; error: unknown };
      try {
        result = { ok: true, response: await outcome };
      } catch (error) {
        result = { ok: false, error };
      }
      for (const entry of entries) {
        try {
          if (result.ok) result = { ok: true, response: await entry.onFulfilled(result.response, req) };
          else if (entry.onRejected !== undefined)
            result = { ok: true, response: await entry.onRejected(result.error, req) };
        } catch (error) {
          result = { ok: false, error };
        }
      }
      if (result.ok) return result.response;
      throw result.error;
    },
  };
}
