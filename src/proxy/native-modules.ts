/**
 * The modules of native/, built at `npm install` where a C compiler is found
 * (scripts/build-native.js). Each is optional: where one was not built, what uses it says so in
 * its debug log and the proxy runs without it.
 */

import { fileURLToPath } from 'node:url';
import { packageRoot } from '../core/package-root.ts';

/** native/build/Release/<name>.node's exports, or undefined where it was not built or cannot load. */
export function loadNativeModule<T>(name: string, root: URL = packageRoot(import.meta.url)): T | undefined {
  const path = fileURLToPath(new URL(`native/build/Release/${name}.node`, root));
  // process.dlopen, not require(), which would run the CommonJS loader for this one file.
  const addon = { exports: {} as T };
  try {
    process.dlopen(addon, path);
    return addon.exports;
  } catch {
    return undefined;
  }
}
