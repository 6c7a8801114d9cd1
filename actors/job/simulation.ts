/**
 * Drives the pure engine without any I/O, for unit tests of the engine and
 * of pipelines: decisions are folded into a state with made-up sequences,
 * effects are kept as a to-do list, time is a number the test moves, and
 * model calls are answered by a function of the call.
 */
import type { JobEvent } from '../../protocol/job-events.ts';
import type { InferenceResult } from '../../protocol/inference.ts';
import type { ParsedStartJobRequest } from '../../protocol/job.ts';
import { startJobRequestSchema, type StartJobRequest } from '../../protocol/job.ts';
import type { ActivityOutcome, InferenceCall, JobEffect } from './effects.ts';
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
import type { AnyPipeline } from './pipeline.ts';
import { emptyJobState, evolve, isTerminal, type JobState } from './state.ts';

export const TEST_DEFAULTS: JobDefaults = {
  model: 'test-model',
  policy: { maxAttempts: 3, stepTimeoutMs: 10_000, maxParallelSteps: 4, retryBaseMs: 100, retryMaxMs: 1_000 },
};

/** A model answer: text, or a failure. */
export type ModelAnswer = string | { readonly error: string; readonly terminal?: boolean };

export class JobSimulation {
  state: JobState;
  readonly log: { seq: number; event: JobEvent }[] = [];
  /** Effects not yet handled by the test (timers are kept separately). */
  effects: JobEffect[] = [];
  timers: Extract<JobEffect, { type: 'arm-timer' }>[] = [];
  now = 1_000_000;
  private seq = 0;
  /** Objects `read-object` effects find, by key. */
  readonly objects = new Map<string, string>();
  private draws = 0;
  /** The engine's output limit (EngineEnv.maxOutputBytes); MAX_STEP_OUTPUT_BYTES when absent. */
  maxOutputBytes: number | undefined;

  constructor(
    readonly pipelines: ReadonlyMap<string, AnyPipeline>,
    readonly defaults: JobDefaults = TEST_DEFAULTS,
    id = 'job-1',
  ) {
    this.state = emptyJobState(id);
  }

  env(): EngineEnv {
    // A fixed sequence of draws keeps runs reproducible.
    return {
      now: this.now,
      random: () => ((this.draws++ * 0.37) % 1),
      pipelines: this.pipelines,
      prices: { 'test-model': { promptPerMillionUsd: 1, completionPerMillionUsd: 2 } },
      ...(this.maxOutputBytes === undefined ? {} : { maxOutputBytes: this.maxOutputBytes }),
    };
  }

  apply(draft: Draft): Draft {
    for (const event of draft.events) {
      this.seq += 1 + (this.seq % 3); // sequences grow but are not contiguous, as in a shared stream
      this.state = evolve(this.state, event, this.seq);
      this.log.push({ seq: this.seq, event });
    }
    for (const effect of draft.effects) {
      if (effect.type === 'arm-timer') this.timers.push(effect);
      else this.effects.push(effect);
      // A cancelled call is gone from the queue.
      if (effect.type === 'cancel-inference') this.take((e) => e.type === 'submit-inference' && e.call.requestId === effect.requestId);
    }
    return draft;
  }

  start(req: Omit<StartJobRequest, 'owner'> & { owner?: string }): { created: boolean } {
    const parsed: ParsedStartJobRequest = startJobRequestSchema.parse({ owner: 'alice', ...req });
    const { draft, created } = decideStart(this.state, parsed, this.env(), this.defaults);
    this.apply(draft);
    return { created };
  }

  /** Submitted calls not yet answered or cancelled, oldest first. */
  calls(): InferenceCall[] {
    return this.effects.flatMap((e) => (e.type === 'submit-inference' ? [e.call] : []));
  }

  private take(pred: (e: JobEffect) => boolean): void {
    this.effects = this.effects.filter((e) => !pred(e));
  }

  answer(call: InferenceCall, answer: ModelAnswer): void {
    this.take((e) => e.type === 'submit-inference' && e.call.requestId === call.requestId);
    const result: InferenceResult =
      typeof answer === 'string'
        ? { requestId: call.requestId, ok: true, text: answer, toolCalls: [], finishReason: 'stop', attempt: 1, meta: call.meta, usage: { model: call.model, promptTokens: 10, completionTokens: 20, timeToFirstTokenMs: 5, durationMs: 50 } }
        : { requestId: call.requestId, ok: false, attempt: 1, meta: call.meta, error: { code: answer.terminal === true ? 'model-rejected' : 'dead-lettered', message: answer.error, terminal: true } };
    this.apply(decideInferenceResult(this.state, result, this.env()));
  }

  /** Completes every pending local activity successfully. */
  completeLocal(): number {
    const local = this.effects.filter((e) => e.type === 'put-artifact' || e.type === 'write-document' || e.type === 'read-object');
    this.take((e) => e.type === 'put-artifact' || e.type === 'write-document' || e.type === 'read-object' || e.type === 'abort-step' || e.type === 'cancel-inference');
    for (const e of local) {
      let outcome: ActivityOutcome;
      if (e.type === 'put-artifact') {
        const key = `jobs/${this.state.id}/${e.step}/${e.name}`;
        outcome = { ok: true, output: { key }, artifact: { step: e.step, name: e.name, key, contentType: e.contentType, bytes: e.body.length } };
      } else if (e.type === 'write-document') {
        outcome = { ok: true, output: { docId: e.docId, root: e.root, chars: e.text.length }, artifact: null };
      } else if (e.type === 'read-object') {
        const text = this.objects.get(e.key);
        outcome =
          text === undefined
            ? { ok: false, error: { code: 'input-missing', message: `input object ${e.key} is missing` }, retryable: false }
            : { ok: true, output: { key: e.key, bytes: text.length, contentType: 'text/plain', truncated: false, text }, artifact: null };
      } else continue;
      this.apply(decideActivityDone(this.state, { step: e.step, attempt: e.attempt, outcome }, this.env()));
    }
    return local.length;
  }

  /** Moves time to `at` and fires every timer due by then, in time order. */
  advance(to: number): void {
    this.now = Math.max(this.now, to);
    for (;;) {
      const due = this.timers.filter((t) => t.at <= this.now).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) return;
      this.timers = this.timers.filter((t) => t !== due);
      this.apply(decideTimer(this.state, due, this.env()));
    }
  }

  /** Fires the earliest pending timer. */
  fireNextTimer(): boolean {
    const next = [...this.timers].sort((a, b) => a.at - b.at)[0];
    if (next === undefined) return false;
    this.advance(next.at);
    return true;
  }

  cancel(by = 'alice'): void {
    this.apply(decideCancel(this.state, { by, reason: null }, this.env()));
  }

  approve(approved: boolean, step: string | null = null, comment: string | null = null): void {
    this.apply(decideApprove(this.state, { by: 'alice', approved, step, comment }, this.env()));
  }

  /** Service tasks published and not yet finished, oldest first. */
  tasks(): Extract<JobEffect, { type: 'run-service' }>[] {
    return this.effects.flatMap((e) => (e.type === 'run-service' ? [e] : []));
  }

  /** A worker's outcome for a published task (as the actor's shell reports it). */
  finishTask(task: Extract<JobEffect, { type: 'run-service' }>, outcome: ActivityOutcome): void {
    this.take((e) => e === task);
    this.apply(decideActivityDone(this.state, { step: task.step, attempt: task.attempt, outcome }, this.env()));
  }

  /** What a fresh activation does: drop in-memory effects and timers, then recover from the state. */
  recover(): void {
    this.effects = [];
    this.timers = [];
    this.apply(decideRecover(this.state, this.env()));
  }

  /** Answers calls with `model` and completes local work until the job ends or only approvals/timers remain. */
  run(model: (call: InferenceCall) => ModelAnswer, maxRounds = 10_000): void {
    for (let i = 0; i < maxRounds && !isTerminal(this.state); i++) {
      const call = this.calls()[0];
      if (call !== undefined) {
        this.answer(call, model(call));
        continue;
      }
      if (this.completeLocal() > 0) continue;
      if (this.state.status === 'waiting-approval') return;
      if (!this.fireNextTimer()) return;
    }
  }

  /** Event types of the log, in order. */
  types(): string[] {
    return this.log.map((e) => e.event.type);
  }
}

/** The task tag of a call ("document.generate/section"), taken from its system prompt. */
export function taskOf(call: InferenceCall): string {
  const m = /Task: ([a-z.-]+\/[a-z-]+)/.exec(call.messages[0]?.content ?? '');
  return m?.[1] ?? 'unknown';
}
