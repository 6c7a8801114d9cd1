/**
 * Coalesces the projection writes of all the actors of a host: the values
 * saved while one batch is written gather (merged per key) into the next
 * batch, so under load a host makes a few statements per second instead of
 * one per actor and state change. A batch that fails is written again one
 * key at a time, so one value the database refuses fails alone.
 */

interface Pending<V> {
  value: V;
  readonly waiters: Array<{ resolve(): void; reject(err: unknown): void }>;
}

export class CoalescedWrites<V> {
  #pending = new Map<string, Pending<V>>();
  #writing = false;

  constructor(
    /** Writes values of distinct keys, sorted by key (so concurrent hosts lock rows in one order). */
    private readonly write: (values: V[]) => Promise<void>,
    /** One value out of a pending one and a later save of the same key. */
    private readonly merge: (pending: V, saved: V) => V,
  ) {}

  /** Resolves once `value` (merged into a later one of the same key, maybe) is written; rejects with the write's error. */
  save(key: string, value: V): Promise<void> {
    return new Promise((resolve, reject) => {
      const pending = this.#pending.get(key);
      if (pending === undefined) this.#pending.set(key, { value, waiters: [{ resolve, reject }] });
      else {
        pending.value = this.merge(pending.value, value);
        pending.waiters.push({ resolve, reject });
      }
      if (!this.#writing) void this.#drain();
    });
  }

  /** Writes what is pending, one batch at a time, until nothing is. */
  async #drain(): Promise<void> {
    this.#writing = true;
    try {
      // Let the saves of this turn of the event loop join the first batch.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (this.#pending.size > 0) {
        const batch = [...this.#pending].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, p]) => p);
        this.#pending = new Map();
        await this.#writeBatch(batch);
      }
    } finally {
      this.#writing = false;
    }
  }

  async #writeBatch(batch: ReadonlyArray<Pending<V>>): Promise<void> {
    try {
      await this.write(batch.map((p) => p.value));
      for (const p of batch) for (const w of p.waiters) w.resolve();
      return;
    } catch (err) {
      if (batch.length === 1) {
        for (const w of batch[0]?.waiters ?? []) w.reject(err);
        return;
      }
    }
    for (const p of batch) {
      try {
        await this.write([p.value]);
        for (const w of p.waiters) w.resolve();
      } catch (err) {
        for (const w of p.waiters) w.reject(err);
      }
    }
  }
}
