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
// scavenges (V8 reads the factor each time it would grow, so setting it here still applies).
// Without Sparkplug, V8's baseline compiler, functions go from the interpreter straight to the
// optimizing compiler: ~1 MB less at 1,000 req/s (its code and what compiling it touches), and no
// CPU per request lost at saturation, where the hot path runs optimized code either way (bench:proxy
// A/B: 36.1 µs per request without it, 39.0 with it, HAProxy 24.0 and 25.6 in the same runs).
// V8's memory-saving mode (--optimize-for-size) was measured too and left out: 1-2 MB less after a
// saturating load, but its memory-reducing collections flush compiled code, and a burst after a
// quiet spell then cost up to 1.5x the CPU per request while the code warmed up again.
const command = process.argv[2];
if (command === 'proxy' || command === 'gateway') {
  setFlagsFromString('--semi-space-growth-factor=1');
  setFlagsFromString('--no-sparkplug');
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
