/**
 * Work-queue gauges read from JetStream at scrape time, by stream name, so
 * any work-queue stream can be listed (the inference queue, and the
 * service-activity queue once it exists): messages held per stream, and per
 * durable consumer the messages not yet delivered (its lag) and those
 * delivered but not acknowledged. For the inference queue the same numbers
 * are also given per model and priority as `loom_inference_queue_depth`.
 * Consumer names come from configured models and activities, not from users.
 * The numbers describe the shared queue, so every process that reports them
 * reports the same values: aggregate with max, not sum.
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import { Gauge } from 'prom-client';
import { INFERENCE_STREAM, parseInferenceRequestSubject } from '../../protocol/inference.ts';
import type { Logger } from '../log.ts';
import { BoundedLabel } from './bounded-label.ts';
import { registry } from './registry.ts';

/** The service-activity work queue (its owner names it in protocol/ once it exists); absent streams are skipped. */
export const ACTIVITIES_STREAM = 'LOOM_ACTIVITIES';

interface ConsumerCounts {
  readonly stream: string;
  readonly consumer: string;
  readonly filterSubject: string | undefined;
  readonly pending: number;
  readonly ackPending: number;
}

interface QueueSnapshot {
  readonly streams: ReadonlyArray<{ readonly stream: string; readonly messages: number }>;
  readonly consumers: readonly ConsumerCounts[];
}

/** One read serves every gauge of a scrape: gauges collect concurrently, so they share the promise for this long. */
const SNAPSHOT_REUSE_MS = 1_000;

let reader: { read(): Promise<QueueSnapshot> } | undefined;

const consumerNames = new BoundedLabel(500);

function collector(fill: (gauge: Gauge<string>, snapshot: QueueSnapshot) => void) {
  return async function collect(this: Gauge<string>): Promise<void> {
    this.reset();
    if (reader === undefined) return;
    fill(this, await reader.read());
  };
}

new Gauge({
  name: 'loom_queue_messages',
  help: 'Messages held in a JetStream work-queue stream (waiting or in flight), by stream',
  labelNames: ['stream'] as const,
  registers: [registry],
  collect: collector((g, s) => {
    for (const { stream, messages } of s.streams) g.labels(stream).set(messages);
  }),
});
/** A per-consumer gauge of one of its counts. */
function consumerGauge(name: string, help: string, pick: (c: ConsumerCounts) => number): void {
  new Gauge({
    name,
    help,
    labelNames: ['stream', 'consumer'] as const,
    registers: [registry],
    collect: collector((g, s) => {
      for (const c of s.consumers) g.labels(c.stream, consumerNames.of(c.consumer)).set(pick(c));
    }),
  });
}
consumerGauge('loom_queue_consumer_lag_messages', 'Messages a durable consumer has not yet delivered (num_pending), by stream and consumer', (c) => c.pending);
consumerGauge('loom_queue_consumer_ack_pending_messages', 'Messages a durable consumer delivered that are not acknowledged yet (in flight), by stream and consumer', (c) => c.ackPending);
new Gauge({
  name: 'loom_inference_queue_depth',
  help: 'Inference requests waiting or in flight, by model and priority (the consumer filtering that queue)',
  labelNames: ['model', 'priority'] as const,
  registers: [registry],
  collect: collector((g, s) => {
    for (const c of s.consumers) {
      if (c.stream !== INFERENCE_STREAM || c.filterSubject === undefined) continue;
      let queue: { model: string; priority: string };
      try {
        queue = parseInferenceRequestSubject(c.filterSubject);
      } catch {
        // Not one of the per-model consumers the workers create (an operator's own): not a model queue.
        continue;
      }
      g.labels(consumerNames.of(queue.model), queue.priority).set(c.pending + c.ackPending);
    }
  }),
});

/**
 * Makes the queue gauges read these streams at scrape time (once per process).
 * A missing stream is skipped; a stream that cannot be read (no permission,
 * NATS unavailable) is left out of that scrape rather than shown stale, with
 * a warning the first time and at debug level after.
 */
export function startQueueMetrics(opts: { jsm: JetStreamManager; streams: readonly string[]; log: Logger }): void {
  let cached: { at: number; snapshot: Promise<QueueSnapshot> } | undefined;
  const warned = new Set<string>();
  const readAll = async (): Promise<QueueSnapshot> => {
    const streams: Array<{ stream: string; messages: number }> = [];
    const consumers: ConsumerCounts[] = [];
    for (const stream of opts.streams) {
      try {
        const info = await opts.jsm.streams.info(stream);
        const found: ConsumerCounts[] = [];
        for await (const ci of opts.jsm.consumers.list(stream)) {
          found.push({ stream, consumer: ci.name, filterSubject: ci.config.filter_subject, pending: ci.num_pending, ackPending: ci.num_ack_pending });
        }
        streams.push({ stream, messages: info.state.messages });
        consumers.push(...found);
      } catch (err) {
        if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) continue;
        if (warned.has(stream)) opts.log.debug({ err, stream }, 'reading queue metrics failed');
        else opts.log.warn({ err, stream }, 'reading queue metrics failed; this stream is left out of /metrics while it fails');
        warned.add(stream);
      }
    }
    return { streams, consumers };
  };
  reader = {
    read() {
      const now = Date.now();
      if (cached === undefined || now - cached.at > SNAPSHOT_REUSE_MS) cached = { at: now, snapshot: readAll() };
      return cached.snapshot;
    },
  };
}
