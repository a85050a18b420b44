import { useMemo, useState } from 'preact/hooks';
import { Empty, ErrorBox } from '../components/bits.tsx';
import { useApp } from '../context.ts';
import { dateTime, ms } from '../format.ts';
import { usePoll } from '../hooks.ts';
import { href, navigate } from '../router.ts';
import type { TraceSummary } from '../types.ts';
import { serviceNames } from '../watch.ts';

const SINCE: [string, string, number][] = [
  ['5m', 'last 5 minutes', 5 * 60_000],
  ['15m', 'last 15 minutes', 15 * 60_000],
  ['1h', 'last hour', 60 * 60_000],
  ['6h', 'last 6 hours', 6 * 60 * 60_000],
  ['all', 'any time', 0],
];

interface Search {
  service: string;
  status: string;
  minDuration: string;
  since: string;
}

function searchOf(query: URLSearchParams): Search {
  return {
    service: query.get('service') ?? '',
    status: query.get('status') ?? '',
    minDuration: query.get('minDuration') ?? '',
    since: query.get('since') ?? '1h',
  };
}

export function TracesPage({ query }: { query: URLSearchParams }) {
  const { api, mesh, authVersion } = useApp();
  const search = searchOf(query);
  const [form, setForm] = useState<Search>(search);
  const queryText = query.toString();
  const path = useMemo(() => {
    const params = new URLSearchParams({ limit: '50' });
    if (search.service) params.set('service', search.service);
    if (search.status) params.set('status', search.status);
    if (search.minDuration) params.set('minDuration', search.minDuration);
    const span = SINCE.find(([id]) => id === search.since)?.[2] ?? 0;
    if (span > 0) params.set('start', String(Date.now() - span));
    return `/api/v1/traces?${params}`;
  }, [queryText]);
  const results = usePoll<{ traces: TraceSummary[]; total: number }>(api, path, 0, authVersion);
  const field = (name: keyof Search) => (event: Event) =>
    setForm({ ...form, [name]: (event.target as HTMLInputElement).value });

  return (
    <section>
      <h1>Traces</h1>
      <form
        class="search"
        onSubmit={(event) => {
          event.preventDefault();
          const params = new URLSearchParams();
          for (const [name, value] of Object.entries(form)) if (value) params.set(name, value);
          params.set('t', String(Date.now()));
          navigate(`#/traces?${params}`);
        }}
      >
        <label>
          Service
          <input name="service" list="service-names" value={form.service} onInput={field('service')} />
          <datalist id="service-names">
            {serviceNames(mesh).map((name) => (
              <option key={name} value={name} />
            ))}
          </datalist>
        </label>
        <label>
          Status
          <select name="status" value={form.status} onChange={field('status')}>
            <option value="">any</option>
            <option value="error">error</option>
            <option value="ok">ok</option>
          </select>
        </label>
        <label>
          Min duration
          <input
            name="minDuration"
            placeholder="e.g. 250ms"
            value={form.minDuration}
            onInput={field('minDuration')}
          />
        </label>
        <label>
          Started
          <select name="since" value={form.since} onChange={field('since')}>
            {SINCE.map(([id, label]) => (
              <option key={id} value={id}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Search</button>
      </form>
      <ErrorBox error={results.error} title="Search failed" />
      {results.data ? (
        <p>
          {results.data.total} matching trace{results.data.total === 1 ? '' : 's'}
          {results.data.total > results.data.traces.length
            ? `, the newest ${results.data.traces.length} shown`
            : ''}
          .
        </p>
      ) : null}
      {results.data && results.data.traces.length === 0 ? <Empty>No trace matches.</Empty> : null}
      {results.data && results.data.traces.length > 0 ? (
        <table class="traces">
          <thead>
            <tr>
              <th scope="col">trace</th>
              <th scope="col">root</th>
              <th scope="col">started</th>
              <th scope="col">duration</th>
              <th scope="col">spans</th>
              <th scope="col">services</th>
              <th scope="col">status</th>
            </tr>
          </thead>
          <tbody>
            {results.data.traces.map((trace) => (
              <tr key={trace.traceId} data-trace={trace.traceId}>
                <td>
                  <a href={href('traces', trace.traceId)}>
                    <code>{trace.traceId.slice(0, 16)}…</code>
                  </a>
                </td>
                <td>
                  {trace.rootService}: {trace.rootOperation}
                </td>
                <td>{dateTime(trace.startTime)}</td>
                <td>{ms(trace.durationMs)}</td>
                <td>{trace.spanCount}</td>
                <td>{trace.services.join(', ')}</td>
                <td>{trace.error ? <span class="badge health-unhealthy">error</span> : 'ok'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
