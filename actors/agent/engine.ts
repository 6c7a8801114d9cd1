/**
 * The agent engine's decisions, one pure function per message: each takes
 * the state and the message and returns the events to append and the
 * effects to perform (a Draft). Refusals throw ProtocolError before
 * anything is emitted, so a refused command leaves no trace in the log.
 * `advance` is the scheduler every decision ends with: from the state
 * alone it works out what the running turn needs next, so a decision cut
 * short by a crash is completed by the next activation's `recover`.
 */
import { createHash } from 'node:crypto';
import type { ParsedStartAgentRequest } from '../../protocol/agent.ts';
import type { AgentEvent, AgentTool, AgentToolResult, ModelCallPurpose } from '../../protocol/agent-events.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { CHAT_LIMITS, type ChatMessage, type InferenceResult, type ToolCall } from '../../protocol/inference.ts';
import { canonicalJson, priceUsage, requestIdFor, type PriceTable } from '../ports/index.ts';
import { answerMessages, NO_FIT, summariseThrough, turnFit } from './answer-request.ts';
import { summaryMessages, toolDefinitions } from './context.ts';
import type { AgentEffect, AgentModelCall, ToolOutcome } from './effects.ts';
import { evolve, isTurnRunning, turnIdOf, type AgentState, type ToolCallState, type TurnState } from './state.ts';

/** What decisions depend on besides the state. */
export interface AgentEnv {
  readonly now: number;
  readonly prices: PriceTable;
  /** A model call with no result by then fails the turn with `timeout`. */
  readonly modelCallTimeoutMs: number;
  /** Tool calls of one step running at once. */
  readonly maxParallelTools: number;
}

/** Events to append (in order) and effects to perform once they are durable. */
export class Draft {
  readonly events: AgentEvent[] = [];
  readonly effects: AgentEffect[] = [];
  constructor(
    public state: AgentState,
    readonly env: AgentEnv,
  ) {}

  emit(event: AgentEvent): void {
    this.state = evolve(this.state, event, this.state.lastSeq);
    this.events.push(event);
  }

  effect(effect: AgentEffect): void {
    this.effects.push(effect);
  }

  get now(): number {
    return this.env.now;
  }
}

export function startRequestHash(req: ParsedStartAgentRequest & { model: string }): string {
  return createHash('sha256').update(canonicalJson(req)).digest('hex');
}

function requireSession(state: AgentState): NonNullable<AgentState['started']> {
  if (state.started === null) throw new ProtocolError('not-found', `agent session ${state.id} does not exist`);
  return state.started;
}

/**
 * Creates the session with the tools resolved for it, or (same id again) returns `created: false`.
 * @throws ProtocolError `conflict` when the id names a session started with another request.
 */
export function decideStart(state: AgentState, req: ParsedStartAgentRequest & { model: string }, tools: readonly AgentTool[], env: AgentEnv): { draft: Draft; created: boolean } {
  const d = new Draft(state, env);
  const hash = startRequestHash(req);
  if (state.started !== null) {
    if (state.started.requestHash !== hash) throw new ProtocolError('conflict', 'this session id already names a session started with a different request');
    return { draft: d, created: false };
  }
  d.emit({
    type: 'session-started',
    v: 1,
    at: env.now,
    ownerId: req.ownerId,
    instructions: req.instructions,
    model: req.model,
    tools: [...tools],
    docId: req.docId,
    maxSteps: req.maxSteps,
    tokenBudget: req.tokenBudget,
    requestHash: hash,
  });
  return { draft: d, created: true };
}

/**
 * Starts a turn with the user's message.
 * @throws ProtocolError `not-found`, or `conflict` while a turn runs or waits for approval.
 */
export function decideMessage(state: AgentState, content: string, env: AgentEnv): { draft: Draft; turnId: string } {
  requireSession(state);
  if (isTurnRunning(state)) throw new ProtocolError('conflict', `agent session ${state.id} is busy with turn ${state.turn?.id}; cancel it or wait for it to end`);
  const d = new Draft(state, env);
  const turnId = turnIdOf(state.turnCount + 1);
  d.emit({ type: 'turn-started', v: 1, at: env.now, turnId, content });
  advance(d);
  return { draft: d, turnId };
}

/** Ends the running turn as cancelled; nothing to cancel is not an error. @throws ProtocolError `not-found`. */
export function decideCancel(state: AgentState, req: { by: string | null; reason: string | null }, env: AgentEnv): Draft {
  const started = requireSession(state);
  const d = new Draft(state, env);
  const t = state.turn;
  if (t === null || t.status !== 'running') return d;
  const message = req.reason ?? `cancelled by ${req.by ?? started.ownerId}`;
  if (t.modelCall !== null) {
    d.effect({ type: 'cancel-inference', requestId: t.modelCall.requestId });
    d.emit({ type: 'model-call-failed', v: 1, at: env.now, turnId: t.id, step: t.modelCall.step, purpose: t.modelCall.purpose, requestId: t.modelCall.requestId, error: { code: 'cancelled', message } });
  }
  d.effect({ type: 'abort-tools', turnId: t.id });
  settleCalls(d, t, { ok: false, code: 'cancelled', error: message });
  d.emit({ type: 'turn-completed', v: 1, at: env.now, turnId: t.id, status: 'cancelled', answer: null, error: { code: 'cancelled', message } });
  return d;
}

/**
 * A person decides a tool call waiting for approval.
 * @throws ProtocolError `not-found`, or `conflict` when that call does not wait.
 */
export function decideApprove(state: AgentState, req: { callId: string; approved: boolean; comment: string | null; by: string | null }, env: AgentEnv): Draft {
  const started = requireSession(state);
  const t = state.turn;
  const call = t !== null && t.status === 'running' ? t.toolCalls.find((c) => c.id === req.callId && c.status === 'waiting-approval') : undefined;
  if (t === null || call === undefined) {
    const waiting = t?.toolCalls.filter((c) => c.status === 'waiting-approval').map((c) => c.id) ?? [];
    throw new ProtocolError('conflict', waiting.length === 0 ? `agent session ${state.id} waits for no approval` : `tool call ${req.callId} does not wait for approval; waiting: ${waiting.join(', ')}`);
  }
  const d = new Draft(state, env);
  d.emit({ type: 'approval-decided', v: 1, at: env.now, turnId: t.id, callId: call.id, approved: req.approved, by: req.by ?? started.ownerId, comment: req.comment });
  advance(d);
  return d;
}

/** Takes a model's answer for the call in flight; anything else (duplicates, late answers) changes nothing. */
export function decideInferenceResult(state: AgentState, result: InferenceResult, env: AgentEnv): Draft {
  const d = new Draft(state, env);
  const t = state.turn;
  const call = t?.modelCall ?? null;
  if (t === null || t.status !== 'running' || call === null || call.requestId !== result.requestId) return d;
  const ids = { turnId: t.id, step: call.step, purpose: call.purpose, requestId: call.requestId };
  if (!result.ok) {
    d.emit({ type: 'model-call-failed', v: 1, at: env.now, ...ids, error: { code: result.error.code, message: result.error.message } });
    d.emit({ type: 'turn-completed', v: 1, at: env.now, turnId: t.id, status: 'failed', answer: null, error: { code: result.error.code, message: result.error.message } });
    return d;
  }
  const { model, promptTokens, completionTokens, timeToFirstTokenMs, durationMs } = result.usage;
  const usage = priceUsage({ model, promptTokens, completionTokens, timeToFirstTokenMs, durationMs }, env.prices);
  const toolCalls = call.purpose === 'answer' ? uniqueCallIds(result.toolCalls) : [];
  d.emit({ type: 'model-call-completed', v: 1, at: env.now, ...ids, content: result.text, toolCalls, finishReason: result.finishReason, usage });
  if (call.purpose === 'summary') {
    d.emit({ type: 'summary-recorded', v: 1, at: env.now, turnId: t.id, throughTurnId: turnIdOf(t.number - 1), content: result.text });
  }
  advance(d);
  return d;
}

/**
 * The calls of one answer with distinct ids: a model that repeats an id gets
 * the repeat renamed (`<id>~2`, the id cut short if the suffix would make it
 * too long), so every call has exactly one result and the next request stays valid.
 */
function uniqueCallIds(calls: readonly ToolCall[]): ToolCall[] {
  const seen = new Set<string>();
  return calls.map((c) => {
    let id = c.id;
    // The renamed id goes back to the model in every later request, whose ids are bounded: cut the base to make room for the suffix.
    for (let n = 2; seen.has(id); n++) id = `${c.id.slice(0, CHAT_LIMITS.maxToolCallIdChars - `~${n}`.length)}~${n}`;
    seen.add(id);
    return { id, name: c.name, arguments: c.arguments };
  });
}

/** The shell could not queue the model call at all (queue unavailable, request too large). */
export function decideSubmitFailed(state: AgentState, failed: { requestId: string; code: string; message: string }, env: AgentEnv): Draft {
  return failModelCall(state, failed.requestId, { code: failed.code, message: failed.message }, env);
}

/** A model call's deadline passed (or a timer of a call that is over fired: nothing). */
export function decideDeadline(state: AgentState, requestId: string, env: AgentEnv): Draft {
  const call = state.turn?.modelCall ?? null;
  if (call !== null && call.requestId === requestId && env.now < call.deadlineAt) {
    const d = new Draft(state, env);
    d.effect({ type: 'arm-deadline', requestId, at: call.deadlineAt });
    return d;
  }
  const d = failModelCall(state, requestId, { code: 'timeout', message: `no model answer within ${env.modelCallTimeoutMs} ms` }, env);
  if (d.events.length > 0) d.effect({ type: 'cancel-inference', requestId });
  return d;
}

function failModelCall(state: AgentState, requestId: string, error: { code: string; message: string }, env: AgentEnv): Draft {
  const d = new Draft(state, env);
  const t = state.turn;
  const call = t?.modelCall ?? null;
  if (t === null || t.status !== 'running' || call === null || call.requestId !== requestId) return d;
  d.emit({ type: 'model-call-failed', v: 1, at: env.now, turnId: t.id, step: call.step, purpose: call.purpose, requestId, error });
  d.emit({ type: 'turn-completed', v: 1, at: env.now, turnId: t.id, status: 'failed', answer: null, error });
  return d;
}

/** A tool call ended; outcomes of calls that are no longer running (cancelled turns) change nothing. */
export function decideToolDone(state: AgentState, outcome: ToolOutcome, env: AgentEnv): Draft {
  const d = new Draft(state, env);
  const t = state.turn;
  if (t === null || t.status !== 'running' || t.id !== outcome.turnId || t.steps !== outcome.step) return d;
  const call = t.toolCalls.find((c) => c.id === outcome.callId);
  if (call === undefined || call.status !== 'running') return d;
  d.emit({ type: 'tool-call-completed', v: 1, at: env.now, turnId: t.id, step: t.steps, callId: call.id, name: call.name, result: outcome.result, durationMs: outcome.durationMs });
  advance(d);
  return d;
}

/**
 * After (re)activation: resubmits the model call in flight under its own
 * request id (the queue drops the duplicate, a finished call's result is
 * redelivered), re-arms its deadline, re-runs tool calls that started but
 * did not complete, and carries on where the last decision stopped.
 */
export function decideRecover(state: AgentState, env: AgentEnv): Draft {
  const d = new Draft(state, env);
  const t = state.turn;
  if (state.started === null || t === null || t.status !== 'running') return d;
  if (t.modelCall !== null) {
    d.effect({ type: 'submit-inference', call: modelCall(d.state, t, t.modelCall.purpose, t.modelCall.step, t.modelCall.requestId) });
    d.effect({ type: 'arm-deadline', requestId: t.modelCall.requestId, at: t.modelCall.deadlineAt });
    return d;
  }
  for (const c of t.toolCalls) if (c.status === 'running') d.effect(runTool(t, c));
  advance(d);
  return d;
}

function runTool(t: TurnState, c: ToolCallState): AgentEffect {
  // Arguments were checked to parse to an object before the call started; models send '' for "no arguments".
  return { type: 'run-tool', turnId: t.id, step: t.steps, callId: c.id, name: c.name, args: JSON.parse(c.arguments === '' ? '{}' : c.arguments) as unknown };
}

/** Marks every call of the turn that has no result yet with `result` (a cancelled or cut-off step). */
function settleCalls(d: Draft, t: TurnState, result: AgentToolResult): void {
  for (const c of t.toolCalls) {
    if (c.status === 'completed') continue;
    const durationMs = c.startedAt === null ? 0 : Math.max(0, d.now - c.startedAt);
    d.emit({ type: 'tool-call-completed', v: 1, at: d.now, turnId: t.id, step: t.steps, callId: c.id, name: c.name, result, durationMs });
  }
}

function argumentsError(text: string): string | null {
  let value: unknown;
  try {
    value = JSON.parse(text === '' ? '{}' : text);
  } catch (err) {
    return `arguments are not JSON: ${(err as Error).message}`;
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? null : 'arguments must be a JSON object';
}

/** `uncut`: the answer's messages when the caller built them already and the call neither folds nor cuts (built here otherwise). */
function modelCall(state: AgentState, t: TurnState, purpose: ModelCallPurpose, step: number, requestId: string, uncut?: ChatMessage[]): AgentModelCall {
  const started = state.started;
  if (started === null) throw new Error(`agent session ${state.id} does not exist`);
  const meta = { sessionId: state.id, turnId: t.id, step };
  if (purpose === 'summary') return { requestId, model: started.model, messages: summaryMessages(state, t.number - 1), meta };
  const tools = toolDefinitions(started.tools);
  // The fit recorded when the call started: the same request when it is resubmitted after a crash.
  const fit = t.modelCall?.requestId === requestId ? t.modelCall.fit : NO_FIT;
  const messages = fit === NO_FIT && uncut !== undefined ? uncut : answerMessages(state, fit);
  return { requestId, model: started.model, messages, ...(tools.length === 0 ? {} : { tools }), meta };
}

/** `answer`: the state's answerMessages, when the caller built them already (an answer call only). */
function startModelCall(d: Draft, t: TurnState, purpose: ModelCallPurpose, step: number, answer?: ChatMessage[]): void {
  const requestId = requestIdFor(d.state.id, purpose === 'answer' ? t.id : `${t.id}-summary`, step);
  const deadlineAt = d.now + d.env.modelCallTimeoutMs;
  // A turn that alone outgrows one request (or the token budget) sees its older steps folded and its tool results cut, with notes, instead of failing.
  // Built once: model-call-started changes nothing the answer's messages are made of.
  const messages = purpose === 'answer' ? (answer ?? answerMessages(d.state)) : undefined;
  const { foldedSteps, cuts } = messages === undefined ? NO_FIT : turnFit(d.state, messages);
  const fit = { ...(foldedSteps === 0 ? {} : { foldedSteps }), ...(cuts.length === 0 ? {} : { cuts: [...cuts] }) };
  d.emit({ type: 'model-call-started', v: 1, at: d.now, turnId: t.id, step, purpose, requestId, deadlineAt, ...fit });
  const turn = d.state.turn;
  if (turn === null) throw new Error('model call started without a turn');
  d.effect({ type: 'submit-inference', call: modelCall(d.state, turn, purpose, step, requestId, messages) });
  d.effect({ type: 'arm-deadline', requestId, at: deadlineAt });
}

/**
 * The scheduler: what the running turn needs next. Finished answer without
 * tool calls: the turn completes. Tool calls: bad ones get their error at
 * once, those needing approval ask for it, the rest start (bounded); the
 * last step's calls are not run (`max-steps`). All answered: the next step
 * starts, after a summary when the context is over budget.
 */
function advance(d: Draft): void {
  const started = d.state.started;
  const t0 = d.state.turn;
  if (started === null || t0 === null || t0.status !== 'running' || t0.modelCall !== null) return;
  const lastAnswer = t0.steps === 0 ? null : [...d.state.transcript].reverse().find((i) => i.turn === t0.number && i.body.role === 'assistant');
  if (lastAnswer !== null && lastAnswer !== undefined && lastAnswer.body.role === 'assistant' && t0.toolCalls.length === 0) {
    d.emit({ type: 'turn-completed', v: 1, at: d.now, turnId: t0.id, status: 'completed', answer: lastAnswer.body.content, error: null });
    return;
  }
  if (t0.steps >= started.maxSteps && t0.toolCalls.some((c) => c.status !== 'completed')) {
    d.effect({ type: 'abort-tools', turnId: t0.id });
    settleCalls(d, t0, { ok: false, code: 'cancelled', error: `not run: the turn reached its limit of ${started.maxSteps} model calls` });
    d.emit({ type: 'turn-completed', v: 1, at: d.now, turnId: t0.id, status: 'max-steps', answer: null, error: { code: 'max-steps', message: `stopped after ${started.maxSteps} model calls` } });
    return;
  }
  const tools = new Map(started.tools.map((tool) => [tool.name, tool]));
  for (const c of t0.toolCalls) {
    const t = d.state.turn ?? t0;
    const call = t.toolCalls.find((x) => x.id === c.id) ?? c;
    const complete = (result: AgentToolResult) =>
      d.emit({ type: 'tool-call-completed', v: 1, at: d.now, turnId: t.id, step: t.steps, callId: call.id, name: call.name, result, durationMs: 0 });
    if (call.status === 'rejected') {
      complete({ ok: false, code: 'rejected', error: call.comment ?? `a person (${call.decidedBy ?? 'owner'}) refused this call` });
      continue;
    }
    if (call.status !== 'queued') continue;
    const tool = tools.get(call.name);
    if (tool === undefined) {
      complete({ ok: false, code: 'unknown-tool', error: `no tool named ${JSON.stringify(call.name.slice(0, 64))}; available: ${[...tools.keys()].join(', ') || 'none'}` });
      continue;
    }
    const bad = argumentsError(call.arguments);
    if (bad !== null) {
      complete({ ok: false, code: 'invalid-arguments', error: bad });
      continue;
    }
    if (tool.needsApproval && call.approved === null) {
      d.emit({ type: 'approval-requested', v: 1, at: d.now, turnId: t.id, step: t.steps, callId: call.id, name: call.name, arguments: call.arguments });
      continue;
    }
    const running = t.toolCalls.filter((x) => x.status === 'running').length;
    if (running >= d.env.maxParallelTools) continue;
    d.emit({ type: 'tool-call-started', v: 1, at: d.now, turnId: t.id, step: t.steps, callId: call.id, name: call.name, arguments: call.arguments });
    d.effect(runTool(t, call));
  }
  const t = d.state.turn ?? t0;
  if (t.toolCalls.some((c) => c.status !== 'completed')) return;
  // The answer's messages, built once: the summary check measures them, and the answer call sends them.
  const messages = answerMessages(d.state);
  const through = summariseThrough(d.state, messages);
  if (through !== null) startModelCall(d, t, 'summary', t.steps);
  else startModelCall(d, t, 'answer', t.steps + 1, messages);
}
