/**
 * Which workers are alive, from the presence bucket `loom_workers`: a worker
 * puts `<kind>.<queue>.<worker-id>` every WORKER_PRESENCE_REFRESH_MS (a plain
 * NATS publish to `$KV.loom_workers.<key>` is enough) and deletes it when it
 * stops; the bucket's TTL drops the keys of workers that died. Why a bucket
 * and not consumer info: inference workers pull with no-wait requests and
 * service workers may be busy, so "someone is waiting on the consumer" says
 * nothing about a queue having workers; and why not service discovery
 * (`$SRV.PING`): a watch is pushed, it costs no scatter-gather per question,
 * and a worker in any language only has to publish.
 */
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { modelToToken } from '../../protocol/inference.ts';
import { parseWorkerPresenceKey, WORKER_PRESENCE_REFRESH_MS, WORKER_PRESENCE_TTL_MS, workerPresenceKey, type WorkerKind } from '../../protocol/activity.ts';
import type { WorkerPresence } from '../../actors/job/index.ts';
import type { Logger } from '../log.ts';

const encoder = new TextEncoder();

/** The queue token of a presence key: service queues as they are, models as their subject token. */
function queueToken(kind: WorkerKind, queue: string): string {
  return kind === 'inference' ? modelToToken(queue) : queue;
}

/** Watches the bucket and answers "does this queue have a live worker?" from memory. */
export class WorkerPresenceWatch implements WorkerPresence {
  /** `<kind>.<queue-token>` -> worker id -> last put (ms since the epoch). */
  private readonly seen = new Map<string, Map<string, number>>();
  private stopped = false;
  private iterator: { stop(): void } | undefined;

  constructor(
    private readonly kv: KV,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts watching (the current keys come first, then every change). */
  async start(): Promise<void> {
    const iter = await this.kv.watch({ key: '>' });
    this.iterator = iter;
    void (async () => {
      try {
        for await (const entry of iter) this.apply(entry);
      } catch (err) {
        if (!this.stopped) this.log.error({ err }, 'worker presence watch ended');
      }
    })();
  }

  stop(): void {
    this.stopped = true;
    this.iterator?.stop();
  }

  isLive(kind: WorkerKind, queue: string): boolean {
    let token: string;
    try {
      token = queueToken(kind, queue);
    } catch {
      return false;
    }
    const workers = this.seen.get(`${kind}.${token}`);
    if (workers === undefined) return false;
    const cutoff = this.now() - WORKER_PRESENCE_TTL_MS;
    for (const at of workers.values()) if (at > cutoff) return true;
    return false;
  }

  /** Every queue (`<kind>.<queue-token>`) with a live worker. */
  liveQueues(): Set<string> {
    const cutoff = this.now() - WORKER_PRESENCE_TTL_MS;
    return new Set([...this.seen].filter(([, workers]) => [...workers.values()].some((at) => at > cutoff)).map(([q]) => q));
  }

  private apply(entry: KvWatchEntry): void {
    const key = parseWorkerPresenceKey(entry.key);
    if (key === null) return;
    const queue = `${key.kind}.${key.queue}`;
    let workers = this.seen.get(queue);
    if (entry.operation !== 'PUT') {
      workers?.delete(key.workerId);
      return;
    }
    if (workers === undefined) this.seen.set(queue, (workers = new Map()));
    // Live puts are stamped on arrival (no trust in the server's clock); the initial load can only use their stored time.
    workers.set(key.workerId, entry.isUpdate ? this.now() : entry.created.getTime());
  }
}

/** A worker's side: keeps its presence keys fresh until stopped, then deletes them. */
export class PresenceBeacon {
  private timer: NodeJS.Timeout | undefined;
  private readonly keys: string[];

  constructor(
    private readonly kv: KV,
    queues: ReadonlyArray<{ readonly kind: WorkerKind; readonly queue: string }>,
    workerId: string,
    private readonly log: Logger,
  ) {
    this.keys = queues.map((q) => workerPresenceKey(q.kind, queueToken(q.kind, q.queue), workerId));
  }

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.beat(), WORKER_PRESENCE_REFRESH_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.keys.map((k) => this.kv.delete(k).catch((err: unknown) => this.log.warn({ err, key: k }, 'presence key not deleted; it expires'))));
  }

  private async beat(): Promise<void> {
    await Promise.all(this.keys.map((k) => this.kv.put(k, encoder.encode(String(Date.now()))).catch((err: unknown) => this.log.warn({ err, key: k }, 'presence put failed'))));
  }
}
