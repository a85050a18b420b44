import { Command } from 'commander';
import type { HealthCounts, MeshHealth } from '../../client/index.ts';
import {
  action,
  addClientOptions,
  type CliContext,
  type ClientFlags,
  print,
  withClient,
} from '../context.ts';
import { formatTable } from '../table.ts';

export function healthCommand(ctx: CliContext): Command {
  return addClientOptions(new Command('health').description("show the mesh's health, per service")).action(
    action(ctx, async (flags: ClientFlags) => {
      const health = await withClient(ctx, flags, (client) => client.health());
      print(ctx, flags, health, () => renderHealth(health));
    }),
  );
}

function renderHealth(health: MeshHealth): string {
  const store = `${health.store.kind}, ${health.store.connected ? 'connected' : 'NOT CONNECTED'}`;
  let text = `mesh: ${health.status} (store ${store}; revision ${health.revision})\n`;
  text += `instances: ${summary(health.instances)}\n`;
  const names = Object.keys(health.services).sort();
  if (names.length === 0) return text;
  const rows = names.map((name) => {
    const counts = health.services[name]!;
    const cells = [counts.total, counts.healthy, counts.degraded, counts.unhealthy, counts.unknown].map(
      String,
    );
    return [name, ...cells];
  });
  return `${text}\n${formatTable(['SERVICE', 'TOTAL', 'HEALTHY', 'DEGRADED', 'UNHEALTHY', 'UNKNOWN'], rows)}`;
}

function summary(counts: HealthCounts): string {
  return `${counts.total} total, ${counts.healthy} healthy, ${counts.degraded} degraded, ${counts.unhealthy} unhealthy, ${counts.unknown} unknown`;
}
