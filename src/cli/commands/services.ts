import type { Command } from 'commander';
import type { ServiceSummary } from '../../client/index.ts';
import { type CliContext, listCommand } from '../context.ts';
import { formatTable } from '../table.ts';

export function servicesCommand(ctx: CliContext): Command {
  return listCommand(
    ctx,
    'services',
    'list services and how many of their instances are healthy',
    (client) => client.listServices(),
    renderServices,
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
