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
 * it is not a proxy or already has every option it would add.
 */
export declare function relaunchCommandLine(process: RelaunchedProcess): string[] | undefined;

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
