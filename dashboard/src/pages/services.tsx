import { Empty, ErrorBox, HealthBadge } from '../components/bits.tsx';
import { useApp } from '../context.ts';
import { ms, num, pct } from '../format.ts';
import { usePoll } from '../hooks.ts';
import { href } from '../router.ts';
import type { Cluster, Endpoint, Instance, Policy } from '../types.ts';
import { instancesOf, serviceNames } from '../watch.ts';

export function balancerOf(policy: Policy | undefined, cluster: Cluster | undefined): string {
  return cluster?.balancer ?? policy?.loadBalancer?.kind ?? 'ewma (default)';
}

export function endpointOf(cluster: Cluster | undefined, instance: Instance): Endpoint | undefined {
  return cluster?.endpoints.find(
    (endpoint) =>
      endpoint.id === instance.id ||
      (endpoint.address === instance.address && endpoint.port === instance.port),
  );
}

export function useClusters(): { clusters: Map<string, Cluster>; error: Error | undefined } {
  const { api, authVersion } = useApp();
  const poll = usePoll<{ clusters: Cluster[] }>(api, '/api/v1/proxy/clusters', 3000, authVersion);
  const clusters = new Map((poll.data?.clusters ?? []).map((cluster) => [cluster.service, cluster]));
  return { clusters, error: poll.data ? undefined : poll.error };
}

export function ServicesPage() {
  const { mesh, history } = useApp();
  const { clusters } = useClusters();
  const names = serviceNames(mesh);
  const stats = history.samples.at(-1)?.stats.services ?? {};
  return (
    <section>
      <h1>Services</h1>
      {names.length === 0 ? <Empty>No service is registered yet.</Empty> : null}
      {names.map((name) => {
        const instances = instancesOf(mesh, name);
        const cluster = clusters.get(name);
        const figures = stats[name];
        return (
          <article class="service" key={name} data-service={name}>
            <header class="service-head">
              <h2>
                <a href={href('services', name)}>{name}</a>
              </h2>
              <span>balancer: {balancerOf(mesh.policies.get(name), cluster)}</span>
              <span>{instances.length} instances</span>
              <span>{num(figures?.rps)} req/s</span>
              <span>errors {pct(figures?.errorRate)}</span>
              <span>p99 {ms(figures?.p99Ms)}</span>
            </header>
            <InstanceTable instances={instances} cluster={cluster} />
          </article>
        );
      })}
      <ErrorBox error={history.error} title="Statistics unavailable" />
    </section>
  );
}

export function InstanceTable({
  instances,
  cluster,
}: {
  instances: Instance[];
  cluster: Cluster | undefined;
}) {
  if (instances.length === 0) return <Empty>No instance.</Empty>;
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">instance</th>
          <th scope="col">address</th>
          <th scope="col">health</th>
          <th scope="col">weight</th>
          <th scope="col">zone</th>
          <th scope="col">version</th>
          <th scope="col">breaker</th>
          <th scope="col">in rotation</th>
          <th scope="col">requests / failures</th>
        </tr>
      </thead>
      <tbody>
        {instances.map((instance) => {
          const endpoint = endpointOf(cluster, instance);
          return (
            <tr key={instance.id}>
              <td>{instance.id}</td>
              <td>
                {instance.address}:{instance.port}
              </td>
              <td>
                <HealthBadge health={instance.health} />
              </td>
              <td>{instance.weight}</td>
              <td>{instance.zone ?? '–'}</td>
              <td>{instance.version ?? '–'}</td>
              <td>
                {endpoint ? <span class={`badge breaker-${endpoint.breaker}`}>{endpoint.breaker}</span> : '–'}
              </td>
              <td>{endpoint ? (endpoint.inRotation ? 'yes' : 'no') : '–'}</td>
              <td>{endpoint ? `${endpoint.requests} / ${endpoint.failures}` : '–'}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
