import { Empty, ErrorBox } from '../components/bits.tsx';
import { useApp } from '../context.ts';
import { ms, num, time } from '../format.ts';
import { usePoll } from '../hooks.ts';
import { href } from '../router.ts';
import type { Alert, AlertRule } from '../types.ts';

export function AlertsPage() {
  const { api, authVersion } = useApp();
  const alerts = usePoll<{ alerts: Alert[]; evaluatedAt?: number }>(api, '/api/v1/alerts', 3000, authVersion);
  const rules = usePoll<{ rules: AlertRule[] }>(api, '/api/v1/alerts/rules', 5000, authVersion);
  const all = alerts.data?.alerts ?? [];
  const active = all.filter((alert) => alert.state !== 'resolved');
  const resolved = all.filter((alert) => alert.state === 'resolved');

  return (
    <section>
      <h1>Alerts</h1>
      {alerts.data?.evaluatedAt ? <p>Last evaluated at {time(alerts.data.evaluatedAt)}.</p> : null}
      <ErrorBox error={alerts.error} title="Alerts unavailable" />
      <h2>Firing and pending</h2>
      {alerts.data && active.length === 0 ? <Empty>No alert is firing or pending.</Empty> : null}
      {active.length > 0 ? <AlertTable alerts={active} /> : null}
      <h2>Resolved</h2>
      {alerts.data && resolved.length === 0 ? <Empty>No resolved alert.</Empty> : null}
      {resolved.length > 0 ? <AlertTable alerts={resolved} /> : null}
      <h2>Rules</h2>
      <ErrorBox error={rules.error} title="Rules unavailable" />
      {rules.data && rules.data.rules.length === 0 ? (
        <Empty>
          No rule. Add one with <code>PUT /api/v1/alerts/rules/:name</code> or <code>alerts.rules</code> in
          trellis.yaml.
        </Empty>
      ) : null}
      {rules.data && rules.data.rules.length > 0 ? (
        <table class="rules">
          <thead>
            <tr>
              <th scope="col">rule</th>
              <th scope="col">condition</th>
              <th scope="col">service</th>
              <th scope="col">for</th>
              <th scope="col">window</th>
              <th scope="col">severity</th>
              <th scope="col">description</th>
            </tr>
          </thead>
          <tbody>
            {rules.data.rules.map((rule) => (
              <tr key={rule.name} data-rule={rule.name}>
                <td>{rule.name}</td>
                <td>
                  <code>
                    {rule.metric} {rule.op} {rule.threshold}
                  </code>
                </td>
                <td>{rule.service ? <a href={href('services', rule.service)}>{rule.service}</a> : 'mesh'}</td>
                <td>{ms(rule.forMs)}</td>
                <td>{rule.windowMs ? ms(rule.windowMs) : '–'}</td>
                <td>
                  <span class={`badge severity-${rule.severity}`}>{rule.severity}</span>
                </td>
                <td>{rule.description ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

export function AlertTable({ alerts }: { alerts: Alert[] }) {
  return (
    <table class="alerts">
      <thead>
        <tr>
          <th scope="col">state</th>
          <th scope="col">rule</th>
          <th scope="col">service</th>
          <th scope="col">condition</th>
          <th scope="col">value</th>
          <th scope="col">severity</th>
          <th scope="col">since</th>
          <th scope="col">resolved</th>
        </tr>
      </thead>
      <tbody>
        {alerts.map((alert) => (
          <tr key={alert.id} data-alert={alert.rule} data-state={alert.state}>
            <td>
              <span class={`badge alert-${alert.state}`}>{alert.state}</span>
            </td>
            <td>{alert.rule}</td>
            <td>{alert.service ? <a href={href('services', alert.service)}>{alert.service}</a> : 'mesh'}</td>
            <td>
              <code>
                {alert.metric} {alert.op} {alert.threshold}
              </code>
            </td>
            <td>{num(alert.value, 3)}</td>
            <td>{alert.severity}</td>
            <td>{time(alert.firedAt ?? alert.activeAt)}</td>
            <td>{alert.resolvedAt ? `${time(alert.resolvedAt)} (${alert.resolution ?? ''})` : '–'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
