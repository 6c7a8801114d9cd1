/**
 * Where each log relay has got to: the last stream sequence whose events are
 * recorded on the outbound stream, in a JetStream KV bucket (no TTL,
 * file storage), so a relay that dies resumes there in whichever process
 * takes its lease next. Saved after publishing, so a crash re-reads at most
 * what came since the last save: duplicates with the same ids, never gaps.
 */
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, StorageType } from '@nats-io/jetstream';
import type { Logger } from '../log.ts';
import { ensureBucket } from '../nats/replicas.ts';

export const RELAY_CURSOR_BUCKET = 'loom_outbound_cursors';

export interface RelayCursors {
  /** The saved position of `relay`, 0 when it never ran. */
  get(relay: string): Promise<number>;
  set(relay: string, seq: number): Promise<void>;
}

/** @param replicas LOOM_NATS_REPLICAS: an existing bucket is brought to it. */
export async function openRelayCursors(nc: NatsConnection, replicas: number, log: Logger): Promise<RelayCursors> {
  const kv = await ensureBucket(nc, await jetstreamManager(nc, { checkAPI: false }), RELAY_CURSOR_BUCKET, { history: 1, storage: StorageType.File }, replicas, log);
  return new KvRelayCursors(kv);
}

class KvRelayCursors implements RelayCursors {
  constructor(private readonly kv: KV) {}

  async get(relay: string): Promise<number> {
    const entry = await this.kv.get(relay);
    if (entry === null || entry.operation !== 'PUT') return 0;
    const seq = Number(entry.string());
    if (!Number.isSafeInteger(seq) || seq < 0) throw new Error(`relay cursor ${relay} holds ${JSON.stringify(entry.string().slice(0, 40))}, not a sequence`);
    return seq;
  }

  async set(relay: string, seq: number): Promise<void> {
    await this.kv.put(relay, String(seq));
  }
}
