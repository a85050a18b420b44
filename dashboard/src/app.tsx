/** The shell: navigation, the live mesh view, the stats history, the token prompt, and the page for the hash. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Api } from './api.ts';
import { TokenPrompt } from './components/token-prompt.tsx';
import { AppContext, type AppState } from './context.ts';
import { useStatsHistory } from './hooks.ts';
import { AlertsPage } from './pages/alerts.tsx';
import { ConfigPage } from './pages/config.tsx';
import { OverviewPage } from './pages/overview.tsx';
import { ServicePage } from './pages/service.tsx';
import { ServicesPage } from './pages/services.tsx';
import { TopologyPage } from './pages/topology.tsx';
import { TracePage } from './pages/trace.tsx';
import { TracesPage } from './pages/traces.tsx';
import { href, type Location, useLocation } from './router.ts';
import { emptyState, type MeshState, type WatchStatus, watchMesh } from './watch.ts';

const PAGES = [
  ['overview', 'Overview'],
  ['services', 'Services'],
  ['topology', 'Topology'],
  ['traces', 'Traces'],
  ['alerts', 'Alerts'],
  ['config', 'Configuration'],
] as const;

export function App({ api }: { api: Api }) {
  const location = useLocation();
  const [mesh, setMesh] = useState<MeshState>(emptyState);
  const [status, setStatus] = useState<WatchStatus>('connecting');
  const [authVersion, setAuthVersion] = useState(0);
  const [askToken, setAskToken] = useState(false);
  const history = useStatsHistory(api, authVersion);

  useEffect(() => api.onUnauthorized(() => setAskToken(true)), [api]);
  useEffect(() => {
    const watch = watchMesh(api, { onState: setMesh, onStatus: setStatus });
    return () => watch.close();
  }, [api, authVersion]);

  const state = useMemo<AppState>(
    () => ({ api, mesh, status, history, authVersion }),
    [api, mesh, status, history, authVersion],
  );
  const page = location.parts[0] ?? 'overview';

  return (
    <AppContext.Provider value={state}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Trellis</span>
        <nav aria-label="Pages">
          {PAGES.map(([id, label]) => (
            <a key={id} href={href(id)} aria-current={page === id ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <span class={`status status-${status}`} role="status" title={`watch stream: ${status}`}>
          {status === 'live' ? '● live' : status}
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        <Page location={location} />
      </main>
      {askToken ? (
        <TokenPrompt
          rejected={api.token() !== undefined}
          onSave={(token) => {
            api.setToken(token);
            setAskToken(false);
            setAuthVersion((value) => value + 1);
          }}
        />
      ) : null}
    </AppContext.Provider>
  );
}

function Page({ location }: { location: Location }) {
  const [page, id] = location.parts;
  switch (page ?? 'overview') {
    case 'overview':
      return <OverviewPage />;
    case 'services':
      return id ? <ServicePage name={id} /> : <ServicesPage />;
    case 'topology':
      return <TopologyPage />;
    case 'traces':
      return id ? <TracePage traceId={id} /> : <TracesPage query={location.query} />;
    case 'alerts':
      return <AlertsPage />;
    case 'config':
      return <ConfigPage service={location.query.get('service') ?? undefined} />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>
            There is no page <code>{page}</code>. <a href={href('overview')}>Go to the overview</a>.
          </p>
        </section>
      );
  }
}
