#!/usr/bin/env node
// Runs the built CLI (dist/bundle/, plain bundled JavaScript: no loader thread, ~35 MB less memory, faster start)
// when `npm run build` made it from the sources as they are now; otherwise the TypeScript in src/
// through tsx's loader, so `npm install` is all a checkout needs and an edited source never runs
// stale. TRELLIS_FROM_SOURCE=1 always runs the sources.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { relaunch, relaunchCommandLine, relaunchEnvironment } from './relaunch.js';

const root = new URL('../', import.meta.url);

// A proxy's Node starts again with the options and environment it needs from its start (see
// relaunch.js); when that works, nothing below runs in this image of the process.
const commandLine = relaunchCommandLine(process);
if (commandLine !== undefined) {
  relaunch(root, commandLine, relaunchEnvironment(process), (error) =>
    process.emitWarning(`trellis: could not restart Node with ${commandLine.join(' ')}: ${error.message}`),
  );
}

const built = existsSync(new URL('dist/bundle/main.js', root));
const sources = existsSync(new URL('src/cli/main.ts', root));

// A proxy's resident memory (issue 3 asks < 60 MB for a sidecar; npm run bench:proxy measures it).
// Little of what a proxy allocates outlives its request, so a young generation kept at its first
// 1 MB semi-spaces instead of growing to 16 MB keeps 15-35 MB off a busy proxy for ~3% more CPU in
// scavenges. What does outlive a request (connections, spans waiting for their export, Node's own
// GC performance entries) is garbage in the old generation until the next full collection. V8 sets
// that collection's limit from what the last one left: by default up to 4x it (--trace-gc-verbose:
// 6.6 MB live, next collection at 28 MB); at 1,000 req/s a proxy promotes ~30 KB/s, so its heap
// grew for minutes. --incremental-marking-hard-trigger=5 starts V8's own incremental marking once
// 5% of the space between what the last full collection left and that limit is used (V8 starts
// none while the old generation is under 8 MB): the next collection comes ~1 MB later, every ~30 s
// at that rate. Bytecode is kept (--no-flush-bytecode): the proxy's code is small and fixed, and
// a proxy that idled through a few collections otherwise paid up to 1.5x the CPU per request while
// it compiled its code again (+3 to +5 µs per request at saturation in bench:proxy). V8 reads these
// settings each time it uses them, so setting them here, after start, still applies.
// V8's memory-saving mode (--optimize-for-size) kept the limit at V8's 8 MB step before the
// trigger did better (bench:proxy SUSTAIN=180: 57.5 -> 63.3 MiB over three minutes with the mode
// alone; with the trigger at 10% as well, 57.4-59.1, the sidecar 56.7-57.6). With the trigger it
// only cost: every collection it starts is a memory-reducing one, which keeps no maps whose objects
// all died, so code that checks them deoptimizes and compiles again. Without it (harness: sidecar,
// 5 s saturating, 12 s quiet, 20 s at 1,000 req/s, three interleaved pairs): paced p50 326-358 µs
// against 351-408, p90 542-667 against 613-719, the main thread's CPU 7-12% lower, saturation
// 35.3-43.9 µs per request against 36.8-47.5, highest RSS 56.2-56.3 MiB against 56.1-57.3.
// Measured and left out: running without Sparkplug, V8's baseline compiler (--no-sparkplug): ~1 MB
// less at 1,000 req/s, but 43.9 and 46.5 µs of CPU per request (sidecar, gateway) in a full
// bench:proxy run against 40.4 and 41.3 in the same kind of run with it: warm code that is not hot
// enough for the optimizing compiler then runs in the interpreter. --heap-growing-percent only
// sets the factor, not V8's step. --no-incremental-marking gets the 2 MB step of V8's
// conservative mode, but then promotion never triggers a full collection, only an old-space
// allocation that finds the limit reached: the heap grew to 16 MB anyway and was not given back.
const command = process.argv[2];
if (command === 'proxy' || command === 'gateway') {
  for (const flag of [
    '--semi-space-growth-factor=1',
    '--no-flush-bytecode',
    '--incremental-marking-hard-trigger=5',
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
