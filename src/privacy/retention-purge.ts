/**
 * The retention purge: removes what is older than the configured ages
 * (Config.privacy.retention; 0 keeps forever).
 *
 * - finished jobs (finished_at older than `jobLogDays`): their JetStream log,
 *   projection rows and artifacts (job-removal.ts);
 * - artifacts of finished jobs older than `artifactDays`: the objects only;
 *   the job keeps its log and row, marked `artifacts_purged_at`, and its
 *   view still lists the artifacts it once wrote (their downloads 404);
 * - audit entries older than `auditDays`.
 *
 * Every actors process runs one, but a sweep first takes a lease in the
 * actor lease bucket (key {@link RETENTION_LEASE_KEY}), so one process at a
 * time purges; the others skip that round. Work per sweep is bounded
 * (batches, a page limit), the clock is injected (tests purge "days later"
 * without waiting), and every sweep logs its counts.
 */
import type { KV } from '@nats-io/kv';
import { and, asc, inArray, isNotNull, isNull, lt, notInArray } from 'drizzle-orm';
import { jobArtifactsPrefix } from '../../actors/ports/index.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { acquireLease } from '../placement/lease.ts';
import { auditLog, jobs } from '../storage/index.ts';
import { removeJob, type JobRemovalDeps } from './job-removal.ts';

/** Key of the purge's lease in the actor lease bucket (no actor kind is called `task`). */
export const RETENTION_LEASE_KEY = 'task.retention-purge';

const DAY_MS = 86_400_000;
/** Rows handled per query. */
const BATCH = 200;
/** Upper bound on batches per category and sweep, so one sweep always ends; the rest waits for the next. */
const MAX_BATCHES = 50;

/** Counts of one sweep; `skipped` when another process held the lease. */
export interface RetentionSweep {
  readonly skipped: boolean;
  readonly jobs: number;
  readonly jobEvents: number;
  readonly artifacts: number;
  readonly auditEntries: number;
}

export interface RetentionPurgeOptions extends JobRemovalDeps {
  readonly retention: Config['privacy']['retention'];
  /** The actor lease bucket (KV loom_leases). */
  readonly leases: KV;
  /** This process, for the lease holder. */
  readonly host: string;
  /** Lease lifetime; refreshed every third of it while a sweep runs. */
  readonly leaseTtlMs: number;
  readonly log: Logger;
  /** Clock in ms. Default Date.now. */
  readonly now?: () => number;
}

export class RetentionPurge {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RetentionSweep> | undefined;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly opts: RetentionPurgeOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Whether any age is configured; with none, start() does nothing. */
  get enabled(): boolean {
    const r = this.opts.retention;
    return r.jobLogDays > 0 || r.artifactDays > 0 || r.auditDays > 0;
  }

  /** Sweeps now and then every `intervalMs`; failures are logged and retried next round. */
  start(): void {
    this.stopped = false;
    if (this.enabled) this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.sweep()
        .catch((err: unknown) => this.opts.log.warn({ err }, 'retention purge failed; retrying next round'))
        .finally(() => this.schedule(this.opts.retention.intervalMs));
    }, delayMs);
    this.timer.unref();
  }

  /** One sweep, unless one is running in this process already (then that one's result). */
  sweep(): Promise<RetentionSweep> {
    this.running ??= this.leasedSweep().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async leasedSweep(): Promise<RetentionSweep> {
    let lost = false;
    const lease = await acquireLease(this.opts.leases, RETENTION_LEASE_KEY, {
      host: this.opts.host,
      ttlMs: this.opts.leaseTtlMs,
      logger: this.opts.log,
      onLost: (reason) => {
        lost = true;
        this.opts.log.warn({ reason }, 'retention purge lease lost; stopping this sweep');
      },
    });
    if (lease === null) {
      this.opts.log.debug('retention purge skipped: another process holds its lease');
      return { skipped: true, jobs: 0, jobEvents: 0, artifacts: 0, auditEntries: 0 };
    }
    lease.start();
    try {
      const keepGoing = () => !lost && !this.stopped;
      const now = this.now();
      const removed = await this.purgeJobs(now, keepGoing);
      const artifacts = removed.artifacts + (await this.purgeArtifacts(now, keepGoing));
      const auditEntries = await this.purgeAudit(now, keepGoing);
      const result = { skipped: false, jobs: removed.jobs, jobEvents: removed.events, artifacts, auditEntries };
      this.opts.log.info({ ...result, retention: this.opts.retention }, 'retention purge done');
      return result;
    } finally {
      await lease.release();
    }
  }

  private async purgeJobs(now: number, keepGoing: () => boolean): Promise<{ jobs: number; events: number; artifacts: number }> {
    const days = this.opts.retention.jobLogDays;
    let removed = 0;
    let events = 0;
    let artifacts = 0;
    if (days === 0) return { jobs: 0, events: 0, artifacts: 0 };
    const cutoff = new Date(now - days * DAY_MS);
    let failedIds: string[] = [];
    for (let batch = 0; batch < MAX_BATCHES && keepGoing(); batch++) {
      const exclude = failedIds.length === 0 ? undefined : notInArray(jobs.id, failedIds);
      const due = await this.opts.db
        .select({ id: jobs.id })
        .from(jobs)
        .where(and(isNotNull(jobs.finishedAt), lt(jobs.finishedAt, cutoff), exclude))
        .orderBy(asc(jobs.finishedAt))
        .limit(BATCH);
      for (const { id } of due) {
        if (!keepGoing()) break;
        try {
          const r = await removeJob(this.opts, id);
          removed++;
          events += r.events;
          artifacts += r.artifacts;
        } catch (err) {
          // Left for the next sweep; skipped for the rest of this one.
          failedIds = [...failedIds, id];
          this.opts.log.warn({ err, jobId: id }, 'retention: removing a job failed');
        }
      }
      if (due.length < BATCH) break;
    }
    return { jobs: removed, events, artifacts };
  }

  private async purgeArtifacts(now: number, keepGoing: () => boolean): Promise<number> {
    const days = this.opts.retention.artifactDays;
    if (days === 0) return 0;
    const cutoff = new Date(now - days * DAY_MS);
    let objects = 0;
    for (let batch = 0; batch < MAX_BATCHES && keepGoing(); batch++) {
      const due = await this.opts.db
        .select({ id: jobs.id })
        .from(jobs)
        .where(and(isNotNull(jobs.finishedAt), lt(jobs.finishedAt, cutoff), isNull(jobs.artifactsPurgedAt)))
        .orderBy(asc(jobs.finishedAt))
        .limit(BATCH);
      const done: string[] = [];
      for (const { id } of due) {
        if (!keepGoing()) break;
        try {
          objects += await this.opts.objects.deletePrefix(jobArtifactsPrefix(id));
          done.push(id);
        } catch (err) {
          this.opts.log.warn({ err, jobId: id }, 'retention: deleting the artifacts of a job failed');
        }
      }
      if (done.length > 0) await this.opts.db.update(jobs).set({ artifactsPurgedAt: new Date(now) }).where(inArray(jobs.id, done));
      // A batch where nothing could be deleted would come back unchanged: stop until the next sweep.
      if (due.length < BATCH || done.length === 0) break;
    }
    return objects;
  }

  private async purgeAudit(now: number, keepGoing: () => boolean): Promise<number> {
    const days = this.opts.retention.auditDays;
    if (days === 0) return 0;
    const cutoff = new Date(now - days * DAY_MS);
    let deleted = 0;
    for (let batch = 0; batch < MAX_BATCHES && keepGoing(); batch++) {
      // Batched by id so one sweep never holds a long lock on the whole table.
      const ids = this.opts.db.select({ id: auditLog.id }).from(auditLog).where(lt(auditLog.at, cutoff)).limit(BATCH * 10);
      const rows = await this.opts.db.delete(auditLog).where(inArray(auditLog.id, ids)).returning({ id: auditLog.id });
      deleted += rows.length;
      if (rows.length < BATCH * 10) break;
    }
    return deleted;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.running?.catch((err: unknown) => this.opts.log.debug({ err }, 'last retention sweep failed'));
  }
}
