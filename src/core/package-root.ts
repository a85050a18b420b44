import { existsSync } from 'node:fs';

/**
 * The folder of Trellis's package.json, found from any of its modules: they run from src/, from
 * dist/ (tsc's output, the library) or from dist/bundle/ (the CLI as `npm run build` bundles it),
 * each at a different depth, so a fixed `../../` would be right for only one of them.
 */
export function packageRoot(moduleUrl: string): URL {
  let dir = new URL('./', moduleUrl);
  for (;;) {
    if (existsSync(new URL('package.json', dir))) return dir;
    const parent = new URL('../', dir);
    if (parent.href === dir.href) throw new Error(`no package.json in any folder above ${moduleUrl}`);
    dir = parent;
  }
}
