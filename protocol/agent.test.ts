import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  agentEntryGroups,
  agentEntrySeqOf,
  agentEventId,
  decodeAgentEntry,
  decodeAgentEvent,
  encodeAgentEntry,
  encodeAgentEvent,
  mayHoldAgentEvent,
  readOwnAgentEvent,
  AGENT_ENTRY_MAX_BYTES,
  AGENT_EVENTS_PER_ENTRY,
  type AgentEvent,
} from './agent-events.ts';
import { AGENT_LIMITS, agentMessageRequestSchema, approveAgentRequestSchema, cancelAgentRequestSchema, decodeAgentCommand, startAgentRequestSchema } from './agent.ts';
import { ProtocolError } from './errors.ts';
import { parseActorId } from './ids.ts';
import { encodeJson } from './reply.ts';
import {
  agentCommandSubject,
  agentEventSubject,
  agentLogSubject,
  jobLogSubject,
  parseAgentCommandSubject,
  parseAgentEventSubject,
  parseAgentLogSubject,
  parseJobLogSubject,
} from './subjects.ts';

const ids = ['agent_abc', 'team/agents:1', 'ünï code'].map(parseActorId);

test('agent subjects round-trip for every id spelling and are not other kinds’ subjects', () => {
  for (const id of ids) {
    assert.equal(parseAgentLogSubject(agentLogSubject(id)), id);
    assert.throws(() => parseJobLogSubject(agentLogSubject(id)), ProtocolError);
    assert.throws(() => parseAgentLogSubject(jobLogSubject(id)), ProtocolError);
    for (const command of ['start', 'message', 'get', 'cancel', 'approve', 'resume', 'inference-result'] as const) {
      assert.deepEqual(parseAgentCommandSubject(agentCommandSubject(id, command)), { id, command });
    }
    for (const event of ['turn-started', 'tool-call-completed', 'token', 'status'] as const) {
      assert.deepEqual(parseAgentEventSubject(agentEventSubject(id, event)), { id, event });
    }
  }
  for (const bad of ['actor.agent.x.explode', 'actor.job.x.start', 'actor.agent.x', 'log.agent', 'log.agent.=!!']) {
    assert.throws(() => (bad.startsWith('log') ? parseAgentLogSubject(bad) : parseAgentCommandSubject(bad)), ProtocolError, bad);
  }
  assert.throws(() => parseAgentEventSubject('event.job.x.token'), ProtocolError);
});

test('start requests take defaults and refuse unknown fields, bad tool names and out-of-range limits', () => {
  const parsed = startAgentRequestSchema.parse({ ownerId: 'u1' });
  assert.deepEqual(parsed, { ownerId: 'u1', instructions: null, model: null, tools: null, docId: null, maxSteps: AGENT_LIMITS.defaultMaxSteps, tokenBudget: AGENT_LIMITS.defaultTokenBudget });
  for (const bad of [
    { ownerId: '' },
    { ownerId: 'u', extra: 1 },
    { ownerId: 'u', tools: ['has space'] },
    { ownerId: 'u', tools: ['a', 'a'] },
    { ownerId: 'u', maxSteps: 0 },
    { ownerId: 'u', maxSteps: AGENT_LIMITS.maxStepsCeiling + 1 },
    { ownerId: 'u', tokenBudget: 10 },
    { ownerId: 'u', model: 'has space' },
    { ownerId: 'u', docId: 'a\u0001b' },
    { ownerId: 'u', instructions: 'é'.repeat(AGENT_LIMITS.maxInstructionsBytes / 2 + 1) },
  ]) {
    assert.equal(startAgentRequestSchema.safeParse(bad).success, false, JSON.stringify(bad).slice(0, 80));
  }
});

test('message size is counted in UTF-8 bytes at the limit and one past it, and oversized bodies are refused before parsing', () => {
  const at = 'x'.repeat(AGENT_LIMITS.maxMessageBytes);
  assert.equal(agentMessageRequestSchema.safeParse({ content: at }).success, true);
  assert.equal(agentMessageRequestSchema.safeParse({ content: `${at.slice(2)}é` }).success, true);
  assert.equal(agentMessageRequestSchema.safeParse({ content: `${at.slice(1)}é` }).success, false);
  assert.equal(agentMessageRequestSchema.safeParse({ content: '' }).success, false);
  const huge = encodeJson({ content: 'x'.repeat(AGENT_LIMITS.maxRequestBytes) });
  assert.throws(
    () => decodeAgentCommand(huge, agentMessageRequestSchema, 'message request'),
    (err: unknown) => err instanceof ProtocolError && err.code === 'malformed-message' && /limit/.test(err.message),
  );
  assert.throws(() => decodeAgentCommand(encodeJson({ content: `${at}x` }), agentMessageRequestSchema, 'message request'), /content must be at most/);
});

test('an owner id or message PostgreSQL cannot store (NUL, a lone surrogate) is refused naming the field; emoji pass', () => {
  for (const ownerId of ['u\u0000x', 'u\uD800']) {
    assert.throws(() => decodeAgentCommand(encodeJson({ ownerId }), startAgentRequestSchema, 'start request'), /^ProtocolError: start request: ownerId must not contain/);
  }
  for (const content of ['a\u0000b', 'a\uDC00b']) {
    assert.throws(() => decodeAgentCommand(encodeJson({ content }), agentMessageRequestSchema, 'message request'), /message request: content must not contain NUL/);
  }
  assert.equal(agentMessageRequestSchema.safeParse({ content: 'reefs 🐠' }).success, true);
});

test('an owner id with CR, LF or another control character is refused: it goes in a NATS header of every service tool call', () => {
  for (const ownerId of ['u\r\nLoom-Tool-Call-Id: forged', 'u\nx', 'u\tx']) {
    assert.throws(() => decodeAgentCommand(encodeJson({ ownerId }), startAgentRequestSchema, 'start request'), /start request: ownerId must not contain control characters/);
  }
  assert.equal(startAgentRequestSchema.safeParse({ ownerId: 'auth0|Zoë 🐠' }).success, true);
});

test('cancel takes an empty body; approve needs a call id and a decision', () => {
  assert.deepEqual(decodeAgentCommand(new Uint8Array(0), cancelAgentRequestSchema, 'cancel request'), { by: null, reason: null });
  assert.deepEqual(approveAgentRequestSchema.parse({ callId: 'c1', approved: false }), { callId: 'c1', approved: false, comment: null, by: null });
  assert.equal(approveAgentRequestSchema.safeParse({ approved: true }).success, false);
  assert.equal(approveAgentRequestSchema.safeParse({ callId: 'c1', approved: 'yes' }).success, false);
});

test('agent events round-trip and unknown types or versions are refused', () => {
  const event: AgentEvent = {
    type: 'tool-call-completed',
    v: 1,
    at: 1,
    turnId: 't1',
    step: 1,
    callId: 'call_1',
    name: 'doc_read',
    result: { ok: false, code: 'timeout', error: 'no answer in 5000 ms' },
    durationMs: 5_000,
  };
  assert.deepEqual(decodeAgentEvent(encodeAgentEvent(event)), event);
  assert.throws(() => decodeAgentEvent(encodeJson({ ...event, v: 2 })), ProtocolError);
  assert.throws(() => decodeAgentEvent(encodeJson({ ...event, type: 'teleported' })), ProtocolError);
});

test('a log entry holds one event as a plain object or several as an array; event ids leave room for each', () => {
  const started: AgentEvent = { type: 'turn-started', v: 1, at: 1, turnId: 't1', content: 'hello' };
  const call: AgentEvent = { type: 'model-call-started', v: 1, at: 1, turnId: 't1', step: 1, purpose: 'answer', requestId: 'r1', deadlineAt: 9 };
  const one = encodeAgentEntry([encodeAgentEvent(started)]);
  assert.deepEqual(decodeAgentEntry(one), [started]);
  assert.deepEqual(decodeAgentEvent(one), started, 'a one-event entry reads as the event it always was');
  assert.deepEqual(decodeAgentEntry(encodeAgentEntry([encodeAgentEvent(started), encodeAgentEvent(call)])), [started, call]);
  assert.throws(() => encodeAgentEntry([]), RangeError);
  assert.throws(() => encodeAgentEntry(Array.from({ length: AGENT_EVENTS_PER_ENTRY + 1 }, () => encodeAgentEvent(started))), RangeError);
  assert.throws(() => decodeAgentEntry(encodeJson([])), /agent log entry/);
  assert.throws(() => decodeAgentEntry(encodeJson([started, { ...call, v: 2 }])), /agent log entry: 1\.v/);
  // Ids grow with the entry, then the index inside it, and map back to their entry.
  assert.ok(agentEventId(7, AGENT_EVENTS_PER_ENTRY - 1) < agentEventId(8, 0));
  assert.deepEqual([agentEntrySeqOf(agentEventId(7, 0)), agentEntrySeqOf(agentEventId(7, 5)), agentEntrySeqOf(0)], [7, 7, 0]);
  assert.throws(() => agentEventId(7, AGENT_EVENTS_PER_ENTRY), RangeError);
});

test("the gateway's cheap read of the actor's own events checks the JSON, version and type", () => {
  const event: AgentEvent = { type: 'turn-started', v: 1, at: 5, turnId: 't1', content: 'hi' };
  assert.deepEqual(readOwnAgentEvent(encodeAgentEvent(event)), event);
  assert.throws(() => readOwnAgentEvent(new TextEncoder().encode('{nope')), /not UTF-8 JSON/);
  assert.throws(() => readOwnAgentEvent(encodeJson([event])), /not a JSON object/);
  assert.throws(() => readOwnAgentEvent(encodeJson({ ...event, v: 2 })), /v must be 1/);
  assert.throws(() => readOwnAgentEvent(encodeJson({ ...event, type: 'teleported' })), /not an agent event type/);
  assert.throws(() => readOwnAgentEvent(encodeJson({ ...event, at: 'now' })), /at must be a number/);
});

test('an entry may hold an event type exactly when its quoted name occurs in the entry, in a single event or an array', () => {
  const started: AgentEvent = { type: 'turn-started', v: 1, at: 1, turnId: 't1', content: 'say "turn-completed"' };
  const call: AgentEvent = { type: 'model-call-started', v: 1, at: 1, turnId: 't1', step: 1, purpose: 'answer', requestId: 'r1', deadlineAt: 9 };
  const done: AgentEvent = { type: 'turn-completed', v: 1, at: 2, turnId: 't1', status: 'completed', answer: 'ok', error: null };
  assert.equal(mayHoldAgentEvent(encodeAgentEvent(call), ['turn-completed', 'session-started']), false);
  assert.equal(mayHoldAgentEvent(encodeAgentEntry([encodeAgentEvent(call), encodeAgentEvent(done)]), ['session-started', 'turn-completed']), true);
  assert.equal(mayHoldAgentEvent(encodeAgentEvent(done), ['turn-completed']), true);
  // A text that quotes the name holds it escaped (\"turn-completed\"), which is not the name as a JSON string.
  assert.equal(mayHoldAgentEvent(encodeAgentEvent(started), ['turn-completed']), false);
  const inside = encodeAgentEntry([encodeAgentEvent(call), encodeAgentEvent(done)]);
  assert.equal(mayHoldAgentEvent(inside.subarray(1, inside.length - 1), ['turn-completed']), true, 'a view into a larger buffer is searched in its own bytes');
});

test('events are grouped into entries of at most 64 and AGENT_ENTRY_MAX_BYTES, a larger event alone, in order', () => {
  const sized = (n: number) => new Uint8Array(n);
  const big = AGENT_ENTRY_MAX_BYTES;
  const groups = agentEntryGroups([sized(10), sized(big / 2), sized(big / 2), sized(big + 5), sized(10), ...Array.from({ length: 70 }, () => sized(1))]);
  assert.deepEqual(groups.map((g) => g.map((b) => b.byteLength)), [[10, big / 2], [big / 2], [big + 5], [10, ...Array(63).fill(1)], Array(7).fill(1)]);
  assert.ok(groups.every((g) => g.length === 1 || encodeAgentEntry(g).byteLength <= AGENT_ENTRY_MAX_BYTES));
});
