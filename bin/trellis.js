#!/usr/bin/env node
// Runs the built CLI (dist/bundle/, plain bundled JavaScript: no loader thread, ~35 MB less memory, faster start)
// when `npm run build` made it from the sources as they are now; otherwise the TypeScript in src/
// through tsx's loader, so `npm install` is all a checkout needs and an edited source never runs
// stale. TRELLIS_FROM_SOURCE=1 always runs the sources.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';

const root = new URL('../', import.meta.url);
const built = existsSync(new URL('dist/bundle/main.js', root));
const sources = existsSync(new URL('src/cli/main.ts', root));

// A proxy's resident memory (issue 3 asks < 60 MB for a sidecar; npm run bench:proxy measures it).
// Little of what a proxy allocates outlives its request, so a young generation kept at its first
// 1 MB semi-spaces instead of growing to 16 MB keeps 15-35 MB off a busy proxy for ~3% more CPU in
// scavenges. What does outlive a request (connections, spans waiting for their export, Node's own
// GC performance entries) is garbage in the old generation until the next full collection. V8 sets
// that collection's limit from what the last one left: by default up to 4x it (--trace-gc-verbose:
// 6.6 MB live, next collection at 28 MB). V8's memory-saving mode (--optimize-for-size) makes every
// full collection a memory-reducing one, which pins that factor at its minimum (1.1) and gives
// emptied pages back, so the limit becomes V8's fixed step: 8 MB plus the young generation past
// what was live (15.8 MB): 2-4 MiB less in bench:proxy. That reducing also flushes the bytecode of
// functions that have not run for a few collections; a proxy that idled through some then paid up
// to 1.5x the CPU per request while its code warmed up again (+3 to +5 µs per request at saturation
// in bench:proxy). The proxy's code is small and fixed, so bytecode is kept (--no-flush-bytecode):
// the same CPU as without the mode. V8 reads these settings each time it uses them, so setting them
// here, after start, still applies.
// Even at that limit a proxy under steady load grew for minutes: at 1,000 req/s it promotes ~30
// KB/s, so the 8 MB step took 4-5 minutes to fill (bench:proxy SUSTAIN=180: 57.5 -> 63.3 MiB over
// three minutes). --incremental-marking-hard-trigger=10 starts V8's incremental marking once 10% of
// the space between what the last full collection left and that limit is used (V8 still starts
// none while the old generation is under 8 MB), so the next collection comes ~1 MB later, not 8:
// every ~30 s at that rate (SUSTAIN=180 with it: 57.4-59.1 MiB, the sidecar 56.7-57.6).
// Measured and left out: running without Sparkplug, V8's baseline compiler (--no-sparkplug): ~1 MB
// less at 1,000 req/s, but 43.9 and 46.5 µs of CPU per request (sidecar, gateway) in a full
// bench:proxy run against 40.4 and 41.3 in the same kind of run with it: warm code that is not hot
// enough for the optimizing compiler then runs in the interpreter. --heap-growing-percent only
// sets the factor, not the 8 MB step. --no-incremental-marking gets the 2 MB step of V8's
// conservative mode, but then promotion never triggers a full collection, only an old-space
// allocation that finds the limit reached: the heap grew to 16 MB anyway and was not given back.
const command = process.argv[2];
if (command === 'proxy' || command === 'gateway') {
  for (const flag of [
    '--semi-space-growth-factor=1',
    '--optimize-for-size',
    '--no-flush-bytecode',
    '--incremental-marking-hard-trigger=10',
  ]) {
    setFlagsFromString(flag);
  }
}

async function useBuilt() {
  if (!built) return false;
  if (!sources) return true;
  if (process.env.TRELLIS_FROM_SOURCE === '1') return false;
  const { builtIsCurrent } = await import('../scripts/source-stamp.js');
  return builtIsCurrent(fileURLToPath(root));
}

if (await useBuilt()) {
  await import('../dist/bundle/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
