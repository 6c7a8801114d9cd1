/**
 * A counting limit on calls in flight, with a way to wait until one is free.
 * The pull loop takes a slot for every message it pulls, so the worker never
 * holds more messages than its backend may serve at once.
 */
export class Slots {
  #inUse = 0;
  #waiters: Array<() => void> = [];

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  get inUse(): number {
    return this.#inUse;
  }

  get free(): number {
    return this.capacity - this.#inUse;
  }

  /** @throws RangeError when no slot is free (callers check `free` first). */
  take(): void {
    if (this.#inUse >= this.capacity) throw new RangeError('no free slot');
    this.#inUse += 1;
  }

  release(): void {
    if (this.#inUse === 0) throw new RangeError('release without take');
    this.#inUse -= 1;
    this.#wake();
  }

  /** Resolves when a slot is free (at once if one is), or when `signal` aborts. */
  waitFree(signal: AbortSignal): Promise<void> {
    if (this.free > 0 || signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        this.#waiters = this.#waiters.filter((w) => w !== done);
        resolve();
      };
      this.#waiters.push(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Resolves when nothing is in flight, or after `timeoutMs`; true when idle. */
  async waitIdle(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#inUse > 0) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, left);
        function done() {
          clearTimeout(t);
          resolve();
        }
        this.#waiters.push(done);
      });
    }
    return true;
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}
