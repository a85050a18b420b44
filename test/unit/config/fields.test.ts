import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  accessLogRule,
  addressRule,
  durationMs,
  FieldProblem,
  instanceIdRule,
  metadataRule,
  OptionReader,
  portRule,
  type Rule,
  sampleRatioRule,
  serviceNameRule,
  tagsRule,
} from '../../../src/config/fields.ts';
import {
  accessLogDestination,
  address,
  duration,
  instanceId,
  metadata,
  port,
  sampleRatio,
  serviceName,
  tags,
} from '../../../src/config/index.ts';

/** The plain rule and the zod field must agree on every sample: same verdict, same value. */
function agree(rule: Rule<unknown>, schema: z.ZodType, samples: unknown[]): void {
  for (const sample of samples) {
    const parsed = schema.safeParse(sample);
    let value: unknown;
    let problem: FieldProblem | undefined;
    try {
      value = rule(sample);
    } catch (error) {
      if (!(error instanceof FieldProblem)) throw error;
      problem = error;
    }
    expect({ sample, accepted: problem === undefined }).toEqual({ sample, accepted: parsed.success });
    if (parsed.success) expect(value).toEqual(parsed.data);
    else if (problem !== undefined && parsed.error.issues[0]!.code === 'custom') {
      expect(problem.message).toBe(parsed.error.issues[0]!.message);
    }
  }
}

describe('the data plane field rules agree with the zod schema', () => {
  it('service names and instance ids', () => {
    const names = [
      'orders',
      'a',
      'A.b_c-d',
      '-x',
      'x-',
      '',
      'no spaces',
      'x'.repeat(63),
      'x'.repeat(64),
      7,
      null,
    ];
    agree(serviceNameRule, serviceName, names);
    agree(instanceIdRule, instanceId, [...names, 'orders-127.0.0.1:80@x', 'x'.repeat(253), 'x'.repeat(254)]);
  });

  it('addresses and ports', () => {
    agree(addressRule, address, ['127.0.0.1', '::1', '[::1]', 'host.example', '', 'a b', 'x'.repeat(254), 1]);
    agree(portRule, port, [1, 80, 65535, 0, 65536, 1.5, '80', Number.NaN]);
  });

  it('durations, ratios and the access log', () => {
    agree(durationMs(), duration, ['500ms', '10s', '5m', '1h', 250, '1.5s', 'soon', '', -1, true]);
    agree(sampleRatioRule, sampleRatio, [0, 0.01, 1, -0.1, 1.1, '0.5', Number.NaN]);
    agree(accessLogRule, accessLogDestination, ['off', 'stdout', ' /tmp/x.log ', '', '   ', 'a\0b', 3]);
  });

  it('tags and metadata', () => {
    agree(tagsRule, tags, [[], ['a', 'b'], [''], ['x'.repeat(129)], Array(65).fill('t'), 'a', [1]]);
    agree(metadataRule, metadata, [
      {},
      { team: 'x' },
      { team: 'x'.repeat(1025) },
      { ['k'.repeat(129)]: 'v' },
      [],
      'x',
    ]);
  });
});

describe('OptionReader', () => {
  it('collects every bad field with its path, ignores unknown keys, and changes nothing', () => {
    const input = { port: 70_000, tags: ['ok', ''], extra: true };
    const read = new OptionReader(input, 'test options');
    read.field('port', portRule, 1);
    read.field('tags', tagsRule, []);
    read.required('name', serviceNameRule);
    expect(() => read.done()).toThrow(
      expect.objectContaining({
        code: 'BAD_REQUEST',
        message: 'invalid test options: port: ports are 1-65535',
        details: [
          { path: 'port', message: 'ports are 1-65535' },
          { path: 'tags.1', message: 'required' },
          { path: 'name', message: 'required' },
        ],
      }),
    );
    expect(input).toEqual({ port: 70_000, tags: ['ok', ''], extra: true });
  });

  it('returns the checked values and the fallbacks', () => {
    const read = new OptionReader({ port: 8080 }, 'test options');
    expect(read.field('port', portRule, 1)).toBe(8080);
    expect(read.field('other', portRule, 1)).toBe(1);
    expect(read.field('missing', portRule)).toBeUndefined();
    read.done();
  });
});
