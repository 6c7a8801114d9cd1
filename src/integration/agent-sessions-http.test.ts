/**
 * The agent-session edges end to end, with real processes (one Loom process
 * with every role, real NATS and PostgreSQL, the fake model server): start
 * with an Idempotency-Key, list mine, read, send a message and follow the
 * turn over SSE (resumable by Last-Event-ID) and /ws `agent:<id>`; 409 while
 * a turn runs, cancel; every body validated with a 4xx naming the field; a
 * session is invisible to everyone but its owner.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Svcm } from '@nats-io/services';
import { WebSocket } from 'ws';
import { SERVICE_TOOL_METADATA } from '../../protocol/agent-tools.ts';
import { waitFor } from '../testing/index.ts';
import { readSse, startJobsCluster, TEST_MODEL, type JobsCluster } from './jobs-fixture.ts';

let cluster: JobsCluster;

before(async () => {
  cluster = await startJobsCluster({ env: { LOOM_DOC_ACCESS: 'members' } });
});
after(() => cluster?.stop());

interface SessionBody {
  readonly id: string;
  readonly ownerId: string;
  readonly status: string;
  readonly tools: Array<{ name: string }>;
  readonly transcript: Array<{ role: string; content?: string; seq: number }>;
  readonly currentTurn: { id: string; status: string } | null;
  readonly lastSeq: number;
}
interface ErrorBody {
  readonly error: { code: string; message: string; field?: string };
}

async function createSession(body: Record<string, unknown> = {}, headers?: Record<string, string>): Promise<SessionBody> {
  const r = await cluster.api<{ created: boolean; session: SessionBody }>('POST', '/v1/agent-sessions', { body, ...(headers ? { headers } : {}) });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.session;
}

async function session(id: string): Promise<SessionBody> {
  const r = await cluster.api<SessionBody>('GET', `/v1/agent-sessions/${id}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

const idle = (id: string) => waitFor(async () => ((await session(id)).status === 'idle' ? true : null), { what: `session ${id} idle`, timeoutMs: 30_000, intervalMs: 100 });

test('start is idempotent by Idempotency-Key: same key and body finds the session, another body is a conflict', async () => {
  const body = { instructions: 'Be brief.', tools: ['doc_search'], maxSteps: 3 };
  const first = await cluster.api<{ created: boolean; session: SessionBody }>('POST', '/v1/agent-sessions', { body, headers: { 'idempotency-key': 'agent-k1' } });
  assert.equal(first.status, 201, JSON.stringify(first.body));
  assert.equal(first.body.created, true);
  assert.equal(first.headers.get('location'), `/v1/agent-sessions/${first.body.session.id}`);
  assert.equal(first.body.session.ownerId, cluster.user.id);
  assert.deepEqual(first.body.session.tools.map((t) => t.name), ['doc_search']);
  const again = await cluster.api<{ created: boolean; session: SessionBody }>('POST', '/v1/agent-sessions', { body: { ...body, idempotencyKey: 'agent-k1' } });
  assert.deepEqual([again.status, again.body.created, again.body.session.id], [200, false, first.body.session.id]);
  const other = await cluster.api<ErrorBody>('POST', '/v1/agent-sessions', { body: { ...body, maxSteps: 4 }, headers: { 'idempotency-key': 'agent-k1' } });
  assert.equal(other.status, 409, JSON.stringify(other.body));
  // The key is per owner: the stranger's same key is a session of their own.
  const theirs = await cluster.api<{ session: SessionBody }>('POST', '/v1/agent-sessions', { body, headers: { 'idempotency-key': 'agent-k1' }, token: cluster.stranger.token });
  assert.equal(theirs.status, 201);
  assert.notEqual(theirs.body.session.id, first.body.session.id);
  const differ = await cluster.api<ErrorBody>('POST', '/v1/agent-sessions', { body: { idempotencyKey: 'a' }, headers: { 'idempotency-key': 'b' } });
  assert.deepEqual([differ.status, differ.body.error.field], [400, 'idempotencyKey']);
});

test('bad input is refused with a 4xx naming the field, before anything runs', async () => {
  const cases: Array<[unknown, number, string]> = [
    [{ tools: ['doc_search', 'no_such_tool'] }, 400, 'tools.1'],
    [{ tools: ['bad name'] }, 400, 'tools.0'],
    [{ maxSteps: 0 }, 400, 'maxSteps'],
    [{ maxSteps: 101 }, 400, 'maxSteps'],
    [{ model: 'has space' }, 400, 'model'],
    // Well-formed but served by no worker: refused now, not a turn waiting forever.
    [{ model: 'not-served-anywhere' }, 400, 'model'],
    [{ docId: 'no-such-doc' }, 404, ''],
    [{ surprise: true }, 400, 'surprise'],
    [{ instructions: 'x'.repeat(16 * 1024 + 1) }, 413, 'instructions'],
  ];
  for (const [body, status, field] of cases) {
    const r = await cluster.api<ErrorBody>('POST', '/v1/agent-sessions', { body });
    assert.equal(r.status, status, `${JSON.stringify(body).slice(0, 60)}: ${JSON.stringify(r.body)}`);
    if (field !== '') assert.equal(r.body.error.field, field, JSON.stringify(r.body));
  }
  const s = await createSession();
  const message = (body: unknown) => cluster.api<ErrorBody>('POST', `/v1/agent-sessions/${s.id}/messages`, { body });
  const big = await message({ content: 'é'.repeat(16 * 1024 + 1) });
  assert.deepEqual([big.status, big.body.error.field], [413, 'content']);
  assert.deepEqual([(await message({ content: '' })).status, (await message({ content: '' })).body.error.field], [400, 'content']);
  assert.deepEqual([(await message({})).status, (await message({})).body.error.field], [400, 'content']);
  const approve = await cluster.api<ErrorBody>('POST', `/v1/agent-sessions/${s.id}/approve`, { body: { callId: 'c1' } });
  assert.deepEqual([approve.status, approve.body.error.field], [400, 'approved']);
  const notWaiting = await cluster.api<ErrorBody>('POST', `/v1/agent-sessions/${s.id}/approve`, { body: { callId: 'c1', approved: true } });
  assert.equal(notWaiting.status, 409, JSON.stringify(notWaiting.body));
  const badCursor = await cluster.api<ErrorBody>('GET', '/v1/agent-sessions?cursor=nonsense');
  assert.deepEqual([badCursor.status, badCursor.body.error.field], [400, 'cursor']);
  const badId = await cluster.api<ErrorBody>('GET', `/v1/agent-sessions/${s.id}/events?lastEventId=abc`);
  assert.deepEqual([badId.status, badId.body.error.field], [400, 'lastEventId']);
  // Nothing of it reached the session.
  assert.equal((await session(s.id)).transcript.length, 0);
});

test("a session is its owner's: others get 404 on every route and an error frame on /ws", async () => {
  const s = await createSession();
  const as = { token: cluster.stranger.token };
  for (const [method, path, body] of [
    ['GET', '', undefined],
    ['POST', '/messages', { content: 'hi' }],
    ['POST', '/cancel', {}],
    ['POST', '/approve', { callId: 'x', approved: true }],
    ['GET', '/events', undefined],
  ] as const) {
    const r = await cluster.api<ErrorBody>(method, `/v1/agent-sessions/${s.id}${path}`, { ...as, ...(body === undefined ? {} : { body }) });
    assert.equal(r.status, 404, `${method} ${path}: ${JSON.stringify(r.body)}`);
  }
  assert.equal((await cluster.api('GET', '/v1/agent-sessions/agent_made_up')).status, 404);
  const mine = await cluster.api<{ sessions: Array<{ id: string }> }>('GET', '/v1/agent-sessions', as);
  assert.ok(!mine.body.sessions.some((x) => x.id === s.id));
  const socket = openSocket(cluster.stranger.token);
  await socket.opened;
  socket.ws.send(JSON.stringify({ type: 'subscribe', channel: `agent:${s.id}` }));
  await waitFor(() => socket.frames.find((f) => f['type'] === 'error'), { what: 'the error frame' });
  assert.equal(socket.frames.find((f) => f['type'] === 'error')?.['code'], 'not-found');
  socket.ws.close();
});

test('my sessions are listed newest first in cursor pages', async () => {
  const ids = [(await createSession()).id, (await createSession()).id, (await createSession()).id];
  await waitFor(async () => {
    const r = await cluster.api<{ sessions: Array<{ id: string }> }>('GET', '/v1/agent-sessions?limit=100');
    return ids.every((id) => r.body.sessions.some((x) => x.id === id)) ? true : null;
  }, { what: 'the projection to list the new sessions' });
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const page: { status: number; body: { sessions: Array<{ id: string; status: string; model: string }>; nextCursor: string | null } } = await cluster.api(
      'GET',
      `/v1/agent-sessions?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`,
    );
    assert.equal(page.status, 200);
    assert.ok(page.body.sessions.length <= 2);
    for (const x of page.body.sessions) assert.equal(x.model, TEST_MODEL);
    seen.push(...page.body.sessions.map((x) => x.id));
    cursor = page.body.nextCursor;
  } while (cursor !== null);
  assert.deepEqual(seen.filter((id) => ids.includes(id)), [...ids].reverse());
  assert.equal(new Set(seen).size, seen.length);
});

test('a turn streams over SSE (tokens, then the answer), resumes by Last-Event-ID exactly once, and /ws agent:<id> carries the same', async () => {
  const s = await createSession();
  cluster.model.script(['The tide rose seven metres.'], { model: TEST_MODEL });
  const socket = openSocket(cluster.user.token);
  await socket.opened;
  socket.ws.send(JSON.stringify({ type: 'subscribe', channel: `agent:${s.id}` }));
  await waitFor(() => socket.frames.find((f) => f['type'] === 'subscribed'), { what: 'the subscription' });
  const url = `${cluster.gateways[0]!.httpUrl}/v1/agent-sessions/${s.id}/events`;
  // Tokens are live only (never replayed): send once the stream replayed session-started, so it follows live events.
  let following: () => void = () => undefined;
  const followingLive = new Promise<void>((resolve) => (following = resolve));
  const live = readSse(url, {
    token: cluster.user.token,
    stopAfter: (e) => {
      if (e.event === 'session-started') following();
      return e.event === 'turn-completed';
    },
  });
  await Promise.race([followingLive, live]); // a stream that ends first fails the assertions below
  const sent = await cluster.api<{ turnId: string }>('POST', `/v1/agent-sessions/${s.id}/messages`, { body: { content: 'How high was the tide?' } });
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  const { events } = await live;
  const types = events.filter((e) => e.id !== undefined).map((e) => e.event);
  assert.deepEqual([types[0], types.at(-1)], ['session-started', 'turn-completed']);
  assert.ok(types.includes('turn-started') && types.includes('model-call-completed'), types.join(','));
  const tokens = events.filter((e) => e.event === 'token').map((e) => (JSON.parse(e.data) as { delta: string }).delta);
  assert.equal(tokens.join(''), 'The tide rose seven metres.');
  const done = JSON.parse(events.at(-1)!.data) as { turnId: string; status: string; answer: string };
  assert.deepEqual([done.turnId, done.status, done.answer], [sent.body.turnId, 'completed', 'The tide rose seven metres.']);
  // Resuming after the turn-started event gives everything after it, once.
  const withIds = events.filter((e) => e.id !== undefined);
  const from = withIds.findIndex((e) => e.event === 'turn-started');
  const resumed = await readSse(url, { token: cluster.user.token, lastEventId: withIds[from]!.id!, stopAfter: (e) => e.event === 'turn-completed' });
  assert.deepEqual(resumed.events.filter((e) => e.id !== undefined).map((e) => e.id), withIds.slice(from + 1).map((e) => e.id));
  // /ws saw the same events and tokens.
  await waitFor(() => socket.frames.find((f) => f['type'] === 'event' && f['event'] === 'turn-completed'), { what: 'turn-completed on /ws' });
  const wsIds = socket.frames.filter((f) => f['type'] === 'event').map((f) => f['id']);
  assert.deepEqual(wsIds, withIds.map((e) => e.id));
  assert.equal(socket.frames.filter((f) => f['type'] === 'token').map((f) => (f['data'] as { delta: string }).delta).join(''), 'The tide rose seven metres.');
  assert.ok(socket.frames.some((f) => f['type'] === 'status'), 'status changes reach /ws');
  socket.ws.close();
  const view = await session(s.id);
  assert.deepEqual(view.transcript.map((t) => t.role), ['user', 'assistant']);
});

test('a second message while a turn runs is 409; cancel ends the turn and the session takes the next message', async () => {
  const s = await createSession();
  let release: (() => void) | undefined;
  cluster.model.script([() => new Promise<string>((resolve) => (release = () => resolve('late answer')))], { model: TEST_MODEL });
  const first = await cluster.api<{ turnId: string }>('POST', `/v1/agent-sessions/${s.id}/messages`, { body: { content: 'take your time' } });
  assert.equal(first.status, 202);
  await waitFor(() => release, { what: 'the model call to be held' });
  const busy = await cluster.api<ErrorBody>('POST', `/v1/agent-sessions/${s.id}/messages`, { body: { content: 'are you there?' } });
  assert.equal(busy.status, 409, JSON.stringify(busy.body));
  const cancelled = await cluster.api<SessionBody>('POST', `/v1/agent-sessions/${s.id}/cancel`, { body: { reason: 'changed my mind' } });
  assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
  await waitFor(async () => ((await session(s.id)).currentTurn?.status === 'cancelled' ? true : null), { what: 'the turn to end cancelled' });
  release?.();
  cluster.model.script(['next answer'], { model: TEST_MODEL });
  const next = await cluster.api<{ turnId: string }>('POST', `/v1/agent-sessions/${s.id}/messages`, { body: { content: 'again' } });
  assert.equal(next.status, 202, JSON.stringify(next.body));
  assert.notEqual(next.body.turnId, first.body.turnId);
  await idle(s.id);
  assert.equal((await session(s.id)).currentTurn?.status, 'completed');
});

test('a tool call that needs approval waits for POST /approve, then runs and the turn completes', async () => {
  // An internal service offers the tool over NATS micro-services, marked as needing approval.
  const service = await new Svcm(cluster.nc).add({ name: 'approval-tools', version: '1.0.0' });
  let ran = 0;
  service.addEndpoint('publish_note', {
    metadata: {
      [SERVICE_TOOL_METADATA.name]: 'publish_note',
      [SERVICE_TOOL_METADATA.description]: 'Publishes a note (a person approves each call)',
      [SERVICE_TOOL_METADATA.schema]: JSON.stringify({ type: 'object', properties: { note: { type: 'string' } }, required: ['note'] }),
      [SERVICE_TOOL_METADATA.needsApproval]: 'true',
    },
    handler: (err, msg) => {
      if (err !== null) return;
      ran += 1;
      msg.respond(`published ${msg.json<{ note: string }>().note}`);
    },
  });
  try {
    const s = await createSession({ tools: ['publish_note'] });
    cluster.model.script([{ toolCalls: [{ id: 'call_pub', name: 'publish_note', arguments: { note: 'high tide at 7' } }] }, 'Published.'], { model: TEST_MODEL });
    assert.equal((await cluster.api('POST', `/v1/agent-sessions/${s.id}/messages`, { body: { content: 'publish it' } })).status, 202);
    const waiting = await waitFor(
      async () => {
        const v = await cluster.api<SessionBody & { pendingApprovals: Array<{ callId: string; name: string }> }>('GET', `/v1/agent-sessions/${s.id}`);
        return v.body.status === 'waiting-approval' ? v.body : null;
      },
      { what: 'the session to wait for approval', timeoutMs: 30_000, intervalMs: 100 },
    );
    assert.deepEqual(waiting.pendingApprovals.map((p) => [p.callId, p.name]), [['call_pub', 'publish_note']]);
    assert.equal(ran, 0, 'nothing runs before the approval');
    const wrongCall = await cluster.api<ErrorBody>('POST', `/v1/agent-sessions/${s.id}/approve`, { body: { callId: 'call_other', approved: true } });
    assert.equal(wrongCall.status, 409, JSON.stringify(wrongCall.body));
    const approved = await cluster.api<SessionBody>('POST', `/v1/agent-sessions/${s.id}/approve`, { body: { callId: 'call_pub', approved: true, comment: 'go' } });
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    await idle(s.id);
    const done = await session(s.id);
    assert.equal(done.currentTurn?.status, 'completed');
    assert.equal(ran, 1);
    const tool = done.transcript.find((t) => t.role === 'tool') as { result?: { ok: boolean; content?: string } } | undefined;
    assert.deepEqual(tool?.result, { ok: true, content: 'published high tide at 7' });
  } finally {
    await service.stop();
  }
});

function openSocket(token: string): { ws: WebSocket; frames: Array<Record<string, unknown>>; opened: Promise<void> } {
  const ws = new WebSocket(`${cluster.gateways[0]!.wsUrl}/ws?token=${encodeURIComponent(token)}`);
  const frames: Array<Record<string, unknown>> = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString()) as Record<string, unknown>));
  // A refused or dropped socket shows in the assertions on frames.
  ws.on('error', () => undefined);
  const opened = new Promise<void>((resolve) => ws.once('open', () => resolve()));
  return { ws, frames, opened };
}

test('every agent-session route is in /openapi.json', async () => {
  const doc = await cluster.api<{ paths: Record<string, Record<string, unknown>> }>('GET', '/openapi.json');
  assert.equal(doc.status, 200);
  const base = '/v1/agent-sessions';
  assert.deepEqual(Object.keys(doc.body.paths[base] ?? {}).sort(), ['get', 'post']);
  for (const [path, method] of [['/{id}', 'get'], ['/{id}/messages', 'post'], ['/{id}/cancel', 'post'], ['/{id}/approve', 'post'], ['/{id}/events', 'get']] as const) {
    assert.ok(doc.body.paths[`${base}${path}`]?.[method], `${method} ${base}${path}`);
  }
});
