/**
 * The stream, consumers and presence bucket of service activities. Every
 * process provisions the stream and bucket (whoever starts first creates);
 * the consumers of a queue are created by whichever side meets the queue
 * first: the job host publishing its first task, or a worker starting.
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
  ACTIVITY_LIMITS,
  ACTIVITY_PRIORITIES,
  ACTIVITY_RING_REPUBLISH,
  ACTIVITY_STREAM,
  ACTIVITY_TASK_SUBJECTS,
  activityConsumerName,
  activityTaskSubject,
  WORKER_PRESENCE_BUCKET,
  WORKER_PRESENCE_TTL_MS,
} from '../../protocol/activity.ts';
import type { Logger } from '../log.ts';
import { ensureBucket, ensureStream } from '../nats/replicas.ts';
import { ensureRepublish } from '../nats/republish.ts';

const ns = (ms: number) => ms * 1_000_000;

/** Tasks the queue holds before publishers are refused (backpressure, not silent loss). */
const MAX_QUEUED_TASKS = 1_000_000;
/**
 * A republished task id is dropped within this window: a job host that
 * restarts republishes its running attempts, and the worker that holds one
 * must not get a twin.
 */
const DUPLICATE_WINDOW_MS = 30 * 60_000;
/**
 * Between a worker's pull and its claim's ack. A worker acks as soon as Loom
 * answers its claim, so this only bounds how long a task is invisible when
 * a worker dies between pull and claim; liveness afterwards is the job's
 * heartbeat and start-to-close clocks.
 */
export const ACTIVITY_ACK_WAIT_MS = 30_000;

/** Creates LOOM_ACTIVITIES (ringing each stored task, ACTIVITY_RING_REPUBLISH) and the worker presence bucket when absent. @returns the presence bucket. */
export async function provisionActivities(nc: NatsConnection, jsm: JetStreamManager, log: Logger, replicas = 1): Promise<KV> {
  await ensureStream(jsm, {
    name: ACTIVITY_STREAM,
    subjects: [ACTIVITY_TASK_SUBJECTS],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    max_msgs: MAX_QUEUED_TASKS,
    max_msg_size: ACTIVITY_LIMITS.maxInputBytes + 16 * 1024,
    duplicate_window: ns(DUPLICATE_WINDOW_MS),
    republish: { ...ACTIVITY_RING_REPUBLISH },
  }, replicas, log);
  await ensureRepublish(jsm, ACTIVITY_STREAM, ACTIVITY_RING_REPUBLISH, log, 'workers ring on the task subjects, and look again after an empty pull');
  return ensureBucket(nc, jsm, WORKER_PRESENCE_BUCKET, { ttl: WORKER_PRESENCE_TTL_MS, history: 1, storage: StorageType.Memory }, replicas, log);
}

/** Creates the durable pull consumers of one queue (one per priority) when absent. */
export async function ensureActivityConsumers(jsm: JetStreamManager, queue: string, log: Logger): Promise<void> {
  for (const priority of ACTIVITY_PRIORITIES) {
    const name = activityConsumerName(queue, priority);
    try {
      await jsm.consumers.info(ACTIVITY_STREAM, name);
      continue;
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err;
    }
    try {
      await jsm.consumers.add(ACTIVITY_STREAM, {
        durable_name: name,
        filter_subject: activityTaskSubject(queue, priority),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: ns(ACTIVITY_ACK_WAIT_MS),
        max_ack_pending: 10_000,
      });
      log.info({ consumer: name, queue, priority }, 'activity consumer created');
    } catch (err) {
      if (!(err instanceof JetStreamApiError)) throw err;
      await jsm.consumers.info(ACTIVITY_STREAM, name);
    }
  }
}
