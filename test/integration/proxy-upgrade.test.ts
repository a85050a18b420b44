/**
 * Upgrades (WebSocket and other `Upgrade` protocols) through the proxy on raw sockets: the tunnel after
 * a 101 (early data, half-close in each direction, a clean close under backpressure, an upstream dying,
 * the idle timeout, the access log), upgrades the upstream refuses, and the sidecar's outbound →
 * inbound path. proxy-forwarding.test.ts has the basic 101-and-echo case.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyListener, TrellisProxy } from '../../src/proxy/index.ts';
import { type AccessLog, openAccessLog } from '../../src/telemetry/index.ts';
import { startH2Upstream } from '../helpers/h2-upstream.ts';
import {
  closeAll,
  createTestProxy,
  plainPolicy,
  serviceRoute,
  startTestGateway,
} from '../helpers/proxy-harness.ts';
import { eventually, instance, parseOne, sleep } from './proxy-helpers.ts';

const FLOOD_BYTES = 8 * 1024 * 1024;

/** What the upgrade server saw on one connection. */
interface Seen {
  head: string;
  /** Bytes after the head (and its body), as received. */
  after: string;
  ended: boolean;
}

/**
 * A half-open capable upgrade server. The path picks the behaviour:
 * `/echo` 101, then echoes upper-cased; `/refuse/<status>` a keep-alive refusal (426 with `upgrade`),
 * `/refuse-late/<status>` the same 100 ms later;
 * `/bye` 101, `bye`, then a FIN, still reading; `/wait-end` 101, then echoes and answers the client's
 * FIN with `late` and its own FIN; `/flood` 101, FLOOD_BYTES, FIN; `/die` 101, `x`, then a reset.
 */
async function startUpgradeServer(): Promise<{
  port: number;
  seen: Seen[];
  close(): Promise<void>;
}> {
  const seen: Seen[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffer = '';
    let record: Seen | undefined;
    let mode = '';
    socket.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      if (record !== undefined && mode !== 'http') {
        record.after += text;
        if (mode === 'echo' || mode === 'wait-end') socket.write(text.toUpperCase());
        return;
      }
      buffer += text;
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffer.slice(0, end + 4);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffer.length < end + 4 + length) return;
        const rest = buffer.slice(end + 4 + length);
        buffer = '';
        record = { head, after: '', ended: false };
        seen.push(record);
        const path = (head.split(' ')[1] ?? '').split('?')[0]!;
        const upgrade = /\r\nupgrade: *([^\r]+)/i.exec(head)?.[1] ?? 'websocket';
        const switching = `HTTP/1.1 101 Switching Protocols\r\nupgrade: ${upgrade}\r\nconnection: Upgrade\r\n\r\n`;
        if (path.startsWith('/refuse/') || path.startsWith('/refuse-late/')) {
          const status = Number(path.slice(path.lastIndexOf('/') + 1));
          mode = 'http';
          const refusal =
            `HTTP/1.1 ${status} Refused\r\ncontent-length: 7\r\n` +
            `${status === 426 ? 'upgrade: websocket\r\nconnection: upgrade\r\n' : ''}\r\nrefused`;
          if (path.startsWith('/refuse/')) socket.write(refusal);
          else setTimeout(() => socket.write(refusal), 100);
          // Another request on the same connection is served as HTTP.
          buffer = rest;
          record.after = rest;
          continue;
        }
        mode = path.slice(1);
        socket.write(switching);
        record.after = rest;
        if (mode === 'echo' || mode === 'wait-end') {
          if (rest.length > 0) socket.write(rest.toUpperCase());
        } else if (mode === 'bye') {
          socket.end('bye');
        } else if (mode === 'flood') {
          socket.end(Buffer.alloc(FLOOD_BYTES, 'z'));
        } else if (mode === 'die') {
          socket.write('x');
          setTimeout(() => socket.resetAndDestroy(), 50);
        }
        return;
      }
    });
    socket.on('end', () => {
      if (record !== undefined) record.ended = true;
      if (mode === 'wait-end') socket.end('late');
      else socket.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as { port: number }).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A raw client that collects what it reads and notes the server's FIN and the close. */
class TunnelClient {
  received = '';
  bytes = 0;
  ended = false;
  closed = false;
  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.bytes += chunk.length;
      // Only the start (the head) is kept as text: a flood is counted, not stored.
      if (this.received.length < 4096) this.received += chunk.toString('latin1');
    });
    socket.on('end', () => {
      this.ended = true;
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
    });
  }

  static open(port: number): Promise<TunnelClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () =>
        resolve(new TunnelClient(socket)),
      );
      socket.once('error', reject);
    });
  }

  /** Waits until `text` was received. */
  async waitFor(text: string, timeoutMs = 5_000): Promise<void> {
    await eventually(() => this.received.includes(text), timeoutMs).catch(() => {
      throw new Error(`never got ${JSON.stringify(text)}; got ${JSON.stringify(this.received)}`);
    });
  }
}

const upgradeHead = (path: string, extra = ''): string =>
  `GET ${path} HTTP/1.1\r\nhost: t\r\nupgrade: websocket\r\nconnection: Upgrade\r\n` +
  `sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n${extra}\r\n`;

describe('proxy upgrades through the gateway', () => {
  let server: Awaited<ReturnType<typeof startUpgradeServer>>;
  let proxy: TrellisProxy;
  let gateway: ProxyListener;
  let dir: string;
  let file: string;
  let accessLog: AccessLog;

  beforeAll(async () => {
    server = await startUpgradeServer();
    dir = await mkdtemp(join(tmpdir(), 'trellis-upgrade-'));
    file = join(dir, 'access.log');
    accessLog = await openAccessLog({ destination: file, flushIntervalMs: 50 });
    ({ proxy, gateway } = await startTestGateway(
      {
        instances: [instance('ws', server.port), instance('quiet', server.port)],
        policies: [plainPolicy('ws'), plainPolicy('quiet', { timeout: { requestMs: 15_000, idleMs: 300 } })],
        routes: [serviceRoute('ws'), serviceRoute('quiet')],
      },
      { accessLog },
    ));
  });

  afterAll(async () => {
    await closeAll(proxy, accessLog, server);
    await rm(dir, { recursive: true, force: true });
  });

  it('relays 101 with its upgrade headers and keeps the request upgrade headers and token lists', async () => {
    const client = await TunnelClient.open(gateway.port);
    try {
      client.socket.write(
        'GET /ws/echo HTTP/1.1\r\nhost: t\r\nconnection: keep-alive, Upgrade\r\nupgrade: websocket\r\n' +
          'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n',
      );
      await client.waitFor('\r\n\r\n');
      expect(client.received).toMatch(/^HTTP\/1\.1 101 /);
      expect(client.received).toMatch(/\r\nupgrade: websocket\r\n/i);
      expect(client.received).toMatch(/\r\nconnection: upgrade\r\n/i);
      const head = server.seen.at(-1)!.head;
      expect(head).toMatch(/\r\nupgrade: websocket\r\n/i);
      expect(head).toMatch(/\r\nconnection: upgrade\r\n/i);
      expect(head).toMatch(/\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n/i);
      client.socket.write('ping');
      await client.waitFor('PING');
    } finally {
      client.socket.destroy();
    }
  });

  it('sends bytes that follow the upgrade request head on after the 101, not as a request', async () => {
    const client = await TunnelClient.open(gateway.port);
    try {
      client.socket.write(`${upgradeHead('/ws/echo')}early bytes`);
      await client.waitFor('EARLY BYTES');
      expect(server.seen.at(-1)!.after).toBe('early bytes');
      expect(client.received).not.toMatch(/HTTP\/1\.1 400/);
    } finally {
      client.socket.destroy();
    }
  });

  it('forwards the body of an upgrade request (Content-Length), then tunnels', async () => {
    const client = await TunnelClient.open(gateway.port);
    try {
      client.socket.write(`${upgradeHead('/ws/echo', 'content-length: 4\r\n')}bodytunnel`);
      await client.waitFor('TUNNEL');
      const seen = server.seen.at(-1)!;
      expect(seen.head).toMatch(/\r\ncontent-length: 4\r\n/i);
      expect(seen.after).toBe('tunnel');
    } finally {
      client.socket.destroy();
    }
  });

  it('relays a refused upgrade as a normal response and keeps the connection for HTTP', async () => {
    const client = await TunnelClient.open(gateway.port);
    try {
      client.socket.write(upgradeHead('/ws/refuse/400'));
      await eventually(() => parseOne(client.received, false) !== undefined);
      const refused = parseOne(client.received, false)!;
      expect(refused.response.status).toBe(400);
      expect(refused.response.body).toBe('refused');
      expect(refused.response.headers.connection ?? 'keep-alive').toBe('keep-alive');
      expect(refused.response.headers.upgrade).toBeUndefined();
      client.received = '';
      client.socket.write('GET /ws/refuse/200 HTTP/1.1\r\nhost: t\r\n\r\n');
      await eventually(() => parseOne(client.received, false) !== undefined);
      expect(parseOne(client.received, false)!.response.status).toBe(200);
    } finally {
      client.socket.destroy();
    }
  });

  it('closes, without reading them as a request, when bytes followed a refused upgrade', async () => {
    for (const split of [false, true]) {
      const client = await TunnelClient.open(gateway.port);
      try {
        // A WebSocket client that did not wait for the 101: its first frame (here one that looks like
        // a request) follows the head, in the same packet or the next.
        const early = 'GET /ws/refuse/200 HTTP/1.1\r\nhost: t\r\n\r\n';
        if (split) {
          // (Bytes that come after the refusal are a request, as the client could know.)
          client.socket.write(upgradeHead('/ws/refuse-late/426'));
          await sleep(20);
          client.socket.write(early);
        } else {
          client.socket.write(upgradeHead('/ws/refuse/426') + early);
        }
        await eventually(() => client.ended);
        const refused = parseOne(client.received, true)!;
        expect(refused.response.status, `split: ${split}`).toBe(426);
        // A 426 keeps the Upgrade it names, with the upgrade option (RFC 9110 §7.8).
        expect(refused.response.headers.connection).toBe('close, upgrade');
        expect(refused.response.headers.upgrade).toBe('websocket');
        expect(refused.rest, `split: ${split}`).toBe('');
      } finally {
        client.socket.destroy();
      }
    }
  });

  it('keeps the client sending after the upstream half-closes the tunnel', async () => {
    const client = await TunnelClient.open(gateway.port);
    try {
      client.socket.write(upgradeHead('/ws/bye'));
      await eventually(() => client.ended);
      expect(client.received).toMatch(/\r\n\r\nbye$/);
      client.socket.write('still here');
      await eventually(() => server.seen.at(-1)!.after === 'still here');
      client.socket.end();
      await eventually(() => client.closed);
      expect(server.seen.at(-1)!.ended).toBe(true);
    } finally {
      client.socket.destroy();
    }
  });

  it('keeps the upstream sending after the client half-closes the tunnel', async () => {
    const client = await TunnelClient.open(gateway.port);
    try {
      client.socket.write(upgradeHead('/ws/wait-end'));
      await client.waitFor('\r\n\r\n');
      client.socket.end('last');
      await eventually(() => client.closed);
      expect(client.received).toMatch(/\r\n\r\nLASTlate$/);
      expect(server.seen.at(-1)!.after).toBe('last');
    } finally {
      client.socket.destroy();
    }
  });

  it('delivers every byte an upstream sent before closing, to a client that reads slowly', async () => {
    const client = await TunnelClient.open(gateway.port);
    try {
      client.socket.write(upgradeHead('/ws/flood'));
      await client.waitFor('\r\n\r\n');
      const headBytes = client.received.indexOf('\r\n\r\n') + 4;
      // Read in bursts, so that the proxy's writes to us queue up when the upstream's FIN arrives.
      client.socket.pause();
      const pacer = setInterval(() => {
        client.socket.resume();
        setTimeout(() => client.socket.pause(), 1);
      }, 15);
      await eventually(() => client.ended || client.closed, 20_000);
      clearInterval(pacer);
      client.socket.resume();
      await eventually(() => client.closed || client.bytes >= headBytes + FLOOD_BYTES, 5_000).catch(() => {});
      expect(client.bytes - headBytes).toBe(FLOOD_BYTES);
    } finally {
      client.socket.destroy();
    }
  });

  it('cuts the client when the upstream dies mid-tunnel', async () => {
    const client = await TunnelClient.open(gateway.port);
    try {
      client.socket.write(upgradeHead('/ws/die'));
      await client.waitFor('\r\n\r\nx');
      await eventually(() => client.ended);
      // Not a half-close: the proxy's side is gone, so our writes are refused (a reset) and we close.
      await eventually(() => {
        if (!client.closed) client.socket.write('anyone?');
        return client.closed;
      });
    } finally {
      client.socket.destroy();
    }
  });

  it('closes a tunnel with no bytes either way for the idle timeout, and not one in use', async () => {
    const busy = await TunnelClient.open(gateway.port);
    const idle = await TunnelClient.open(gateway.port);
    try {
      busy.socket.write(upgradeHead('/quiet/echo'));
      idle.socket.write(upgradeHead('/quiet/echo'));
      await busy.waitFor('\r\n\r\n');
      await idle.waitFor('\r\n\r\n');
      for (let i = 0; i < 8; i++) {
        busy.socket.write(`m${i}`);
        await sleep(100);
      }
      expect(busy.received).toContain('M7');
      expect(busy.ended).toBe(false);
      expect(idle.ended).toBe(true);
    } finally {
      busy.socket.destroy();
      idle.socket.destroy();
    }
  });

  it('logs a tunnel once it ends, with its duration and the bytes both ways', async () => {
    const client = await TunnelClient.open(gateway.port);
    const path = '/ws/wait-end?logged';
    client.socket.write(upgradeHead(path));
    await client.waitFor('\r\n\r\n');
    client.socket.write('0123456789');
    await client.waitFor('0123456789');
    await sleep(100);
    // Each side ends its half: the upstream answers the client's FIN with `late` and its own.
    client.socket.end();
    await eventually(() => client.closed);
    expect(client.received).toMatch(/0123456789late$/);
    await eventually(async () => {
      await accessLog.flush();
      return (await readFile(file, 'utf8')).includes(path);
    });
    const line = (await readFile(file, 'utf8'))
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.path === path)!;
    expect(line).toMatchObject({ status: 101, service: 'ws', bytesIn: 10, bytesOut: client.bytes });
    expect(line.durationMs as number).toBeGreaterThanOrEqual(100);
  });
});

describe('proxy upgrades through a sidecar (outbound → inbound → app)', () => {
  let server: Awaited<ReturnType<typeof startUpgradeServer>>;
  let caller: TrellisProxy;
  let callee: TrellisProxy;
  let outbound: ProxyListener;

  beforeAll(async () => {
    server = await startUpgradeServer();
    callee = createTestProxy({ instances: [] }).proxy;
    const inbound = await callee.inbound({ port: 0, app: { address: '127.0.0.1', port: server.port } });
    caller = createTestProxy({ instances: [instance('chat', inbound.port)] }).proxy;
    outbound = await caller.outbound({ port: 0 });
  });

  afterAll(() => closeAll(caller, callee, server));

  it('tunnels both ways and carries each half-close through both hops', async () => {
    const client = await TunnelClient.open(outbound.port);
    try {
      client.socket.write(upgradeHead('/bye').replace('host: t', 'host: chat'));
      await eventually(() => client.ended);
      expect(client.received).toMatch(/^HTTP\/1\.1 101 /);
      expect(client.received).toMatch(/\r\nupgrade: websocket\r\n/i);
      expect(client.received).toMatch(/\r\n\r\nbye$/);
      client.socket.write('after fin');
      await eventually(() => server.seen.at(-1)!.after === 'after fin');
      client.socket.end();
      await eventually(() => client.closed);
      expect(server.seen.at(-1)!.ended).toBe(true);
    } finally {
      client.socket.destroy();
    }
  });
});

describe('proxy upgrades: h2c services and draining', () => {
  it('refuses an upgrade to an h2c service, and closes when bytes followed its head', async () => {
    const h2 = await startH2Upstream((_req, res) => res.end('h2'));
    const { proxy, gateway } = await startTestGateway({
      instances: [instance('h2', h2.port)],
      policies: [plainPolicy('h2', { upstreamProtocol: 'h2c' })],
      routes: [serviceRoute('h2')],
    });
    try {
      const client = await TunnelClient.open(gateway.port);
      client.socket.write(`${upgradeHead('/h2/ws')}GET /h2/x HTTP/1.1\r\nhost: t\r\n\r\n`);
      await eventually(() => client.ended);
      const refused = parseOne(client.received, true)!;
      expect(refused.response.status).toBe(501);
      expect(refused.response.headers['x-trellis-error']).toBe('UPGRADE_NOT_SUPPORTED');
      expect(refused.response.headers.connection).toBe('close');
      expect(refused.rest).toBe('');
      client.socket.destroy();
    } finally {
      await closeAll(proxy, h2);
    }
  });

  it('keeps a tunnel open while the listener drains, then cuts it at the drain timeout', async () => {
    const server = await startUpgradeServer();
    const { proxy, gateway } = await startTestGateway({
      instances: [instance('ws', server.port)],
      policies: [plainPolicy('ws')],
      routes: [serviceRoute('ws')],
    });
    const client = await TunnelClient.open(gateway.port);
    try {
      client.socket.write(upgradeHead('/ws/echo'));
      await client.waitFor('\r\n\r\n');
      const started = Date.now();
      const closed = gateway.close(400);
      await sleep(100);
      client.socket.write('during drain');
      await client.waitFor('DURING DRAIN');
      await closed;
      expect(Date.now() - started).toBeGreaterThanOrEqual(350);
      await eventually(() => client.ended);
      expect(gateway.connections).toBe(0);
    } finally {
      client.socket.destroy();
      await closeAll(proxy, server);
    }
  });
});
