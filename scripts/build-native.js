// npm install runs this (the package's install script): builds native/ (the proxies' malloc_trim, see
// src/proxy/malloc-release.ts, busy polling, see src/proxy/engine/reply-poller.ts, and execve, see
// bin/relaunch.js) with npm's own node-gyp against the running Node's headers. The modules are
// optional: where they cannot be built (no C compiler, no headers), the install still succeeds, says
// so, and the proxies run without giving malloc's free pages back, without busy polling and with
// Node's four V8 background threads (`npm rebuild` after installing a compiler builds them). Their
// tests fail where they are missing, so CI never runs without them.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const nativeDir = fileURLToPath(new URL('../native/', import.meta.url));
const prefix = dirname(dirname(process.execPath));

/** npm's node-gyp: npm names it to install scripts; otherwise the one inside the npm beside node. */
function nodeGyp() {
  const named = process.env.npm_config_node_gyp;
  if (named && existsSync(named)) return named;
  const bundled = join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js');
  return existsSync(bundled) ? bundled : undefined;
}

function warn(reason) {
  console.warn(
    `trellis: native/ not built (${reason}); proxies will run without giving malloc's free pages back and without busy polling. Install a C compiler, then run npm rebuild.`,
  );
}

const gyp = nodeGyp();
if (process.platform !== 'linux') {
  console.log('trellis: native/ is built for Linux only; skipped');
} else if (!gyp) {
  warn("npm's node-gyp was not found");
} else {
  const args = [gyp, 'rebuild'];
  // Build against the headers of the Node that runs, offline, when they are installed beside it.
  if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include/node/node_api.h'))) {
    args.push(`--nodedir=${prefix}`);
  }
  const result = spawnSync(process.execPath, args, { cwd: nativeDir, stdio: ['ignore', 'ignore', 'pipe'] });
  if (result.status !== 0)
    warn(`node-gyp failed: ${String(result.stderr).trim().split('\n').slice(-3).join(' / ')}`);
}
