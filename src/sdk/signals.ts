const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/**
 * Runs `shutdown` on SIGTERM or SIGINT. A listener stops Node's default of ending the process, so
 * when no other listener is left the signal is raised again once `shutdown` is done; when the
 * application listens too, ending the process is its business. Returns the uninstall function.
 */
export function onShutdownSignal(shutdown: () => Promise<void>): () => void {
  const listeners = new Map<NodeJS.Signals, () => void>();
  const uninstall = () => {
    for (const [signal, listener] of listeners) process.removeListener(signal, listener);
    listeners.clear();
  };
  for (const signal of SIGNALS) {
    const listener = () => {
      uninstall();
      void shutdown()
        .catch(() => {})
        .finally(() => {
          if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
        });
    };
    listeners.set(signal, listener);
    process.on(signal, listener);
  }
  return uninstall;
}
