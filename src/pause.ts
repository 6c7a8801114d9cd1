/** Waiting that a stop can cut short: retry loops and pollers wait here, never past their signal. */

/** Resolves after `ms`, or at once when `signal` aborts (already aborted: at once). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
