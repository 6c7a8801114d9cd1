import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AGENT_EVENT_VERSION, encodeAgentEntry, encodeAgentEvent, type AgentEvent } from '../../protocol/agent-events.ts';
import { AgentSessionOwners } from './agent-session-owner.ts';

function started(ownerId: string): Uint8Array {
  const event: AgentEvent = {
    type: 'session-started',
    v: AGENT_EVENT_VERSION,
    at: 1,
    ownerId,
    instructions: null,
    model: 'm',
    tools: [],
    docId: null,
    maxSteps: 4,
    tokenBudget: 1_000,
    requestHash: 'h',
  };
  return encodeAgentEntry([encodeAgentEvent(event)]);
}

/** First entries by session id, and how often each was read. */
function logOf(firsts: Map<string, Uint8Array>) {
  const reads = new Map<string, number>();
  return {
    reads,
    first: async (id: string) => {
      reads.set(id, (reads.get(id) ?? 0) + 1);
      const body = firsts.get(id);
      return body === undefined ? null : { seq: 1, body };
    },
  };
}

test('a found owner is read from the log once, then remembered', async () => {
  const log = logOf(new Map([['s1', started('alice')]]));
  const owners = new AgentSessionOwners(log);
  assert.equal(await owners.of('s1'), 'alice');
  assert.equal(await owners.of('s1'), 'alice');
  assert.equal(log.reads.get('s1'), 1);
});

test('a session that does not exist yet is looked up again, and found once it exists', async () => {
  const firsts = new Map<string, Uint8Array>();
  const log = logOf(firsts);
  const owners = new AgentSessionOwners(log);
  assert.equal(await owners.of('s2'), null);
  firsts.set('s2', started('bob'));
  assert.equal(await owners.of('s2'), 'bob');
  assert.equal(log.reads.get('s2'), 2);
});

test('past its bound the oldest owner is forgotten and read again', async () => {
  const log = logOf(new Map([['a', started('u1')], ['b', started('u2')], ['c', started('u3')]]));
  const owners = new AgentSessionOwners(log, 2);
  for (const id of ['a', 'b', 'c', 'b', 'c']) await owners.of(id);
  assert.deepEqual(Object.fromEntries(log.reads), { a: 1, b: 1, c: 1 });
  assert.equal(await owners.of('a'), 'u1');
  assert.equal(log.reads.get('a'), 2);
});

test('a log that does not start with session-started is an error, not an owner', async () => {
  const wrong = encodeAgentEntry([new TextEncoder().encode(JSON.stringify({ type: 'turn-started', v: AGENT_EVENT_VERSION, at: 1, turnId: 't', content: 'x' }))]);
  const owners = new AgentSessionOwners(logOf(new Map([['s3', wrong]])));
  await assert.rejects(owners.of('s3'), /starts with turn-started, not session-started/);
});
