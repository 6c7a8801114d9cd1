/**
 * Resumes jobs (or agent sessions: `kind`) whose host died. An actor with
 * work in flight never passivates, so one that needs a host (projection:
 * `needs_host`) but has no live owner (an entry in KV loom_owners, key
 * <kind>.<token>, whose host's liveness key still lives) lost its host: nothing would ever wake it, because its in-flight results may
 * have gone to the dead host and its timers died with it. The supervisor
 * sends such an actor `resume` through the ActorClient, which activates it
 * on some host; activation replays its log and recovers its in-flight work.
 * Every actor host runs one per kind, at start and then periodically;
 * duplicate resumes are harmless (single activation).
 */
import { ProtocolError } from '../../protocol/errors.ts';
import { parseActorId, type ActorKind } from '../../protocol/ids.ts';
import { leaseKey } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';
import type { ActorClient } from '../placement/actor-client.ts';
import type { OwnerEntry } from '../placement/ownership.ts';
import type { JobNeedingHost } from '../storage/index.ts';

/** A row of a projection that says an actor needs a host. */
type NeedingHost = JobNeedingHost;

export interface JobSupervisorOptions {
  /** Which actors it looks after (default `job`); `jobs` is that kind's projection. */
  readonly kind?: ActorKind;
  readonly jobs: { needingHost(limit: number, after?: NeedingHost): Promise<NeedingHost[]> };
  /** Who owns an actor now (OwnerDirectory): null when nobody alive does. */
  readonly owners: { liveOwner(key: string): Promise<OwnerEntry | null> };
  readonly client: ActorClient;
  readonly intervalMs: number;
  readonly log: Logger;
  /** Jobs examined per query page. Default 200. */
  readonly pageSize?: number;
  /** Resumes in flight at once. Default 8. */
  readonly concurrency?: number;
}

const EMPTY = new Uint8Array(0);
/** Upper bound on pages per sweep, so one sweep always ends. */
const MAX_PAGES = 1_000;

export class JobSupervisor {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private stopped = false;
  private failures = 0;

  private readonly kind: ActorKind;

  constructor(private readonly opts: JobSupervisorOptions) {
    this.kind = opts.kind ?? 'job';
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.sweep().then(
        () => {
          this.failures = 0;
          this.schedule(this.opts.intervalMs);
        },
        (err: unknown) => {
          this.failures++;
          const backoffMs = Math.min(this.opts.intervalMs * 2 ** Math.min(this.failures, 5), 60_000);
          this.opts.log.warn({ err, kind: this.kind, failures: this.failures, backoffMs }, 'supervisor sweep failed');
          this.schedule(backoffMs);
        },
      );
    }, delayMs);
    this.timer.unref();
  }

  /**
   * One pass: resumes every job that needs a host and has none.
   * @returns how many jobs were sent `resume`.
   */
  sweep(): Promise<number> {
    this.running ??= this.doSweep().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async doSweep(): Promise<number> {
    const pageSize = this.opts.pageSize ?? 200;
    let after: NeedingHost | undefined;
    let resumed = 0;
    for (let page = 0; page < MAX_PAGES && !this.stopped; page++) {
      const jobs = await this.opts.jobs.needingHost(pageSize, after);
      const orphans = (await Promise.all(jobs.map(async (j) => ((await this.hasOwner(j.id)) ? null : j.id)))).filter((id): id is string => id !== null);
      resumed += await this.resumeAll(orphans);
      if (jobs.length < pageSize) break;
      after = jobs[jobs.length - 1];
    }
    if (resumed > 0) this.opts.log.info({ resumed, kind: this.kind }, this.kind === 'job' ? 'resumed jobs whose host died' : `resumed ${this.kind} actors whose host died`);
    return resumed;
  }

  private async hasOwner(jobId: string): Promise<boolean> {
    return (await this.opts.owners.liveOwner(leaseKey(this.kind, parseActorId(jobId)))) !== null;
  }

  private async resumeAll(ids: readonly string[]): Promise<number> {
    let next = 0;
    let done = 0;
    const worker = async () => {
      while (next < ids.length && !this.stopped) {
        const id = ids[next++];
        if (id === undefined) return;
        try {
          await this.opts.client.request(this.kind, parseActorId(id), 'resume', EMPTY);
          done++;
        } catch (err) {
          // The actor took the resume; only its answer (the whole view) was over the NATS max_payload.
          if (err instanceof ProtocolError && err.code === 'reply-too-large') {
            done++;
            continue;
          }
          const level = err instanceof ProtocolError && err.code === 'not-found' ? 'error' : 'warn';
          this.opts.log[level]({ err, kind: this.kind, id }, 'resuming an actor failed');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency ?? 8, ids.length) }, worker));
    return done;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.running?.catch((err: unknown) => this.opts.log.debug({ err }, 'last supervisor sweep failed'));
  }
}
