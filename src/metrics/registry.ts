/**
 * The process's one Prometheus registry. Families are module-level objects
 * (plain in-memory counters: no I/O, timers or env reads at import), so the
 * runtime's hot paths increment a pre-bound child without looking anything
 * up. The default process metrics (CPU, memory, event loop, GC) start with
 * the first role ({@link startProcessMetrics}), since they install an event
 * loop monitor.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';

/** Every family Loom exports starts with this. */
export const PREFIX = 'loom_';

export const registry = new Registry();

let processMetricsStarted = false;

/** Adds the default process and Node.js metrics (prefixed `loom_`); once per process. */
export function startProcessMetrics(): void {
  if (processMetricsStarted) return;
  processMetricsStarted = true;
  collectDefaultMetrics({ register: registry, prefix: PREFIX });
}

/** Histogram buckets in seconds for in-process and NATS round trips (0.5 ms to 10 s). */
export const FAST_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Histogram buckets in seconds for model calls and job steps (50 ms to 10 min). */
export const SLOW_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
