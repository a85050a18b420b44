import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createJsonLogger, type Logger } from '../../../src/core/index.ts';

function jsonLines(): { lines: Array<Record<string, unknown>>; write: (line: string) => void } {
  const lines: Array<Record<string, unknown>> = [];
  return {
    lines,
    write: (line) =>
      lines.push(
        ...line
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l)),
      ),
  };
}

/** Writes the same calls through any Logger. */
function exercise(logger: Logger): void {
  logger.debug('hidden at info');
  logger.info('plain message');
  logger.info({ service: 'orders', n: 3, nested: { ok: true } }, 'with fields');
  logger.warn({ skipped: undefined, kept: 'yes' }, 'undefined fields are left out');
  const error = Object.assign(new Error('boom'), { code: 'ECONNREFUSED' });
  logger.error({ err: error }, 'failed');
  logger.child({ worker: 2 }).info({ id: 'x' }, 'from a child');
}

describe('createJsonLogger', () => {
  it('writes the lines pino writes for the same calls (but the time)', () => {
    const ours = jsonLines();
    exercise(createJsonLogger({ level: 'info', write: ours.write, now: () => 1 }));
    const theirs = jsonLines();
    const sink = new Writable({
      write(chunk, _encoding, done) {
        theirs.write(String(chunk));
        done();
      },
    });
    exercise(pino({ level: 'info' }, sink));
    const withoutTime = (line: Record<string, unknown>) => {
      const { time: _time, ...rest } = line;
      if (typeof rest.err === 'object' && rest.err !== null) {
        const { stack: _stack, ...err } = rest.err as Record<string, unknown>;
        rest.err = err;
      }
      return rest;
    };
    expect(ours.lines.map(withoutTime)).toEqual(theirs.lines.map(withoutTime));
    expect(ours.lines).toHaveLength(5);
    expect(ours.lines[3]!.err).toMatchObject({ type: 'Error', message: 'boom', code: 'ECONNREFUSED' });
    expect(String((ours.lines[3]!.err as { stack: string }).stack)).toContain('boom');
  });

  it('drops lines below its level, and silent drops everything', () => {
    const warn = jsonLines();
    const logger = createJsonLogger({ level: 'warn', write: warn.write });
    logger.info('no');
    logger.warn('yes');
    expect(warn.lines.map((line) => [line.level, line.msg])).toEqual([[40, 'yes']]);
    const silent = jsonLines();
    createJsonLogger({ level: 'silent', write: silent.write }).error('no');
    expect(silent.lines).toEqual([]);
  });

  it('never throws on cycles or bigints, and refuses an unknown level', () => {
    const out = jsonLines();
    const cyclic: Record<string, unknown> = { name: 'a' };
    cyclic.self = cyclic;
    createJsonLogger({ write: out.write }).info({ cyclic, big: 10n }, 'odd values');
    expect(out.lines[0]).toMatchObject({ cyclic: { name: 'a', self: '[Circular]' }, big: '10' });
    expect(() => createJsonLogger({ level: 'loud' })).toThrow(/unknown log level "loud"/);
  });
});
