/**
 * Job metrics, read from the events a job actor appends to its log (the
 * log port is wrapped, so the actor stays free of metrics): jobs by kind and
 * status (created, then one terminal status), step attempts by activity and
 * status, and the duration of each step attempt. A job's kind is learned
 * from its job-created event, appended or replayed on this host; a job
 * finishing on a host that never saw that event counts with kind `unknown`.
 */
import { Counter, Histogram } from 'prom-client';
import type { JobLog, JobLogEntry } from '../../actors/job/index.ts';
import { decodeJobEvent, type JobEvent } from '../../protocol/job-events.ts';
import type { Logger } from '../log.ts';
import { BoundedLabel } from './bounded-label.ts';
import { registry, SLOW_SECONDS } from './registry.ts';

const jobs = new Counter({
  name: 'loom_jobs_total',
  help: 'Jobs by kind and status: created when started, then succeeded, failed, cancelled or rejected when they end',
  labelNames: ['kind', 'status'] as const,
  registers: [registry],
});
const steps = new Counter({
  name: 'loom_job_steps_total',
  help: 'Step attempts by activity and status: started, succeeded, retrying (attempt failed, another follows), failed (no attempt left)',
  labelNames: ['activity', 'status'] as const,
  registers: [registry],
});
const stepDuration = new Histogram({
  name: 'loom_job_step_duration_seconds',
  help: 'Duration of one step attempt from its start to its outcome, by activity and outcome (succeeded, failed)',
  labelNames: ['activity', 'outcome'] as const,
  buckets: SLOW_SECONDS,
  registers: [registry],
});

/** Jobs and running steps remembered per host; past this the oldest are forgotten (their later events count as `unknown`). */
const MAX_TRACKED = 10_000;
/** Distinct job kinds kept as label values (pipelines are definitions, but may be many). */
const kinds = new BoundedLabel(200);

/** Remembers at most MAX_TRACKED entries, forgetting the oldest. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.set(key, value);
  if (map.size > MAX_TRACKED) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
}

/** The same job log, with every appended event counted. */
export class MeteredJobLog implements JobLog {
  private readonly kindOf = new Map<string, string>();
  private readonly running = new Map<string, { activity: string; at: number }>();

  constructor(
    private readonly inner: JobLog,
    private readonly log: Logger,
  ) {}

  async append(id: string, body: Uint8Array, expectedLastSeq: number, event?: JobEvent): Promise<number> {
    const seq = await this.inner.append(id, body, expectedLastSeq, event);
    // The job actor hands over the event it encoded: decoding the body again cost a schema parse per append.
    const appended = event ?? this.decode(id, body);
    if (appended !== undefined) this.observe(id, appended);
    return seq;
  }

  async *readAfter(id: string, afterSeq: number, signal?: AbortSignal): AsyncIterable<JobLogEntry> {
    let first = afterSeq === 0;
    for await (const entry of this.inner.readAfter(id, afterSeq, signal)) {
      // Only a replay from the start shows the job-created event, which names the kind.
      if (first) {
        first = false;
        const event = this.decode(id, entry.body);
        if (event?.type === 'job-created') remember(this.kindOf, id, kinds.of(event.kind));
      }
      yield entry;
    }
  }

  private decode(id: string, body: Uint8Array): JobEvent | undefined {
    try {
      return decodeJobEvent(body);
    } catch (err) {
      this.log.warn({ err, jobId: id }, 'job event not counted: it does not decode');
      return undefined;
    }
  }

  private observe(id: string, event: JobEvent): void {
    switch (event.type) {
      case 'job-created': {
        const kind = kinds.of(event.kind);
        remember(this.kindOf, id, kind);
        jobs.labels(kind, 'created').inc();
        return;
      }
      case 'step-started':
        steps.labels(event.activity, 'started').inc();
        remember(this.running, `${id}\u0000${event.step}`, { activity: event.activity, at: event.at });
        return;
      case 'step-succeeded':
        this.stepEnded(id, event.step, 'succeeded', event.at);
        return;
      case 'step-attempt-failed':
        this.stepEnded(id, event.step, event.retryAt === null ? 'failed' : 'retrying', event.at);
        return;
      case 'job-succeeded':
      case 'job-failed':
      case 'job-cancelled':
      case 'job-rejected':
        jobs.labels(this.kindOf.get(id) ?? 'unknown', event.type.slice('job-'.length)).inc();
        this.kindOf.delete(id);
        return;
      default:
        // Approval decisions, stuck flags and the like change no job or step count.
        return;
    }
  }

  private stepEnded(id: string, step: string, status: 'succeeded' | 'failed' | 'retrying', at: number): void {
    const key = `${id}\u0000${step}`;
    const started = this.running.get(key);
    this.running.delete(key);
    const activity = started?.activity ?? 'unknown';
    steps.labels(activity, status).inc();
    if (started !== undefined) stepDuration.labels(activity, status === 'succeeded' ? 'succeeded' : 'failed').observe(Math.max(0, at - started.at) / 1_000);
  }
}
