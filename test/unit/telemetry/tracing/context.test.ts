import { describe, expect, it } from 'vitest';
import {
  boundTraceState,
  Decision,
  formatTraceparent,
  ParentContext,
  parseB3Multi,
  parseB3Single,
  parseTraceparent,
  writeTraceparent,
} from '../../../../src/telemetry/index.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const VALID = `00-${TRACE}-${SPAN}-01`;

/** Parses as a string and as a slice of a larger Buffer (as the proxy does with a request head). */
function parseBoth(value: string): { string: ParentContext | undefined; buffer: ParentContext | undefined } {
  const fromString = new ParentContext();
  const stringOk = parseTraceparent(value, fromString);
  const head = Buffer.from(`GET / HTTP/1.1\r\ntraceparent: ${value}\r\nhost: x\r\n\r\n`, 'latin1');
  const start = head.indexOf('traceparent: ') + 'traceparent: '.length;
  const fromBuffer = new ParentContext();
  const bufferOk = parseTraceparent(head, fromBuffer, start, start + Buffer.byteLength(value, 'latin1'));
  return { string: stringOk ? fromString : undefined, buffer: bufferOk ? fromBuffer : undefined };
}

describe('traceparent', () => {
  it('parses a valid version-00 value from a string and from a Buffer slice', () => {
    for (const parsed of Object.values(parseBoth(VALID))) {
      expect(parsed).toBeDefined();
      expect(parsed!.traceId()).toBe(TRACE);
      expect(parsed!.spanId()).toBe(SPAN);
      expect(parsed!.flags).toBe(1);
      expect(parsed!.decision).toBe(Decision.Sampled);
    }
    const unsampled = parseBoth(`00-${TRACE}-${SPAN}-00`);
    expect(unsampled.string!.decision).toBe(Decision.NotSampled);
    expect(unsampled.buffer!.decision).toBe(Decision.NotSampled);
  });

  it('acts on the sampled bit only, keeping the other flags as received', () => {
    const parsed = parseBoth(`00-${TRACE}-${SPAN}-03`).string!;
    expect(parsed.flags).toBe(3);
    expect(parsed.decision).toBe(Decision.Sampled);
    expect(parseBoth(`00-${TRACE}-${SPAN}-02`).string!.decision).toBe(Decision.NotSampled);
  });

  it.each([
    ['empty', ''],
    ['too short', VALID.slice(0, 54)],
    ['version 00 with trailing data', `${VALID}-extra`],
    ['version 00 one character too long', `${VALID}0`],
    ['version ff', `ff-${TRACE}-${SPAN}-01`],
    ['uppercase trace id', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ['uppercase version', `0A-${TRACE}-${SPAN}-01`],
    ['non-hex in trace id', `00-${TRACE.slice(0, 31)}g-${SPAN}-01`],
    ['non-hex in span id', `00-${TRACE}-${SPAN.slice(0, 15)}z-01`],
    ['non-hex flags', `00-${TRACE}-${SPAN}-0x`],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['all-zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['wrong separator', `00_${TRACE}-${SPAN}-01`],
    ['short trace id', `00-${TRACE.slice(2)}-${SPAN}-0100`],
    ['non-ASCII digit', `00-${TRACE.slice(0, 31)}\u0660-${SPAN}-01`],
  ])('rejects %s', (_name, value) => {
    const parsed = parseBoth(value);
    expect(parsed.string).toBeUndefined();
    expect(parsed.buffer).toBeUndefined();
  });

  it('parses a future version by the first 55 characters, with or without more after a dash', () => {
    const exact = parseBoth(`01-${TRACE}-${SPAN}-01`).string;
    expect(exact?.traceId()).toBe(TRACE);
    const longer = parseBoth(`cc-${TRACE}-${SPAN}-01-what-the-future-will-be-like`);
    expect(longer.string?.spanId()).toBe(SPAN);
    expect(longer.buffer?.spanId()).toBe(SPAN);
    expect(parseBoth(`cc-${TRACE}-${SPAN}-01.what-the-future-will-be-like`).string).toBeUndefined();
  });

  it('leaves a reused context invalid after a failed parse', () => {
    const context = new ParentContext();
    expect(parseTraceparent(VALID, context)).toBe(true);
    expect(parseTraceparent('garbage', context)).toBe(false);
    expect(context.valid).toBe(false);
    expect(context.decision).toBe(Decision.Deferred);
  });

  it('writes what it parses', () => {
    const context = new ParentContext();
    parseTraceparent(VALID, context);
    const out = Buffer.alloc(60, 0x2e);
    const end = writeTraceparent(context.ids, 0, context.ids, 16, true, out, 2);
    expect(end).toBe(57);
    expect(out.toString('latin1', 2, end)).toBe(VALID);
    expect(formatTraceparent(TRACE, SPAN, false)).toBe(`00-${TRACE}-${SPAN}-00`);
  });
});

describe('tracestate bounds', () => {
  it('keeps a value within the bounds unchanged, spacing included', () => {
    const value = 'congo=t61rcWkgMzE, rojo=00f067aa0ba902b7';
    expect(boundTraceState(value)).toBe(value);
  });

  it('drops members over 128 characters first, then members from the end', () => {
    const long = `big=${'x'.repeat(200)}`;
    const members = Array.from({ length: 10 }, (_, i) => `k${i}=${'v'.repeat(40)}`);
    const bounded = boundTraceState([members[0], long, ...members.slice(1)].join(','), 300);
    expect(bounded).not.toContain('big=');
    expect(bounded.length).toBeLessThanOrEqual(300);
    expect(bounded.startsWith('k0=')).toBe(true);
    expect(bounded.split(',')).toEqual(members.slice(0, bounded.split(',').length));
  });

  it('keeps at most 32 members', () => {
    const value = Array.from({ length: 40 }, (_, i) => `k${i}=v`).join(',');
    expect(boundTraceState(value).split(',')).toHaveLength(32);
  });
});

describe('B3', () => {
  it('parses the single header with a 128-bit or 64-bit trace id', () => {
    const context = new ParentContext();
    expect(parseB3Single(`${TRACE}-${SPAN}-1-05e3ac9a4f6e3b90`, context)).toBe(true);
    expect(context.traceId()).toBe(TRACE);
    expect(context.spanId()).toBe(SPAN);
    expect(context.decision).toBe(Decision.Sampled);

    expect(parseB3Single(`a3ce929d0e0e4736-${SPAN}-0`, context)).toBe(true);
    expect(context.traceId()).toBe('0000000000000000a3ce929d0e0e4736');
    expect(context.decision).toBe(Decision.NotSampled);

    expect(parseB3Single(`${TRACE.toUpperCase()}-${SPAN}-d`, context)).toBe(true);
    expect(context.traceId()).toBe(TRACE);
    expect(context.decision).toBe(Decision.Sampled);
  });

  it('defers the decision when the single header has no sampling state', () => {
    const context = new ParentContext();
    expect(parseB3Single(`${TRACE}-${SPAN}`, context)).toBe(true);
    expect(context.valid).toBe(true);
    expect(context.decision).toBe(Decision.Deferred);
  });

  it('takes a bare sampling state as a decision without ids', () => {
    const context = new ParentContext();
    expect(parseB3Single('0', context)).toBe(true);
    expect(context.valid).toBe(false);
    expect(context.decision).toBe(Decision.NotSampled);
    expect(parseB3Single('d', context)).toBe(true);
    expect(context.decision).toBe(Decision.Sampled);
  });

  it.each([
    ['a bad state', `${TRACE}-${SPAN}-x`],
    ['a short span id', `${TRACE}-${SPAN.slice(1)}`],
    ['a 20-digit trace id', `${TRACE.slice(0, 20)}-${SPAN}-1`],
    ['a bad parent id', `${TRACE}-${SPAN}-1-xyz`],
    ['an all-zero trace id', `${'0'.repeat(32)}-${SPAN}-1`],
    ['a bare unknown state', '2'],
  ])('rejects the single header with %s', (_name, value) => {
    const context = new ParentContext();
    expect(parseB3Single(value, context)).toBe(false);
    expect(context.valid).toBe(false);
  });

  it('parses the multi-header form', () => {
    const context = new ParentContext();
    expect(parseB3Multi({ traceId: TRACE, spanId: SPAN, sampled: '1' }, context)).toBe(true);
    expect(context.traceId()).toBe(TRACE);
    expect(context.decision).toBe(Decision.Sampled);

    expect(parseB3Multi({ traceId: 'a3ce929d0e0e4736', spanId: SPAN, sampled: 'false' }, context)).toBe(true);
    expect(context.traceId()).toBe('0000000000000000a3ce929d0e0e4736');
    expect(context.decision).toBe(Decision.NotSampled);

    expect(parseB3Multi({ traceId: TRACE, spanId: SPAN, flags: '1', sampled: '0' }, context)).toBe(true);
    expect(context.decision).toBe(Decision.Sampled);

    expect(parseB3Multi({ traceId: TRACE, spanId: SPAN }, context)).toBe(true);
    expect(context.decision).toBe(Decision.Deferred);

    expect(parseB3Multi({ sampled: '0' }, context)).toBe(true);
    expect(context.valid).toBe(false);
    expect(context.decision).toBe(Decision.NotSampled);
  });

  it('rejects malformed multi headers', () => {
    const context = new ParentContext();
    expect(parseB3Multi({}, context)).toBe(false);
    expect(parseB3Multi({ traceId: TRACE, spanId: SPAN, sampled: 'yes' }, context)).toBe(false);
    expect(parseB3Multi({ traceId: 'xyz', spanId: SPAN }, context)).toBe(false);
    expect(parseB3Multi({ traceId: TRACE, spanId: '123' }, context)).toBe(false);
    expect(context.valid).toBe(false);
  });
});
