/** Pieces of the sidecar end-to-end test: a small app, the `trellis` binary as a child, raw HTTP calls. */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import {
  type Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type Server,
} from 'node:http';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { eventually as pollUntil } from '../helpers/control.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TRELLIS_BIN = fileURLToPath(new URL('../../bin/trellis.js', import.meta.url));

export interface AppRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * An app behind a sidecar: `GET /health` answers 200; `/slow?ms=N` answers after N ms (and reports
 * its arrival); anything else answers JSON describing the request. `stop()` and `start()` take it down
 * and bring it back on the same port.
 */
export interface TestApp {
  readonly name: string;
  readonly port: number;
  /** Requests answered so far (not counting health checks). */
  readonly seen: AppRequest[];
  /** Resolves when the next `/slow` request has arrived. */
  nextSlow(): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startApp(name: string): Promise<TestApp> {
  const seen: AppRequest[] = [];
  const sockets = new Set<Socket>();
  let slowArrived: (() => void) | undefined;
  let port = 0;
  let server: Server | undefined;

  function listen(): Promise<void> {
    const next = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        if (req.url === '/health') {
          res.end('ok');
          return;
        }
        const request = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
        };
        seen.push(request);
        const answer = () => {
          res.setHeader('content-type', 'application/json');
          res.setHeader('x-app', name);
          res.end(JSON.stringify({ app: name, ...request }));
        };
        const slow = /^\/slow\?ms=(\d+)$/.exec(request.url);
        if (slow) {
          slowArrived?.();
          slowArrived = undefined;
          setTimeout(answer, Number(slow[1]));
        } else {
          answer();
        }
      });
    });
    next.keepAliveTimeout = 30_000;
    next.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    server = next;
    return new Promise((resolve, reject) => {
      next.once('error', reject);
      next.listen(port, '127.0.0.1', () => {
        port = (next.address() as { port: number }).port;
        resolve();
      });
    });
  }

  await listen();
  return {
    name,
    get port() {
      return port;
    },
    seen,
    nextSlow: () =>
      new Promise<void>((resolve) => {
        slowArrived = resolve;
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        if (server === undefined) resolve();
        else server.close(() => resolve());
        server = undefined;
      }),
    start: listen,
  };
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request to 127.0.0.1:port, on a fresh connection unless an agent is given; `path` may be absolute-form. */
export function send(
  port: number,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string; agent?: Agent },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path,
        headers: options.headers,
        agent: options.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The environment without the TRELLIS_* variables of whoever runs the tests. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env))
    if (!name.startsWith('TRELLIS_') && !name.startsWith('NODE_CLUSTER')) env[name] = value;
  return { ...env, ...extra };
}

/** The `trellis` binary running as a child process. */
/** `trellis proxy` arguments for a sidecar of `service` beside the app on `appPort`, checked every 200 ms. */
export function sidecarArgs(
  service: string,
  appPort: number,
  ports: { inbound: number; outbound: number },
  control: string,
  extra: string[] = [],
): string[] {
  return [
    'proxy',
    '--service',
    service,
    '--app',
    `127.0.0.1:${appPort}`,
    '--inbound-port',
    String(ports.inbound),
    '--outbound-port',
    String(ports.outbound),
    '--control',
    control,
    '--check-interval',
    '200ms',
    ...extra,
  ];
}

export interface Running {
  readonly child: ChildProcess;
  readonly pid: number;
  output(): string;
  /** Resolves with the exit code (null when ended by a signal). */
  readonly exited: Promise<number | null>;
  /** Resolves once the output contains `text`; rejects if the process exits first or time runs out. */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
}

/**
 * `env`: variables set for this process beside the test's own (cleanEnv). `ipc`: with an IPC
 * channel to this process, as pm2 starts one (a proxy then is not relaunched, bin/relaunch.js).
 */
export function spawnTrellis(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
  options: { ipc?: boolean } = {},
): Running {
  const child = spawn(process.execPath, [TRELLIS_BIN, ...args], {
    cwd,
    env: cleanEnv(env),
    stdio: options.ipc === true ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const waiters = new Set<() => void>();
  const collect = (chunk: string) => {
    output += chunk;
    for (const waiter of [...waiters]) waiter();
  };
  child.stdout!.setEncoding('utf8').on('data', collect);
  child.stderr!.setEncoding('utf8').on('data', collect);
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      exitCode = code;
      for (const waiter of [...waiters]) waiter();
      resolve(code);
    }),
  );
  const matches = (text: string | RegExp) =>
    typeof text === 'string' ? output.includes(text) : text.test(output);
  return {
    child,
    pid: child.pid!,
    output: () => output,
    exited,
    waitFor(text, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${String(text)} within ${timeoutMs} ms; output:\n${output}`));
        }, timeoutMs);
        const check = () => {
          if (matches(text)) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve();
          } else if (exitCode !== undefined) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`exited (${exitCode}) before ${String(text)}; output:\n${output}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Stops a child by its pid (SIGKILL), if it still runs, and waits for it. */
export async function kill(running: Running): Promise<void> {
  if (running.child.exitCode === null && running.child.signalCode === null) {
    running.child.kill('SIGKILL');
    await running.exited;
  }
}

/** A process's command line (program and arguments), from /proc. */
export function commandLine(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
}

/** The pids of `parent`'s child processes (Linux: /proc). */
export function childPids(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name may hold spaces; the fields after its closing parenthesis do not.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** The pids of the processes holding a TCP connection to 127.0.0.1:port (Linux: /proc). */
export function pidsConnectedTo(port: number, among: number[]): number[] {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // rem_address is fields[2] as ADDR:PORT in hex; st 01 is ESTABLISHED; the inode is fields[9].
      if (fields.length > 9 && fields[2]!.endsWith(`:${hexPort}`) && fields[3] === '01')
        inodes.add(fields[9]!);
    }
  }
  return among.filter((pid) => {
    try {
      return readdirSync(`/proc/${pid}/fd`).some((fd) => {
        try {
          const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
          return inode !== undefined && inodes.has(inode);
        } catch {
          return false;
        }
      });
    } catch {
      return false;
    }
  });
}

/** The shared poller (test/helpers/control.ts) with the longer defaults processes need. */
export function eventually<T>(
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 10_000,
  intervalMs = 100,
): Promise<T> {
  return pollUntil(probe, timeoutMs, intervalMs);
}
