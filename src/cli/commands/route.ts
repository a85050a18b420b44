import { Command } from 'commander';
import type { RouteSpec } from '../../client/index.ts';
import {
  action,
  addClientOptions,
  type CliContext,
  type ClientFlags,
  print,
  withClient,
} from '../context.ts';

interface RouteAddFlags extends ClientFlags {
  service?: string;
  prefix?: string;
  exact?: string;
  regex?: string;
  host?: string[];
  method?: string[];
  header?: string[];
  stripPrefix?: boolean;
  rewriteHost?: string;
  priority?: number | string;
}

export function routeCommand(ctx: CliContext): Command {
  const add = new Command('add')
    .description('add a gateway route to a service')
    .argument('<name>', 'route name')
    .requiredOption('--service <service>', 'the service requests go to')
    .option('--prefix <path>', 'match paths starting with this, e.g. /api')
    .option('--exact <path>', 'match exactly this path')
    .option('--regex <pattern>', 'match paths against this regular expression')
    .option('--host <host>', 'match this Host (or *.example.com); repeat for several', collect)
    .option('--method <method>', 'match this method; repeat for several', collect)
    .option(
      '--header <name[=value]>',
      'match a header (present, or with this value); repeat for several',
      collect,
    )
    .option('--strip-prefix', 'remove the matched prefix before forwarding')
    .option('--rewrite-host <host>', 'send this Host header upstream')
    .option('--priority <n>', 'routes with a higher priority are tried first (default 0)', numberish);
  addClientOptions(add).action(
    action(ctx, async (name: string, flags: RouteAddFlags) => {
      const body = routeBody(name, flags);
      const { routeInput, validate } = await import('../../config/index.ts');
      validate(routeInput, body, { what: 'route' });
      const route = await withClient(ctx, flags, (client) => client.createRoute(body));
      print(ctx, flags, route, () => `added route ${route.name} → ${route.service}\n`);
    }),
  );

  const remove = new Command('rm')
    .alias('remove')
    .description('remove a gateway route')
    .argument('<name>', 'route name');
  addClientOptions(remove).action(
    action(ctx, async (name: string, flags: ClientFlags) => {
      await withClient(ctx, flags, (client) => client.deleteRoute(name));
      print(ctx, flags, { name, deleted: true }, () => `removed route ${name}\n`);
    }),
  );

  const command = new Command('route').description('add or remove gateway routes (list them with `routes`)');
  for (const sub of [add, remove]) {
    sub
      .configureOutput({ writeOut: ctx.stdout, writeErr: ctx.stderr })
      .showHelpAfterError(`(run "trellis route ${sub.name()} --help" for usage)`);
    command.addCommand(sub);
  }
  return command;
}

/** The POST /api/v1/routes body, as the user wrote it. */
export function routeBody(name: string, flags: RouteAddFlags): RouteSpec {
  const match: Record<string, unknown> = {};
  const paths: Record<string, string> = {};
  if (flags.exact !== undefined) paths.exact = flags.exact;
  if (flags.prefix !== undefined) paths.prefix = flags.prefix;
  if (flags.regex !== undefined) paths.regex = flags.regex;
  // Several path flags are passed on together, for the schema to say that only one is allowed.
  if (Object.keys(paths).length > 0) match.path = paths;
  if (flags.host) match.hosts = flags.host;
  if (flags.method) match.methods = flags.method;
  if (flags.header) {
    match.headers = flags.header.map((header) => {
      const equals = header.indexOf('=');
      return equals === -1
        ? { name: header, present: true }
        : { name: header.slice(0, equals), exact: header.slice(equals + 1) };
    });
  }
  const body: Record<string, unknown> = { name, service: flags.service, match };
  if (flags.stripPrefix) body.stripPrefix = true;
  if (flags.rewriteHost !== undefined) body.rewriteHost = flags.rewriteHost;
  if (flags.priority !== undefined) body.priority = flags.priority;
  return body as RouteSpec;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Digits become a number; anything else stays a string so the schema names the field in its error. */
function numberish(value: string): number | string {
  return /^-?\d+$/.test(value.trim()) ? Number(value) : value;
}
