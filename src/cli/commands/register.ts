import { Command, InvalidArgumentError } from 'commander';
import type { RegistrationInput } from '../../client/index.ts';
import { MeshError } from '../../core/index.ts';
import {
  action,
  addClientOptions,
  type CliContext,
  type ClientFlags,
  print,
  withClient,
} from '../context.ts';

interface RegisterFlags extends ClientFlags {
  id?: string;
  check?: string;
  tcp?: boolean;
  ttl?: string;
  interval?: string;
  timeout?: string;
  deregisterAfter?: string;
  tag?: string[];
  meta?: Record<string, string>;
  weight?: number | string;
  zone?: string;
  version?: string;
}

export function registerCommand(ctx: CliContext): Command {
  const command = new Command('register')
    .description('register an instance of a service')
    .argument('<service>', 'service name')
    .argument('<host:port>', 'where the instance listens, e.g. 127.0.0.1:8080 or [::1]:8080')
    .option('--id <id>', 'instance id (default: <service>-<host>-<port>)')
    .option('--check <url-or-path>', 'HTTP health check: a URL, or a path on the instance such as /healthz')
    .option('--tcp', 'TCP health check: connect to the instance')
    .option('--ttl <duration>', 'TTL health check: healthy while heartbeats arrive within this, e.g. 10s')
    .option('--interval <duration>', 'how often to run the check (default 10s)')
    .option('--timeout <duration>', 'how long one check may take (default 2s)')
    .option('--deregister-after <duration>', 'remove the instance after it has been unhealthy this long')
    .option('--tag <tag>', 'a tag; repeat for several', collect)
    .option('--meta <key=value>', 'a metadata entry; repeat for several', keyValue)
    .option('--weight <n>', 'relative share of traffic (default 100)', numberish)
    .option('--zone <zone>', 'zone or region, for zone-aware balancing')
    .option('--version <version>', 'version label, for traffic splitting');
  return addClientOptions(command).action(
    action(ctx, async (service: string, target: string, flags: RegisterFlags) => {
      const body = registrationBody(service, target, flags);
      // The schema (zod) is loaded only by the commands that need it, to keep the others quick to start.
      const { instanceRegistration, validate } = await import('../../config/index.ts');
      validate(instanceRegistration, body, { what: 'registration' });
      const instance = await withClient(ctx, flags, (client) => client.registerInstance(body));
      print(
        ctx,
        flags,
        instance,
        () => `registered ${instance.id} (${instance.service} at ${target}, health ${instance.health})\n`,
      );
    }),
  );
}

/** The POST /api/v1/instances body, as the user wrote it (the server parses durations itself). */
export function registrationBody(service: string, target: string, flags: RegisterFlags): RegistrationInput {
  const { address, port } = splitHostPort(target);
  const body: Record<string, unknown> = { service, address, port };
  if (flags.id !== undefined) body.id = flags.id;
  if (flags.tag) body.tags = flags.tag;
  if (flags.meta) body.metadata = flags.meta;
  if (flags.weight !== undefined) body.weight = flags.weight;
  if (flags.zone !== undefined) body.zone = flags.zone;
  if (flags.version !== undefined) body.version = flags.version;
  const check: Record<string, unknown> = {};
  if (flags.check !== undefined) check.http = flags.check;
  if (flags.tcp) check.tcp = true;
  if (flags.ttl !== undefined) check.ttl = flags.ttl;
  if (flags.interval !== undefined) check.interval = flags.interval;
  if (flags.timeout !== undefined) check.timeout = flags.timeout;
  if (flags.deregisterAfter !== undefined) check.deregisterAfter = flags.deregisterAfter;
  if (Object.keys(check).length > 0) body.check = check;
  // Validated by the caller against the schema; the cast only names the shape.
  return body as RegistrationInput;
}

/** `host:port`, `[v6]:port`; a port that is not digits is passed on for the schema to reject by name. */
export function splitHostPort(target: string): { address: string; port: number | string } {
  const bracketed = /^\[([^\]]+)\]:(.*)$/.exec(target);
  const colon = target.lastIndexOf(':');
  if (!bracketed && colon === -1) {
    throw new MeshError('BAD_REQUEST', `invalid registration: port: expected <host:port>, got "${target}"`, {
      details: [{ path: 'port', message: `expected <host:port>, got "${target}"` }],
    });
  }
  const address = bracketed ? bracketed[1]! : target.slice(0, colon);
  const rawPort = bracketed ? bracketed[2]! : target.slice(colon + 1);
  return { address, port: /^\d+$/.test(rawPort) ? Number(rawPort) : rawPort };
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function keyValue(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  const equals = value.indexOf('=');
  if (equals <= 0) throw new InvalidArgumentError('expected key=value');
  return { ...previous, [value.slice(0, equals)]: value.slice(equals + 1) };
}

/** Digits become a number; anything else stays a string so the schema names the field in its error. */
function numberish(value: string): number | string {
  return /^-?\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value;
}
