/**
 * Batches the delivery-attempt writes of all the endpoints a sender serves:
 * one statement is in flight at a time, and every attempt recorded while it
 * runs goes into the next one. Under load this turns one UPDATE per
 * delivery into one per round trip, whatever the number of endpoints.
 *
 * A sender waits for an attempt's write before it sends the endpoint's next
 * delivery (endpoints are many, so the statements stay full), so a crash
 * repeats at most the one delivery in flight per endpoint, with the same
 * `webhook-id`: at least once, order kept.
 */
import type { DeliveryStore, RecordedAttempt } from './delivery-store.ts';

/** Attempts per statement at most (one JSON parameter; this bounds its size). */
const MAX_BATCH = 500;

interface Waiting {
  readonly attempt: RecordedAttempt;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

export class AttemptRecorder {
  readonly #store: DeliveryStore;
  readonly #queue: Waiting[] = [];
  #flushing: Promise<void> | undefined;

  constructor(store: DeliveryStore) {
    this.#store = store;
  }

  /** Resolves once the attempt is written; rejects with the statement's error. */
  record(attempt: RecordedAttempt): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ attempt, resolve, reject });
      this.#flushing ??= this.#flush().finally(() => {
        this.#flushing = undefined;
      });
    });
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_BATCH);
      try {
        await this.#store.recordAttempts(batch.map((w) => w.attempt));
        for (const w of batch) w.resolve();
      } catch (err) {
        // Each waiting sender gets the error (and handles it as a failed drain).
        for (const w of batch) w.reject(err);
      }
    }
  }
}
