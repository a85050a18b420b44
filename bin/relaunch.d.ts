/** Node options a proxy starts with. */
export declare const PROXY_NODE_OPTIONS: readonly string[];

/** What relaunchCommandLine reads of Node's `process`. */
export interface RelaunchedProcess {
  argv: readonly string[];
  execArgv: readonly string[];
  execPath: string;
  env: Record<string, string | undefined>;
  channel: unknown;
}

/**
 * The command line to start this process's Node again with (the program first), or undefined when
 * it is not a proxy, or already has every option it would add and no NODE_EXTRA_CA_CERTS to defer.
 */
export declare function relaunchCommandLine(process: RelaunchedProcess): string[] | undefined;

/** Where a relaunched proxy finds NODE_EXTRA_CA_CERTS's file (src/core/extra-ca-certs.ts reads it). */
export declare const DEFERRED_EXTRA_CA_CERTS: string;

/**
 * The environment to start a proxy's Node again with: `env`, with NODE_EXTRA_CA_CERTS moved to
 * TRELLIS_EXTRA_CA_CERTS unless the default trust is OpenSSL's store.
 */
export declare function relaunchEnvironment(
  process: Pick<RelaunchedProcess, 'execArgv' | 'env'>,
): Record<string, string | undefined>;

/**
 * Replaces this process with `commandLine` (same PID). Returns only when it cannot: the native
 * module is not built here, or the system refused (then `onError` hears why).
 */
export declare function relaunch(
  root: URL,
  commandLine: readonly string[],
  env: Record<string, string | undefined>,
  onError?: (error: Error & { code?: string }) => void,
): void;
