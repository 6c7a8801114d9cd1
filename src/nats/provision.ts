/**
 * Creates (or checks) the streams and buckets Loom needs. Idempotent: every
 * process runs it at start, whichever comes first creates.
 */
import { DiscardPolicy, JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { DOC_LOG_STREAM, DOC_LOG_SUBJECTS, LEASE_BUCKET } from '../../protocol/subjects.ts';
import { provisionActivities } from '../activities/provision.ts';
import { provisionInferenceQueue } from '../inference/provision.ts';
import { ensureAgentLogStream, ensureJobLogStream } from './provision-job-log.ts';
import type { Logger } from '../log.ts';

export interface Provisioned {
  readonly jsm: JetStreamManager;
  readonly leases: KV;
  /** Cancel marks of inference requests (`cancelInference`); the inference streams exist too. */
  readonly inferenceCancels: KV;
  /** Live workers of inference models and service queues (src/activities/presence.ts); the activity stream exists too. */
  readonly workerPresence: KV;
}

export async function provisionNats(nc: NatsConnection, opts: { leaseTtlMs: number; logger: Logger }): Promise<Provisioned> {
  const jsm = await jetstreamManager(nc, { timeout: 10_000 });
  await ensureStream(jsm, opts.logger);
  // Bucket-wide TTL is how a lease expires once its owner stops refreshing
  // (per-key TTLs are ignored by nats-server 2.9).
  const leases = await new Kvm(nc).create(LEASE_BUCKET, { ttl: opts.leaseTtlMs, history: 1, storage: StorageType.File });
  const status = await leases.status();
  if (status.ttl !== opts.leaseTtlMs) {
    opts.logger.warn({ bucket: LEASE_BUCKET, bucketTtlMs: status.ttl, configuredTtlMs: opts.leaseTtlMs }, 'lease bucket exists with another ttl; using the bucket\'s');
  }
  await ensureJobLogStream(jsm, opts.logger);
  await ensureAgentLogStream(jsm, opts.logger);
  // Callers publish to the work queue from any role, so every process provisions it.
  const inferenceCancels = await provisionInferenceQueue(nc, jsm, opts.logger);
  const workerPresence = await provisionActivities(nc, jsm, opts.logger);
  return { jsm, leases, inferenceCancels, workerPresence };
}

async function ensureStream(jsm: JetStreamManager, log: Logger): Promise<void> {
  try {
    await jsm.streams.info(DOC_LOG_STREAM);
    return;
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
  }
  try {
    await jsm.streams.add({
      name: DOC_LOG_STREAM,
      subjects: [DOC_LOG_SUBJECTS],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      max_msg_size: 64 * 1024 * 1024,
      num_replicas: 1,
    });
    log.info({ stream: DOC_LOG_STREAM }, 'stream created');
  } catch (err) {
    // Another process may have created it between our info and add: fine if it exists now.
    if (!(err instanceof JetStreamApiError)) throw err;
    await jsm.streams.info(DOC_LOG_STREAM);
  }
}
