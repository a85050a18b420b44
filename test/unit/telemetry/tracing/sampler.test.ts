import { describe, expect, it } from 'vitest';
import {
  adjustedCount,
  createTracer,
  newTraceId,
  RandomIdSource,
  RatioSampler,
  type SpanData,
  SpanKind,
} from '../../../../src/telemetry/index.ts';

function randomTraceIds(count: number): string[] {
  const ids = new RandomIdSource();
  return Array.from({ length: count }, () => newTraceId(ids));
}

function collectingTracer(service: string, sampleRatio: number) {
  const spans: SpanData[] = [];
  const tracer = createTracer({ service, sampleRatio, sink: { export: (span) => spans.push(span) } });
  return { tracer, spans };
}

describe('ratio sampling', () => {
  it('samples a share of new traces close to the ratio', () => {
    const ids = randomTraceIds(20_000);
    for (const ratio of [0.01, 0.1, 0.5, 0.9]) {
      const sampler = new RatioSampler(ratio);
      const share = ids.filter((id) => sampler.sampleHex(id)).length / ids.length;
      // 20,000 draws: the standard deviation of the share is at most 0.0036.
      expect(Math.abs(share - ratio)).toBeLessThan(0.02);
    }
  });

  it('samples everything at 1 and nothing at 0', () => {
    const ids = randomTraceIds(2_000);
    expect(ids.every((id) => new RatioSampler(1).sampleHex(id))).toBe(true);
    expect(ids.some((id) => new RatioSampler(0).sampleHex(id))).toBe(false);
    expect(new RatioSampler(1).sampleHex(`${'0'.repeat(31)}1`)).toBe(true);
    expect(new RatioSampler(0).sampleHex('f'.repeat(32))).toBe(false);
  });

  it('decides by the trace id alone: separate samplers agree, and a lower ratio samples a subset', () => {
    const ids = randomTraceIds(5_000);
    const a = new RatioSampler(0.3);
    const b = new RatioSampler(0.3);
    const lower = new RatioSampler(0.1);
    for (const id of ids) {
      expect(b.sampleHex(id)).toBe(a.sampleHex(id));
      if (lower.sampleHex(id)) expect(a.sampleHex(id)).toBe(true);
    }
  });

  it('uses the last 56 bits of the trace id: the threshold sits where the ratio says', () => {
    const half = new RatioSampler(0.5);
    // R = 0x80000000000000 is exactly the threshold (1 - 0.5) · 2^56: sampled (R >= T).
    expect(half.sampleHex(`ffffffffffffffffff80000000000000`)).toBe(true);
    expect(half.sampleHex(`ffffffffffffffffff7fffffffffffff`)).toBe(false);
    expect(half.sampleHex(`000000000000000000ffffffffffffff`)).toBe(true);
  });

  it('rejects ratios outside 0-1', () => {
    expect(() => new RatioSampler(1.5)).toThrow(RangeError);
    expect(() => new RatioSampler(-0.1)).toThrow(RangeError);
    expect(() => new RatioSampler(Number.NaN)).toThrow(RangeError);
  });

  it('advertises its threshold in tracestate, and the collector reads the adjusted count back', () => {
    expect(new RatioSampler(1).traceState).toBe('');
    expect(new RatioSampler(0.5).traceState).toBe('ot=th:8');
    expect(new RatioSampler(0.25).traceState).toBe('ot=th:c');
    expect(adjustedCount(new RatioSampler(0.25).traceState)).toBeCloseTo(4, 9);
    expect(adjustedCount(new RatioSampler(0.1).traceState)).toBeCloseTo(10, 6);
    expect(adjustedCount('vendor=x,ot=rv:1234;th:8')).toBeCloseTo(2, 9);
    expect(adjustedCount('')).toBe(1);
    expect(adjustedCount('vendor=x')).toBe(1);
    expect(adjustedCount('ot=th:zz')).toBe(1);
  });
});

describe('parent-based sampling across hops', () => {
  const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

  it('follows the parent flag whatever the local ratio', () => {
    const never = collectingTracer('a', 0).tracer.hop(SpanKind.Server);
    expect(
      never.beginFromHeaders((name) =>
        name === 'traceparent' ? `00-${TRACE}-00f067aa0ba902b7-01` : undefined,
      ),
    ).not.toBeNull();
    const always = collectingTracer('b', 1).tracer.hop(SpanKind.Server);
    expect(
      always.beginFromHeaders((name) =>
        name === 'traceparent' ? `00-${TRACE}-00f067aa0ba902b7-00` : undefined,
      ),
    ).toBeNull();
    expect(always.traceparent().endsWith('-00')).toBe(true);
  });

  it('makes the same root decision at every hop that has to decide (B3 without a sampling state)', () => {
    const first = collectingTracer('a', 0.5).tracer.hop(SpanKind.Server);
    const second = collectingTracer('b', 0.5).tracer.hop(SpanKind.Server);
    const sampler = new RatioSampler(0.5);
    for (const traceId of randomTraceIds(500)) {
      const headers = (name: string) => (name === 'b3' ? `${traceId}-00f067aa0ba902b7` : undefined);
      const a = first.beginFromHeaders(headers) !== null;
      const b = second.beginFromHeaders(headers) !== null;
      expect(a).toBe(b);
      expect(a).toBe(sampler.sampleHex(traceId));
      first.end(200);
      second.end(200);
    }
  });

  it('propagates a root decision so the next hop follows it', () => {
    const edge = collectingTracer('edge', 0.5);
    const next = collectingTracer('next', 0);
    let sampledRoots = 0;
    for (let i = 0; i < 200; i++) {
      const hop = edge.tracer.hop(SpanKind.Server);
      const span = hop.begin(undefined);
      const downstream = next.tracer.hop(SpanKind.Server);
      const nextSpan = downstream.beginFromHeaders((name) =>
        name === 'traceparent' ? hop.traceparent() : undefined,
      );
      expect(nextSpan !== null).toBe(span !== null);
      if (span) {
        sampledRoots++;
        expect(nextSpan!.parentSpanId).toBe(span.spanId);
        expect(nextSpan!.traceId).toBe(span.traceId);
      }
      hop.end(200);
      downstream.end(200);
    }
    expect(sampledRoots).toBeGreaterThan(50);
    expect(sampledRoots).toBeLessThan(150);
    expect(edge.spans).toHaveLength(sampledRoots);
    expect(next.spans).toHaveLength(sampledRoots);
  });
});
