/**
 * Routes and service policies, edited as forms or JSON and saved through the API, which validates:
 * a refused edit shows the API's error with its field paths, and what is stored stays as it was.
 */
import { useEffect, useState } from 'preact/hooks';
import { ErrorBox } from '../components/bits.tsx';
import { useApp } from '../context.ts';
import { usePoll } from '../hooks.ts';
import { navigate } from '../router.ts';
import type { Policy, Route } from '../types.ts';
import { serviceNames } from '../watch.ts';

const BALANCERS = ['ewma', 'round-robin', 'least-connections', 'weighted', 'random', 'ip-hash'];

export function ConfigPage({ service }: { service: string | undefined }) {
  const { mesh } = useApp();
  const names = serviceNames(mesh);
  const selected = service ?? names[0];
  return (
    <section>
      <h1>Configuration</h1>
      <h2>Service policy</h2>
      <label class="inline">
        Service{' '}
        <select
          name="policy-service"
          value={selected ?? ''}
          onChange={(event) =>
            navigate(`#/config?service=${encodeURIComponent((event.target as HTMLSelectElement).value)}`)
          }
        >
          {selected && !names.includes(selected) ? <option value={selected}>{selected}</option> : null}
          {names.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </label>
      {selected ? <PolicyEditor key={selected} service={selected} /> : <p>No service yet.</p>}
      <h2>Gateway routes</h2>
      <RoutesEditor />
    </section>
  );
}

interface PolicyForm {
  balancer: string;
  maxAttempts: string;
  perTryTimeout: string;
  requestTimeout: string;
  breakerEnabled: boolean;
  consecutiveFailures: string;
}

function formOf(policy: Policy): PolicyForm {
  const retry = policy.retry as { maxAttempts: number; perTryTimeoutMs: number };
  const timeout = policy.timeout as { requestMs: number };
  const breaker = policy.circuitBreaker as { enabled: boolean; consecutiveFailures: number };
  return {
    balancer: policy.loadBalancer.kind,
    maxAttempts: String(retry.maxAttempts),
    perTryTimeout: String(retry.perTryTimeoutMs),
    requestTimeout: String(timeout.requestMs),
    breakerEnabled: breaker.enabled,
    consecutiveFailures: String(breaker.consecutiveFailures),
  };
}

/** A number when the text is one; otherwise the text itself, for the API to accept (a duration) or refuse. */
function value(text: string): string | number {
  return /^-?\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : text.trim();
}

function PolicyEditor({ service }: { service: string }) {
  const { api, authVersion } = useApp();
  const path = `/api/v1/services/${encodeURIComponent(service)}/policy`;
  const current = usePoll<Policy>(api, path, 0, authVersion);
  const [form, setForm] = useState<PolicyForm>();
  const [json, setJson] = useState('');
  const [error, setError] = useState<Error>();
  const [saved, setSaved] = useState('');

  useEffect(() => {
    if (!current.data) return;
    setForm(formOf(current.data));
    setJson(JSON.stringify(current.data, null, 2));
  }, [current.data]);

  async function save(method: 'PATCH' | 'PUT', body: unknown, what: string) {
    setSaved('');
    try {
      // The answer is the stored policy; a refused edit leaves the user's input in place to correct.
      const stored = await api.send<Policy>(method, path, body);
      setForm(formOf(stored));
      setJson(JSON.stringify(stored, null, 2));
      setError(undefined);
      setSaved(`${what} saved.`);
    } catch (failure) {
      setError(failure as Error);
    }
  }

  if (!form) return <ErrorBox error={current.error} title="Policy unavailable" />;
  const text = (name: keyof PolicyForm) => (event: Event) =>
    setForm({ ...form, [name]: (event.target as HTMLInputElement).value });

  return (
    <div class="editor" data-policy={service}>
      <ErrorBox error={error} title="The change was refused; nothing was changed" />
      {saved ? (
        <p class="saved" role="status">
          {saved}
        </p>
      ) : null}
      <form
        class="policy-form"
        aria-label={`Policy of ${service}`}
        onSubmit={(event) => {
          event.preventDefault();
          void save(
            'PATCH',
            {
              loadBalancer: { kind: form.balancer },
              retry: { maxAttempts: value(form.maxAttempts), perTryTimeoutMs: value(form.perTryTimeout) },
              timeout: { requestMs: value(form.requestTimeout) },
              circuitBreaker: {
                enabled: form.breakerEnabled,
                consecutiveFailures: value(form.consecutiveFailures),
              },
            },
            'Policy',
          );
        }}
      >
        <label>
          Balancer
          <select name="balancer" value={form.balancer} onChange={text('balancer')}>
            {BALANCERS.map((kind) => (
              <option key={kind} value={kind}>
                {kind}
              </option>
            ))}
          </select>
        </label>
        <label>
          Max attempts
          <input
            name="maxAttempts"
            inputMode="numeric"
            value={form.maxAttempts}
            onInput={text('maxAttempts')}
          />
        </label>
        <label>
          Per-try timeout (ms or 2s)
          <input name="perTryTimeout" value={form.perTryTimeout} onInput={text('perTryTimeout')} />
        </label>
        <label>
          Request timeout (ms or 15s)
          <input name="requestTimeout" value={form.requestTimeout} onInput={text('requestTimeout')} />
        </label>
        <label class="check">
          <input
            type="checkbox"
            name="breakerEnabled"
            checked={form.breakerEnabled}
            onChange={(event) =>
              setForm({ ...form, breakerEnabled: (event.target as HTMLInputElement).checked })
            }
          />
          Circuit breaker enabled
        </label>
        <label>
          Breaker: consecutive failures
          <input
            name="consecutiveFailures"
            inputMode="numeric"
            value={form.consecutiveFailures}
            onInput={text('consecutiveFailures')}
          />
        </label>
        <div class="actions">
          <button type="submit">Save policy</button>
        </div>
      </form>
      <form
        class="json-form"
        onSubmit={(event) => {
          event.preventDefault();
          let body: unknown;
          try {
            body = JSON.parse(json);
          } catch (failure) {
            setError(new Error(`not valid JSON: ${(failure as Error).message}`));
            return;
          }
          void save('PUT', body, 'Policy (JSON)');
        }}
      >
        <label for={`policy-json-${service}`}>
          Whole policy as JSON (replaces it; missing fields take the defaults)
        </label>
        <textarea
          id={`policy-json-${service}`}
          name="policyJson"
          rows={14}
          spellcheck={false}
          value={json}
          onInput={(event) => setJson((event.target as HTMLTextAreaElement).value)}
        />
        <div class="actions">
          <button type="submit">Save JSON</button>
        </div>
      </form>
    </div>
  );
}

const NEW_ROUTE = {
  name: 'new-route',
  service: 'service-name',
  priority: 0,
  match: { path: { prefix: '/new' } },
  stripPrefix: true,
};

function RoutesEditor() {
  const { api, mesh } = useApp();
  const routes = [...mesh.routes.values()].sort(
    (a, b) => (b.priority ?? 0) - (a.priority ?? 0) || a.name.localeCompare(b.name),
  );
  const [editing, setEditing] = useState<string>();
  const [json, setJson] = useState('');
  const [error, setError] = useState<Error>();
  const [saved, setSaved] = useState('');

  const edit = (route: Route | typeof NEW_ROUTE, name: string) => {
    const { createdAt: _createdAt, ...body } = route as Route;
    setEditing(name);
    setJson(JSON.stringify(body, null, 2));
    setError(undefined);
    setSaved('');
  };

  async function save() {
    setSaved('');
    let body: Route;
    try {
      body = JSON.parse(json) as Route;
    } catch (failure) {
      setError(new Error(`not valid JSON: ${(failure as Error).message}`));
      return;
    }
    const name = typeof body?.name === 'string' && body.name ? body.name : editing;
    try {
      await api.send('PUT', `/api/v1/routes/${encodeURIComponent(name ?? '')}`, body);
      setError(undefined);
      setSaved(`Route ${name} saved.`);
      setEditing(name);
    } catch (failure) {
      setError(failure as Error);
    }
  }

  async function remove(name: string) {
    setSaved('');
    try {
      await api.send('DELETE', `/api/v1/routes/${encodeURIComponent(name)}`);
      setError(undefined);
      setSaved(`Route ${name} deleted.`);
      if (editing === name) setEditing(undefined);
    } catch (failure) {
      setError(failure as Error);
    }
  }

  return (
    <div class="editor">
      <table class="routes">
        <thead>
          <tr>
            <th scope="col">route</th>
            <th scope="col">service</th>
            <th scope="col">priority</th>
            <th scope="col">match</th>
            <th scope="col">
              <span class="visually-hidden">actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {routes.map((route) => (
            <tr key={route.name} data-route={route.name}>
              <td>{route.name}</td>
              <td>{route.service}</td>
              <td>{route.priority}</td>
              <td>
                <code>{JSON.stringify(route.match ?? {})}</code>
              </td>
              <td class="actions">
                <button type="button" onClick={() => edit(route, route.name)}>
                  Edit {route.name}
                </button>
                <button type="button" class="danger" onClick={() => void remove(route.name)}>
                  Delete {route.name}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p>
        <button type="button" onClick={() => edit(NEW_ROUTE, '')}>
          New route
        </button>
      </p>
      <ErrorBox error={error} title="The change was refused; nothing was changed" />
      {saved ? (
        <p class="saved" role="status">
          {saved}
        </p>
      ) : null}
      {editing !== undefined ? (
        <form
          class="json-form"
          onSubmit={(event) => {
            event.preventDefault();
            void save();
          }}
        >
          <label for="route-json">{editing ? `Route ${editing} as JSON` : 'New route as JSON'}</label>
          <textarea
            id="route-json"
            name="routeJson"
            rows={12}
            spellcheck={false}
            value={json}
            onInput={(event) => setJson((event.target as HTMLTextAreaElement).value)}
          />
          <div class="actions">
            <button type="submit">Save route</button>
            <button type="button" onClick={() => setEditing(undefined)}>
              Cancel
            </button>
          </div>
        </form>
      ) : null}
    </div>
  );
}
