// npm run build: compiles src/ to plain JavaScript in dist/ (tsconfig.build.json), bundles the CLI
// into dist/bundle/ (bundle.js), then records the sources' stamp, which bin/trellis.js checks before
// it runs the bundle instead of the TypeScript.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleCli } from './bundle.js';
import { STAMP_FILE, sourceStamp } from './source-stamp.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const dist = join(root, 'dist');
const stampPath = join(dist, STAMP_FILE);

// A build that fails half-way must not leave a stamp behind that vouches for it.
rmSync(stampPath, { force: true });
// Taken before compiling: a source edited meanwhile is newer than the stamp, so dist/ counts as stale.
const stamp = sourceStamp(root);
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], {
  cwd: root,
  stdio: 'inherit',
});
if (result.status !== 0) {
  console.error(
    `build: tsc failed (${result.status ?? result.signal}); dist/ is not used until a build succeeds`,
  );
  process.exit(1);
}
try {
  await bundleCli(dist);
} catch (error) {
  console.error(`build: bundling the CLI failed: ${error.message}`);
  process.exit(1);
}
mkdirSync(dist, { recursive: true });
writeFileSync(stampPath, `${JSON.stringify({ ...stamp, builtAt: new Date().toISOString() })}\n`);
console.log('build: dist/ is up to date with src/; bin/trellis.js runs it until a source changes');
