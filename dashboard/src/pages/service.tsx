import { Empty, ErrorBox } from '../components/bits.tsx';
import { Chart } from '../components/chart.tsx';
import { useApp } from '../context.ts';
import { errorColour, ms, num, pct } from '../format.ts';
import { usePoll } from '../hooks.ts';
import { href } from '../router.ts';
import type { Figures, Topology } from '../types.ts';
import { instancesOf } from '../watch.ts';
import { figureSeries } from './series.ts';
import { balancerOf, InstanceTable, useClusters } from './services.tsx';

export function ServicePage({ name }: { name: string }) {
  const { api, mesh, history, authVersion } = useApp();
  const { clusters } = useClusters();
  const topology = usePoll<Topology>(api, '/api/v1/topology?window=5m', 5000, authVersion);
  const series = figureSeries(history.samples, name);
  const edges = topology.data?.edges ?? [];
  const callers = edges.filter((edge) => edge.target === name);
  const callees = edges.filter((edge) => edge.source === name);
  const policy = mesh.policies.get(name);
  const figures = history.samples.at(-1)?.stats.services[name];

  return (
    <section>
      <p class="crumbs">
        <a href={href('services')}>Services</a> / {name}
      </p>
      <h1>{name}</h1>
      <p class="facts">
        balancer: <strong>{balancerOf(policy, clusters.get(name))}</strong> · {num(figures?.rps)} req/s ·
        errors {pct(figures?.errorRate)} · p99 {ms(figures?.p99Ms)} ·{' '}
        <a href={`#/config?service=${encodeURIComponent(name)}`}>Edit policy</a> ·{' '}
        <a href={`#/traces?service=${encodeURIComponent(name)}`}>Traces</a>
      </p>
      <div class="charts">
        <Chart
          title={`${name}: requests/s and error rate (%)`}
          data={series.traffic}
          series={[
            { label: 'requests/s', colour: '#2b6cb0', format: (value) => num(value) },
            { label: 'error %', colour: '#d33', format: (value) => num(value) },
          ]}
        />
        <Chart
          title={`${name}: latency (ms)`}
          data={series.latency}
          series={[
            { label: 'p50', colour: '#2a8a4a', format: ms },
            { label: 'p95', colour: '#e89b00', format: ms },
            { label: 'p99', colour: '#d33', format: ms },
          ]}
        />
      </div>
      <h2>Instances</h2>
      <InstanceTable instances={instancesOf(mesh, name)} cluster={clusters.get(name)} />
      <div class="two-columns">
        <div>
          <h2>Callers</h2>
          <EdgeTable edges={callers} peer="source" />
        </div>
        <div>
          <h2>Callees</h2>
          <EdgeTable edges={callees} peer="target" />
        </div>
      </div>
      <ErrorBox error={topology.data ? undefined : topology.error} title="Topology unavailable" />
      <h2>Policy</h2>
      <pre class="json">
        {policy ? JSON.stringify(policy, null, 2) : 'No stored policy: the defaults apply.'}
      </pre>
    </section>
  );
}

type Edge = { source: string; target: string } & Figures;

function EdgeTable({ edges, peer }: { edges: Edge[]; peer: 'source' | 'target' }) {
  if (edges.length === 0) return <Empty>None in the last 5 minutes.</Empty>;
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">service</th>
          <th scope="col">req/s</th>
          <th scope="col">requests</th>
          <th scope="col">errors</th>
          <th scope="col">p99</th>
        </tr>
      </thead>
      <tbody>
        {edges.map((edge) => (
          <tr key={`${edge.source}>${edge.target}`}>
            <td>
              <a href={href('services', edge[peer])}>{edge[peer]}</a>
            </td>
            <td>{num(edge.rps, 2)}</td>
            <td>{edge.requests}</td>
            <td style={{ color: errorColour(edge.errorRate) }}>{pct(edge.errorRate)}</td>
            <td>{ms(edge.p99Ms)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
