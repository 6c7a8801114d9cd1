/**
 * The job actor's side of service activities (protocol/activity.ts): it
 * publishes tasks, answers workers' claims, heartbeats and completions, and
 * fails an attempt whose worker went silent or overran its start-to-close
 * time (the engine's retry policy then publishes the next attempt, which
 * another worker takes). Only the current attempt of a running step is ever
 * accepted, so a stale worker's late answer changes nothing and a completed
 * step never runs again.
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import {
  decodeActivityClaim,
  decodeActivityComplete,
  decodeActivityHeartbeat,
  activityReply,
  type ActivityCommand,
  type ActivityComplete,
  type WorkerKind,
} from '../../protocol/activity.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import type { JobError } from '../../protocol/job-events.ts';
import type { WireMessage } from '../../protocol/reply.ts';
import type { ActivityOutcome, JobEffect } from './effects.ts';
import { requestIdFor } from '../ports/index.ts';
import { activityOf, Draft, type EngineEnv } from './draft.ts';
import { decideActivityDone } from './engine.ts';
import type { Activity, ServiceActivity } from './pipeline.ts';
import type { ServiceQueue, WorkerPresence } from './ports.ts';
import { ServiceWatch, type Verdict } from './service-watch.ts';
import { isTerminal, type JobState } from './state.ts';

export const SERVICE_CHECK_TIMER = 'service-check';

const checkPayload = z.object({ step: z.string(), attempt: z.number().int() });

/** A step the job waits on whose queue has no live worker. */
export interface WaitingForWorker {
  readonly step: string;
  readonly activity: WorkerKind;
  readonly queue: string;
}

/** One held service task, as JobView.serviceTasks shows it. */
export interface ServiceTaskView {
  readonly step: string;
  readonly attempt: number;
  readonly workerId: string;
  readonly claimedAt: string;
  readonly lastHeartbeatAt: string;
  readonly progress: unknown;
}

export interface ServiceSupervisorDeps {
  readonly queue: ServiceQueue;
  readonly presence: WorkerPresence;
  readonly log: Logger;
  state(): JobState;
  env(): EngineEnv;
  commit(draft: Draft): Promise<void>;
  schedule(delayMs: number, name: string, payload: unknown): void;
}

export class ServiceSupervisor {
  private readonly watch = new ServiceWatch();
  /** The one check timer per step: heartbeats only move a due time later, so an armed earlier check suffices (it re-arms when it fires). */
  private readonly armed = new Map<string, { readonly attempt: number; readonly at: number }>();
  /**
   * The activity of each running service step's current attempt, built once
   * rather than for every claim, heartbeat and completion (rendering its
   * templates): an instance's activity is fixed once its dependencies are
   * done, which they are while it runs.
   */
  private readonly built = new Map<string, { readonly attempt: number; readonly activity: ServiceActivity }>();
  private publishing = 0;

  constructor(private readonly deps: ServiceSupervisorDeps) {}

  /** Nothing of ours in flight (publishes); running steps keep the job on its host anyway (needsHost). */
  get idle(): boolean {
    return this.publishing === 0;
  }

  /** Answers a worker's claim, heartbeat or completion. @throws ProtocolError on a malformed message (the host answers it as an error). */
  async onCommand(name: ActivityCommand, body: Uint8Array): Promise<WireMessage> {
    const now = this.deps.env().now;
    switch (name) {
      case 'activity-claim': {
        const claim = decodeActivityClaim(body);
        const verdict = this.against(claim, (activity) => this.watch.claim(claim.step, claim.attempt, claim.workerId, now, activity));
        if (verdict.accepted) this.arm(claim.step, claim.attempt);
        return this.answer(verdict, claim.workerId, 'claim');
      }
      case 'activity-heartbeat': {
        const beat = decodeActivityHeartbeat(body);
        const verdict = this.against(beat, (activity) => this.watch.beat(beat.step, beat.attempt, beat.workerId, now, activity, beat.progress));
        if (verdict.accepted) this.arm(beat.step, beat.attempt);
        return this.answer(verdict, beat.workerId, 'heartbeat');
      }
      case 'activity-complete': {
        const done = decodeActivityComplete(body);
        // Any worker's answer for the current attempt is taken (the first one wins): the result is valid whoever computed it.
        const verdict = this.against(done, () => ({ accepted: true }));
        if (verdict.accepted) {
          this.watch.release(done.step);
          this.built.delete(done.step);
          await this.deps.commit(decideActivityDone(this.deps.state(), { step: done.step, attempt: done.attempt, outcome: outcomeOf(done) }, this.deps.env()));
          // Debug only: the job's log already records it, and at a thousand steps a second a line each was a visible share of the host's CPU.
          this.deps.log.debug({ step: done.step, attempt: done.attempt, workerId: done.workerId, ok: done.outcome.ok }, 'service task completed');
        }
        return this.answer(verdict, done.workerId, 'completion');
      }
    }
  }

  /** A clock of an attempt may have run out: fail the attempt (retryable) when it has, else wait for its new due time. */
  async onCheck(payload: unknown): Promise<void> {
    const parsed = checkPayload.safeParse(payload);
    if (!parsed.success) throw new Error(`malformed service-check payload: ${parsed.error.message}`);
    const { step, attempt } = parsed.data;
    if (this.armed.get(step)?.attempt === attempt) this.armed.delete(step);
    const activity = this.currentActivity(step, attempt);
    if (activity === null) return this.watch.release(step, attempt);
    const now = this.deps.env().now;
    const error = this.watch.expired(step, attempt, now);
    if (error === null) return this.arm(step, attempt);
    const hold = this.watch.holder(step, attempt);
    if (hold?.workerId === null && !this.deps.presence.isLive('service', activity.queue)) {
      // Adopted at recovery and no worker is alive: the task may still wait in the queue; keep waiting for one.
      this.watch.release(step);
      this.watch.adopt(step, attempt, now, activity);
      return this.arm(step, attempt);
    }
    this.watch.release(step);
    this.deps.log.warn({ step, attempt, error }, 'service task timed out; the attempt failed');
    this.cancel(activity.queue, requestIdFor(this.deps.state().id, step, attempt), error.message);
    await this.deps.commit(decideActivityDone(this.deps.state(), { step, attempt, outcome: { ok: false, error, retryable: true } }, this.deps.env()));
  }

  /** After (re)activation: attempts that were running get clocks from now, since their claims are not known here. */
  adoptRunning(): void {
    const state = this.deps.state();
    if (isTerminal(state)) return;
    for (const s of state.steps.values()) {
      if (s.activity !== 'service' || s.status !== 'running') continue;
      const activity = this.currentActivity(s.id, s.attempt);
      if (activity === null) continue;
      this.watch.adopt(s.id, s.attempt, this.deps.env().now, activity);
      this.arm(s.id, s.attempt);
    }
  }

  /** Performs run-service and cancel-service effects. */
  perform(effect: JobEffect & { type: 'run-service' | 'cancel-service' }): void {
    if (effect.type === 'cancel-service') {
      this.watch.release(effect.step);
      this.cancel(effect.queue, effect.taskId, 'the job no longer needs it');
      return;
    }
    // The task carries the activity the engine just built: claims and completions need not render its templates again.
    const { queue, input, startToCloseMs, heartbeatTimeoutMs } = effect.task;
    this.built.set(effect.step, { attempt: effect.attempt, activity: { type: 'service', queue, input, startToCloseMs, heartbeatTimeoutMs } });
    this.publishing++;
    this.deps.queue
      .publish(effect.task, this.deps.env().now)
      .catch((err: unknown) => {
        this.deps.log.warn({ err, step: effect.step, attempt: effect.attempt, queue: effect.task.queue }, 'service task publish failed');
        const error: JobError = { code: 'queue-unavailable', message: `task not queued: ${err instanceof Error ? err.message : String(err)}` };
        // A task the queue refuses for what it is (a bad queue name, an input too large) would be refused again.
        const retryable = !(err instanceof ProtocolError) || err.retryable;
        this.deps.schedule(0, 'activity-done', { step: effect.step, attempt: effect.attempt, outcome: { ok: false, error, retryable } });
      })
      .finally(() => {
        this.publishing--;
      });
  }

  /** Running service tasks a worker holds: who, since when, its last heartbeat and progress (for the job's view). */
  heldTasks(): ServiceTaskView[] {
    const state = this.deps.state();
    const out: ServiceTaskView[] = [];
    for (const s of state.steps.values()) {
      if (s.status !== 'running' || s.activity !== 'service') continue;
      const hold = this.watch.holder(s.id, s.attempt);
      if (hold?.workerId == null) continue;
      out.push({ step: s.id, attempt: s.attempt, workerId: hold.workerId, claimedAt: new Date(hold.claimedAt).toISOString(), lastHeartbeatAt: new Date(hold.lastBeatAt).toISOString(), progress: hold.progress ?? null });
    }
    return out;
  }

  /** Running model calls and service tasks (not held by a worker) whose model or queue has no live worker. */
  waitingForWorkers(): WaitingForWorker[] {
    const state = this.deps.state();
    const out: WaitingForWorker[] = [];
    for (const s of state.steps.values()) {
      if (s.status !== 'running' || (s.activity !== 'service' && s.activity !== 'inference')) continue;
      if (this.watch.holder(s.id, s.attempt)?.workerId) continue;
      const activity = this.build(state, s.id);
      if (activity?.type === 'service' && !this.deps.presence.isLive('service', activity.queue)) out.push({ step: s.id, activity: 'service', queue: activity.queue });
      if (activity?.type === 'inference') {
        const model = activity.model ?? state.created?.model ?? '';
        if (!this.deps.presence.isLive('inference', model)) out.push({ step: s.id, activity: 'inference', queue: model });
      }
    }
    return out;
  }

  private cancel(queue: string, taskId: string, reason: string): void {
    this.deps.queue.cancel(queue, taskId, reason).catch((err: unknown) => {
      // Best effort: the worker also learns it on its next heartbeat, and its result would be stale.
      this.deps.log.warn({ err, queue, taskId }, 'service task cancel failed');
    });
  }

  private arm(step: string, attempt: number): void {
    const due = this.watch.dueAt(step, attempt);
    if (due === null) return;
    const armed = this.armed.get(step);
    if (armed !== undefined && armed.attempt === attempt && armed.at <= due) return;
    this.armed.set(step, { attempt, at: due });
    this.deps.schedule(Math.max(0, due - this.deps.env().now), SERVICE_CHECK_TIMER, { step, attempt });
  }

  /** The verdict for a worker message about (step, attempt): `then` decides when it names the current attempt of a running service step. */
  private against(ids: { jobId: string; step: string; attempt: number }, then: (activity: ServiceActivity) => Verdict): Verdict {
    const state = this.deps.state();
    if (state.created === null) return { accepted: false, reason: `job ${ids.jobId} does not exist` };
    if (isTerminal(state)) return { accepted: false, reason: `job ${ids.jobId} is ${state.status}` };
    const s = state.steps.get(ids.step);
    if (s === undefined || s.status !== 'running') return { accepted: false, reason: `step ${ids.step} is ${s?.status ?? 'not started'}` };
    if (s.attempt !== ids.attempt) return { accepted: false, reason: `attempt ${ids.attempt} of step ${ids.step} is stale (now ${s.attempt})` };
    const activity = this.currentActivity(ids.step, ids.attempt);
    if (activity === null) return { accepted: false, reason: `step ${ids.step} is not a service step` };
    return then(activity);
  }

  private answer(verdict: Verdict, workerId: string, what: string): WireMessage {
    if (!verdict.accepted) this.deps.log.info({ workerId, reason: verdict.reason }, `service ${what} refused`);
    return activityReply(verdict.accepted, verdict.accepted ? null : verdict.reason);
  }

  private currentActivity(step: string, attempt: number): ServiceActivity | null {
    const state = this.deps.state();
    const s = state.steps.get(step);
    if (s === undefined || s.status !== 'running' || s.activity !== 'service') this.built.delete(step);
    if (s === undefined || s.attempt !== attempt || s.status !== 'running' || s.activity !== 'service') return null;
    const known = this.built.get(step);
    if (known?.attempt === attempt) return known.activity;
    const activity = this.build(state, step);
    if (activity?.type !== 'service') return null;
    this.built.set(step, { attempt, activity });
    return activity;
  }

  private build(state: JobState, step: string): Activity | null {
    try {
      return activityOf(new Draft(state, this.deps.env()), step);
    } catch (err) {
      this.deps.log.warn({ err, step }, 'step activity could not be rebuilt');
      return null;
    }
  }
}

function outcomeOf(done: ActivityComplete): ActivityOutcome {
  return done.outcome.ok
    ? { ok: true, output: done.outcome.output ?? null, artifact: null }
    : { ok: false, error: done.outcome.error, retryable: done.outcome.retryable };
}
