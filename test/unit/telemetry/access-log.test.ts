import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AccessRecord,
  createAccessRecord,
  openAccessLog,
  resetAccessRecord,
} from '../../../src/telemetry/access-log.ts';
import { runModuleScript } from '../../helpers/module-script.ts';

function fill(record: AccessRecord, n: number): AccessRecord {
  record.traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  record.spanId = `00f067aa0ba902b${n % 10}`;
  record.method = 'GET';
  record.path = `/orders/${n}?q="x"`;
  record.route = 'orders';
  record.service = 'orders';
  record.endpoint = '127.0.0.1:8081';
  record.status = 200;
  record.durationMs = 1.23456789;
  record.bytesIn = 0;
  record.bytesOut = 512;
  record.attempts = 1;
  return record;
}

async function lines(path: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line));
}

describe('access log', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-access-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes one JSON line per request to a file, reusing one record', async () => {
    const path = join(dir, 'logs', 'access.log'); // the directory is created
    const log = await openAccessLog({ destination: path, fields: { proxy: 'gateway' } });
    expect(log.enabled).toBe(true);
    const record = log.record('gateway');
    const before = Date.now();
    for (let n = 0; n < 3; n++) {
      fill(record, n);
      if (n === 2) {
        record.status = 503;
        record.error = 'NO_HEALTHY_UPSTREAM';
        record.endpoint = undefined;
        record.attempts = 0;
      }
      log.log(record);
      resetAccessRecord(record);
    }
    await log.close();

    const parsed = await lines(path);
    expect(parsed).toHaveLength(3);
    expect(parsed[0]).toEqual({
      type: 'access',
      time: expect.any(Number),
      proxy: 'gateway',
      direction: 'gateway',
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b0',
      method: 'GET',
      path: '/orders/0?q="x"',
      route: 'orders',
      service: 'orders',
      endpoint: '127.0.0.1:8081',
      status: 200,
      durationMs: 1.235,
      bytesIn: 0,
      bytesOut: 512,
      attempts: 1,
    });
    expect(parsed[0]!.time as number).toBeGreaterThanOrEqual(before);
    expect(parsed[1]!.path).toBe('/orders/1?q="x"');
    // Undefined fields are left out; the error code is there when there is one.
    expect(parsed[2]).toMatchObject({ status: 503, error: 'NO_HEALTHY_UPSTREAM', attempts: 0 });
    expect(parsed[2]).not.toHaveProperty('endpoint');
    expect(parsed[0]).not.toHaveProperty('error');
  });

  it('flush() writes what was logged so far and keeps the log open', async () => {
    const path = join(dir, 'access.log');
    const log = await openAccessLog({ destination: path });
    log.log(fill(log.record('inbound'), 1));
    await log.flush();
    expect(await lines(path)).toMatchObject([{ direction: 'inbound', status: 200 }]);
    log.log(fill(log.record('outbound'), 2));
    await log.close();
    expect((await lines(path)).map((line) => line.direction)).toEqual(['inbound', 'outbound']);
    log.log(fill(log.record('outbound'), 3)); // after close: ignored
    expect(await lines(path)).toHaveLength(2);
  });

  it('off writes nothing and needs no records', async () => {
    const log = await openAccessLog({ destination: 'off' });
    expect(log.enabled).toBe(false);
    log.log(fill(createAccessRecord('gateway'), 1));
    await log.flush();
    await log.close();
    expect(await readdir(dir)).toEqual([]);
  });

  it('drops lines beyond the buffer limit instead of holding them, and counts them', async () => {
    const path = join(dir, 'access.log');
    const log = await openAccessLog({ destination: path, maxBufferBytes: 2_000 });
    const record = log.record('gateway');
    // All logged in one tick: nothing can reach the disk in between, so the buffer fills up.
    for (let n = 0; n < 100; n++) log.log(fill(record, n));
    await log.close();
    const written = await lines(path);
    expect(log.dropped()).toBeGreaterThan(0);
    expect(written.length + log.dropped()).toBe(100);
    expect(written.length).toBeGreaterThan(0);
  });

  it('rejects a destination it cannot open', async () => {
    const blocker = join(dir, 'file');
    const log = await openAccessLog({ destination: blocker });
    await log.close();
    // A path under a regular file cannot be created.
    await expect(openAccessLog({ destination: join(blocker, 'access.log') })).rejects.toThrow(/cannot open/);
  });

  it('writes to stdout', async () => {
    const script = [
      "import { openAccessLog } from './src/telemetry/access-log.ts';",
      "const log = await openAccessLog({ destination: 'stdout' });",
      "const record = log.record('outbound');",
      "record.method = 'POST'; record.path = '/x'; record.status = 201;",
      'log.log(record);',
      'await log.close();',
    ].join('\n');
    expect(await runModuleScript(script)).toMatchObject({
      type: 'access',
      direction: 'outbound',
      method: 'POST',
      status: 201,
    });
  });
});
