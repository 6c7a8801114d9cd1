import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AGENT_LIMITS, startAgentRequestSchema } from '../../protocol/agent.ts';
import type { AgentEvent, AgentTool } from '../../protocol/agent-events.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { encodeInferenceRequest, CHAT_LIMITS, INFERENCE_LIMITS, type InferenceResult, type ToolCall } from '../../protocol/inference.ts';
import { answerMessages } from './answer-request.ts';
import { estimateTokens } from './context.ts';
import type { AgentEffect, AgentModelCall } from './effects.ts';
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
import { emptyAgentState, evolve, sessionStatus, trimTranscript, type AgentState } from './state.ts';
import { agentSessionView } from './view.ts';

const tool = (name: string, needsApproval = false): AgentTool => ({
  name,
  description: `the ${name} tool`,
  parameters: { type: 'object', properties: { q: { type: 'string' } } },
  needsApproval,
  timeoutMs: 5_000,
  source: 'builtin',
});
const TOOLS = [tool('doc_search'), tool('doc_edit'), tool('publish', true)];

/** Drives the pure engine like the actor does: events get sequences, effects are collected. */
class Sim {
  state: AgentState = emptyAgentState('s1');
  readonly events: AgentEvent[] = [];
  effects: AgentEffect[] = [];
  now = 1_000;

  env(): AgentEnv {
    return { now: this.now, prices: { m: { promptPerMillionUsd: 1_000_000, completionPerMillionUsd: 2_000_000 } }, modelCallTimeoutMs: 60_000, maxParallelTools: 4 };
  }

  /** Trim the transcript after each decision, as the actor does. */
  trim = false;

  apply(d: Draft): Draft {
    for (const e of d.events) {
      this.state = evolve(this.state, e, this.state.lastSeq + 1);
      this.events.push(e);
    }
    if (this.trim) this.state = trimTranscript(this.state);
    this.effects.push(...d.effects);
    return d;
  }

  start(extra: Record<string, unknown> = {}): void {
    const req = startAgentRequestSchema.parse({ ownerId: 'u1', instructions: 'Be brief.', tools: TOOLS.map((t) => t.name), ...extra });
    this.apply(decideStart(this.state, { ...req, model: 'm' }, TOOLS, this.env()).draft);
  }

  message(content: string): string {
    const { draft, turnId } = decideMessage(this.state, content, this.env());
    this.apply(draft);
    return turnId;
  }

  /** The model calls submitted since the last take, and clears the effects. */
  take(): { calls: AgentModelCall[]; tools: Array<Extract<AgentEffect, { type: 'run-tool' }>>; other: AgentEffect[] } {
    const out = { calls: [] as AgentModelCall[], tools: [] as Array<Extract<AgentEffect, { type: 'run-tool' }>>, other: [] as AgentEffect[] };
    for (const e of this.effects) {
      if (e.type === 'submit-inference') out.calls.push(e.call);
      else if (e.type === 'run-tool') out.tools.push(e);
      else out.other.push(e);
    }
    this.effects = [];
    return out;
  }

  answer(requestId: string, text: string, toolCalls: ToolCall[] = []): Draft {
    const result: InferenceResult = {
      requestId,
      ok: true,
      text,
      toolCalls,
      finishReason: toolCalls.length > 0 ? 'tool_calls' : 'stop',
      usage: { model: 'm', promptTokens: 10, completionTokens: 5, timeToFirstTokenMs: 1, durationMs: 2 },
      attempt: 1,
      meta: {},
    };
    return this.apply(decideInferenceResult(this.state, result, this.env()));
  }

  toolDone(e: Extract<AgentEffect, { type: 'run-tool' }>, content: string): void {
    this.apply(decideToolDone(this.state, { turnId: e.turnId, step: e.step, callId: e.callId, result: { ok: true, content }, durationMs: 3 }, this.env()));
  }

  /** Completes the step's tool calls (at most 4 run at once: each result starts the next) and returns the model call that follows. */
  runTools(content: (callId: string) => string): AgentModelCall {
    let next = this.take();
    while (next.tools.length > 0) {
      for (const t of next.tools) this.toolDone(t, content(t.callId));
      next = this.take();
    }
    const c = next.calls[0];
    if (c === undefined) throw new Error('no model call followed the tools');
    return c;
  }

  /** The model call a new host resubmits after replaying the log so far. */
  resubmitted(): AgentModelCall | undefined {
    let replayed = emptyAgentState(this.state.id);
    this.events.forEach((e, i) => (replayed = evolve(replayed, e, i + 1)));
    const effect = decideRecover(replayed, this.env()).effects.find((e) => e.type === 'submit-inference');
    return effect?.type === 'submit-inference' ? effect.call : undefined;
  }

  last(): AgentEvent {
    const e = this.events[this.events.length - 1];
    if (e === undefined) throw new Error('no events');
    return e;
  }
}

const call = (id: string, name: string, args: string = '{"q":"x"}'): ToolCall => ({ id, name, arguments: args });

/** The model call as the queue encodes it; throws what the queue would refuse. */
const encodeCall = (c: AgentModelCall) =>
  encodeInferenceRequest({ requestId: c.requestId, model: c.model, messages: c.messages, ...(c.tools === undefined ? {} : { tools: c.tools }), replyTo: { kind: 'agent', id: 's1', command: 'inference-result' }, meta: c.meta });

test('each step repeats the message objects of the earlier steps it already sent, so the queue checks them once', () => {
  const s = new Sim();
  s.start();
  s.message('look twice');
  const c1 = s.take().calls[0]!;
  s.answer(c1.requestId, '', [call('a', 'doc_search')]);
  s.toolDone(s.take().tools[0]!, 'first');
  const c2 = s.take().calls[0]!;
  s.answer(c2.requestId, '', [call('b', 'doc_search')]);
  s.toolDone(s.take().tools[0]!, 'second');
  const c3 = s.take().calls[0]!;
  assert.equal(c3.messages.length, 6);
  // The session's own state made these for c2 (the newest message of a step comes from the engine's draft once).
  for (const i of [0, 1, 2]) assert.equal(c3.messages[i], c2.messages[i], `message ${i}`);
  assert.equal(c3.tools, c1.tools);
});

test('a turn loops model -> parallel tool calls -> model until a final answer, offering the tools in OpenAI format', () => {
  const s = new Sim();
  s.start();
  const turnId = s.message('find and fix the typo');
  assert.equal(turnId, 't1');
  assert.equal(sessionStatus(s.state), 'running');
  const first = s.take().calls;
  assert.equal(first.length, 1);
  const c1 = first[0]!;
  assert.deepEqual(c1.messages, [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'find and fix the typo' },
  ]);
  assert.deepEqual(c1.tools?.map((t) => t.function.name), ['doc_search', 'doc_edit', 'publish']);
  assert.deepEqual(c1.meta, { sessionId: 's1', turnId: 't1', step: 1 });

  s.answer(c1.requestId, '', [call('a', 'doc_search'), call('b', 'doc_edit')]);
  const ran = s.take();
  assert.deepEqual(ran.tools.map((t) => [t.callId, t.name, t.args]), [['a', 'doc_search', { q: 'x' }], ['b', 'doc_edit', { q: 'x' }]]);
  assert.equal(ran.calls.length, 0, 'no model call while tools run');
  s.toolDone(ran.tools[1]!, 'edited');
  assert.equal(s.take().calls.length, 0, 'one tool still runs');
  s.toolDone(ran.tools[0]!, 'found');
  const second = s.take().calls[0]!;
  assert.notEqual(second.requestId, c1.requestId);
  assert.deepEqual(second.messages.slice(2), [
    { role: 'assistant', content: '', toolCalls: [call('a', 'doc_search'), call('b', 'doc_edit')] },
    { role: 'tool', toolCallId: 'b', content: 'edited' },
    { role: 'tool', toolCallId: 'a', content: 'found' },
  ]);
  // The next step repeats the system message and the tools array themselves (the queue checks each object once).
  assert.equal(second.messages[0], c1.messages[0]);
  assert.equal(second.tools, c1.tools);
  s.answer(second.requestId, 'Fixed it.');
  assert.deepEqual(
    { type: s.last().type, status: s.last().type === 'turn-completed' ? (s.last() as { status: string }).status : null },
    { type: 'turn-completed', status: 'completed' },
  );
  const view = agentSessionView(s.state);
  assert.equal(view.status, 'idle');
  assert.deepEqual(view.usage, { calls: 2, promptTokens: 20, completionTokens: 10, costUsd: 40 });
  assert.deepEqual(view.transcript.map((e) => e.role), ['user', 'assistant', 'tool', 'tool', 'assistant']);
  assert.equal(view.currentTurn?.status, 'completed');
  assert.equal(view.currentTurn?.steps, 2);
  // Replaying the log gives the same state.
  let replay = emptyAgentState('s1');
  s.events.forEach((e, i) => (replay = evolve(replay, e, i + 1)));
  assert.deepEqual(agentSessionView(replay), view);
});

test('tool calls run at most 4 at once; unknown tools and bad arguments are tool errors the model sees, not runs', () => {
  const s = new Sim();
  s.start();
  s.message('go');
  const c1 = s.take().calls[0]!;
  const calls = [1, 2, 3, 4, 5, 6].map((i) => call(`c${i}`, 'doc_search'));
  s.answer(c1.requestId, '', [...calls, call('u', 'rm_rf'), call('j', 'doc_edit', '{not json'), call('arr', 'doc_edit', '[1]')]);
  const first = s.take().tools;
  assert.deepEqual(first.map((t) => t.callId), ['c1', 'c2', 'c3', 'c4']);
  const errors = s.events.filter((e) => e.type === 'tool-call-completed').map((e) => (e.type === 'tool-call-completed' && !e.result.ok ? [e.callId, e.result.code] : null));
  assert.deepEqual(errors, [['u', 'unknown-tool'], ['j', 'invalid-arguments'], ['arr', 'invalid-arguments']]);
  s.toolDone(first[0]!, 'r1');
  const fifth = s.take().tools;
  assert.deepEqual(fifth.map((t) => t.callId), ['c5']);
  s.toolDone(first[1]!, 'r2');
  const sixth = s.take().tools;
  assert.deepEqual(sixth.map((t) => t.callId), ['c6']);
  for (const t of [first[2]!, first[3]!, fifth[0]!]) s.toolDone(t, 'r');
  assert.equal(s.take().calls.length, 0, 'the model waits for every answer');
  s.toolDone(sixth[0]!, 'r6');
  const next = s.take();
  assert.equal(next.calls.length, 1);
  const tools = next.calls[0]!.messages.filter((m) => m.role === 'tool');
  assert.equal(tools.length, 9, 'every call has its answer');
  assert.match(tools.find((m) => m.role === 'tool' && m.toolCallId === 'u')?.content ?? '', /^error \(unknown-tool\)/);
});

test('maxSteps stops a model that calls tools forever: the last step’s calls are not run and the turn ends max-steps', () => {
  const s = new Sim();
  s.start({ maxSteps: 3 });
  s.message('loop');
  for (let step = 1; step <= 3; step++) {
    const c = s.take().calls;
    assert.equal(c.length, 1, `step ${step} calls the model once`);
    s.answer(c[0]!.requestId, '', [call(`k${step}`, 'doc_search')]);
    const t = s.take();
    if (step < 3) {
      assert.equal(t.tools.length, 1);
      s.toolDone(t.tools[0]!, 'again');
    } else {
      assert.equal(t.tools.length, 0, 'the last step runs no tool');
      assert.equal(t.calls.length, 0, 'and no fourth model call is made');
    }
  }
  const end = s.last();
  assert.equal(end.type === 'turn-completed' && end.status, 'max-steps');
  const cut = s.events.find((e) => e.type === 'tool-call-completed' && e.callId === 'k3');
  assert.equal(cut?.type === 'tool-call-completed' && !cut.result.ok && cut.result.code, 'cancelled');
  assert.equal(sessionStatus(s.state), 'idle');
  s.message('next one is taken');
});

test('a tool that needs approval waits; approve runs it, reject answers the model with the refusal', () => {
  const s = new Sim();
  s.start();
  s.message('publish it');
  s.answer(s.take().calls[0]!.requestId, '', [call('p1', 'publish'), call('s1', 'doc_search')]);
  const t = s.take();
  assert.deepEqual(t.tools.map((x) => x.callId), ['s1'], 'only the call without approval runs');
  s.toolDone(t.tools[0]!, 'ok');
  assert.equal(sessionStatus(s.state), 'waiting-approval');
  assert.deepEqual(agentSessionView(s.state).pendingApprovals.map((p) => p.callId), ['p1']);
  assert.throws(() => decideApprove(s.state, { callId: 'nope', approved: true, comment: null, by: null }, s.env()), (e: unknown) => e instanceof ProtocolError && e.code === 'conflict');
  assert.throws(() => decideMessage(s.state, 'hello?', s.env()), (e: unknown) => e instanceof ProtocolError && e.code === 'conflict');
  s.apply(decideApprove(s.state, { callId: 'p1', approved: true, comment: null, by: 'u1' }, s.env()));
  const approved = s.take().tools;
  assert.deepEqual(approved.map((x) => x.callId), ['p1']);
  s.toolDone(approved[0]!, 'published');
  s.answer(s.take().calls[0]!.requestId, 'Published.');

  s.message('publish again');
  s.answer(s.take().calls[0]!.requestId, '', [call('p2', 'publish')]);
  s.take();
  s.apply(decideApprove(s.state, { callId: 'p2', approved: false, comment: 'not today', by: 'u1' }, s.env()));
  const next = s.take();
  assert.equal(next.tools.length, 0);
  const refusal = next.calls[0]!.messages.at(-1);
  assert.deepEqual(refusal, { role: 'tool', toolCallId: 'p2', content: 'error (rejected): not today' });
});

test('cancel aborts the model call in flight, ends the turn cancelled, ignores the late answer and takes the next message', () => {
  const s = new Sim();
  s.start();
  s.message('slow');
  const c = s.take().calls[0]!;
  assert.throws(() => decideMessage(s.state, 'again', s.env()), (e: unknown) => e instanceof ProtocolError && e.code === 'conflict');
  s.apply(decideCancel(s.state, { by: 'u1', reason: null }, s.env()));
  const effects = s.take().other;
  assert.deepEqual(effects.filter((e) => e.type === 'cancel-inference'), [{ type: 'cancel-inference', requestId: c.requestId }]);
  assert.equal(s.last().type === 'turn-completed' && s.last().type, 'turn-completed');
  assert.equal(agentSessionView(s.state).currentTurn?.status, 'cancelled');
  assert.equal(s.answer(c.requestId, 'too late').events.length, 0);
  assert.equal(decideCancel(s.state, { by: null, reason: null }, s.env()).events.length, 0, 'nothing to cancel is a no-op');
  assert.equal(s.message('next'), 't2');
});

test('cancel while tools run aborts them and records them cancelled; their late outcomes change nothing', () => {
  const s = new Sim();
  s.start();
  s.message('x');
  s.answer(s.take().calls[0]!.requestId, '', [call('a', 'doc_search')]);
  const running = s.take().tools[0]!;
  s.apply(decideCancel(s.state, { by: null, reason: 'stop' }, s.env()));
  assert.ok(s.take().other.some((e) => e.type === 'abort-tools'));
  const settled = s.events.find((e) => e.type === 'tool-call-completed');
  assert.equal(settled?.type === 'tool-call-completed' && !settled.result.ok && settled.result.code, 'cancelled');
  const before = s.events.length;
  s.toolDone(running, 'late');
  assert.equal(s.events.length, before);
});

test('over the token budget, earlier whole turns are summarised by a model call before the answer', () => {
  const s = new Sim();
  s.start({ tokenBudget: 1_000, tools: [] });
  const big = 'word '.repeat(700);
  s.message(big);
  s.answer(s.take().calls[0]!.requestId, 'first answer');
  s.message('second question');
  const c = s.take().calls;
  assert.equal(c.length, 1);
  const summaryCall = c[0]!;
  assert.equal(s.state.turn?.modelCall?.purpose, 'summary');
  assert.equal(summaryCall.tools, undefined, 'summaries get no tools');
  assert.match(summaryCall.messages[1]?.content ?? '', /User: word word/);
  assert.doesNotMatch(summaryCall.messages[1]?.content ?? '', /second question/, 'the running turn is never summarised');
  s.answer(summaryCall.requestId, 'The user sent many words; I answered.');
  const recorded = s.events.find((e) => e.type === 'summary-recorded');
  assert.deepEqual(recorded?.type === 'summary-recorded' && [recorded.turnId, recorded.throughTurnId], ['t2', 't1']);
  const answer = s.take().calls[0]!;
  assert.deepEqual(answer.messages, [
    { role: 'system', content: 'Be brief.\n\nSummary of the conversation so far:\nThe user sent many words; I answered.' },
    { role: 'user', content: 'second question' },
  ]);
  assert.ok(estimateTokens(answer.messages) < 1_000);
  s.answer(answer.requestId, 'done');
  assert.equal(agentSessionView(s.state).transcript.filter((e) => e.role === 'summary').length, 1);
});

test('recovery resubmits the model call in flight under its own id and re-runs only tools that had not completed', () => {
  const s = new Sim();
  s.start();
  s.message('x');
  const c1 = s.take().calls[0]!;
  const rec1 = decideRecover(s.state, s.env());
  assert.deepEqual(rec1.events, []);
  const resubmitted = rec1.effects.find((e) => e.type === 'submit-inference');
  assert.deepEqual(resubmitted?.type === 'submit-inference' && resubmitted.call, c1, 'the same request, byte for byte');
  assert.ok(rec1.effects.some((e) => e.type === 'arm-deadline'));

  s.answer(c1.requestId, '', [call('a', 'doc_search'), call('b', 'doc_edit')]);
  const ran = s.take().tools;
  s.toolDone(ran[0]!, 'done once');
  const rec2 = decideRecover(s.state, s.env());
  assert.deepEqual(rec2.effects.filter((e) => e.type === 'run-tool').map((e) => e.type === 'run-tool' && e.callId), ['b']);
  assert.equal(rec2.effects.filter((e) => e.type === 'submit-inference').length, 0);
  // A duplicate result of the first call changes nothing.
  assert.equal(s.answer(c1.requestId, 'dup').events.length, 0);
});

test('a model call with no answer by its deadline fails the turn and is cancelled at the queue', () => {
  const s = new Sim();
  s.start();
  s.message('x');
  const c = s.take().calls[0]!;
  assert.deepEqual(decideDeadline(s.state, c.requestId, s.env()).events, [], 'early timers re-arm');
  s.now += 60_000;
  s.apply(decideDeadline(s.state, c.requestId, s.env()));
  assert.deepEqual(s.take().other.filter((e) => e.type === 'cancel-inference'), [{ type: 'cancel-inference', requestId: c.requestId }]);
  assert.equal(sessionStatus(s.state), 'failed');
  assert.equal(agentSessionView(s.state).currentTurn?.error?.code, 'timeout');
  s.message('the session still takes messages');
});

test('start is idempotent for the same request and a conflict for another; commands on a missing session are not-found', () => {
  const s = new Sim();
  assert.throws(() => decideMessage(s.state, 'hi', s.env()), (e: unknown) => e instanceof ProtocolError && e.code === 'not-found');
  s.start();
  const again = startAgentRequestSchema.parse({ ownerId: 'u1', instructions: 'Be brief.', tools: TOOLS.map((t) => t.name) });
  assert.equal(decideStart(s.state, { ...again, model: 'm' }, TOOLS, s.env()).created, false);
  assert.throws(() => decideStart(s.state, { ...again, maxSteps: 2, model: 'm' }, TOOLS, s.env()), (e: unknown) => e instanceof ProtocolError && e.code === 'conflict');
});

test('a model that repeats a tool-call id in one answer gets the repeat renamed, so every call runs and is answered once', () => {
  const s = new Sim();
  s.start();
  s.message('x');
  s.answer(s.take().calls[0]!.requestId, '', [call('dup', 'doc_search'), call('dup', 'doc_edit')]);
  const ran = s.take().tools;
  assert.deepEqual(ran.map((t) => [t.callId, t.name]), [['dup', 'doc_search'], ['dup~2', 'doc_edit']]);
  for (const t of ran) s.toolDone(t, 'ok');
  const next = s.take().calls[0]!;
  assert.deepEqual(next.messages.filter((m) => m.role === 'tool').map((m) => m.role === 'tool' && m.toolCallId), ['dup', 'dup~2']);
});

test('a repeated tool-call id of the longest length is renamed within that length, so the next request is not refused', () => {
  const s = new Sim();
  s.start();
  s.message('x');
  const longest = 'c'.repeat(CHAT_LIMITS.maxToolCallIdChars);
  s.answer(s.take().calls[0]!.requestId, '', [call(longest, 'doc_search'), call(longest, 'doc_edit'), call(longest, 'doc_search')]);
  const ran = s.take().tools;
  const ids = ran.map((t) => t.callId);
  assert.equal(new Set(ids).size, 3);
  assert.ok(ids.every((id) => id.length <= CHAT_LIMITS.maxToolCallIdChars), ids.join(' '));
  for (const t of ran) s.toolDone(t, 'ok');
  const next = s.take().calls[0]!;
  assert.doesNotThrow(() => encodeCall(next));
});

test('many short turns are summarised before the request would carry more messages than the queue takes, well under the token budget', () => {
  const s = new Sim();
  s.start({ tools: [] });
  let before: AgentModelCall | undefined;
  for (let i = 1; i <= INFERENCE_LIMITS.maxMessages; i++) {
    s.message(`question ${i}`);
    let c = s.take().calls[0]!;
    assert.doesNotThrow(() => encodeCall(c), `turn ${i}`);
    if (s.state.turn?.modelCall?.purpose === 'summary') {
      assert.ok(estimateTokens(before?.messages ?? []) < AGENT_LIMITS.defaultTokenBudget, 'the token budget alone would not have summarised');
      s.answer(c.requestId, `summary through turn ${i - 1}`);
      c = s.take().calls[0]!;
      assert.doesNotThrow(() => encodeCall(c), `answer after the summary in turn ${i}`);
    }
    s.answer(c.requestId, `answer ${i}`);
    assert.equal(s.state.turn?.status, 'completed');
    before = c;
  }
  assert.ok(s.state.summary !== null, 'a summary was made');
});

test('a turn whose tool results exceed what one request carries completes: its results are cut to fit, noted, recorded and resubmitted the same; the next turn summarises it', () => {
  const s = new Sim();
  // The largest budget: the request's bytes, not the budget, decide the cut.
  s.start({ tokenBudget: AGENT_LIMITS.maxTokenBudget });
  s.message('read everything');
  // Control characters take 6 bytes each as JSON: the worst case for the request's size.
  const result = '\u0001'.repeat(32 * 1024);
  const calls = Array.from({ length: 40 }, (_, i) => call(`c${i}`, 'doc_search'));
  s.answer(s.take().calls[0]!.requestId, '', calls);
  let next = s.take();
  while (next.tools.length > 0) {
    for (const t of next.tools) s.toolDone(t, result);
    next = s.take();
  }
  const answer = next.calls[0]!;
  assert.doesNotThrow(() => encodeCall(answer), 'the queue takes the request');
  const started = s.events.findLast((e) => e.type === 'model-call-started');
  assert.ok(started?.type === 'model-call-started' && started.cuts !== undefined && started.cuts.length === 40, 'the cuts are recorded in the log');
  const results = answer.messages.filter((m) => m.role === 'tool');
  assert.equal(results.length, 40);
  for (const m of results) assert.match(m.content, /\[cut by Loom: this turn's tool results exceed one model request or the session's token budget; \d+ of 32768 bytes shown\]$/);
  // The same cut for every result (none is favoured), and the most of them that fits.
  assert.equal(new Set(results.map((m) => m.content)).size, 1);
  assert.ok(results[0]!.content.length > 2_000, 'results are cut no more than needed');
  // After a crash the call is resubmitted byte for byte from the replayed log.
  assert.deepEqual(s.resubmitted(), answer);
  s.answer(answer.requestId, 'Mostly control characters.');
  assert.equal(s.state.turn?.status, 'completed');
  s.message('and now?');
  const summary = s.take().calls[0]!;
  assert.equal(s.state.turn?.modelCall?.purpose, 'summary');
  assert.doesNotThrow(() => encodeCall(summary));
  assert.match(summary.messages.map((m) => m.content).join(''), /\[… cut\]/);
  s.answer(summary.requestId, 'The tools returned control characters.');
  assert.doesNotThrow(() => encodeCall(s.take().calls[0]!));
});

test('a tool result longer than one request message may be is cut to that length even when the request has room', () => {
  const s = new Sim();
  s.start({ tokenBudget: AGENT_LIMITS.maxTokenBudget });
  s.message('one big read');
  s.answer(s.take().calls[0]!.requestId, '', [call('big', 'doc_search')]);
  s.toolDone(s.take().tools[0]!, 'y'.repeat(CHAT_LIMITS.maxMessageChars + 10));
  const answer = s.take().calls[0]!;
  assert.doesNotThrow(() => encodeCall(answer));
  const cut = answer.messages.at(-1)!;
  assert.ok(cut.content.length <= CHAT_LIMITS.maxMessageChars);
  assert.match(cut.content, /bytes shown\]$/);
});

test('a turn whose own steps carry more messages than one request takes completes: its older steps are folded into text, recorded and resubmitted the same', () => {
  const s = new Sim();
  s.start({ maxSteps: 12, tokenBudget: AGENT_LIMITS.maxTokenBudget });
  s.message('look everywhere');
  let req = s.take().calls[0]!;
  for (let step = 1; step < 12; step++) {
    s.answer(req.requestId, `step ${step}`, Array.from({ length: 30 }, (_, i) => call(`s${step}c${i}`, 'doc_search')));
    req = s.runTools((id) => `result ${id}`);
    assert.doesNotThrow(() => encodeCall(req), `the request of step ${step + 1}`);
  }
  assert.ok(answerMessages(s.state).length > INFERENCE_LIMITS.maxMessages, 'unfolded, the turn is over the message limit');
  assert.ok(req.messages.length <= INFERENCE_LIMITS.maxMessages);
  const started = s.events.findLast((e) => e.type === 'model-call-started');
  assert.ok(started?.type === 'model-call-started' && started.foldedSteps !== undefined && started.foldedSteps < 11, 'the fold is recorded; the latest step stays as tool messages');
  const text = req.messages.map((m) => m.content).join('\n');
  assert.match(text, /\[Loom folded steps 1-\d+ of this turn into text/);
  assert.match(text, /Tool doc_search returned: result s1c0/, 'folded results still reach the model');
  assert.deepEqual(req.messages.filter((m) => m.role === 'tool').map((m) => m.role === 'tool' && m.toolCallId).slice(-30), Array.from({ length: 30 }, (_, i) => `s11c${i}`));
  assert.deepEqual(s.resubmitted(), req, 'resubmitted after a crash: the same request');
  s.answer(req.requestId, 'Found it.');
  assert.equal(s.state.turn?.status, 'completed');
  assert.equal(s.state.turn?.error, null);
});

test('a long turn after earlier ones has the earlier turns summarised first, then its own older steps folded: every request is taken', () => {
  const s = new Sim();
  s.start({ maxSteps: 12, tokenBudget: AGENT_LIMITS.maxTokenBudget });
  s.message('hello');
  s.answer(s.take().calls[0]!.requestId, 'Hello.');
  s.message('now look everywhere');
  let req = s.take().calls[0]!;
  let summaries = 0;
  for (let step = 1; step < 12; step++) {
    s.answer(req.requestId, '', Array.from({ length: 30 }, (_, i) => call(`s${step}c${i}`, 'doc_search')));
    req = s.runTools((id) => `result ${id}`);
    assert.doesNotThrow(() => encodeCall(req), `the request after step ${step}`);
    if (s.state.turn?.modelCall?.purpose === 'summary') {
      summaries++;
      s.answer(req.requestId, 'The user said hello.');
      req = s.take().calls[0]!;
      assert.doesNotThrow(() => encodeCall(req), `the answer request after the summary in step ${step}`);
    }
  }
  assert.equal(summaries, 1, 'turn 1 is summarised once, never the running turn');
  assert.match(req.messages.map((m) => m.content).join('\n'), /\[Loom folded steps 1-\d+ of this turn into text/);
  s.answer(req.requestId, 'Found it.');
  assert.equal(s.state.turn?.status, 'completed');
});

test("a turn's own tool results are cut to the session's token budget, as the context manager estimates it, even when the request's bytes have room", () => {
  const s = new Sim();
  const tokenBudget = 4_000;
  s.start({ tokenBudget });
  s.message('read four long documents');
  s.answer(s.take().calls[0]!.requestId, '', Array.from({ length: 5 }, (_, i) => call(`r${i}`, 'doc_search')));
  const answer = s.runTools((id) => (id === 'r4' ? 'ok' : 'w'.repeat(10_000)));
  assert.equal(s.state.turn?.modelCall?.purpose, 'answer');
  assert.doesNotThrow(() => encodeCall(answer));
  assert.ok(estimateTokens(answer.messages, answer.tools) <= tokenBudget, `${estimateTokens(answer.messages, answer.tools)} estimated tokens`);
  const results = answer.messages.filter((m) => m.role === 'tool');
  assert.equal(results.at(-1)?.content, 'ok', 'a result shorter than a note is never cut');
  results.pop();
  assert.equal(new Set(results.map((m) => m.content)).size, 1, 'one common cut');
  assert.match(results[0]!.content, /^w+\n\[cut by Loom: this turn's tool results exceed one model request or the session's token budget; \d+ of 10000 bytes shown\]$/);
  assert.ok(results[0]!.content.length > 2_000, 'cut no more than the budget needs');
  const started = s.events.findLast((e) => e.type === 'model-call-started');
  assert.ok(started?.type === 'model-call-started' && started.cuts?.length === 4);
});

test('with the largest token budget, earlier turns are summarised before the request would exceed the bytes the queue takes', () => {
  const s = new Sim();
  s.start({ tools: [], tokenBudget: AGENT_LIMITS.maxTokenBudget });
  const long = 'x'.repeat(AGENT_LIMITS.maxMessageBytes);
  let summarised = false;
  for (let i = 1; i <= 40; i++) {
    s.message(long);
    let c = s.take().calls[0]!;
    assert.doesNotThrow(() => encodeCall(c), `turn ${i}`);
    if (s.state.turn?.modelCall?.purpose === 'summary') {
      summarised = true;
      s.answer(c.requestId, 'The user sent many x.');
      c = s.take().calls[0]!;
      assert.doesNotThrow(() => encodeCall(c), `answer after the summary in turn ${i}`);
    }
    s.answer(c.requestId, 'ok');
  }
  assert.ok(summarised);
});

test('a replay (consume) appends to one transcript array in place, while a plain fold leaves every earlier state as it was', () => {
  const s = new Sim();
  s.start({ tools: [] });
  for (let i = 0; i < 5; i++) {
    s.message(`q${i}`);
    s.answer(s.take().calls[0]!.requestId, `a${i}`);
  }
  let plain = emptyAgentState('s1');
  const seen: AgentState[] = [];
  let replayed = emptyAgentState('s1');
  const array = replayed.transcript;
  s.events.forEach((e, i) => {
    seen.push(plain);
    plain = evolve(plain, e, i + 1);
    replayed = evolve(replayed, e, i + 1, { consume: true });
  });
  assert.equal(replayed.transcript, array, 'no copy of the transcript per event (a replay was quadratic in the session length)');
  assert.deepEqual(replayed, plain);
  assert.deepEqual(seen.map((x) => x.transcript.length), s.events.map((_, i) => plain.transcript.filter((t) => t.seq <= i).length));
});

test('a long session keeps in memory only what the model and a view still read; its view and model calls stay as without trimming', () => {
  const s = new Sim();
  s.trim = true;
  s.start({ tools: [], tokenBudget: AGENT_LIMITS.minTokenBudget });
  const turns = 800;
  for (let i = 1; i <= turns; i++) {
    s.message(`${i} ${'x'.repeat(3_000)}`);
    let c = s.take().calls[0]!;
    if (s.state.turn?.modelCall?.purpose === 'summary') {
      s.answer(c.requestId, `summary through ${i - 1}`);
      c = s.take().calls[0]!;
    }
    s.answer(c.requestId, `answer ${i}`);
  }
  let whole = emptyAgentState('s1');
  s.events.forEach((e, i) => {
    whole = evolve(whole, e, i + 1);
  });
  assert.equal(s.state.transcriptTotal, whole.transcript.length);
  assert.deepEqual(agentSessionView(s.state), agentSessionView(whole));
  assert.deepEqual(answerMessages(s.state), answerMessages(whole));
  const wholeBytes = whole.transcript.reduce((n, t) => n + t.bytes, 0);
  assert.ok(wholeBytes > 2_000_000, `the session said ${wholeBytes} bytes`);
  assert.ok(s.state.transcriptBytes < 2 * AGENT_LIMITS.maxViewTranscriptBytes + 16 * 1024, `kept ${s.state.transcriptBytes} bytes`);
});

test("a model's answer longer than one request message may be is summarised before the next call, and so is a summary that long", () => {
  const s = new Sim();
  s.start({ tools: [], tokenBudget: AGENT_LIMITS.maxTokenBudget });
  const long = 'z'.repeat(CHAT_LIMITS.maxMessageChars + 1_000);
  s.message('tell me everything');
  s.answer(s.take().calls[0]!.requestId, long);
  s.message('and now?');
  const summary = s.take().calls[0]!;
  assert.equal(s.state.turn?.modelCall?.purpose, 'summary');
  assert.doesNotThrow(() => encodeCall(summary));
  s.answer(summary.requestId, long);
  const answer = s.take().calls[0]!;
  assert.equal(s.state.turn?.modelCall?.purpose, 'answer');
  assert.doesNotThrow(() => encodeCall(answer));
  assert.match(answer.messages[0]?.content ?? '', /^Be brief\.\n\nSummary of the conversation so far:\nzzz.*\[… cut\]$/s);
});
