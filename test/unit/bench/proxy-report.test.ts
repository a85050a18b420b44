import { describe, expect, it } from 'vitest';
import { renderReport, renderVerdict, type Sample } from '../../../bench/proxy/report.ts';
import type { TargetId } from '../../../bench/proxy/targets.ts';
import type { WrkResult } from '../../../bench/proxy/wrk.ts';

function wrk(requests: number, p50Us: number, p90Us: number): WrkResult {
  return {
    requests,
    duration_us: 1_000_000,
    bytes: 0,
    err_connect: 0,
    err_read: 0,
    err_write: 0,
    err_status: 0,
    err_timeout: 0,
    mean_us: p50Us,
    p50_us: p50Us,
    p90_us: p90Us,
    p99_us: p90Us,
    p999_us: p90Us,
    max_us: p90Us,
  };
}

function sample(
  target: TargetId,
  test: Sample['test'],
  requests: number,
  p50Us: number,
  rssMiB: number,
): Sample {
  return {
    round: 1,
    test,
    target,
    wrk: wrk(requests, p50Us, p50Us * 2),
    // 30 µs of CPU per request at saturation.
    proxyCpuNs: target === 'direct' ? Number.NaN : requests * 30_000,
    proxyUserShare: 0.5,
    upstreamCpuNs: 0,
    wrkCpuNs: 0,
    foreignCpuNs: 0,
    stealNs: 0,
    rssMiB,
    rssAnonMiB: rssMiB / 3,
    rssFileMiB: (rssMiB * 2) / 3,
  };
}

/** One round where the sidecar meets every target, with `pacedRssMiB` in its paced run. */
function round(pacedRssMiB: number): Sample[] {
  return [
    sample('direct', 'saturation', 50_000, 400, Number.NaN),
    sample('haproxy', 'saturation', 40_000, 600, 15),
    sample('sidecar', 'saturation', 30_000, 900, 56),
    sample('direct', 'paced', 1_000, 60, Number.NaN),
    sample('haproxy', 'paced', 1_000, 300, 15),
    sample('sidecar', 'paced', 1_000, 250, pacedRssMiB),
  ];
}

describe('bench:proxy verdict', () => {
  it('checks the five targets from the rounds', () => {
    const verdict = renderVerdict(round(55), 'sidecar', undefined);
    expect(verdict).toContain('Trellis sidecar meets every target');
    expect(verdict).toContain('RSS at ~1,000 req/s 57.7 MB = 55.0 MiB');
    expect(renderVerdict(round(58), 'sidecar', undefined)).toContain('misses 1 of 5 targets');
  });

  it('with a sustained run, also checks the memory at its end', () => {
    const sustained = { seconds: 180, stepSeconds: 30, lastPeakMiB: { sidecar: 58.0 } };
    const over = renderVerdict(round(55), 'sidecar', undefined, sustained);
    expect(over).toContain('misses 1 of 6 targets');
    expect(over).toContain(
      'RSS in the last 30 s of 180 s at ~1,000 req/s from start 60.8 MB = 58.0 MiB (< 60 MB) MISS',
    );
    const under = renderVerdict(round(55), 'sidecar', undefined, {
      ...sustained,
      lastPeakMiB: { sidecar: 57.0 },
    });
    expect(under).toContain('meets every target');
    expect(under).toContain('= 57.0 MiB (< 60 MB) PASS');
  });

  it('prints requests/s, added latency and CPU per 1,000 requests as ratios to HAProxy and the direct path', () => {
    const info = {
      date: 'd',
      machine: 'm',
      versions: 'v',
      rounds: 1,
      seconds: 5,
      connections: 32,
      rate: 1_000,
      pacedConnections: 16,
      coreLoad: 0,
      coreProxy: 1,
      bodyBytes: 1024,
    };
    const report = renderReport(info, ['direct', 'haproxy', 'sidecar'], {}, round(55));
    // Sidecar: 30k / 40k req/s; added p50 (250 - 60) / (300 - 60) µs, p99 (500 - 120) / (600 - 120);
    // paced p50 250 / 60, p99 500 / 120; 30 µs of CPU per request for both proxies.
    expect(report).toContain(
      '| **Trellis sidecar** (inbound) | 0.75 | 0.60 | 0.79 | 0.79 | 4.17 | 4.17 | 30.0 | 1.00 |',
    );
    expect(report).toContain(
      '| HAProxy (nbthread 1) | 1.00 | 0.80 | 1.00 | 1.00 | 5.00 | 5.00 | 30.0 | 1.00 |',
    );
    expect(report).not.toMatch(/^\| direct \(no proxy\) \| 1\.00 \|/m);
  });
});
