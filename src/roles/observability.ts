/**
 * What every role gets for being watched: the process metrics, the queue
 * gauges (actor hosts read the inference and activity queues at scrape
 * time, inference workers their own), `GET /metrics` on the role's HTTP port, and traces when
 * an OTLP endpoint is configured. `stop` flushes the spans still buffered.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Config } from '../config.ts';
import type { Router } from '../http/router.ts';
import type { Logger } from '../log.ts';
import { ACTIVITIES_STREAM, metricsRouter, setInferencePrices, startProcessMetrics, startQueueMetrics } from '../metrics/index.ts';
import { startTracing } from '../tracing/index.ts';
import { INFERENCE_STREAM } from '../../protocol/inference.ts';

export interface Observability {
  readonly routes: ReadonlyArray<{ readonly path: string; readonly router: Router }>;
  stop(): Promise<void>;
}

export async function startObservability(opts: { config: Config; jsm: JetStreamManager; log: Logger }): Promise<Observability> {
  const { config } = opts;
  startProcessMetrics();
  setInferencePrices(config.jobs.modelPrices);
  // Inference workers read only their own queue (their NATS user may read no other); actor hosts read both.
  if (config.roles.includes('actors') || config.roles.includes('inference')) {
    const streams = config.roles.includes('actors') ? [INFERENCE_STREAM, ACTIVITIES_STREAM] : [INFERENCE_STREAM];
    startQueueMetrics({ jsm: opts.jsm, streams, log: opts.log.child({ component: 'queue-metrics' }) });
  }
  const tracing = await startTracing({ config: config.observability.tracing, instanceId: config.instanceId, roles: config.roles, log: opts.log.child({ component: 'tracing' }) });
  return {
    routes: [{ path: '/', router: metricsRouter({ token: config.observability.metricsToken }) }],
    stop: () => tracing.shutdown(),
  };
}
