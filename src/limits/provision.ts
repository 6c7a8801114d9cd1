/**
 * The KV bucket of shared rate-limit buckets. Its bucket-wide TTL drops a
 * key nobody took from for RATE_LIMIT_IDLE_TTL_MS: by then any bucket of the
 * configured limits has refilled, and a missing key is a full bucket.
 */
import { jetstreamManager, StorageType } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../log.ts';
import { ensureBucket } from '../nats/replicas.ts';

export const RATE_LIMIT_BUCKET = 'loom_rate_limits';
export const RATE_LIMIT_IDLE_TTL_MS = 60 * 60_000;

/** `opts`: LOOM_NATS_REPLICAS and the log of a replica change; without it, R1 as created. */
export async function provisionRateLimitBucket(nc: NatsConnection, opts?: { replicas: number; log: Logger }): Promise<KV> {
  // Memory storage: losing the buckets with the server only refills them.
  // deploy/nats/auth/accounts.conf lets gateways use this bucket alone.
  const config = { ttl: RATE_LIMIT_IDLE_TTL_MS, history: 1, storage: StorageType.Memory };
  if (opts === undefined) return new Kvm(nc).create(RATE_LIMIT_BUCKET, config);
  return ensureBucket(nc, await jetstreamManager(nc, { checkAPI: false }), RATE_LIMIT_BUCKET, config, opts.replicas, opts.log);
}
