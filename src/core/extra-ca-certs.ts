import { readFileSync } from 'node:fs';
import type { SecureContext } from 'node:tls';
import { loadTls } from './lazy-builtins.ts';

/**
 * The environment variable a relaunched proxy finds NODE_EXTRA_CA_CERTS's file in. Node 20 parses
 * that file, and its own bundled roots with it, when it starts (1.8 MiB resident for Debian's bundle
 * of 144 certificates), whether or not the process ever verifies a TLS peer; bin/relaunch.js starts a
 * proxy's Node without it and leaves the file's name here, for `extraCaTrust` to load on first use.
 */
export const DEFERRED_EXTRA_CA_CERTS = 'TRELLIS_EXTRA_CA_CERTS';

/**
 * What a child proxy process (a `--workers` worker) adds to its parent's environment so that it
 * starts without NODE_EXTRA_CA_CERTS, the file's name moved to DEFERRED_EXTRA_CA_CERTS, as
 * bin/relaunch.js moves it for a proxy's main process: needed where that process could not be
 * relaunched (started with an IPC channel, or without the native module) and so still has it.
 * Empty when there is nothing to move, or when `--use-openssl-ca` (in `execArgv` or NODE_OPTIONS)
 * makes OpenSSL's store the default trust. An undefined value removes the variable: child_process
 * leaves undefined values out of the environment it passes.
 */
export function deferredExtraCaEnvironment(
  env: Record<string, string | undefined>,
  execArgv: readonly string[],
): Record<string, string | undefined> {
  const file = env.NODE_EXTRA_CA_CERTS;
  if (file === undefined || file === '') return {};
  const options = [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)];
  if (options.includes('--use-openssl-ca')) return {};
  return { NODE_EXTRA_CA_CERTS: undefined, [DEFERRED_EXTRA_CA_CERTS]: file };
}

export interface ExtraCaTrust {
  /**
   * The TLS context for connections that verify their peer against the default trust: Node's
   * bundled roots and the deferred file's certificates, as Node would have trusted them had it
   * loaded the file itself. Undefined when nothing was deferred: Node's default context then
   * already is that trust. Built on the first call.
   */
  secureContext(): SecureContext | undefined;
}

/**
 * The default trust of TLS clients in a process whose environment is `env`. `warn` hears why a
 * deferred file could not be used (Node warns the same way and goes on without it).
 */
export function extraCaTrust(
  env: Record<string, string | undefined> = process.env,
  warn: (message: string) => void = (message) => process.emitWarning(message),
): ExtraCaTrust {
  const file = env[DEFERRED_EXTRA_CA_CERTS];
  let context: SecureContext | undefined;
  let built = file === undefined || file === '';
  return {
    secureContext() {
      if (built) return context;
      built = true;
      const tls = loadTls();
      try {
        context = tls.createSecureContext({
          ca: [...tls.rootCertificates, readFileSync(file as string, 'latin1')],
        });
      } catch (error) {
        warn(`Ignoring extra certs from \`${file}\`, load failed: ${(error as Error).message}`);
      }
      return context;
    },
  };
}

// One per process, as Node's own root store is: each context holds every root certificate again.
const processTrust = extraCaTrust();

/**
 * The TLS context for this process's clients that verify their peer against the default trust (the
 * control link, the control-plane client, an https OTLP receiver); undefined: Node's default.
 */
export function defaultSecureContext(): SecureContext | undefined {
  return processTrust.secureContext();
}
