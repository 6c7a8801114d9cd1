/**
 * Keeps an actor's query projection (a job's rows, a session's row) caught
 * up with its state, beside the mailbox: at most one write in flight, later
 * changes coalesced into the next write (rows are written as of the newest
 * state, never an older one). A failed write keeps the changes and asks the
 * actor to try again later; the log stays the truth, and activation
 * rewrites the whole record anyway. `parts` name what changed (a job's
 * steps); undefined means everything.
 */
import type { Logger } from 'pino';

/** Writes the record of `state`; `parts` undefined: all of it. */
export type ProjectionWrite<S> = (state: S, parts: ReadonlySet<string> | undefined) => Promise<void>;

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 10_000;

export class ProjectionSync<S> {
  private latest: S | undefined;
  private written: S | undefined;
  private dirty = new Set<string>();
  private all = false;
  private inFlight: Promise<void> | undefined;
  private failures = 0;
  private stopped = false;

  constructor(
    private readonly write: ProjectionWrite<S>,
    private readonly log: Logger,
    /** Called after a failed write: the actor schedules a `retry()` after `delayMs`. */
    private readonly onRetryNeeded: (delayMs: number) => void,
  ) {}

  /** Whether nothing is waiting to be written. */
  get idle(): boolean {
    return this.inFlight === undefined && this.latest === this.written;
  }

  /** Records a new state (of an actor that exists); `parts` changed (all when undefined). */
  mark(state: S, parts?: Iterable<string>): void {
    if (this.stopped) return;
    this.latest = state;
    if (parts === undefined) this.all = true;
    else for (const p of parts) this.dirty.add(p);
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

  /**
   * Like flush, but gives up after `waitMs` and never throws: for the first
   * row of a new actor, which its creator should see, but whose absence must
   * not hold the mailbox (the log is the truth; the projection catches up).
   * @returns whether the newest state was written in time.
   */
  async flushWithin(waitMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no projection within ${waitMs} ms`)), waitMs);
    });
    try {
      await Promise.race([this.flush(), timeout]);
      return true;
    } catch (err) {
      this.log.warn({ err }, 'first projection of a new actor failed; continuing, it catches up in the background');
      return false;
    } finally {
      clearTimeout(timer);
    }
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
        this.log.warn({ err, failures: this.failures, delayMs }, 'projection write failed; retrying');
        this.onRetryNeeded(delayMs);
        return;
      }
    }
  }

  private async writeOnce(): Promise<void> {
    const state = this.latest;
    if (state === undefined) return;
    const parts = this.all ? undefined : this.dirty;
    this.dirty = new Set();
    this.all = false;
    try {
      await this.write(state, parts);
      this.written = state;
    } catch (err) {
      // Keep what was not written for the next attempt.
      if (parts === undefined) this.all = true;
      else for (const p of parts) this.dirty.add(p);
      throw err;
    }
  }
}
