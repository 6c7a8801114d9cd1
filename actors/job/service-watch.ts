/**
 * The clocks of running service tasks, kept by the job actor's shell (not in
 * the log): which worker holds each step's current attempt, since when, and
 * when it last said it was alive. A claim starts the start-to-close clock; a
 * heartbeat resets the heartbeat clock. After a host change the new
 * activation knows no claim: it adopts the running attempts as if claimed
 * at recovery (the worker's next heartbeat takes the hold back), so a
 * worker that died with the old host is still found out.
 */
import type { JobError } from '../../protocol/job-events.ts';

/** The timeouts of a service step (ServiceActivity's). */
export interface ServiceClocks {
  readonly startToCloseMs: number;
  readonly heartbeatTimeoutMs: number | null;
}

interface Hold extends ServiceClocks {
  readonly attempt: number;
  /** null: adopted at recovery, no worker heard from yet. */
  workerId: string | null;
  readonly claimedAt: number;
  lastBeatAt: number;
  /** What the worker last reported with a heartbeat; null before any. */
  progress: unknown;
}

export type Verdict = { readonly accepted: true } | { readonly accepted: false; readonly reason: string };
const ACCEPTED: Verdict = { accepted: true };

export class ServiceWatch {
  private readonly holds = new Map<string, Hold>();

  /** A worker takes the attempt; refused while another worker holds it and has not timed out. */
  claim(step: string, attempt: number, workerId: string, now: number, clocks: ServiceClocks): Verdict {
    const hold = this.current(step, attempt);
    if (hold !== undefined && hold.workerId !== null && hold.workerId !== workerId && this.expiry(hold, now) === null) {
      return { accepted: false, reason: `attempt ${attempt} of step ${step} is held by worker ${hold.workerId}` };
    }
    this.holds.set(step, { ...clocks, attempt, workerId, claimedAt: now, lastBeatAt: now, progress: null });
    return ACCEPTED;
  }

  /** "Still alive" from a worker, with its progress; one we never saw claim (we are a new activation) takes the hold. */
  beat(step: string, attempt: number, workerId: string, now: number, clocks: ServiceClocks, progress: unknown = undefined): Verdict {
    let hold = this.current(step, attempt);
    if (hold === undefined) {
      const verdict = this.claim(step, attempt, workerId, now, clocks);
      if (!verdict.accepted) return verdict;
      hold = this.current(step, attempt);
    } else if (hold.workerId !== null && hold.workerId !== workerId) {
      return { accepted: false, reason: `attempt ${attempt} of step ${step} is held by worker ${hold.workerId}` };
    }
    if (hold === undefined) return ACCEPTED;
    hold.workerId = workerId;
    hold.lastBeatAt = now;
    if (progress !== undefined) hold.progress = progress;
    return ACCEPTED;
  }

  /** After recovery: a running attempt whose claim we cannot know is treated as claimed now. */
  adopt(step: string, attempt: number, now: number, clocks: ServiceClocks): void {
    if (this.current(step, attempt) !== undefined) return;
    this.holds.set(step, { ...clocks, attempt, workerId: null, claimedAt: now, lastBeatAt: now, progress: null });
  }

  /** Forgets the step's hold; with `attempt`, only if the hold is of that attempt. */
  release(step: string, attempt?: number): void {
    if (attempt === undefined || this.holds.get(step)?.attempt === attempt) this.holds.delete(step);
  }

  /** Who holds the attempt, if anyone has claimed it. */
  holder(step: string, attempt: number): Hold | undefined {
    return this.current(step, attempt);
  }

  /** Why the attempt has failed by `now` (start-to-close or heartbeat timeout), or null while it is in time. */
  expired(step: string, attempt: number, now: number): JobError | null {
    const hold = this.current(step, attempt);
    return hold === undefined ? null : this.expiry(hold, now);
  }

  /** When the attempt's next clock runs out; null when nobody holds it. */
  dueAt(step: string, attempt: number): number | null {
    const hold = this.current(step, attempt);
    if (hold === undefined) return null;
    const close = hold.claimedAt + hold.startToCloseMs;
    return hold.heartbeatTimeoutMs === null ? close : Math.min(close, hold.lastBeatAt + hold.heartbeatTimeoutMs);
  }

  private current(step: string, attempt: number): Hold | undefined {
    const hold = this.holds.get(step);
    return hold !== undefined && hold.attempt === attempt ? hold : undefined;
  }

  private expiry(hold: Hold, now: number): JobError | null {
    if (now >= hold.claimedAt + hold.startToCloseMs) {
      return { code: 'start-to-close-timeout', message: `worker ${hold.workerId ?? '(unknown)'} did not complete within ${hold.startToCloseMs} ms of its claim` };
    }
    if (hold.heartbeatTimeoutMs !== null && now >= hold.lastBeatAt + hold.heartbeatTimeoutMs) {
      return { code: 'heartbeat-timeout', message: `worker ${hold.workerId ?? '(unknown)'} sent no heartbeat for ${hold.heartbeatTimeoutMs} ms` };
    }
    return null;
  }
}
