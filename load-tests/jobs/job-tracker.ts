/**
 * Follows every job's events (`event.job.>`, the documented contract) and
 * keeps what the report needs: when each job and each step attempt started
 * and ended, and how long its model call took. Engine overhead of a model
 * step = (step-succeeded.at - step-started.at) - the call's durationMs: the
 * time spent queueing the request, dispatching it to a worker, delivering
 * the result back and making it durable, i.e. everything but the model.
 * Timestamps are the actor's own clock, so they compare exactly.
 *
 * A service step whose output carries `workMs` (the mixed pipeline's bench
 * workers report the time their handler took) is counted the same way:
 * overhead = step time - workMs: publishing the task, the worker's pull,
 * claim and completion round trips, and the appends.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { decodeJobEvent, type JobEvent } from '../../protocol/job-events.ts';
import { parseEventSubject } from '../../protocol/subjects.ts';

/** The successful attempt of a model step, in the actor's clock. */
export interface TrackedStep {
  readonly startedAt: number;
  readonly succeededAt: number;
  readonly modelMs: number;
}

export interface TrackedJob {
  createdAt: number | undefined;
  endedAt: number | undefined;
  status: 'running' | 'succeeded' | 'failed' | 'cancelled' | 'rejected';
  /** `<step>#<attempt>` → start time of the attempt. */
  readonly attemptStarts: Map<string, number>;
  /** Model steps that succeeded, by step id. */
  readonly steps: Map<string, TrackedStep>;
}

export class JobTracker {
  readonly jobs = new Map<string, TrackedJob>();
  /** Engine overhead of each successful model step, ms. */
  readonly stepOverheadMs: number[] = [];
  /** Model time of each successful model step, ms. */
  readonly modelMs: number[] = [];
  /** Engine overhead of each successful service step that reported its `workMs`, ms. */
  readonly serviceOverheadMs: number[] = [];
  /** Worker time of those service steps, ms. */
  readonly workMs: number[] = [];
  /** When each step succeeded (any step type), in the actors' clock. */
  readonly succeededAt: number[] = [];
  failedAttempts = 0;
  malformed = 0;
  private sub: Subscription | undefined;
  private onEnded: (() => void) | undefined;

  constructor(private readonly nc: NatsConnection) {}

  start(): void {
    this.sub = this.nc.subscribe('event.job.>', {
      callback: (err, msg) => {
        if (err) return;
        let id: string;
        let name: string;
        try {
          const address = parseEventSubject(msg.subject);
          id = address.id;
          name = address.name;
        } catch {
          this.malformed++;
          return;
        }
        if (name === 'token') return;
        let event: JobEvent;
        try {
          event = decodeJobEvent(msg.data);
        } catch {
          this.malformed++;
          return;
        }
        this.apply(id, event);
      },
    });
  }

  private job(id: string): TrackedJob {
    let job = this.jobs.get(id);
    if (job === undefined) {
      job = { createdAt: undefined, endedAt: undefined, status: 'running', attemptStarts: new Map(), steps: new Map() };
      this.jobs.set(id, job);
    }
    return job;
  }

  private apply(id: string, event: JobEvent): void {
    const job = this.job(id);
    switch (event.type) {
      case 'job-created':
        job.createdAt = event.at;
        break;
      case 'step-started':
        job.attemptStarts.set(`${event.step}#${event.attempt}`, event.at);
        break;
      case 'step-succeeded': {
        this.succeededAt.push(event.at);
        const started = job.attemptStarts.get(`${event.step}#${event.attempt}`);
        if (started !== undefined && event.usage !== null) {
          this.modelMs.push(event.usage.durationMs);
          this.stepOverheadMs.push(event.at - started - event.usage.durationMs);
          job.steps.set(event.step, { startedAt: started, succeededAt: event.at, modelMs: event.usage.durationMs });
        }
        const work = workMsOf(event.output);
        if (started !== undefined && event.usage === null && work !== null) {
          this.workMs.push(work);
          this.serviceOverheadMs.push(event.at - started - work);
        }
        break;
      }
      case 'step-attempt-failed':
        this.failedAttempts++;
        break;
      case 'job-succeeded':
      case 'job-failed':
      case 'job-cancelled':
      case 'job-rejected':
        job.endedAt = event.at;
        job.status = event.type === 'job-succeeded' ? 'succeeded' : event.type === 'job-failed' ? 'failed' : event.type === 'job-cancelled' ? 'cancelled' : 'rejected';
        this.onEnded?.();
        break;
      case 'approval-decided':
      case 'job-stuck':
      case 'step-skipped':
      case 'job-revised':
        break;
      default: {
        const never: never = event;
        throw new Error(`unhandled event ${JSON.stringify(never)}`);
      }
    }
  }

  /** Jobs that reached a terminal event. */
  get ended(): number {
    let n = 0;
    for (const j of this.jobs.values()) if (j.endedAt !== undefined) n++;
    return n;
  }

  /** Resolves once `count` jobs ended, or rejects after `timeoutMs`. */
  waitForEnded(count: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${this.ended} of ${count} jobs ended within ${timeoutMs} ms`)), timeoutMs);
      const check = () => {
        if (this.ended >= count) {
          clearTimeout(timer);
          this.onEnded = undefined;
          resolve();
        }
      };
      this.onEnded = check;
      check();
    });
  }

  stop(): void {
    this.sub?.unsubscribe();
  }
}

/** The `workMs` a bench service worker put in its output, or null. */
function workMsOf(output: unknown): number | null {
  if (typeof output !== 'object' || output === null || !('workMs' in output)) return null;
  const ms = (output as { workMs: unknown }).workMs;
  return typeof ms === 'number' && Number.isFinite(ms) ? ms : null;
}

/** Nearest-rank percentile of unsorted samples (null when there are none). */
export function percentile(samples: readonly number[], p: number): number | null {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return Math.round(sorted[rank - 1]! * 10) / 10;
}
