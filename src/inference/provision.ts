/**
 * Streams, bucket and consumers of the inference work queue. Idempotent:
 * every process creates the streams and the cancel bucket (callers publish,
 * workers consume, whichever starts first creates); each worker creates or
 * updates the durable consumers of the models it serves.
 */
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  INFERENCE_CANCEL_BUCKET,
  INFERENCE_CANCEL_TTL_MS,
  INFERENCE_DLQ_STREAM,
  INFERENCE_DLQ_SUBJECTS,
  INFERENCE_LIMITS,
  INFERENCE_RING_REPUBLISH,
  INFERENCE_STREAM,
  INFERENCE_SUBJECTS,
  inferenceConsumerName,
  inferenceRequestSubject,
  type InferencePriority,
} from '../../protocol/inference.ts';
import type { Logger } from '../log.ts';
import { ensureBucket, ensureStream } from '../nats/replicas.ts';
import { ensureRepublish } from '../nats/republish.ts';

const ms = (n: number) => n * 1_000_000;

/** Pending requests the queue holds before publishers are refused (backpressure, not silent loss). */
const MAX_QUEUED_REQUESTS = 1_000_000;
/** Within this window a repeated Nats-Msg-Id (requestId) is dropped. */
const DUPLICATE_WINDOW_MS = 120_000;
const DLQ_MAX_AGE_MS = 14 * 24 * 3_600_000;
const DLQ_MAX_BYTES = 1024 * 1024 * 1024;

/**
 * Creates LOOM_INFERENCE (ringing each stored request, INFERENCE_RING_REPUBLISH),
 * LOOM_INFERENCE_DLQ and the cancel bucket when absent.
 * @returns the cancel bucket.
 */
export async function provisionInferenceQueue(nc: NatsConnection, jsm: JetStreamManager, log: Logger, replicas = 1): Promise<KV> {
  await ensureStream(jsm, {
    name: INFERENCE_STREAM,
    subjects: [INFERENCE_SUBJECTS],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    max_msgs: MAX_QUEUED_REQUESTS,
    max_msg_size: INFERENCE_LIMITS.maxBodyBytes + 64 * 1024,
    duplicate_window: ms(DUPLICATE_WINDOW_MS),
    republish: { ...INFERENCE_RING_REPUBLISH },
  }, replicas, log);
  await ensureRepublish(jsm, INFERENCE_STREAM, INFERENCE_RING_REPUBLISH, log, 'inference workers ring on the request subjects, and look again after an empty pull');
  await ensureStream(jsm, {
    name: INFERENCE_DLQ_STREAM,
    subjects: [INFERENCE_DLQ_SUBJECTS],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: ms(DLQ_MAX_AGE_MS),
    max_bytes: DLQ_MAX_BYTES,
    max_msg_size: INFERENCE_LIMITS.maxBodyBytes + 128 * 1024,
    duplicate_window: ms(DUPLICATE_WINDOW_MS),
  }, replicas, log);
  return ensureBucket(nc, jsm, INFERENCE_CANCEL_BUCKET, { ttl: INFERENCE_CANCEL_TTL_MS, history: 1, storage: StorageType.File }, replicas, log);
}

export interface ConsumerSettings {
  readonly ackWaitMs: number;
  /** Server-side max_deliver; the worker itself dead-letters one delivery earlier (see worker). */
  readonly maxDeliver: number;
  /** Bound on unacknowledged messages across all workers of the consumer. */
  readonly maxAckPending: number;
}

/** Creates the durable pull consumer for (model, priority), or updates its settings. */
export async function ensureInferenceConsumer(jsm: JetStreamManager, model: string, priority: InferencePriority, settings: ConsumerSettings, log: Logger): Promise<string> {
  const name = inferenceConsumerName(model, priority);
  const config = {
    durable_name: name,
    filter_subject: inferenceRequestSubject(model, priority),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: ms(settings.ackWaitMs),
    max_deliver: settings.maxDeliver,
    max_ack_pending: settings.maxAckPending,
  };
  try {
    const info = await jsm.consumers.info(INFERENCE_STREAM, name);
    const c = info.config;
    if (c.ack_wait !== config.ack_wait || c.max_deliver !== config.max_deliver || c.max_ack_pending !== config.max_ack_pending) {
      await jsm.consumers.update(INFERENCE_STREAM, name, { ack_wait: config.ack_wait, max_deliver: config.max_deliver, max_ack_pending: config.max_ack_pending });
      log.info({ consumer: name }, 'inference consumer updated');
    }
    return name;
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err;
  }
  try {
    await jsm.consumers.add(INFERENCE_STREAM, config);
    log.info({ consumer: name, model, priority }, 'inference consumer created');
  } catch (err) {
    // Another worker created it between our info and add: fine if it exists now.
    if (!(err instanceof JetStreamApiError)) throw err;
    await jsm.consumers.info(INFERENCE_STREAM, name);
  }
  return name;
}
