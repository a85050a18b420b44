import { describe, expect, it } from 'vitest';
import { H2RequestHeadWriter } from '../../../../src/proxy/engine/h2-head.ts';
import { ForwardHeadWriter } from '../../../../src/proxy/engine/index.ts';
import { createRequestParser, findHeader } from '../../../../src/proxy/http1/index.ts';

function parse(raw: string) {
  const parser = createRequestParser();
  expect(parser.execute(Buffer.from(raw, 'latin1'))).toBeGreaterThan(0);
  return parser;
}

const INF = Number.POSITIVE_INFINITY;

describe('ForwardHeadWriter', () => {
  it('adds x-forwarded-for/-proto, via and the deadline, and drops hop-by-hop headers', () => {
    const writer = new ForwardHeadWriter('10.1.1.1', false);
    const head = parse(
      'GET /a HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, x-hop\r\nx-hop: 1\r\nX-Trellis-Deadline: 5\r\nAccept: */*\r\n\r\n',
    );
    const out = writer.write(head, undefined, undefined, false, 1_700_000_000_123.7, true).toString('latin1');
    expect(out).toBe(
      'GET /a HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n' +
        'x-forwarded-for: 10.1.1.1\r\nx-forwarded-proto: http\r\nvia: 1.1 trellis\r\n' +
        'x-trellis-deadline: 1700000000123\r\nconnection: keep-alive\r\n\r\n',
    );
    // The reused line lists do not leak from one request into the next.
    const second = writer.write(
      parse('GET / HTTP/1.1\r\nHost: h\r\n\r\n'),
      undefined,
      undefined,
      false,
      INF,
      false,
    );
    expect(second.toString('latin1')).not.toMatch(/deadline/);
  });

  it('rewrites the deadline for every request, whatever its number of digits', () => {
    const writer = new ForwardHeadWriter('10.1.1.1', false);
    const head = parse('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    const deadlineOf = (deadline: number) =>
      /x-trellis-deadline: (\d+)\r\n/.exec(
        writer.write(head, undefined, undefined, false, deadline, false).toString('latin1'),
      )?.[1];
    expect(deadlineOf(1_999_999_999_999.9)).toBe('1999999999999');
    expect(deadlineOf(1_000_000_000_000)).toBe('1000000000000');
    expect(deadlineOf(42.5)).toBe('42');
    expect(deadlineOf(12_345_678_901_234)).toBe('12345678901234');
    expect(deadlineOf(1_700_000_000_007)).toBe('1700000000007');
  });

  it('appends to x-forwarded-for, rewrites target and host, and sets x-forwarded-host', () => {
    const writer = new ForwardHeadWriter('10.1.1.1', false);
    const head = parse(
      'POST /api/x HTTP/1.1\r\nHost: gw\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n\r\n',
    );
    const out = writer.write(head, '/x', 'svc.internal', false, INF, false).toString('latin1');
    expect(out).toBe(
      'POST /x HTTP/1.1\r\nhost: svc.internal\r\n' +
        'x-forwarded-for: 1.2.3.4, 10.1.1.1\r\nx-forwarded-proto: http\r\nx-forwarded-host: gw\r\nvia: 1.1 trellis\r\n' +
        'connection: keep-alive\r\n\r\n',
    );
  });

  it('keeps x-forwarded-proto and -host from a trusted client', () => {
    const writer = new ForwardHeadWriter('127.0.0.1', true);
    const head = parse(
      'GET / HTTP/1.1\r\nHost: orders\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: app\r\n\r\n',
    );
    const out = writer.write(head, undefined, 'orders:80', false, INF, false).toString('latin1');
    expect(out).toMatch(/\r\nX-Forwarded-Proto: https\r\n/);
    expect(out).toMatch(/\r\nX-Forwarded-Host: app\r\n/);
    expect(out).not.toMatch(/x-forwarded-proto: http\r\n/);
  });

  it('keeps Upgrade for an upgrade', () => {
    const writer = new ForwardHeadWriter('127.0.0.1', false);
    const head = parse('GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    const out = writer.write(head, undefined, undefined, true, INF, false).toString('latin1');
    expect(out).toMatch(/\r\nUpgrade: websocket\r\n/);
    expect(out).toMatch(/\r\nconnection: upgrade\r\n\r\n$/);
  });
});

describe('findHeader', () => {
  it('finds a header by lowercase name, case-insensitively', () => {
    const head = parse('GET / HTTP/1.1\r\nHost: h\r\nX-User: alice\r\nx-userx: no\r\n\r\n');
    expect(findHeader(head, 'x-user')).toBe(1);
    expect(head.headerValue(findHeader(head, 'x-user'))).toBe('alice');
    expect(findHeader(head, 'x-missing')).toBe(-1);
  });
});

describe('the HTTP/1.1 and h2c head writers', () => {
  const FORWARDING = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'via'];

  /** The forwarding fields of an HTTP/1.1 head, lowercase names, repeated fields joined as h2 does. */
  function forwardingOfH1(head: Buffer): Record<string, string> {
    const fields: Record<string, string> = {};
    for (const line of head.toString('latin1').split('\r\n').slice(1)) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).toLowerCase();
      if (!FORWARDING.includes(name)) continue;
      const value = line.slice(colon + 1).trim();
      fields[name] = fields[name] === undefined ? value : `${fields[name]}, ${value}`;
    }
    return fields;
  }

  function forwardingOfH2(headers: Record<string, unknown>): Record<string, string> {
    const fields: Record<string, string> = {};
    for (const name of FORWARDING) if (headers[name] !== undefined) fields[name] = String(headers[name]);
    return fields;
  }

  const incoming = [
    '',
    'X-Forwarded-For: 192.0.2.1\r\n',
    'X-Forwarded-Proto: https\r\n',
    'X-Forwarded-Host: outer.example\r\n',
    'X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: outer.example\r\nVia: 1.1 edge\r\n',
  ];
  const cases = incoming.flatMap((fields) =>
    [false, true].flatMap((trust) => [undefined, 'orders.internal'].map((host) => ({ fields, trust, host }))),
  );

  it.each(cases)(
    'apply the same x-forwarded rules (trust $trust, host $host, fields $fields)',
    ({ fields, trust, host }) => {
      const raw = `GET /a HTTP/1.1\r\nHost: public.example\r\n${fields}\r\n`;
      const h1 = new ForwardHeadWriter('10.1.1.1', trust).write(
        parse(raw),
        undefined,
        host,
        false,
        INF,
        false,
      );
      const h2 = new H2RequestHeadWriter('10.1.1.1', trust).write(parse(raw), undefined, host, 'orders', INF);
      expect(forwardingOfH1(h1)).toEqual(forwardingOfH2({ ...h2 }));
    },
  );
});
