/**
 * The agent-session actor: a conversation whose state is the fold of its log.
 *
 * Session status (protocol/agent.ts): idle -> running <-> waiting-approval
 * -> idle | failed (the last turn failed; the next message is taken).
 * A turn: running -> completed | cancelled | max-steps | failed.
 * Messages: commands start, message, get, cancel, approve, resume,
 * inference-result (protocol/agent.ts); its own timers `recover` (first
 * message after activation), `tool-done` (a tool call ended),
 * `model-deadline`, `submit-failed` and `projection-retry`.
 *
 * Each message is decided by a pure function (engine.ts) into events and
 * effects. The shell appends a decision's events as one log entry with the
 * expected-last-sequence check (a stale owner is fenced out and steps
 * down), publishes each on event.agent.<id>.<type> with its event id (and
 * `status` when the status changed), then performs the effects: model calls
 * go to the inference queue at `interactive` priority and come back as
 * commands; tools run through the ToolRunner beside the mailbox and come
 * back as `tool-done`. While a turn runs the actor refuses to passivate,
 * so it lives until the turn ends or its host dies (then the supervisor,
 * or the inference result itself, activates it elsewhere).
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ActorContext, ActorInstance, CommandMessage, MailboxMessage, TimerMessage } from '../actor.ts';
import { appendOrStepDown, dispatchInOrder } from '../mailbox-dispatch.ts';
import {
  agentMessageRequestSchema,
  approveAgentRequestSchema,
  cancelAgentRequestSchema,
  decodeAgentCommand,
  isAgentCommand,
  startAgentRequestSchema,
  AGENT_STATUS_EVENT,
  type AgentSessionView,
  type AgentStatusEvent,
} from '../../protocol/agent.ts';
import { agentEntryGroups, agentEntrySeqOf, agentEventId, agentToolResultSchema, encodeAgentEntry, encodeAgentEvent } from '../../protocol/agent-events.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { checkVersion, HEADERS } from '../../protocol/headers.ts';
import { decodeInferenceResult } from '../../protocol/inference.ts';
import { encodeJson } from '../../protocol/reply.ts';
import { ProjectionSync, type PriceTable } from '../ports/index.ts';
import type { AgentEffect, ToolOutcome } from './effects.ts';
import {
  decideApprove,
  decideCancel,
  decideDeadline,
  decideInferenceResult,
  decideMessage,
  decideRecover,
  decideStart,
  decideSubmitFailed,
  decideToolDone,
  type AgentEnv,
  type Draft,
} from './engine.ts';
import { AgentLogFencingError, type AgentInferenceQueue, type AgentLog, type AgentProjection } from './ports.ts';
import { evolve, needsHost, sessionStatus, trimTranscript, type AgentState } from './state.ts';
import { resolveTools, runToolCall } from './tool-calls.ts';
import type { ToolRunner } from './tool.ts';
import { agentSessionView, projectionRecord } from './view.ts';

/** Everything a session activation needs; built once per host. */
export interface AgentActorDeps {
  readonly log: AgentLog;
  readonly inference: AgentInferenceQueue;
  readonly tools: ToolRunner;
  readonly projection: AgentProjection;
  readonly clock: { now(): number };
  readonly prices: PriceTable;
  readonly defaults: {
    /** Model of sessions that name none. */
    readonly model: string;
    readonly modelCallTimeoutMs: number;
    readonly maxParallelTools: number;
    /** Longest `start` waits for the tool list (service discovery), and then for the session's first projection row. */
    readonly startWaitMs: number;
  };
}

const deadlinePayload = z.object({ requestId: z.string() });
const submitFailedPayload = z.object({ requestId: z.string(), code: z.string(), message: z.string() });
const toolDonePayload: z.ZodType<ToolOutcome> = z.object({
  turnId: z.string(),
  step: z.number().int(),
  callId: z.string(),
  result: agentToolResultSchema,
  durationMs: z.number().nonnegative(),
});

const EMPTY = new Uint8Array(0);

export class AgentActor implements ActorInstance {
  /** Abort controllers of the tool calls running beside the mailbox, by turn. */
  private readonly running = new Map<string, Map<string, AbortController>>();
  private submitsInFlight = 0;
  /** What the last queued projection write showed (markProjection). */
  private projectedKey = '';
  private readonly projection: ProjectionSync<AgentState>;
  private readonly log: Logger;

  constructor(
    private readonly ctx: ActorContext,
    private state: AgentState,
    private readonly deps: AgentActorDeps,
  ) {
    this.log = ctx.log;
    this.projection = new ProjectionSync<AgentState>((s) => deps.projection.save(projectionRecord(s)), ctx.log, (delayMs) => ctx.schedule(delayMs, 'projection-retry'));
  }

  private env(): AgentEnv {
    const d = this.deps.defaults;
    return { now: this.deps.clock.now(), prices: this.deps.prices, modelCallTimeoutMs: d.modelCallTimeoutMs, maxParallelTools: d.maxParallelTools };
  }

  handle(batch: readonly MailboxMessage[]): Promise<void> {
    // Sessions keep no per-gateway state: host signals are ignored.
    return dispatchInOrder(batch, { onCommand: (c) => this.onCommand(c), onTimer: (t) => this.onTimer(t) });
  }

  private async onCommand(command: CommandMessage): Promise<void> {
    checkVersion(command.headers);
    const name = command.name;
    if (!isAgentCommand(name)) throw new ProtocolError('invalid-subject', `unknown agent command ${name}`);
    switch (name) {
      case 'start': {
        const req = decodeAgentCommand(command.body, startAgentRequestSchema, 'start request');
        const resolved = { ...req, model: req.model ?? this.deps.defaults.model };
        // Tools are resolved once, at creation; a repeated start only compares requests.
        const tools = this.state.started === null ? await resolveTools(this.deps.tools, req.tools, this.deps.defaults.startWaitMs, this.ctx.signal) : [];
        const { draft, created } = decideStart(this.state, resolved, tools, this.env());
        await this.commit(draft);
        // The supervisor and "my sessions" find sessions through the projection: written before the creator hears back.
        if (created) await this.projection.flushWithin(this.deps.defaults.startWaitMs);
        this.reply(command, { created, session: this.view() });
        return;
      }
      case 'message': {
        const req = decodeAgentCommand(command.body, agentMessageRequestSchema, 'message request');
        const { draft, turnId } = decideMessage(this.state, req.content, this.env());
        await this.commit(draft);
        this.reply(command, { turnId });
        return;
      }
      case 'get':
      case 'resume':
        this.reply(command, this.view());
        return;
      case 'cancel': {
        const req = decodeAgentCommand(command.body, cancelAgentRequestSchema, 'cancel request');
        await this.commit(decideCancel(this.state, req, this.env()));
        this.reply(command, this.view());
        return;
      }
      case 'approve': {
        const req = decodeAgentCommand(command.body, approveAgentRequestSchema, 'approve request');
        await this.commit(decideApprove(this.state, req, this.env()));
        this.reply(command, this.view());
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
        throw new Error(`unhandled agent command ${String(never)}`);
      }
    }
  }

  private reply(command: CommandMessage, body: unknown): void {
    command.respond({ headers: {}, body: encodeJson(body) });
  }

  private view(): AgentSessionView {
    if (this.state.started === null) throw new ProtocolError('not-found', `agent session ${this.ctx.id} does not exist`);
    return agentSessionView(this.state);
  }

  private async onTimer(message: TimerMessage): Promise<void> {
    switch (message.name) {
      case 'recover':
        this.markProjection(true);
        await this.commit(decideRecover(this.state, this.env()));
        return;
      case 'projection-retry':
        this.projection.retry();
        return;
      case 'tool-done':
        await this.commit(decideToolDone(this.state, toolDonePayload.parse(message.payload), this.env()));
        return;
      case 'model-deadline':
        await this.commit(decideDeadline(this.state, deadlinePayload.parse(message.payload).requestId, this.env()));
        return;
      case 'submit-failed':
        await this.commit(decideSubmitFailed(this.state, submitFailedPayload.parse(message.payload), this.env()));
        return;
      default:
        this.log.warn({ timer: message.name }, 'unknown agent timer ignored');
    }
  }

  /**
   * Appends the draft's events (fenced) as one log entry (several past
   * AGENT_EVENTS_PER_ENTRY or AGENT_ENTRY_MAX_BYTES), publishes each with
   * its event id, then performs the draft's effects.
   */
  private async commit(draft: Draft): Promise<void> {
    const before = sessionStatus(this.state);
    let from = 0;
    for (const bodies of agentEntryGroups(draft.events.map(encodeAgentEvent))) {
      const events = draft.events.slice(from, from + bodies.length);
      from += bodies.length;
      const entry = encodeAgentEntry(bodies);
      const expected = agentEntrySeqOf(this.state.lastSeq);
      const entrySeq = await appendOrStepDown(() => this.deps.log.append(this.ctx.id, entry, expected), (err) => err instanceof AgentLogFencingError, 'agent log');
      events.forEach((event, i) => {
        const id = agentEventId(entrySeq, i);
        this.state = evolve(this.state, event, id);
        this.ctx.publish(event.type, bodies[i] ?? encodeAgentEvent(event), { [HEADERS.seq]: String(id) });
      });
    }
    if (draft.events.length > 0) {
      this.state = trimTranscript(this.state);
      const status = sessionStatus(this.state);
      if (status !== before) {
        const body: AgentStatusEvent = { status, turnId: this.state.turn?.id ?? null, lastSeq: this.state.lastSeq };
        this.ctx.publish(AGENT_STATUS_EVENT, encodeJson(body));
      }
      this.markProjection();
    }
    for (const effect of draft.effects) this.perform(effect);
  }

  /**
   * Queues a projection write when the session's status, turns or title
   * changed, not for every decision: the row is written when a turn starts
   * (it must then show that the session needs a host) and when it ends, and
   * its usage and `last_seq` trail the log in between.
   */
  private markProjection(force = false): void {
    const s = this.state;
    const key = `${sessionStatus(s)}|${s.turnCount}|${s.title ?? ''}`;
    if (!force && key === this.projectedKey) return;
    this.projectedKey = key;
    this.projection.mark(s);
  }

  private perform(effect: AgentEffect): void {
    switch (effect.type) {
      case 'submit-inference': {
        const requestId = effect.call.requestId;
        this.submitsInFlight++;
        this.deps.inference
          .submit(this.ctx.id, effect.call)
          .catch((err: unknown) => {
            this.log.warn({ err, requestId }, 'agent inference submit failed');
            const code = err instanceof ProtocolError ? err.code : 'unavailable';
            this.ctx.schedule(0, 'submit-failed', { requestId, code, message: err instanceof Error ? err.message : String(err) });
          })
          .finally(() => {
            this.submitsInFlight--;
          });
        return;
      }
      case 'cancel-inference':
        this.deps.inference.cancel(effect.requestId).catch((err: unknown) => {
          // Best effort: a result that still arrives is recognised as stale and ignored.
          this.log.warn({ err, requestId: effect.requestId }, 'agent inference cancel failed');
        });
        return;
      case 'arm-deadline':
        this.ctx.schedule(Math.max(0, effect.at - this.deps.clock.now()), 'model-deadline', { requestId: effect.requestId });
        return;
      case 'run-tool':
        this.runTool(effect);
        return;
      case 'abort-tools': {
        const calls = this.running.get(effect.turnId);
        for (const abort of calls?.values() ?? []) abort.abort(new Error(`turn ${effect.turnId} ended`));
        this.running.delete(effect.turnId);
        return;
      }
      default: {
        const never: never = effect;
        throw new Error(`unhandled agent effect ${JSON.stringify(never)}`);
      }
    }
  }

  /** Runs a tool call beside the mailbox; its outcome comes back as `tool-done`. */
  private runTool(effect: Extract<AgentEffect, { type: 'run-tool' }>): void {
    const started = this.state.started;
    if (started === null) return;
    const abort = new AbortController();
    const calls = this.running.get(effect.turnId) ?? new Map<string, AbortController>();
    calls.get(effect.callId)?.abort(new Error(`tool call ${effect.callId} restarted`));
    calls.set(effect.callId, abort);
    this.running.set(effect.turnId, calls);
    const signal = AbortSignal.any([abort.signal, this.ctx.signal]);
    const context = { sessionId: this.ctx.id, ownerId: started.ownerId, callId: effect.callId, docId: started.docId ?? undefined, signal };
    runToolCall(this.deps.tools, effect, context, this.log, () => this.deps.clock.now())
      .then((outcome) => {
        if (this.running.get(effect.turnId)?.get(effect.callId) === abort) {
          calls.delete(effect.callId);
          if (calls.size === 0) this.running.delete(effect.turnId);
        }
        // An aborted call's outcome is stale: its turn ended, or the activation did.
        if (signal.aborted) return;
        this.ctx.schedule(0, 'tool-done', outcome);
      })
      .catch((err: unknown) => this.log.error({ err, callId: effect.callId }, 'reporting a tool call failed'));
  }

  canPassivate(): boolean {
    return this.running.size === 0 && this.submitsInFlight === 0 && this.projection.idle && !needsHost(this.state);
  }

  async onPassivate(): Promise<void> {
    await this.projection.flush();
  }

  dispose(): void {
    this.projection.stop();
    for (const calls of this.running.values()) for (const abort of calls.values()) abort.abort(new Error('agent activation ended'));
    this.running.clear();
  }
}
