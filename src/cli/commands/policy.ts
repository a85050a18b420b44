import { Command, InvalidArgumentError } from 'commander';
import type { PolicyInput } from '../../client/index.ts';
import { formatDuration, MeshError, type ServicePolicy } from '../../core/index.ts';
import {
  action,
  addClientOptions,
  type CliContext,
  type ClientFlags,
  print,
  withClient,
} from '../context.ts';
import { formatTable } from '../table.ts';

interface PolicyFlags extends ClientFlags {
  set?: string[];
  reset?: boolean;
}

export function policyCommand(ctx: CliContext): Command {
  const command = new Command('policy')
    .description("show a service's traffic policy, or change fields of it with --set")
    .argument('<service>', 'service name')
    .option(
      '--set <key=value>',
      'change one field, e.g. retry.maxAttempts=3, timeout.requestMs=2s, loadBalancer.kind=round-robin, ' +
        'retry.retryOn=connect-failure,5xx; repeat for several',
      collect,
    )
    .option('--reset', 'remove the stored policy: the service goes back to the defaults');
  return addClientOptions(command).action(
    action(ctx, async (service: string, flags: PolicyFlags) => {
      if (flags.reset && flags.set) {
        throw new MeshError('BAD_REQUEST', 'use either --set or --reset, not both');
      }
      if (flags.set) {
        // The schema (zod) is loaded only by the commands that need it, to keep the others quick to start.
        const { DEFAULT_SERVICE_POLICY, servicePolicyInput, validate } = await import(
          '../../config/index.ts'
        );
        const patch = policyPatch(flags.set, DEFAULT_SERVICE_POLICY);
        validate(servicePolicyInput, patch, { what: 'policy' });
        const policy = await withClient(ctx, flags, (client) => client.patchPolicy(service, patch));
        print(ctx, flags, policy, () => `updated the policy of ${service}\n${renderPolicy(policy)}`);
        return;
      }
      if (flags.reset) {
        const policy = await withClient(ctx, flags, (client) => client.resetPolicy(service));
        print(ctx, flags, policy, () => `${service} is back on the default policy\n${renderPolicy(policy)}`);
        return;
      }
      const [policy, stored] = await withClient(ctx, flags, (client) =>
        Promise.all([client.getPolicy(service), client.listPolicies()]),
      );
      const custom = stored.some((entry) => entry.service === service);
      print(
        ctx,
        flags,
        policy,
        () =>
          `policy of ${service} (${custom ? 'set for this service' : 'the defaults'})\n${renderPolicy(policy)}`,
      );
    }),
  );
}

/**
 * Turns `--set a.b=value` pairs into a nested patch. Values: `true`/`false`, numbers, a JSON array,
 * or text (durations such as `2s` stay text for the schema to parse); a field whose default is a
 * list takes a comma-separated list. Unknown keys are passed on for the schema to reject by name.
 */
export function policyPatch(pairs: string[], defaults: object): PolicyInput {
  const patch: Record<string, unknown> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    const key = pair.slice(0, equals).trim();
    const path = key.split('.');
    if (equals <= 0 || path.some((part) => part === '')) {
      throw new MeshError(
        'BAD_REQUEST',
        `invalid --set "${pair}": expected key=value, e.g. retry.maxAttempts=3`,
      );
    }
    const raw = pair.slice(equals + 1).trim();
    let node = patch;
    for (const part of path.slice(0, -1)) {
      const next = node[part] ?? {};
      if (typeof next !== 'object' || Array.isArray(next)) {
        throw new MeshError('BAD_REQUEST', `invalid --set "${pair}": ${part} is set to a value already`);
      }
      node[part] = next;
      node = next as Record<string, unknown>;
    }
    const last = path[path.length - 1]!;
    if (typeof node[last] === 'object' && node[last] !== null && !Array.isArray(node[last])) {
      throw new MeshError('BAD_REQUEST', `invalid --set "${pair}": ${key} has fields of its own; set those`);
    }
    node[last] = Array.isArray(lookup(defaults, path)) ? list(raw) : scalar(raw);
  }
  return patch as PolicyInput;
}

function lookup(value: unknown, path: string[]): unknown {
  let node = value;
  for (const part of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function list(raw: string): unknown[] {
  if (raw.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(raw);
      if (Array.isArray(parsed)) return parsed;
    } catch {
      // not JSON: a comma-separated list
    }
  }
  return raw === '' ? [] : raw.split(',').map((item) => scalar(item.trim()));
}

function scalar(raw: string): unknown {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  return raw;
}

/** One row per field, named as `--set` names it; durations in their short form. */
export function renderPolicy(policy: ServicePolicy): string {
  const rows: string[][] = [];
  const walk = (value: unknown, path: string[]) => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const [key, child] of Object.entries(value)) walk(child, [...path, key]);
      return;
    }
    const key = path.join('.');
    rows.push([key, formatValue(key, value)]);
  };
  const { service: _service, ...fields } = policy;
  walk(fields, []);
  return formatTable(['FIELD', 'VALUE'], rows);
}

function formatValue(key: string, value: unknown): string {
  if (Array.isArray(value)) return value.length === 0 ? '-' : value.join(',');
  if (typeof value === 'number' && key.endsWith('Ms')) return value === 0 ? '0 (off)' : formatDuration(value);
  return String(value);
}

function collect(value: string, previous: string[] | undefined): string[] {
  if (!value.includes('=')) throw new InvalidArgumentError('expected key=value');
  return [...(previous ?? []), value];
}
