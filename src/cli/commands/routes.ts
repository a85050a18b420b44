import type { Command } from 'commander';
import type { PathMatch, Route } from '../../core/index.ts';
import { type CliContext, listCommand } from '../context.ts';
import { formatTable } from '../table.ts';

export function routesCommand(ctx: CliContext): Command {
  return listCommand(
    ctx,
    'routes',
    "list the gateway's routes, highest priority first",
    (client) => client.listRoutes(),
    renderRoutes,
  );
}

export function renderRoutes(routes: Route[]): string {
  if (routes.length === 0) return 'no routes\n';
  const rows = routes.map((route) => [
    route.name,
    String(route.priority),
    route.match.hosts?.join(',') ?? '*',
    route.match.methods?.join(',') ?? '*',
    describePath(route.match.path),
    route.service,
    describeOptions(route),
  ]);
  return formatTable(['NAME', 'PRIORITY', 'HOSTS', 'METHODS', 'PATH', 'SERVICE', 'OPTIONS'], rows);
}

function describePath(path: PathMatch | undefined): string {
  if (!path) return '*';
  if ('exact' in path) return `= ${path.exact}`;
  if ('prefix' in path) return `${path.prefix}*`;
  return `~ ${path.regex}`;
}

function describeOptions(route: Route): string {
  const options: string[] = [];
  for (const header of route.match.headers ?? []) {
    if (header.exact !== undefined) options.push(`header ${header.name}=${header.exact}`);
    else if (header.regex !== undefined) options.push(`header ${header.name}~${header.regex}`);
    else options.push(header.present === false ? `no header ${header.name}` : `header ${header.name}`);
  }
  if (route.stripPrefix) options.push('strip-prefix');
  if (route.rewriteHost) options.push(`host=${route.rewriteHost}`);
  if (route.timeout) options.push('timeout override');
  if (route.retry) options.push('retry override');
  return options.join(', ') || '-';
}
