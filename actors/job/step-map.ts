/**
 * An immutable map of a job's step states in start order, where a changed
 * copy costs O(√n) instead of the O(n) of copying a Map per event. A job with
 * tens of thousands of step instances (maps of 500 items) folds one event per
 * start and end; copying the whole map each time made replaying a 20,000-step
 * log take 100 s of one actor host's event loop.
 *
 * A StepMap is a frozen base plus a small frozen overlay of the entries set
 * since; when the overlay outgrows √(base size) the two are merged into a new
 * base. Neither is ever mutated after construction, so every earlier state
 * keeps seeing its own steps. It also counts the steps that are busy
 * (running, retry-wait) and waiting for approval, which decide the job's
 * status after every event without a walk over all steps.
 */
import type { StepState } from './state.ts';

/** Smallest overlay that is merged into the base. */
const MIN_OVERLAY = 32;

export class StepMap implements ReadonlyMap<string, StepState> {
  /** Entries of `overlay` whose key is not in `base` (they come after the base's, in the overlay's order). */
  private readonly added: number;

  private constructor(
    private readonly base: ReadonlyMap<string, StepState>,
    private readonly overlay: ReadonlyMap<string, StepState>,
    /** Steps running or waiting to retry. */
    readonly busy: number,
    /** Steps waiting for approval. */
    readonly waiting: number,
  ) {
    let added = 0;
    for (const key of overlay.keys()) if (!base.has(key)) added++;
    this.added = added;
  }

  static empty(): StepMap {
    return new StepMap(new Map(), new Map(), 0, 0);
  }

  /** A copy with `steps` set (by id): a step already present keeps its place, a new one goes last. */
  with(steps: Iterable<StepState>): StepMap {
    const overlay = new Map(this.overlay);
    let busy = this.busy;
    let waiting = this.waiting;
    for (const step of steps) {
      const old = overlay.get(step.id) ?? this.base.get(step.id);
      busy += isBusy(step) - (old === undefined ? 0 : isBusy(old));
      waiting += isWaiting(step) - (old === undefined ? 0 : isWaiting(old));
      overlay.set(step.id, step);
    }
    if (overlay.size <= Math.max(MIN_OVERLAY, Math.sqrt(this.base.size))) return new StepMap(this.base, overlay, busy, waiting);
    const base = new Map(this.base);
    for (const [key, value] of overlay) base.set(key, value);
    return new StepMap(base, new Map(), busy, waiting);
  }

  get size(): number {
    return this.base.size + this.added;
  }

  get(key: string): StepState | undefined {
    return this.overlay.has(key) ? this.overlay.get(key) : this.base.get(key);
  }

  has(key: string): boolean {
    return this.overlay.has(key) || this.base.has(key);
  }

  // With one side empty (every job under MIN_OVERLAY steps, and right after a merge) the other Map's own
  // iterators serve: the planner walks the steps several times per decision, and generators allocate per entry.
  entries(): MapIterator<[string, StepState]> {
    if (this.overlay.size === 0) return this.base.entries();
    if (this.base.size === 0) return this.overlay.entries();
    return this.#mergedEntries();
  }

  keys(): MapIterator<string> {
    if (this.overlay.size === 0) return this.base.keys();
    if (this.base.size === 0) return this.overlay.keys();
    return this.#mergedKeys();
  }

  values(): MapIterator<StepState> {
    if (this.overlay.size === 0) return this.base.values();
    if (this.base.size === 0) return this.overlay.values();
    return this.#mergedValues();
  }

  *#mergedEntries(): MapIterator<[string, StepState]> {
    for (const [key, value] of this.base) yield [key, this.overlay.get(key) ?? value];
    for (const [key, value] of this.overlay) if (!this.base.has(key)) yield [key, value];
  }

  *#mergedKeys(): MapIterator<string> {
    yield* this.base.keys();
    for (const key of this.overlay.keys()) if (!this.base.has(key)) yield key;
  }

  *#mergedValues(): MapIterator<StepState> {
    for (const [key, value] of this.base) yield this.overlay.get(key) ?? value;
    for (const [key, value] of this.overlay) if (!this.base.has(key)) yield value;
  }

  [Symbol.iterator](): MapIterator<[string, StepState]> {
    return this.entries();
  }

  forEach(callback: (value: StepState, key: string, map: ReadonlyMap<string, StepState>) => void, thisArg?: unknown): void {
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this);
  }
}

function isBusy(s: StepState): 0 | 1 {
  return s.status === 'running' || s.status === 'retry-wait' ? 1 : 0;
}

function isWaiting(s: StepState): 0 | 1 {
  return s.status === 'waiting-approval' ? 1 : 0;
}
