/**
 * The job actor: a durable workflow whose state is the fold of its log.
 *
 * States (protocol/job.ts JobStatus): pending -> running <-> waiting-approval
 * -> succeeded | failed | cancelled | rejected.
 * Messages: commands start, get, cancel, approve, resume, output, steps,
 * inference-result (protocol/job.ts); its own timers `job-timer` (attempt deadlines, retry
 * backoffs), `activity-done` (a local activity ended), `recover` (first
 * message after activation) and `projection-retry`.
 *
 * Each message is decided by a pure function (engine.ts) into events and
 * effects. The shell appends the events one by one to the log with the
 * expected-last-sequence check (a stale owner is fenced out and steps
 * down), publishes each on event.job.<id>.<type> with its sequence, then
 * performs the effects: model calls go to the inference queue and come back
 * as commands; artifact and document writes run beside the mailbox and come
 * back as `activity-done`. Nothing long is awaited inside the mailbox. While
 * anything is in flight the actor refuses to passivate, so a running job
 * lives until it ends or its host dies (then the supervisor resumes it).
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ActorContext, ActorInstance, CommandMessage, MailboxMessage, TimerMessage } from '../actor.ts';
import { appendOrStepDown, dispatchInOrder } from '../mailbox-dispatch.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { checkVersion, HEADERS } from '../../protocol/headers.ts';
import { decodeInferenceResult } from '../../protocol/inference.ts';
import { artifactRefSchema, encodeJobEvent } from '../../protocol/job-events.ts';
import {
  approveJobRequestSchema,
  cancelJobRequestSchema,
  isJobCommand,
  jobOutputRequestSchema,
  jobStepsRequestSchema,
  startJobRequestSchema,
  type JobOutputReply,
  type JobView,
} from '../../protocol/job.ts';
import { decodeJson, encodeJson } from '../../protocol/reply.ts';
import { failureOutcome, putArtifact, readObject, writeDocument } from './activities.ts';
import type { ActivityOutcome, JobEffect } from './effects.ts';
import {
  decideActivityDone,
  decideApprove,
  decideCancel,
  decideInferenceResult,
  decideRecover,
  decideStart,
  decideTimer,
  type JobDefaults,
} from './engine.ts';
import type { Draft, EngineEnv } from './draft.ts';
import { maxOutputBytesFor } from './output-limit.ts';
import { encodeStepsPage } from './step-pages.ts';
import type { AnyPipeline } from './pipeline.ts';
import {
  JobLogFencingError,
  type ArtifactStore,
  type DocumentPort,
  type InferenceQueue,
  type JobClock,
  type JobLog,
  type JobProjection,
  type ServiceQueue,
  type WorkerPresence,
} from './ports.ts';
import { SERVICE_CHECK_TIMER, ServiceSupervisor } from './service-supervisor.ts';
import { isActivityCommand } from '../../protocol/activity.ts';
import { ProjectionSync, type PriceTable } from '../ports/index.ts';
import { evolve, type JobState } from './state.ts';
import { decideStuck, STUCK_CHECK_TIMER, stuckDueAt } from './stuck-watchdog.ts';
import { encodeViewWithin } from './view-fit.ts';
import { jobView, needsHost, projectionRecord } from './view.ts';

/** Everything a job activation needs; built once per host by the definition. */
export interface JobActorDeps {
  readonly log: JobLog;
  readonly inference: InferenceQueue;
  /** The service-activity work queue (protocol/activity.ts). */
  readonly services: ServiceQueue;
  /** Which model and service queues have a live worker (a job waiting on one that has none says `waiting-for-worker`). */
  readonly presence: WorkerPresence;
  readonly artifacts: ArtifactStore;
  readonly documents: DocumentPort;
  readonly projection: JobProjection;
  readonly clock: JobClock;
  readonly pipelines: ReadonlyMap<string, AnyPipeline>;
  readonly prices: PriceTable;
  readonly defaults: JobDefaults;
  /** Longest the start command waits for the job's first projection row (the supervisor finds jobs through it). */
  readonly createProjectionTimeoutMs: number;
  /** A pending or running job with no new event this long is flagged stuck (stuck-watchdog.ts); never when absent. */
  readonly stuckAfterMs?: number;
  /**
   * Largest reply body, in bytes, a view is fitted into (encodeViewWithin
   * leaves its largest outputs out, served by `output`); unlimited when absent.
   * It also holds each output under what one `output` reply carries
   * (output-limit.ts). Hosts pass the NATS max_payload less room for headers.
   */
  readonly maxReplyBytes?: number;
}

const timerPayload = z.object({ timer: z.enum(['timeout', 'retry']), step: z.string(), attempt: z.number().int() });
const outcomeSchema: z.ZodType<ActivityOutcome> = z.union([
  z.object({ ok: z.literal(true), output: z.unknown(), artifact: artifactRefSchema.nullable() }),
  z.object({ ok: z.literal(false), error: z.object({ code: z.string(), message: z.string() }), retryable: z.boolean() }),
]) as z.ZodType<ActivityOutcome>;
const activityDonePayload = z.object({ step: z.string(), attempt: z.number().int(), outcome: outcomeSchema });

const EMPTY = new Uint8Array(0);

export class JobActor implements ActorInstance {
  private readonly running = new Map<string, AbortController>();
  private submitsInFlight = 0;
  private stuckCheckArmed = false;
  private readonly projection: ProjectionSync<JobState>;
  private readonly services: ServiceSupervisor;
  private readonly log: Logger;

  constructor(
    private readonly ctx: ActorContext,
    private state: JobState,
    private readonly deps: JobActorDeps,
  ) {
    this.log = ctx.log;
    this.projection = new ProjectionSync<JobState>((state, steps) => deps.projection.save(projectionRecord(state, steps)), ctx.log, (delayMs) =>
      ctx.schedule(delayMs, 'projection-retry'),
    );
    this.services = new ServiceSupervisor({
      queue: deps.services,
      presence: deps.presence,
      log: ctx.log,
      state: () => this.state,
      env: () => this.env(),
      commit: (draft) => this.commit(draft),
      schedule: (delayMs, name, payload) => ctx.schedule(delayMs, name, payload),
    });
  }

  private env(): EngineEnv {
    return {
      now: this.deps.clock.now(),
      random: () => this.deps.clock.random(),
      pipelines: this.deps.pipelines,
      prices: this.deps.prices,
      // An output is refused when recorded rather than recorded and never servable by `output`.
      maxOutputBytes: maxOutputBytesFor(this.deps.maxReplyBytes),
    };
  }

  handle(batch: readonly MailboxMessage[]): Promise<void> {
    // Jobs keep no per-gateway state: host signals are ignored.
    return dispatchInOrder(batch, { onCommand: (c) => this.onCommand(c), onTimer: (t) => this.onTimer(t) });
  }

  private async onCommand(command: CommandMessage): Promise<void> {
    checkVersion(command.headers);
    const name = command.name;
    if (isActivityCommand(name)) {
      // A worker's claim, heartbeat or completion, forwarded by the activity service (src/activities/).
      command.respond(await this.services.onCommand(name, command.body));
      return;
    }
    if (!isJobCommand(name)) throw new ProtocolError('invalid-subject', `unknown job command ${name}`);
    switch (name) {
      case 'start': {
        const req = decodeJson(command.body, startJobRequestSchema, 'start request');
        const { draft, created } = decideStart(this.state, req, this.env(), this.deps.defaults);
        await this.commit(draft);
        // The supervisor finds jobs through the projection: the first row is written before the creator hears back.
        if (created) await this.projection.flushWithin(this.deps.createProjectionTimeoutMs);
        command.respond({ headers: {}, body: this.viewBody((job) => ({ created, job })) });
        return;
      }
      case 'get':
        command.respond({ headers: {}, body: this.viewBody() });
        return;
      case 'resume':
        command.respond({ headers: {}, body: this.viewBody() });
        return;
      case 'cancel': {
        const req = decodeJson(command.body, cancelJobRequestSchema, 'cancel request');
        await this.commit(decideCancel(this.state, req, this.env()));
        command.respond({ headers: {}, body: this.viewBody() });
        return;
      }
      case 'approve': {
        const req = decodeJson(command.body, approveJobRequestSchema, 'approve request');
        await this.commit(decideApprove(this.state, req, this.env()));
        command.respond({ headers: {}, body: this.viewBody() });
        return;
      }
      case 'output': {
        const req = decodeJson(command.body, jobOutputRequestSchema, 'output request');
        command.respond({ headers: {}, body: encodeJson(this.output(req.step)) });
        return;
      }
      case 'steps': {
        const req = decodeJson(command.body, jobStepsRequestSchema, 'steps request');
        this.requireJob();
        const live = { serviceTasks: this.services.heldTasks(), waitingForWorker: this.services.waitingForWorkers() };
        command.respond({ headers: {}, body: encodeStepsPage(this.state, req, this.deps.maxReplyBytes ?? Number.POSITIVE_INFINITY, live) });
        return;
      }
      case 'inference-result': {
        const result = decodeInferenceResult({ headers: command.headers, body: command.body });
        await this.commit(decideInferenceResult(this.state, result, this.env()));
        // Acknowledged once durable (or recognised as stale): the worker may ack its queue message.
        command.respond({ headers: {}, body: EMPTY });
        return;
      }
      default: {
        const never: never = name;
        throw new Error(`unhandled job command ${String(never)}`);
      }
    }
  }

  /** The view as a reply body, fitted into maxReplyBytes; `wrap` puts it inside start's reply. */
  private viewBody(wrap?: (job: JobView) => unknown): Uint8Array {
    return encodeViewWithin(this.view(), this.deps.maxReplyBytes ?? Number.POSITIVE_INFINITY, wrap);
  }

  /** One output in full: the step's, or the job's own when `step` is absent. @throws ProtocolError not-found for an unknown job or step. */
  private output(step: string | undefined): JobOutputReply {
    this.requireJob();
    if (step === undefined) return { step: null, output: this.state.output ?? null };
    const s = this.state.steps.get(step);
    if (s === undefined) throw new ProtocolError('not-found', `job ${this.ctx.id} has no step ${step}`);
    return { step, output: s.output ?? null };
  }

  private requireJob(): void {
    if (this.state.created === null) throw new ProtocolError('not-found', `job ${this.ctx.id} does not exist`);
  }

  private view(): JobView {
    this.requireJob();
    const waiting = this.services.waitingForWorkers();
    return { ...jobView(this.state), statusDetail: waiting.length > 0 ? 'waiting-for-worker' : null, waitingForWorker: waiting, serviceTasks: this.services.heldTasks() };
  }

  private async onTimer(message: TimerMessage): Promise<void> {
    switch (message.name) {
      case 'recover':
        this.projection.mark(this.state);
        await this.commit(decideRecover(this.state, this.env()));
        this.services.adoptRunning();
        return;
      case 'projection-retry':
        this.projection.retry();
        return;
      case SERVICE_CHECK_TIMER:
        await this.services.onCheck(message.payload);
        return;
      case STUCK_CHECK_TIMER:
        this.stuckCheckArmed = false;
        await this.checkStuck();
        return;
      case 'job-timer': {
        const parsed = timerPayload.safeParse(message.payload);
        if (!parsed.success) throw new Error(`malformed job timer payload: ${parsed.error.message}`);
        await this.commit(decideTimer(this.state, parsed.data, this.env()));
        return;
      }
      case 'activity-done': {
        const parsed = activityDonePayload.safeParse(message.payload);
        if (!parsed.success) throw new Error(`malformed activity-done payload: ${parsed.error.message}`);
        await this.commit(decideActivityDone(this.state, parsed.data, this.env()));
        return;
      }
      default:
        this.log.warn({ timer: message.name }, 'unknown job timer ignored');
    }
  }

  /** Appends the draft's events (fenced), publishes them, then performs its effects. */
  private async commit(draft: Draft): Promise<void> {
    const changed = new Set<string>();
    for (const event of draft.events) {
      const body = encodeJobEvent(event);
      const seq = await appendOrStepDown(() => this.deps.log.append(this.ctx.id, body, this.state.lastSeq, event), (err) => err instanceof JobLogFencingError, 'job log');
      this.state = evolve(this.state, event, seq);
      if ('step' in event && event.step !== null) changed.add(event.step);
      if (event.type === 'job-failed' || event.type === 'job-cancelled' || event.type === 'job-rejected') {
        for (const id of this.state.steps.keys()) changed.add(id);
      }
      this.ctx.publish(event.type, body, { [HEADERS.seq]: String(seq) });
    }
    if (draft.events.length > 0) this.projection.mark(this.state, changed);
    for (const effect of draft.effects) this.perform(effect);
    this.armStuckCheck();
  }

  /** Flags the job stuck when it has not moved for stuckAfterMs; otherwise waits for its new due time. */
  private async checkStuck(): Promise<void> {
    if (this.deps.stuckAfterMs === undefined) return;
    const draft = decideStuck(this.state, this.env(), this.deps.stuckAfterMs);
    if (draft.events.length === 0) return this.armStuckCheck();
    this.log.warn({ since: new Date(this.state.updatedAt).toISOString(), stuckAfterMs: this.deps.stuckAfterMs, status: this.state.status }, 'job stuck');
    await this.commit(draft);
  }

  /** One stuck-check timer at a time; progress only moves the due time, found when it fires. */
  private armStuckCheck(): void {
    if (this.stuckCheckArmed || this.deps.stuckAfterMs === undefined) return;
    const due = stuckDueAt(this.state, this.deps.stuckAfterMs);
    if (due === null) return;
    this.stuckCheckArmed = true;
    this.ctx.schedule(Math.max(0, due - this.deps.clock.now()), STUCK_CHECK_TIMER);
  }

  private perform(effect: JobEffect): void {
    switch (effect.type) {
      case 'arm-timer':
        this.ctx.schedule(Math.max(0, effect.at - this.deps.clock.now()), 'job-timer', { timer: effect.timer, step: effect.step, attempt: effect.attempt });
        return;
      case 'submit-inference':
        this.submitsInFlight++;
        this.deps.inference
          .submit(this.ctx.id, effect.call)
          .catch((err: unknown) => {
            this.log.warn({ err, step: effect.step, attempt: effect.attempt }, 'inference submit failed');
            this.done(effect.step, effect.attempt, failureOutcome(err, 'queue-unavailable'));
          })
          .finally(() => {
            this.submitsInFlight--;
          });
        return;
      case 'cancel-inference':
        this.deps.inference.cancel(effect.requestId).catch((err: unknown) => {
          // Best effort: a result that still arrives is recognised as stale and ignored.
          this.log.warn({ err, step: effect.step, requestId: effect.requestId }, 'inference cancel failed');
        });
        return;
      case 'put-artifact':
        this.runLocal(effect.step, effect.attempt, () => putArtifact(this.deps.artifacts, this.ctx.id, effect));
        return;
      case 'write-document':
        this.runLocal(effect.step, effect.attempt, (signal) => writeDocument(this.deps.documents, this.ctx.id, effect, signal));
        return;
      case 'read-object':
        this.runLocal(effect.step, effect.attempt, (signal) => readObject(this.deps.artifacts, effect, signal));
        return;
      case 'run-service':
      case 'cancel-service':
        this.services.perform(effect);
        return;
      case 'abort-step':
        this.running.get(effect.step)?.abort(new Error(`step ${effect.step} stopped`));
        this.running.delete(effect.step);
        return;
      default: {
        const never: never = effect;
        throw new Error(`unhandled job effect ${JSON.stringify(never)}`);
      }
    }
  }

  /** Runs a local activity beside the mailbox; its outcome comes back as `activity-done`. */
  private runLocal(step: string, attempt: number, work: (signal: AbortSignal) => Promise<ActivityOutcome>): void {
    this.running.get(step)?.abort(new Error(`step ${step} restarted`));
    const abort = new AbortController();
    this.running.set(step, abort);
    const signal = AbortSignal.any([abort.signal, this.ctx.signal]);
    work(signal)
      .catch((err: unknown) => failureOutcome(err, 'activity-failed'))
      .then((outcome) => {
        if (this.running.get(step) === abort) this.running.delete(step);
        if (signal.aborted) return;
        if (!outcome.ok) this.log.warn({ step, attempt, error: outcome.error }, 'job activity failed');
        this.done(step, attempt, outcome);
      })
      .catch((err: unknown) => this.log.error({ err, step }, 'reporting a job activity failed'));
  }

  private done(step: string, attempt: number, outcome: ActivityOutcome): void {
    this.ctx.schedule(0, 'activity-done', { step, attempt, outcome });
  }

  canPassivate(): boolean {
    return this.running.size === 0 && this.submitsInFlight === 0 && this.services.idle && this.projection.idle && !needsHost(this.state);
  }

  async onPassivate(): Promise<void> {
    await this.projection.flush();
  }

  dispose(): void {
    this.projection.stop();
    for (const abort of this.running.values()) abort.abort(new Error('job activation ended'));
    this.running.clear();
  }
}
