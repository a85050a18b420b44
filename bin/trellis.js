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
// scavenges. What a busy proxy does promote is mostly garbage by its next full collection; V8's
// memory-saving mode lets the old generation grow 2 MB between full collections instead of 8 and
// has its memory reducer return pages after a burst: 3-6 MB less after a saturating load, no
// measurable CPU per request (bench:proxy, A/B). V8 reads both settings each time it decides, so
// setting them here, after start, still applies.
const command = process.argv[2];
if (command === 'proxy' || command === 'gateway') {
  setFlagsFromString('--semi-space-growth-factor=1');
  setFlagsFromString('--optimize-for-size');
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
