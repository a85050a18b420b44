import { Command } from 'commander';
import { formatDuration, type HealthCheck, type Instance } from '../../core/index.ts';
import {
  action,
  addClientOptions,
  type CliContext,
  type ClientFlags,
  print,
  withClient,
} from '../context.ts';
import { formatTable } from '../table.ts';

export function instancesCommand(ctx: CliContext): Command {
  return addClientOptions(
    new Command('instances').description("list a service's instances and their health").argument('<service>'),
  ).action(
    action(ctx, async (service: string, flags: ClientFlags) => {
      const detail = await withClient(ctx, flags, (client) => client.getService(service));
      print(ctx, flags, detail, () => renderInstances(service, detail.instances));
    }),
  );
}

function renderInstances(service: string, instances: Instance[]): string {
  if (instances.length === 0) return `no instances of ${service}\n`;
  const rows = [...instances]
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((instance) => [
      instance.id,
      hostPort(instance.address, instance.port),
      instance.health,
      String(instance.weight),
      instance.zone ?? '-',
      instance.version ?? '-',
      describeCheck(instance.check),
      instance.tags.join(',') || '-',
    ]);
  return formatTable(['ID', 'ADDRESS', 'HEALTH', 'WEIGHT', 'ZONE', 'VERSION', 'CHECK', 'TAGS'], rows);
}

function describeCheck(check: HealthCheck | undefined): string {
  if (!check) return '-';
  const every = `every ${formatDuration(check.intervalMs)}`;
  switch (check.type) {
    case 'http':
      return `http ${check.url} ${every}`;
    case 'tcp':
      return `tcp ${hostPort(check.address, check.port)} ${every}`;
    case 'ttl':
      return `ttl ${formatDuration(check.ttlMs)}`;
  }
}

function hostPort(address: string, port: number): string {
  return `${address.includes(':') ? `[${address}]` : address}:${port}`;
}
