import { Headers } from 'undici';
import { describe, expect, it } from 'vitest';
import { parentHeaders, traceContextOf } from '../../../src/sdk/tracing.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('traceContextOf', () => {
  it('takes traceparent and tracestate from Node headers or Fetch Headers', () => {
    const traceparent = `00-${TRACE}-${SPAN}-01`;
    expect(traceContextOf({ traceparent, tracestate: 'a=1' })).toEqual({ traceparent, tracestate: 'a=1' });
    expect(traceContextOf(new Headers({ traceparent }))).toEqual({ traceparent });
  });

  it('turns B3 (single and multi) into a traceparent', () => {
    expect(traceContextOf({ b3: `${TRACE}-${SPAN}-1` })).toEqual({ traceparent: `00-${TRACE}-${SPAN}-01` });
    expect(
      traceContextOf({ 'x-b3-traceid': TRACE.slice(16), 'x-b3-spanid': SPAN, 'x-b3-sampled': '0' }),
    ).toEqual({ traceparent: `00-${'0'.repeat(16)}${TRACE.slice(16)}-${SPAN}-00` });
  });

  it('is undefined without a valid context', () => {
    expect(traceContextOf({})).toBeUndefined();
    expect(traceContextOf({ traceparent: `00-${'0'.repeat(32)}-${SPAN}-01` })).toBeUndefined();
    expect(traceContextOf({ b3: '1' })).toBeUndefined();
  });
});

describe('parentHeaders', () => {
  it('accepts a traceparent string or object and names the bad field', () => {
    expect(parentHeaders(`00-${TRACE}-${SPAN}-01`)).toEqual({ traceparent: `00-${TRACE}-${SPAN}-01` });
    expect(() => parentHeaders('00-xyz')).toThrow(/parent\.traceparent/);
    expect(() => parentHeaders({ traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: 5 as never })).toThrow(
      /parent\.tracestate/,
    );
  });
});
