/** Typed calls to the control plane's native API (/api/v1). */
import type { Instance, MeshSnapshot, Route, Service, ServicePolicy } from '../core/index.ts';
import { authHeaders, errorFromResponse, normalizeBaseUrl, unavailable } from './http.ts';
import { createTransport, type Reply, type TransportFactory } from './transport.ts';
import type {
  InstanceList,
  InstanceQuery,
  MeshHealth,
  PolicyInput,
  RegistrationInput,
  RouteSpec,
  ServiceDetail,
  ServiceInput,
  ServiceSummary,
} from './types.ts';

export interface ControlClientOptions {
  /** Base URL of the control plane, e.g. http://127.0.0.1:7400. */
  url: string;
  /** Admin token, sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Per request, from sending to the last byte of the reply. Default 10 s. */
  timeoutMs?: number;
  /** How to speak HTTP to the control plane; default node:http (see transport.ts). */
  transport?: TransportFactory;
}

export interface ControlClient {
  readonly url: string;
  listServices(): Promise<ServiceSummary[]>;
  createService(service: ServiceInput): Promise<Service>;
  getService(name: string): Promise<ServiceDetail>;
  deleteService(name: string): Promise<void>;
  registerInstance(registration: RegistrationInput): Promise<Instance>;
  listInstances(query?: InstanceQuery): Promise<InstanceList>;
  getInstance(id: string): Promise<Instance>;
  deregisterInstance(id: string): Promise<void>;
  heartbeat(id: string): Promise<void>;
  /** The service's effective policy (stored, or the defaults); SERVICE_NOT_FOUND for an unknown service. */
  getPolicy(service: string): Promise<ServicePolicy>;
  /** Replaces the policy: `input` over the defaults. Creates the service if needed. */
  setPolicy(service: string, input: PolicyInput): Promise<ServicePolicy>;
  /** Merges `input` over the current policy. Creates the service if needed. */
  patchPolicy(service: string, input: PolicyInput): Promise<ServicePolicy>;
  /** Removes the stored policy; returns the defaults the service is back on. */
  resetPolicy(service: string): Promise<ServicePolicy>;
  /** Only services whose policy was set. */
  listPolicies(): Promise<ServicePolicy[]>;
  listRoutes(): Promise<Route[]>;
  getRoute(name: string): Promise<Route>;
  /** Adds a route; CONFLICT when the name is taken. */
  createRoute(route: RouteSpec): Promise<Route>;
  /** Adds or replaces the route named `name` (the body's name may be left out). */
  putRoute(name: string, route: Omit<RouteSpec, 'name'> & { name?: string }): Promise<Route>;
  deleteRoute(name: string): Promise<void>;
  health(): Promise<MeshHealth>;
  snapshot(): Promise<MeshSnapshot>;
  /** Closes the client's connections. */
  close(): Promise<void>;
}

const API = '/api/v1';

/** How long a connection to the control plane is kept idle for reuse: under Node's default 5 s server keep-alive. */
export const CONTROL_KEEP_ALIVE_MS = 4_000;

export function createControlClient(options: ControlClientOptions): ControlClient {
  const baseUrl = normalizeBaseUrl(options.url);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const transport = (options.transport ?? createTransport)(baseUrl, { keepAliveMs: CONTROL_KEEP_ALIVE_MS });
  const jsonHeaders = { accept: 'application/json', ...authHeaders(options.token) };
  const jsonBodyHeaders = { ...jsonHeaders, 'content-type': 'application/json' };

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${baseUrl}${path}`;
    let reply: Reply;
    try {
      reply = await transport.exchange(url, {
        method,
        headers: body === undefined ? jsonHeaders : jsonBodyHeaders,
        body: body === undefined ? undefined : JSON.stringify(body),
        timeoutMs,
      });
    } catch (error) {
      throw unavailable(baseUrl, error);
    }
    if (reply.status < 200 || reply.status > 299) throw errorFromResponse(reply, method, url);
    return (reply.text === '' ? undefined : JSON.parse(reply.text)) as T;
  }

  const segment = encodeURIComponent;

  return {
    url: baseUrl,
    async listServices() {
      return (await call<{ services: ServiceSummary[] }>('GET', `${API}/services`)).services;
    },
    createService: (service) => call('POST', `${API}/services`, service),
    getService: (name) => call('GET', `${API}/services/${segment(name)}`),
    async deleteService(name) {
      await call('DELETE', `${API}/services/${segment(name)}`);
    },
    registerInstance: (registration) => call('POST', `${API}/instances`, registration),
    listInstances(query = {}) {
      const params = new URLSearchParams();
      if (query.service !== undefined) params.set('service', query.service);
      if (query.health !== undefined) {
        params.set('health', Array.isArray(query.health) ? query.health.join(',') : query.health);
      }
      const search = params.size > 0 ? `?${params}` : '';
      return call('GET', `${API}/instances${search}`);
    },
    getInstance: (id) => call('GET', `${API}/instances/${segment(id)}`),
    async deregisterInstance(id) {
      await call('DELETE', `${API}/instances/${segment(id)}`);
    },
    async heartbeat(id) {
      await call('PUT', `${API}/instances/${segment(id)}/heartbeat`);
    },
    getPolicy: (service) => call('GET', `${API}/services/${segment(service)}/policy`),
    setPolicy: (service, input) => call('PUT', `${API}/services/${segment(service)}/policy`, input),
    patchPolicy: (service, input) => call('PATCH', `${API}/services/${segment(service)}/policy`, input),
    resetPolicy: (service) => call('DELETE', `${API}/services/${segment(service)}/policy`),
    async listPolicies() {
      return (await call<{ policies: ServicePolicy[] }>('GET', `${API}/policies`)).policies;
    },
    async listRoutes() {
      return (await call<{ routes: Route[] }>('GET', `${API}/routes`)).routes;
    },
    getRoute: (name) => call('GET', `${API}/routes/${segment(name)}`),
    createRoute: (route) => call('POST', `${API}/routes`, route),
    putRoute: (name, route) => call('PUT', `${API}/routes/${segment(name)}`, route),
    async deleteRoute(name) {
      await call('DELETE', `${API}/routes/${segment(name)}`);
    },
    health: () => call('GET', `${API}/health`),
    snapshot: () => call('GET', `${API}/snapshot`),
    close: () => transport.close(),
  };
}
