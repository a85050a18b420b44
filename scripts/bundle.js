// Bundles the CLI that tsc compiled into dist/ (one module graph of ~150 files) into dist/bundle/:
// main.js, the proxies' worker entry worker-main.js, and chunks that each command loads when it
// runs. npm packages stay imports of node_modules. Fewer, smaller modules take ~7 MB less resident
// memory in a sidecar (each ES module keeps its source, scope data and records in the heap), and the
// sidecar's budget is 60 MB. commander, the one CommonJS package every command loads, is bundled
// too: importing it from node_modules brings in Node's CommonJS loader and export lexer (~1.2 MB
// resident); bundled, its require() calls of Node built-ins go through the createRequire shim of
// the banner. Identifiers are kept so stack traces stay readable; a source map sits
// beside each file (node --enable-source-maps uses it).
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const BUNDLED_PACKAGES = new Set(['commander']);
/** Every other package stays an import of node_modules (subpaths included). */
const EXTERNAL_PACKAGES = (() => {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  const names = Object.keys({ ...manifest.dependencies, ...manifest.devDependencies });
  return names.filter((name) => !BUNDLED_PACKAGES.has(name));
})();

export const BUNDLE_DIR = 'bundle';

/** Bundles `<dist>/cli/main.js` and `<dist>/proxy/workers/worker-main.js` into `<dist>/bundle/`. */
export async function bundleCli(dist) {
  const outdir = join(dist, BUNDLE_DIR);
  rmSync(outdir, { recursive: true, force: true });
  await build({
    entryPoints: [join(dist, 'cli/main.js'), join(dist, 'proxy/workers/worker-main.js')],
    outdir,
    // Flat, so the worker pool finds worker-main.js beside the chunk that holds it.
    entryNames: '[name]',
    chunkNames: 'chunk-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: EXTERNAL_PACKAGES,
    banner: {
      js: "import { createRequire as __trellisCreateRequire } from 'node:module'; const require = __trellisCreateRequire(import.meta.url);",
    },
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  return outdir;
}
