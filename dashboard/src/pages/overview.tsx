import { Card, Empty, ErrorBox } from '../components/bits.tsx';
import { Chart } from '../components/chart.tsx';
import { useApp } from '../context.ts';
import { ms, num, pct } from '../format.ts';
import { usePoll } from '../hooks.ts';
import type { Alert, Health } from '../types.ts';
import { serviceNames } from '../watch.ts';
import { AlertTable } from './alerts.tsx';
import { figureSeries } from './series.ts';

const HEALTHS: Health[] = ['healthy', 'degraded', 'unhealthy', 'unknown'];

export function OverviewPage() {
  const { api, mesh, history, authVersion } = useApp();
  const alerts = usePoll<{ alerts: Alert[] }>(api, '/api/v1/alerts?state=firing', 5000, authVersion);
  const counts: Record<Health, number> = { healthy: 0, degraded: 0, unhealthy: 0, unknown: 0 };
  for (const instance of mesh.instances.values()) counts[instance.health] += 1;
  const latest = history.samples.at(-1)?.stats.mesh;
  const series = figureSeries(history.samples);
  const firing = alerts.data?.alerts ?? [];

  return (
    <section>
      <h1>Overview</h1>
      <div class="cards">
        <Card label="services" value={serviceNames(mesh).length} />
        {HEALTHS.map((health) => (
          <Card key={health} label={`${health} instances`} value={counts[health]} tone={`tone-${health}`} />
        ))}
        <Card label="requests/s (30 s)" value={num(latest?.rps)} />
        <Card
          label="error rate"
          value={pct(latest?.errorRate)}
          tone={latest?.errorRate ? 'tone-unhealthy' : ''}
        />
        <Card label="p99" value={ms(latest?.p99Ms)} />
        <Card label="firing alerts" value={firing.length} tone={firing.length ? 'tone-unhealthy' : ''} />
      </div>
      <ErrorBox error={history.error} title="Statistics unavailable" />
      <div class="charts">
        <Chart
          title="Mesh requests/s and error rate (%)"
          data={series.traffic}
          series={[
            { label: 'requests/s', colour: '#2b6cb0', format: (value) => num(value) },
            { label: 'error %', colour: '#d33', format: (value) => num(value) },
          ]}
        />
        <Chart
          title="Mesh latency (ms)"
          data={series.latency}
          series={[
            { label: 'p50', colour: '#2a8a4a', format: ms },
            { label: 'p95', colour: '#e89b00', format: ms },
            { label: 'p99', colour: '#d33', format: ms },
          ]}
        />
      </div>
      <h2>Firing alerts</h2>
      {alerts.error && !alerts.data ? (
        <ErrorBox error={alerts.error} title="Alerts unavailable" />
      ) : firing.length === 0 ? (
        <Empty>No alert is firing.</Empty>
      ) : (
        <AlertTable alerts={firing} />
      )}
    </section>
  );
}
