/**
 * Keeps a job's query projection caught up with its state, beside the
 * mailbox: at most one write in flight, later changes coalesced into the
 * next write (rows are written as of the newest state, never an older one).
 * A failed write keeps the changes and asks the actor to try again later;
 * the log stays the truth, and activation rewrites the whole record anyway.
 */
import type { Logger } from 'pino';
import type { JobProjection } from './ports.ts';
import type { JobState } from './state.ts';
import { projectionRecord } from './view.ts';

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 10_000;

export class ProjectionSync {
  private latest: JobState | undefined;
  private written: JobState | undefined;
  private dirty = new Set<string>();
  private all = false;
  private inFlight: Promise<void> | undefined;
  private failures = 0;
  private stopped = false;

  constructor(
    private readonly projection: JobProjection,
    private readonly log: Logger,
    /** Called after a failed write: the actor schedules a `retry()` after `delayMs`. */
    private readonly onRetryNeeded: (delayMs: number) => void,
  ) {}

  /** Whether nothing is waiting to be written. */
  get idle(): boolean {
    return this.inFlight === undefined && this.latest === this.written;
  }

  /** Records a new state; `steps` changed (all steps when undefined). */
  mark(state: JobState, steps?: Iterable<string>): void {
    if (state.created === null || this.stopped) return;
    this.latest = state;
    if (steps === undefined) this.all = true;
    else for (const s of steps) this.dirty.add(s);
    if (this.failures === 0) this.kick();
  }

  /** Tries again after a failure (called from the actor's mailbox). */
  retry(): void {
    this.kick();
  }

  /**
   * Waits until the newest state is written.
   * @throws the projection's error when the write fails.
   */
  async flush(): Promise<void> {
    await this.inFlight;
    if (this.latest !== undefined && this.latest !== this.written) await this.writeOnce();
  }

  stop(): void {
    this.stopped = true;
  }

  private kick(): void {
    if (this.inFlight !== undefined || this.stopped) return;
    this.inFlight = this.drain().finally(() => {
      this.inFlight = undefined;
    });
  }

  private async drain(): Promise<void> {
    while (!this.stopped && this.latest !== undefined && this.latest !== this.written) {
      try {
        await this.writeOnce();
        this.failures = 0;
      } catch (err) {
        this.failures++;
        const delayMs = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(this.failures, 10));
        this.log.warn({ err, failures: this.failures, delayMs }, 'job projection write failed; retrying');
        this.onRetryNeeded(delayMs);
        return;
      }
    }
  }

  private async writeOnce(): Promise<void> {
    const state = this.latest;
    if (state === undefined) return;
    const steps = this.all ? undefined : this.dirty;
    this.dirty = new Set();
    this.all = false;
    try {
      await this.projection.save(projectionRecord(state, steps));
      this.written = state;
    } catch (err) {
      // Keep what was not written for the next attempt.
      if (steps === undefined) this.all = true;
      else for (const s of steps) this.dirty.add(s);
      throw err;
    }
  }
}
