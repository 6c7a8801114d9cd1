/**
 * The one place streams and KV buckets are created, each with the configured
 * replica count (LOOM_NATS_REPLICAS). Idempotent: every process runs it at
 * start and whichever comes first creates. A stream or bucket that exists
 * with another replica count is updated to it (NATS moves the data to the
 * new peers), with a log line; one the server refuses to scale (more
 * replicas than nodes) fails the start with the server's reason.
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { Kvm, type KV, type KvOptions } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../log.ts';

/** A stream's wanted config, without the replica count (that is the deployment's). */
export type WantedStream = Partial<Omit<StreamConfig, 'num_replicas'>> & { name: string };

/** Creates the stream with `replicas` when absent, or brings an existing one to `replicas`. */
export async function ensureStream(jsm: JetStreamManager, config: WantedStream, replicas: number, log: Logger): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
    try {
      await jsm.streams.add({ ...config, num_replicas: replicas });
      log.info({ stream: config.name, replicas }, 'stream created');
      return;
    } catch (addErr) {
      // Another process may have created it between our info and add: fine if it exists now.
      if (!(addErr instanceof JetStreamApiError)) throw addErr;
      await jsm.streams.info(config.name);
    }
  }
  await reconcileReplicas(jsm, config.name, replicas, log);
}

/** Opens (creating when absent) the KV bucket with `replicas`, and brings an existing one to `replicas`. */
export async function ensureBucket(nc: NatsConnection, jsm: JetStreamManager, bucket: string, opts: Omit<Partial<KvOptions>, 'replicas'>, replicas: number, log: Logger): Promise<KV> {
  const kv = await new Kvm(nc).create(bucket, { ...opts, replicas });
  await reconcileReplicas(jsm, `KV_${bucket}`, replicas, log);
  return kv;
}

/**
 * Updates the stream's replica count when it differs. Only the count is
 * changed; a stream created with R1 before LOOM_NATS_REPLICAS was raised
 * becomes R3 here (NATS 2.9+ allows it on a cluster with enough nodes).
 */
export async function reconcileReplicas(jsm: JetStreamManager, stream: string, replicas: number, log: Logger): Promise<void> {
  const info = await jsm.streams.info(stream);
  const have = info.config.num_replicas;
  if (have === replicas) return;
  try {
    await jsm.streams.update(stream, { num_replicas: replicas });
  } catch (err) {
    throw new Error(`stream ${stream} has ${have} replica(s) and NATS refused to make it ${replicas} (LOOM_NATS_REPLICAS): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  log.info({ stream, from: have, to: replicas }, 'stream replicas updated to LOOM_NATS_REPLICAS');
}
