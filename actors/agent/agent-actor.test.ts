/**
 * The agent-session actor in one process against real infrastructure: a
 * real nats-server (JetStream log, leases, the inference work queue), PGlite
 * for the projection, a real inference worker calling the fake model server,
 * and counting test tools (src/testing/agent-host-fixture.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'drizzle-orm';
import { AGENT_LIMITS } from '../../protocol/agent.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { HEADERS } from '../../protocol/headers.ts';
import { parseActorId } from '../../protocol/ids.ts';
import { eventWildcard } from '../../protocol/subjects.ts';
import { startAgentHostFixture, type AgentHostFixture } from '../../src/testing/agent-host-fixture.ts';
import { waitFor } from '../../src/testing/index.ts';

let f: AgentHostFixture;
let releaseSlow: (() => void) | undefined;

before(async () => {
  f = await startAgentHostFixture({
    tools: {
      lookup: {},
      short: { run: async () => ({ ok: true, content: 'read' }) },
      publish: { needsApproval: true },
      slow: {
        run: (_args, signal) =>
          new Promise((resolve) => {
            releaseSlow = () => resolve({ ok: true, content: 'slow done' });
            signal.addEventListener('abort', () => resolve({ ok: false, code: 'cancelled', error: 'aborted' }), { once: true });
          }),
      },
    },
  });
});
after(async () => {
  await f.stop();
});

const isCode = (code: string) => (err: unknown) => err instanceof ProtocolError && err.code === code;

async function startSession(extra: Record<string, unknown> = {}): Promise<string> {
  const id = f.newId();
  const reply = (await f.command(id, 'start', { ownerId: 'u1', instructions: 'Be brief.', ...extra })) as { created: boolean };
  assert.equal(reply.created, true);
  return id;
}

async function turnEnded(id: string, status: string) {
  return waitFor(
    async () => {
      const v = await f.view(id);
      return v.currentTurn !== null && v.currentTurn.status === status ? v : undefined;
    },
    { what: `turn ${status}`, timeoutMs: 20_000 },
  );
}

test('a turn calls the model through the queue with the tools, runs the tool once, feeds the result back and answers', async () => {
  const id = await startSession({ tools: ['lookup'] });
  const sub = f.nc.subscribe(eventWildcard('agent', parseActorId(id)));
  const seen: Array<{ name: string; seq: string | undefined }> = [];
  void (async () => {
    for await (const m of sub) seen.push({ name: m.subject.split('.').at(-1) ?? '', seq: m.headers?.get(HEADERS.seq) || undefined });
  })();
  await f.nc.flush();
  const before = f.model.callCount();
  f.model.script([{ content: 'Let me look.', toolCalls: [{ id: 'c1', name: 'lookup', arguments: { q: 'tides' } }] }, 'The moon pulls the sea.']);
  const { turnId } = (await f.command(id, 'message', { content: 'why tides?' })) as { turnId: string };
  assert.equal(turnId, 't1');
  const view = await turnEnded(id, 'completed');
  assert.equal(view.status, 'idle');
  assert.equal(f.model.callCount() - before, 2, 'two model calls');
  const [first, second] = f.model.calls.slice(before);
  assert.deepEqual(first?.request.toolNames, ['lookup']);
  assert.deepEqual(second?.request.messages.at(-1), { role: 'tool', content: 'ran lookup {"q":"tides"}', toolCallId: 'c1' });
  assert.equal(f.tools.count('lookup'), 1);
  assert.deepEqual(
    view.transcript.map((e) => e.role),
    ['user', 'assistant', 'tool', 'assistant'],
  );
  assert.equal(view.usage.calls, 2);
  await waitFor(() => seen.some((e) => e.name === 'turn-completed'), { what: 'the live turn-completed event' });
  assert.ok(seen.some((e) => e.name === 'token'), 'token deltas are published on event.agent.<id>.token');
  assert.ok(seen.some((e) => e.name === 'status'), 'status changes are published');
  assert.ok(seen.filter((e) => e.name === 'tool-call-completed').every((e) => e.seq !== undefined), 'log events carry Loom-Seq');
  sub.unsubscribe();
  // The projection lists it with its title and usage.
  const rows = await waitFor(
    async () => {
      const r = await f.database.db.execute(sql`select status, title, turns, calls from agent_sessions where id = ${id}`);
      const row = (r as unknown as { rows: Array<Record<string, unknown>> }).rows[0];
      return row?.['status'] === 'idle' && Number(row['calls']) === 2 ? row : undefined;
    },
    { what: 'the projection row' },
  );
  assert.equal(rows['title'], 'why tides?');
});

test('maxSteps stops a model that calls tools forever', async () => {
  const id = await startSession({ tools: ['lookup'], maxSteps: 3 });
  const before = f.model.callCount();
  const beforeTools = f.tools.count('lookup');
  f.model.configure({ respond: () => ({ toolCalls: [{ name: 'lookup', arguments: { q: 'again' } }] }) });
  try {
    await f.command(id, 'message', { content: 'loop forever' });
    const view = await turnEnded(id, 'max-steps');
    assert.equal(f.model.callCount() - before, 3);
    assert.equal(f.tools.count('lookup') - beforeTools, 2, 'the last step’s call is not run');
    assert.equal(view.currentTurn?.error?.code, 'max-steps');
  } finally {
    f.model.reset();
  }
});

test('cancel mid-stream aborts the model call at the model server and the session takes the next message', async () => {
  const id = await startSession({ tools: [] });
  f.model.configure({ respond: () => 'a very long answer '.repeat(200), tokenDelayMs: 20 });
  try {
    const before = f.model.callCount();
    await f.command(id, 'message', { content: 'talk a lot' });
    const call = await waitFor(() => f.model.calls.slice(before).find((c) => c.tokensSent > 0), { what: 'the model streaming' });
    await assert.rejects(f.command(id, 'message', { content: 'interrupt' }), isCode('conflict'));
    await f.command(id, 'cancel', {});
    await waitFor(() => call.outcome === 'aborted', { what: 'the model call aborted at the server', timeoutMs: 10_000 });
    const view = await f.view(id);
    assert.equal(view.currentTurn?.status, 'cancelled');
    f.model.reset();
    f.model.script(['back again']);
    await f.command(id, 'message', { content: 'hello' });
    await turnEnded(id, 'completed');
  } finally {
    f.model.reset();
  }
});

test('cancel while a tool runs tells the tool (its signal aborts) and ends the turn cancelled', async () => {
  const id = await startSession({ tools: ['slow'] });
  f.model.script([{ toolCalls: [{ id: 's1', name: 'slow', arguments: {} }] }]);
  await f.command(id, 'message', { content: 'go slow' });
  await waitFor(() => f.tools.count('slow') === 1, { what: 'the tool running' });
  await f.command(id, 'cancel', { reason: 'enough' });
  await waitFor(() => (f.tools.aborted.get('slow') ?? 0) === 1, { what: 'the tool told' });
  const view = await turnEnded(id, 'cancelled');
  const result = view.transcript.find((e) => e.role === 'tool');
  assert.equal(result?.role === 'tool' && !result.result.ok && result.result.code, 'cancelled');
  releaseSlow?.();
});

test('approval waits durably across a restart of the host and the inference worker', async () => {
  const id = await startSession({ tools: ['publish'] });
  f.model.script([{ toolCalls: [{ id: 'p1', name: 'publish', arguments: { q: 'post' } }] }, 'Published.']);
  await f.command(id, 'message', { content: 'publish it' });
  await waitFor(async () => (await f.view(id)).status === 'waiting-approval', { what: 'waiting for approval' });
  await f.stopProcesses();
  await f.startProcesses();
  const view = await f.view(id);
  assert.equal(view.status, 'waiting-approval');
  assert.deepEqual(view.pendingApprovals.map((p) => [p.callId, p.name]), [['p1', 'publish']]);
  assert.equal(f.tools.count('publish'), 0, 'nothing ran before approval');
  await f.command(id, 'approve', { callId: 'p1', approved: true });
  const done = await turnEnded(id, 'completed');
  assert.equal(f.tools.count('publish'), 1);
  const last = done.transcript.at(-1);
  assert.equal(last?.role === 'assistant' && last.content, 'Published.');
});

test('bad input is refused with codes naming the field, and nothing is recorded', async () => {
  const id = f.newId();
  await assert.rejects(f.command(id, 'start', { ownerId: 'u1', tools: ['lookup', 'nope'] }), (err: unknown) => isCode('invalid-input')(err) && /tools\.1/.test((err as Error).message));
  await assert.rejects(f.view(id), isCode('not-found'));
  const ok = await startSession({ tools: ['lookup'] });
  await assert.rejects(f.command(ok, 'message', { content: 'x'.repeat(AGENT_LIMITS.maxMessageBytes + 1) }), (err: unknown) => isCode('malformed-message')(err) && /content/.test((err as Error).message));
  await assert.rejects(f.command(ok, 'approve', { callId: 'zz', approved: true }), isCode('conflict'));
  await assert.rejects(f.command(ok, 'start', { ownerId: 'someone-else' }), isCode('conflict'));
  const view = await f.view(ok);
  assert.equal(view.transcript.length, 0, 'refused commands left no trace');
  assert.equal(view.turns, 0);
});

test('over the token budget, the earlier turn is summarised through the real worker and the next answer sees the summary instead', async () => {
  const id = await startSession({ tools: ['lookup'], tokenBudget: AGENT_LIMITS.minTokenBudget });
  const long = (what: string) => `${what} `.repeat(Math.ceil((AGENT_LIMITS.minTokenBudget * 4.4) / (what.length + 1)));
  const before = f.model.callCount();
  f.model.script(['First answer.', 'SUMMARY: the user asked about reefs.', 'Second answer.']);
  await f.command(id, 'message', { content: long('reefs') });
  await turnEnded(id, 'completed');
  await f.command(id, 'message', { content: 'and now?' });
  const view = await turnEnded(id, 'completed');
  const [first, summary, answer] = f.model.calls.slice(before);
  assert.equal(f.model.callCount() - before, 3, 'the first answer, the summary, the second answer');
  assert.deepEqual(first?.request.toolNames, ['lookup']);
  assert.deepEqual(summary?.request.toolNames ?? [], [], 'a summary call offers no tools');
  assert.match(summary?.request.messages.map((m) => m.content).join('\n') ?? '', /User: reefs reefs/);
  const seen = answer?.request.messages.map((m) => m.content).join('\n') ?? '';
  assert.match(seen, /SUMMARY: the user asked about reefs\./);
  assert.doesNotMatch(seen, /reefs reefs/, 'the summarised turn reaches the model only through its summary');
  assert.match(seen, /and now\?/);
  assert.ok(view.transcript.some((e) => e.role === 'summary' && e.content === 'SUMMARY: the user asked about reefs.'), 'the summary is kept in the log');
  assert.equal(view.usage.calls, 3);
});

test('an answer whose tool calls carry large arguments is logged in entries NATS takes: every call runs and the turn completes', async () => {
  const id = await startSession({ tools: ['short'] });
  // 4 x 150 kB of arguments, repeated by each call's tool-call-started: over NATS's 1 MiB max_payload as one entry.
  const args = JSON.stringify({ q: 'y'.repeat(150_000) });
  f.model.script([{ toolCalls: Array.from({ length: 4 }, (_, i) => ({ id: `big${i}`, name: 'short', arguments: args })) }, 'All read.']);
  const before = f.tools.count('short');
  await f.command(id, 'message', { content: 'read these' });
  const done = await turnEnded(id, 'completed');
  assert.equal(f.tools.count('short') - before, 4);
  const last = done.transcript.at(-1);
  assert.equal(last?.role === 'assistant' && last.content, 'All read.');
});

test('a turn whose steps add up to more messages than one model request takes completes through the real worker: its older steps reach the model folded into text', async () => {
  const id = await startSession({ tools: ['short'], maxSteps: 10 });
  const before = f.model.callCount();
  const beforeTools = f.tools.count('short');
  // 9 steps of 30 calls: 1 + 9 x 31 messages of this turn alone, over the queue's 256 before the last step.
  const steps = Array.from({ length: 9 }, (_, s) => ({ toolCalls: Array.from({ length: 30 }, (_, i) => ({ id: `s${s}c${i}`, name: 'short', arguments: { q: `${s}.${i}` } })) }));
  f.model.script([...steps, 'Looked everywhere.']);
  await f.command(id, 'message', { content: 'look everywhere' });
  const view = await turnEnded(id, 'completed');
  assert.equal(f.tools.count('short') - beforeTools, 270, 'every call ran once');
  assert.equal(f.model.callCount() - before, 10);
  const last = f.model.calls.at(-1)?.request.messages ?? [];
  assert.ok(last.length <= 256, `${last.length} messages`);
  assert.match(last.map((m) => m.content ?? '').join('\n'), /\[Loom folded steps 1-\d+ of this turn into text[^\n]*\n\nAssistant called short\(\{"q":"0\.0"\}\)/);
  const answer = view.transcript.at(-1);
  assert.equal(answer?.role === 'assistant' && answer.content, 'Looked everywhere.');
});
