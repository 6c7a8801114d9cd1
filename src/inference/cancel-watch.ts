/**
 * Follows the cancel bucket: a caller puts `cancelKey(requestId)` and the
 * worker serving that request aborts it. One KV watch per worker (updates
 * only) fans marks out to the calls registered here; a call also checks the
 * bucket once before it starts, after registering, so a mark that lands
 * between the two is seen by one or the other.
 */
import { KvWatchInclude, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/transport-node';
import { cancelKey } from '../../protocol/inference.ts';
import type { Logger } from '../log.ts';

const RESTART_DELAY_MS = 1_000;

export class CancelWatch {
  readonly #kv: KV;
  readonly #log: Logger;
  readonly #listeners = new Map<string, Set<() => void>>();
  #watch: QueuedIterator<KvWatchEntry> | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(kv: KV, log: Logger) {
    this.#kv = kv;
    this.#log = log;
  }

  /** Opens the watch; resolves once it is live, so no later mark is missed. */
  async start(): Promise<void> {
    this.#watch = await this.#kv.watch({ key: '>', include: KvWatchInclude.UpdatesOnly, ignoreDeletes: true });
    this.#running = this.#follow();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#watch?.stop();
    await this.#running;
  }

  /** Calls `onCancel` (once) when the request is marked; returns the unregister function. */
  register(requestId: string, onCancel: () => void): () => void {
    const key = cancelKey(requestId);
    let set = this.#listeners.get(key);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(key, set);
    }
    set.add(onCancel);
    return () => {
      set.delete(onCancel);
      if (set.size === 0 && this.#listeners.get(key) === set) this.#listeners.delete(key);
    };
  }

  /** Whether the request is marked cancelled now (a bounded KV read). */
  async isCancelled(requestId: string): Promise<boolean> {
    const entry = await this.#kv.get(cancelKey(requestId));
    return entry !== null && entry.operation === 'PUT';
  }

  async #follow(): Promise<void> {
    while (!this.#stopped) {
      const watch = this.#watch;
      if (watch === undefined) return;
      try {
        for await (const entry of watch) {
          if (entry.operation !== 'PUT') continue;
          const set = this.#listeners.get(entry.key);
          if (set === undefined) continue;
          for (const onCancel of [...set]) onCancel();
        }
      } catch (err) {
        this.#log.warn({ err }, 'cancel watch failed; reopening');
      }
      if (this.#stopped) return;
      // The watch ended without stop(): reopen it so cancels keep arriving.
      await new Promise((resolve) => setTimeout(resolve, RESTART_DELAY_MS));
      try {
        this.#watch = await this.#kv.watch({ key: '>', include: KvWatchInclude.UpdatesOnly, ignoreDeletes: true });
      } catch (err) {
        this.#log.warn({ err }, 'reopening the cancel watch failed');
      }
    }
  }
}
