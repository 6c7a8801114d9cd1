/**
 * Creates (or checks) the streams and buckets Loom needs. Idempotent: every
 * process runs it at start, whichever comes first creates.
 */
import { DiscardPolicy, jetstreamManager, type JetStreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { DOC_LOG_STREAM, DOC_LOG_SUBJECTS, DOC_UPDATE_REPUBLISH, LEASE_BUCKET, OWNER_BUCKET } from '../../protocol/subjects.ts';
import { provisionActivities } from '../activities/provision.ts';
import { provisionInferenceQueue } from '../inference/provision.ts';
import { ensureAgentLogStream, ensureJobLogStream } from './provision-job-log.ts';
import type { Logger } from '../log.ts';
import { ensureBucket, ensureStream, type WantedStream } from './replicas.ts';
import { ensureRepublish } from './republish.ts';

const DOC_LOG_STREAM_CONFIG: WantedStream = {
  name: DOC_LOG_STREAM,
  subjects: [DOC_LOG_SUBJECTS],
  retention: RetentionPolicy.Limits,
  storage: StorageType.File,
  discard: DiscardPolicy.New,
  max_msg_size: 64 * 1024 * 1024,
  // nats-server announces each stored update itself: one publish per edit fewer for the actor (issue 10).
  republish: { ...DOC_UPDATE_REPUBLISH },
};

export interface Provisioned {
  readonly jsm: JetStreamManager;
  /** Bucket-wide TTL: singleton tasks' leases and actor hosts' liveness keys. */
  readonly leases: KV;
  /** Actor ownership entries, without TTL (src/placement/ownership.ts). */
  readonly owners: KV;
  /** Cancel marks of inference requests (`cancelInference`); the inference streams exist too. */
  readonly inferenceCancels: KV;
  /** Live workers of inference models and service queues (src/activities/presence.ts); the activity stream exists too. */
  readonly workerPresence: KV;
  /** Whether the document log stream publishes every stored update as its event (DOC_UPDATE_REPUBLISH); else the actors do. */
  readonly docLogAnnouncesUpdates: boolean;
}

export interface ProvisionOptions {
  readonly leaseTtlMs: number;
  readonly logger: Logger;
  /** Replicas of every stream and bucket (LOOM_NATS_REPLICAS); default 1. */
  readonly replicas?: number;
}

export async function provisionNats(nc: NatsConnection, opts: ProvisionOptions): Promise<Provisioned> {
  const replicas = opts.replicas ?? 1;
  const log = opts.logger;
  const jsm = await jetstreamManager(nc, { timeout: 10_000 });
  await ensureStream(jsm, DOC_LOG_STREAM_CONFIG, replicas, log);
  // Where the stream cannot take the rule (made before it, on nats-server 2.9) the actors publish each update event themselves.
  const docLogAnnouncesUpdates = await ensureRepublish(jsm, DOC_LOG_STREAM, DOC_UPDATE_REPUBLISH, log, 'document actors publish update events themselves');
  // Bucket-wide TTL is how a lease expires once its owner stops refreshing
  // (per-key TTLs are ignored by nats-server 2.9).
  const leases = await ensureBucket(nc, jsm, LEASE_BUCKET, { ttl: opts.leaseTtlMs, history: 1, storage: StorageType.File }, replicas, log);
  const status = await leases.status();
  if (status.ttl !== opts.leaseTtlMs) {
    opts.logger.warn({ bucket: LEASE_BUCKET, bucketTtlMs: status.ttl, configuredTtlMs: opts.leaseTtlMs }, 'lease bucket exists with another ttl; using the bucket\'s');
  }
  // No TTL: an entry is valid while its host's liveness key (in the lease bucket) lives,
  // so an idle actor costs no write. History 1: only the current owner matters.
  const owners = await ensureBucket(nc, jsm, OWNER_BUCKET, { history: 1, storage: StorageType.File }, replicas, log);
  await ensureJobLogStream(jsm, log, replicas);
  await ensureAgentLogStream(jsm, log, replicas);
  // Callers publish to the work queue from any role, so every process provisions it.
  const inferenceCancels = await provisionInferenceQueue(nc, jsm, log, replicas);
  const workerPresence = await provisionActivities(nc, jsm, log, replicas);
  return { jsm, leases, owners, inferenceCancels, workerPresence, docLogAnnouncesUpdates };
}
