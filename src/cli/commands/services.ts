import { Command } from 'commander';
import type { ServiceSummary } from '../../client/index.ts';
import {
  action,
  addClientOptions,
  type CliContext,
  type ClientFlags,
  print,
  withClient,
} from '../context.ts';
import { formatTable } from '../table.ts';

export function servicesCommand(ctx: CliContext): Command {
  return addClientOptions(
    new Command('services').description('list services and how many of their instances are healthy'),
  ).action(
    action(ctx, async (flags: ClientFlags) => {
      const services = await withClient(ctx, flags, (client) => client.listServices());
      print(ctx, flags, { services }, () => renderServices(services));
    }),
  );
}

function renderServices(services: ServiceSummary[]): string {
  if (services.length === 0) return 'no services registered\n';
  const rows = [...services]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((service) => {
      const counts = service.instances;
      const total = counts.healthy + counts.degraded + counts.unhealthy + counts.unknown;
      return [
        service.name,
        String(total),
        String(counts.healthy),
        String(counts.degraded),
        String(counts.unhealthy),
        String(counts.unknown),
        service.tags.join(',') || '-',
      ];
    });
  return formatTable(['SERVICE', 'INSTANCES', 'HEALTHY', 'DEGRADED', 'UNHEALTHY', 'UNKNOWN', 'TAGS'], rows);
}
