/**
 * The control plane's HTTP API as the dashboard uses it: JSON in and out, the admin token from
 * sessionStorage as `Authorization: Bearer`, and API errors kept with their code and field paths.
 */
const TOKEN_KEY = 'trellis.adminToken';

export interface ErrorDetail {
  path?: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[],
  ) {
    super(message);
  }
}

export interface Api {
  /** Prefix of every API path ('' in the browser: the dashboard is served by the control plane). */
  readonly base: string;
  get<T>(path: string): Promise<T>;
  send<T>(method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T>;
  /** The headers every request carries (the watch stream uses them too). */
  headers(): Record<string, string>;
  token(): string | undefined;
  setToken(token: string): void;
  /** Called with each 401: the dashboard then asks for the token. */
  onUnauthorized(listener: () => void): () => void;
  unauthorized(): void;
}

export function createApi(base = ''): Api {
  const listeners = new Set<() => void>();

  const api: Api = {
    base,
    token: () => sessionStorage.getItem(TOKEN_KEY) ?? undefined,
    setToken(token) {
      sessionStorage.setItem(TOKEN_KEY, token);
    },
    headers() {
      const token = api.token();
      const headers: Record<string, string> = {};
      if (token) headers.authorization = `Bearer ${token}`;
      return headers;
    },
    onUnauthorized(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    unauthorized() {
      for (const listener of listeners) listener();
    },
    get: (path) => request('GET', path),
    send: (method, path, body) => request(method, path, body),
  };

  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', ...api.headers() };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const parsed: unknown = text ? safeJson(text) : undefined;
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string; details?: ErrorDetail[] } })
        ?.error;
      if (response.status === 401) api.unauthorized();
      throw new ApiError(
        response.status,
        error?.code ?? `HTTP_${response.status}`,
        error?.message ?? (text.slice(0, 200) || response.statusText),
        Array.isArray(error?.details) ? error.details : [],
      );
    }
    return parsed as T;
  }

  return api;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
