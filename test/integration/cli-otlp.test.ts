/** `trellis start --otlp-endpoint`: a real child process forwarding the spans it receives. */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeTraceRequestJson, type SpanData } from '../../src/telemetry/index.ts';
import { eventually } from '../helpers/control.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TRELLIS_BIN = fileURLToPath(new URL('../../bin/trellis.js', import.meta.url));

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env))
    if (!name.startsWith('TRELLIS_')) env[name] = value;
  return env;
}

let receiver: Server;
let receiverUrl: string;
const received: SpanData[] = [];
let dataDir: string;
let child: ChildProcess | undefined;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push(...decodeTraceRequestJson(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  dataDir = await mkdtemp(join(tmpdir(), 'trellis-cli-otlp-'));
});

afterAll(async () => {
  if (child?.pid !== undefined && child.exitCode === null) {
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    process.kill(child.pid, 'SIGTERM');
    await exited;
  }
  await new Promise<void>((resolve) => {
    receiver.closeAllConnections();
    receiver.close(() => resolve());
  });
  await rm(dataDir, { recursive: true, force: true });
});

describe('trellis start --otlp-endpoint', () => {
  it('forwards spans posted to /v1/traces to the endpoint', async () => {
    child = spawn(
      process.execPath,
      [
        TRELLIS_BIN,
        'start',
        '--port',
        '0',
        '--no-gateway',
        '--data-dir',
        dataDir,
        '--otlp-endpoint',
        receiverUrl,
        '--log-level',
        'warn',
      ],
      { cwd: REPO_ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const url = await eventually(() => /listening on (http:\/\/\S+)/.exec(output)?.[1], 30_000);
    expect(output).toContain(`otlp:     forwarding spans to ${receiverUrl}`);

    const now = BigInt(Date.now()) * 1_000_000n;
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'cli-app' } }] },
          scopeSpans: [
            {
              spans: [
                {
                  traceId: '0af7651916cd43dd8448eb211c80319c',
                  spanId: 'b7ad6b7169203331',
                  name: 'GET /',
                  kind: 2,
                  startTimeUnixNano: String(now),
                  endTimeUnixNano: String(now + 2_000_000n),
                },
              ],
            },
          ],
        },
      ],
    };
    const res = await fetch(`${url}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    await eventually(() => received.length === 1, 10_000);
    expect(received[0]).toMatchObject({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      name: 'GET /',
      resource: { serviceName: 'cli-app' },
    });
  });

  it('refuses an endpoint that is not an http(s) URL', async () => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [TRELLIS_BIN, 'start', '--port', '0', '--data-dir', dataDir, '--otlp-endpoint', 'collector:4318'],
        { cwd: REPO_ROOT, env: cleanEnv(), timeout: 30_000 },
        (error, _stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, stderr }),
      );
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/--otlp-endpoint.*expected an http\(s\) URL/);
  });
});
