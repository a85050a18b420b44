import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { HttpCheck } from '../../core/index.ts';
import type { CheckResult } from './state.ts';

export interface HttpProber {
  probe(check: HttpCheck): Promise<CheckResult>;
  close(): Promise<void>;
}

interface Target {
  host: string;
  port: number;
  tls: boolean;
  servername: string | undefined;
  /** The whole request, rendered once per check definition. */
  request: Buffer;
  label: string;
}

const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})/;
const MAX_STATUS_LINE = 1024;

/**
 * HTTP checks on raw sockets, HAProxy-style: one short connection per probe (it proves the instance
 * still accepts connections, and 5,000 instances leave no idle sockets behind), a request rendered
 * once per check, and only the status line read. A general HTTP client costs several times the
 * CPU per probe (stream and error objects per request); this keeps 1,000 checks/s cheap.
 * 2xx passes, 429 warns (degraded), anything else, a timeout or a refused connection fails.
 */
export function createHttpProber(): HttpProber {
  const targets = new WeakMap<HttpCheck, Target>();
  const open = new Set<Socket>();

  function targetOf(check: HttpCheck): Target {
    let target = targets.get(check);
    if (!target) {
      target = renderTarget(check);
      targets.set(check, target);
    }
    return target;
  }

  return {
    probe(check) {
      const target = targetOf(check);
      const started = performance.now();
      return new Promise<CheckResult>((resolve) => {
        const socket = target.tls
          ? connectTls({
              host: target.host,
              port: target.port,
              servername: target.servername,
              rejectUnauthorized: false,
            })
          : connectTcp({ host: target.host, port: target.port });
        open.add(socket);
        let head = '';
        let settled = false;
        const finish = (status: CheckResult['status'], what: string) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          open.delete(socket);
          socket.destroy();
          resolve({ status, output: `${target.label}: ${what}` });
        };
        const timer = setTimeout(
          () => finish('fail', `timed out after ${check.timeoutMs}ms`),
          check.timeoutMs,
        );
        socket.setNoDelay(true);
        socket.once(target.tls ? 'secureConnect' : 'connect', () => socket.write(target.request));
        socket.on('data', (chunk: Buffer) => {
          head += chunk.toString('latin1', 0, Math.min(chunk.length, MAX_STATUS_LINE));
          const lineEnd = head.indexOf('\r\n');
          if (lineEnd < 0) {
            if (head.length >= MAX_STATUS_LINE) finish('fail', 'response status line too long');
            return;
          }
          const match = STATUS_LINE.exec(head);
          if (!match) return finish('fail', `not an HTTP/1.x response: ${JSON.stringify(head.slice(0, 40))}`);
          const status = Number(match[1]);
          const what = `${status} in ${Math.round(performance.now() - started)}ms`;
          if (status >= 200 && status < 300) finish('pass', what);
          else if (status === 429) finish('warn', what);
          else finish('fail', what);
        });
        socket.once('error', (error: NodeJS.ErrnoException) => finish('fail', error.code ?? error.message));
        socket.once('close', () => finish('fail', 'connection closed before a response'));
      });
    },
    async close() {
      for (const socket of open) socket.destroy();
      open.clear();
    },
  };
}

function renderTarget(check: HttpCheck): Target {
  const url = new URL(check.url);
  const tls = url.protocol === 'https:';
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port ? Number(url.port) : tls ? 443 : 80;
  let request = `${check.method} ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`;
  request += 'user-agent: trellis-health-check\r\naccept: */*\r\nconnection: close\r\n';
  for (const [name, value] of Object.entries(check.headers)) request += `${name}: ${value}\r\n`;
  request += '\r\n';
  return {
    host,
    port,
    tls,
    servername: tls && !/^[\d.:]+$/.test(host) ? host : undefined,
    request: Buffer.from(request, 'latin1'),
    label: `HTTP ${check.method} ${check.url}`,
  };
}
