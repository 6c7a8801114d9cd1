/**
 * How jobs behave under trouble and at their edges, end to end on one Loom
 * process with every role: model failures retried with backoff then a
 * failed job with a dead-letter row; invalid structured output retried;
 * cancellation mid-run cancelling in-flight calls; idempotent creation;
 * bad input refused with nothing recorded; SSE resumed with Last-Event-ID
 * without gap or duplicate; jobs visible to their owner only; approval and
 * rejection; a job writing into a document while a y-websocket client edits.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { jetstreamManager } from '@nats-io/jetstream';
import { RequestError, type Msg } from '@nats-io/transport-node';
import pg from 'pg';
import { WebSocket } from 'ws';
import { CLOSE_CODES } from '../../protocol/errors.ts';
import { parseActorId } from '../../protocol/ids.ts';
import { JOB_LOG_STREAM, jobLogSubject } from '../../protocol/subjects.ts';
import { jobIdForKey } from '../jobs/job-ids.ts';
import { connectCollabClient, waitFor, type CollabClient, type FakeChatRequest } from '../testing/index.ts';
import { readSse, scriptedAnswer, startJobsCluster, taskOfRequest, type JobBody, type JobsCluster } from './jobs-fixture.ts';

const FLAKY = 'flaky-model';
let cluster: JobsCluster;
const clients: CollabClient[] = [];

before(async () => {
  cluster = await startJobsCluster({ env: { LOOM_INFERENCE_MODELS: `test-model,${FLAKY}`, LOOM_JOB_STEP_MAX_ATTEMPTS: '3' } });
});
after(async () => {
  for (const c of clients) c.destroy();
  await cluster?.stop();
});

const ended = (j: JobBody) => ['succeeded', 'failed', 'cancelled', 'rejected'].includes(j.status);
const userOf = (r: FakeChatRequest) => r.messages.find((m) => m.role === 'user')?.content ?? '';

async function create(body: unknown, headers?: Record<string, string>): Promise<JobBody> {
  const r = await cluster.createJob(body, headers);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.job;
}

async function sql<T>(query: string, params: unknown[]): Promise<T[]> {
  const db = new pg.Client({ connectionString: cluster.databaseUrl });
  await db.connect();
  try {
    return (await db.query(query, params)).rows as T[];
  } finally {
    await db.end();
  }
}

async function events(jobId: string, after = 0): Promise<Array<{ seq: number; type: string; body: Record<string, unknown> }>> {
  const r = await readSse(`${cluster.gateways[0]!.httpUrl}/v1/jobs/${jobId}/events`, { token: cluster.user.token, ...(after > 0 ? { lastEventId: String(after) } : {}) });
  assert.equal(r.ended, true, 'the stream of an ended job ends');
  return r.events.filter((e) => e.id !== undefined).map((e) => ({ seq: Number(e.id), type: e.event, body: JSON.parse(e.data) as Record<string, unknown> }));
}

test('a failing model is retried with growing backoff, then the job fails with a dead-letter record', async () => {
  cluster.model.failModel(FLAKY, { status: 500, message: 'model on fire' });
  try {
    const job = await create({ kind: 'slides.generate', input: { topic: 'Flaky', slideCount: 2 }, model: FLAKY });
    const done = await cluster.waitForJob(job.id, ended, 'to end');
    assert.equal(done.status, 'failed');
    assert.equal(done.error?.code, 'dead-lettered');
    assert.match(done.error!.message, /step outline failed after 3 attempts/);
    assert.equal(done.steps.find((s) => s.id === 'outline')?.attempt, 3);
    assert.equal(cluster.model.callCount(FLAKY), 3, 'one call per attempt');
    const failures = (await events(job.id)).filter((e) => e.type === 'step-attempt-failed');
    assert.equal(failures.length, 3);
    const waits = failures.slice(0, 2).map((f) => (f.body.retryAt as number) - (f.body.at as number));
    assert.ok(waits[0]! >= 25 && waits[0]! <= 50 && waits[1]! >= 50 && waits[1]! <= 100, `backoff 50 ms base with jitter, doubling: ${waits.join(', ')}`);
    assert.equal(failures[2]!.body.retryAt, null);
    const [dead] = await sql<{ step: string; attempts: number; error: { code: string; message: string } }>('select step, attempts, error from job_dead_letters where job_id = $1', [job.id]);
    assert.deepEqual({ step: dead?.step, attempts: dead?.attempts, code: dead?.error.code }, { step: 'outline', attempts: 3, code: 'dead-lettered' });
    assert.match(dead!.error.message, /model on fire|500/);
  } finally {
    cluster.model.failModel(FLAKY, null);
  }
});

test('an invalid structured answer is retried, never taken as a result', async () => {
  let outlines = 0;
  cluster.model.configure({
    respond: (r) => {
      if (taskOfRequest(r) === 'slides.generate/outline' && userOf(r).includes('Invalid first')) {
        outlines++;
        if (outlines === 1) return 'Sure! Here are your slides: one, two.';
        if (outlines === 2) return JSON.stringify({ title: 'D', slides: [{ title: 'a', bullets: [], layout: 'hologram' }, { title: 'b', bullets: [], layout: 'title' }] });
      }
      return scriptedAnswer(r);
    },
  });
  try {
    const job = await create({ kind: 'slides.generate', input: { topic: 'Invalid first', slideCount: 2 } });
    const done = await cluster.waitForJob(job.id, ended, 'to end');
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    assert.equal(done.steps.find((s) => s.id === 'outline')?.attempt, 3);
    const failures = (await events(job.id)).filter((e) => e.type === 'step-attempt-failed').map((e) => e.body.error as { code: string; message: string });
    assert.deepEqual(failures.map((f) => f.code), ['invalid-output', 'invalid-output']);
    assert.match(failures[0]!.message, /not JSON/);
    assert.match(failures[1]!.message, /layout/);
    // The tokens of the invalid answers still count.
    assert.equal(done.usage.calls, 3 + 2);
  } finally {
    cluster.model.configure({ respond: scriptedAnswer });
  }
});

test('cancelling mid-run cancels the in-flight model calls and starts nothing new', async () => {
  const release: Array<() => void> = [];
  cluster.model.configure({
    respond: (r) =>
      taskOfRequest(r) === 'document.generate/section' && userOf(r).includes('Topic: Cancel me')
        ? new Promise<string>((resolve) => release.push(() => resolve('too late')))
        : scriptedAnswer(r),
  });
  try {
    const job = await create({ kind: 'document.generate', input: { topic: 'Cancel me', sections: 6 } });
    await waitFor(() => release.length === 4, { what: 'four sections in flight (the parallelism bound)', timeoutMs: 20_000 });
    const r = await cluster.api<JobBody>('POST', `/v1/jobs/${job.id}/cancel`, { body: { reason: 'changed my mind' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.status, 'cancelled');
    assert.equal(r.body.error?.message, 'changed my mind');
    const held = () => cluster.model.calls.filter((c) => taskOfRequest(c.request) === 'document.generate/section' && userOf(c.request).includes('Topic: Cancel me'));
    await waitFor(() => held().every((c) => c.outcome === 'aborted'), { what: 'in-flight calls aborted by the cancel', timeoutMs: 20_000 });
    const calls = held().length;
    assert.equal(calls, 4, 'sections 5 and 6 never started');
    const job2 = await cluster.getJob(job.id);
    assert.equal(job2.status, 'cancelled');
    assert.ok(job2.steps.filter((s) => s.id.startsWith('sections.')).every((s) => s.status === 'cancelled'));
    // Cancelling again is harmless; approving is a conflict.
    assert.equal((await cluster.api('POST', `/v1/jobs/${job.id}/cancel`)).status, 200);
    assert.equal((await cluster.api('POST', `/v1/jobs/${job.id}/approve`, { body: { approved: true } })).status, 409);
  } finally {
    for (const r of release) r();
    cluster.model.configure({ respond: scriptedAnswer });
  }
});

test('the same idempotency key twice, even at once, makes one job; another request under it is a conflict', async () => {
  const key = `key-${Date.now()}`;
  const body = { kind: 'research.deep', input: { question: 'Same key?', maxSubQuestions: 3 } };
  const [a, b] = await Promise.all([cluster.createJob(body, { 'Idempotency-Key': key }), cluster.createJob({ ...body, idempotencyKey: key })]);
  assert.deepEqual([a.status, b.status].sort(), [200, 201]);
  assert.equal(a.body.job.id, b.body.job.id);
  assert.deepEqual([a.body.created, b.body.created].sort(), [false, true]);
  const again = await cluster.createJob(body, { 'Idempotency-Key': key });
  assert.equal(again.status, 200);
  assert.equal(again.body.job.id, a.body.job.id);
  const conflict = await cluster.createJob({ ...body, input: { question: 'Another question' } }, { 'Idempotency-Key': key });
  assert.equal(conflict.status, 409, JSON.stringify(conflict.body));
  // The key is per owner: another user's same key is another job.
  const theirs = await cluster.api<{ job: JobBody }>('POST', '/v1/jobs', {
    body: { ...body, input: { question: 'Their key?', maxSubQuestions: 3 } },
    headers: { 'Idempotency-Key': key },
    token: cluster.stranger.token,
  });
  assert.equal(theirs.status, 201);
  assert.notEqual(theirs.body.job.id, a.body.job.id);
  const done = await cluster.waitForJob(a.body.job.id, ended, 'to end');
  assert.equal(done.status, 'succeeded');
  assert.equal(cluster.model.calls.filter((c) => userOf(c.request).includes('Question: Same key?')).length, 1, 'planned once');
});

test('bad input gets a 4xx with a clear message and nothing is recorded or enqueued', async () => {
  const jsm = await jetstreamManager(cluster.nc);
  const callsFor = () => cluster.model.calls.filter((c) => /Topic: x\b|nope/.test(userOf(c.request))).length;
  const cases: Array<{ body: unknown; raw?: string; status: number; code: string; message: RegExp }> = [
    { body: { kind: 'nope.nothing', input: {} }, status: 400, code: 'unknown-kind', message: /nope\.nothing is neither a built-in pipeline nor one you registered/ },
    { body: { kind: 'document.generate', input: { topic: 'x', sections: 99 } }, status: 400, code: 'invalid-input', message: /input\.sections: must be <= 20/ },
    { body: { kind: 'document.generate', input: { sections: 2 } }, status: 400, code: 'invalid-input', message: /input\.topic: is required/ },
    { body: { input: { topic: 'x' } }, status: 400, code: 'invalid-request', message: /kind/ },
    { body: { kind: 'document.generate', input: { topic: 'x' }, colour: 'red' }, status: 400, code: 'invalid-request', message: /unknown field colour/ },
    { body: { kind: 'document.generate', input: { topic: 'x'.repeat(300_000) } }, status: 413, code: 'input-too-large', message: /limit is 262144/ },
    { body: null, raw: '{"kind": "document.generate", "input": ', status: 400, code: 'bad-request', message: /JSON/i },
  ];
  for (const [i, c] of cases.entries()) {
    const key = `bad-${Date.now()}-${i}`;
    const r = await cluster.api<{ error: { code: string; message: string } }>('POST', '/v1/jobs', { body: c.raw ?? c.body, headers: { 'Idempotency-Key': key } });
    assert.equal(r.status, c.status, `case ${i}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.code, c.code, `case ${i}: ${r.body.error.message}`);
    assert.match(r.body.error.message, c.message, `case ${i}`);
    const id = jobIdForKey(cluster.user.id, key);
    assert.equal(await jsm.streams.getMessage(JOB_LOG_STREAM, { last_by_subj: jobLogSubject(parseActorId(id)) }), null, `case ${i}: nothing in the job log`);
    assert.equal((await cluster.api('GET', `/v1/jobs/${id}`)).status, 404);
  }
  assert.equal(callsFor(), 0, 'no model call');
  const rows = await sql<{ n: number }>('select count(*)::int as n from jobs where kind = $1', ['nope.nothing']);
  assert.equal(rows[0]?.n, 0);
});

test('a job is its owner\'s: others get 404 on read, cancel, approve and events', async () => {
  const job = await create({ kind: 'research.deep', input: { question: 'Whose?', maxSubQuestions: 3 } });
  for (const [method, path] of [['GET', ''], ['POST', '/cancel'], ['GET', '/events']] as const) {
    const r = await cluster.api<{ error: { code: string } }>(method, `/v1/jobs/${job.id}${path}`, { token: cluster.stranger.token });
    assert.equal(r.status, 404, `${method} ${path}`);
  }
  assert.equal((await cluster.api('GET', `/v1/jobs/${job.id}`)).status, 200, 'the owner sees it');
  assert.equal((await fetch(`${cluster.gateways[0]!.httpUrl}/v1/jobs/${job.id}`)).status, 401, 'credentials are required');
  await cluster.waitForJob(job.id, ended, 'to end');
});

test('SSE resumed with Last-Event-ID after a dropped connection misses nothing and repeats nothing', async () => {
  cluster.model.configure({ firstTokenDelayMs: 150, tokenDelayMs: 5 });
  try {
    const job = await create({ kind: 'document.generate', input: { topic: 'Streams', sections: 4 } });
    const url = `${cluster.gateways[0]!.httpUrl}/v1/jobs/${job.id}/events`;
    const first = await readSse(url, { token: cluster.user.token, stopAfter: (_e, all) => all.filter((x) => x.id !== undefined).length >= 4 });
    assert.equal(first.ended, false, 'the first connection was dropped mid-job');
    const lastId = first.events.filter((e) => e.id !== undefined).at(-1)!.id!;
    const second = await readSse(url, { token: cluster.user.token, lastEventId: lastId });
    assert.equal(second.ended, true);
    const seen = [...first.events, ...second.events].filter((e) => e.id !== undefined);
    const ids = seen.map((e) => Number(e.id));
    assert.equal(new Set(ids).size, ids.length, `no duplicate: ${ids.join(',')}`);
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'in order');
    const all = await events(job.id);
    assert.deepEqual(ids, all.map((e) => e.seq), 'no gap: the two connections together saw the whole log');
    assert.equal(seen.at(-1)!.event, 'job-succeeded');
    assert.equal(all.at(-1)!.seq, (await cluster.getJob(job.id)).lastSeq);
    assert.ok([...first.events, ...second.events].some((e) => e.event === 'token'), 'model tokens are streamed too');
  } finally {
    cluster.model.configure({ firstTokenDelayMs: 0, tokenDelayMs: 0 });
  }
});

test('an approval step waits until approved; a rejection ends the job', async () => {
  const job = await create({ kind: 'document.generate', input: { topic: 'Approve me', sections: 2, requireApproval: true } });
  const waiting = await cluster.waitForJob(job.id, (j) => j.status === 'waiting-approval', 'to wait for approval');
  assert.deepEqual(waiting.waitingFor, ['approve-outline']);
  const approved = await cluster.api<JobBody>('POST', `/v1/jobs/${job.id}/approve`, { body: { approved: true, comment: 'looks good' } });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  assert.equal((await cluster.waitForJob(job.id, ended, 'to end')).status, 'succeeded');
  const other = await create({ kind: 'document.generate', input: { topic: 'Reject me', sections: 2, requireApproval: true } });
  await cluster.waitForJob(other.id, (j) => j.status === 'waiting-approval', 'to wait for approval');
  const rejected = await cluster.api<JobBody>('POST', `/v1/jobs/${other.id}/approve`, { body: { approved: false, comment: 'off topic' } });
  assert.equal(rejected.body.status, 'rejected');
  // Creation and decisions are in the owner's audit trail of the job, and nobody else's.
  const trail = await cluster.api<{ entries: Array<{ action: string; detail: Record<string, unknown> | null }> }>('GET', `/v1/audit?targetType=job&targetId=${job.id}`);
  assert.equal(trail.status, 200, JSON.stringify(trail.body));
  assert.deepEqual(trail.body.entries.map((e) => e.action).sort(), ['job.approve', 'job.create']);
  assert.equal((await cluster.api('GET', `/v1/audit?targetType=job&targetId=${job.id}`, { token: cluster.stranger.token })).status, 404);
  assert.equal(cluster.model.calls.filter((c) => userOf(c.request).includes('Reject me')).length, 1, 'only the outline was generated');
});

test('a job writes into a live document while a y-websocket client edits it: both edits survive, clients converge', async () => {
  const room = `jobdoc-${Date.now()}`;
  const editor = connectCollabClient(cluster.gateways[0]!.wsUrl, room);
  clients.push(editor);
  await editor.synced();
  const text = editor.doc.getText('t');
  text.insert(0, 'Notes from the editor.\n\n');
  cluster.model.configure({ firstTokenDelayMs: 100 });
  try {
    const job = await create({ kind: 'document.generate', input: { topic: 'Live', sections: 3, targetRoot: 't' }, targetDocId: room });
    // The editor types at the top while the job's text arrives below.
    await waitFor(() => text.toString().includes('# Live'), { what: 'the title to arrive in the editor', timeoutMs: 20_000 });
    assert.ok(!text.toString().includes('Part 3'), 'the text arrives piece by piece');
    text.insert(0, 'TOP ');
    const done = await cluster.waitForJob(job.id, ended, 'to end');
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    const markdown = (done.output as { markdown: string }).markdown.trimEnd();
    await waitFor(() => text.toString().includes(markdown), { what: "the job's whole text in the editor", timeoutMs: 20_000 });
    text.insert(text.length, '\nSigned, the editor.');
    const late = connectCollabClient(cluster.gateways[0]!.wsUrl, room);
    clients.push(late);
    await late.synced();
    await waitFor(() => late.doc.getText('t').toString() === text.toString(), { what: 'a late client to converge', timeoutMs: 20_000 });
    const final = text.toString();
    assert.ok(final.startsWith('TOP Notes from the editor.\n\n# Live\n\n## Part 1'), final.slice(0, 80));
    assert.ok(final.endsWith('Signed, the editor.'));
    assert.equal(final.split('## Part 2').length, 2, 'no section written twice');
  } finally {
    cluster.model.configure({ firstTokenDelayMs: 0 });
  }
});

/** A raw client of the multiplexed socket: frames received, and how it closed. */
function openSocket(query: string): { ws: WebSocket; frames: Array<Record<string, unknown>>; opened: Promise<void>; closed: Promise<{ code: number; reason: string }> } {
  const ws = new WebSocket(`${cluster.gateways[0]!.wsUrl}/ws${query}`);
  const frames: Array<Record<string, unknown>> = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString()) as Record<string, unknown>));
  // A refused socket may also see ECONNRESET; the close event tells how it ended.
  ws.on('error', () => undefined);
  const opened = new Promise<void>((resolve) => ws.once('open', () => resolve()));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return { ws, frames, opened, closed };
}

test('/ws: subscribe to jobs by channel, resume by event id, tokens streamed, other users refused per channel', async () => {
  // Streamed slowly, so the job is still producing tokens after the socket has subscribed (opening it re-checks the credential).
  cluster.model.configure({ firstTokenDelayMs: 50, tokenDelayMs: 20 });
  try {
    const job = await create({ kind: 'slides.generate', input: { topic: 'Sockets', slideCount: 2 } });
    const mine = await create({ kind: 'slides.generate', input: { topic: 'Not yours', slideCount: 2 } });
    const s = openSocket(`?token=${cluster.user.token}`);
    await s.opened;
    s.ws.send(JSON.stringify({ type: 'subscribe', channel: `job:${job.id}` }));
    await waitFor(() => s.frames.some((f) => f.type === 'end' && f.channel === `job:${job.id}`), { what: 'the job channel to end', timeoutMs: 30_000 });
    const channelFrames = s.frames.filter((f) => f.channel === `job:${job.id}`);
    assert.equal(channelFrames[0]!.type, 'subscribed');
    const evs = channelFrames.filter((f) => f.type === 'event');
    assert.deepEqual(evs.map((f) => Number(f.id)), (await events(job.id)).map((e) => e.seq), 'every event once, in order');
    assert.equal(evs.at(-1)!.event, 'job-succeeded');
    assert.ok(channelFrames.some((f) => f.type === 'token'), 'token deltas on the same channel');
    assert.equal(channelFrames.at(-1)!.reason, 'job-ended');

    // Resuming after an event id replays only what came after it.
    const middle = evs[3]!.id as string;
    s.frames.length = 0;
    s.ws.send(JSON.stringify({ type: 'subscribe', channel: `job:${job.id}`, lastEventId: middle }));
    await waitFor(() => s.frames.some((f) => f.type === 'end'), { what: 'the resumed channel to end' });
    assert.deepEqual(s.frames.filter((f) => f.type === 'event').map((f) => f.id), evs.slice(4).map((f) => f.id));

    // Another user's job is refused like a missing one; the socket stays open.
    const other = openSocket(`?token=${cluster.stranger.token}`);
    await other.opened;
    other.ws.send(JSON.stringify({ type: 'subscribe', channel: `job:${mine.id}` }));
    other.ws.send(JSON.stringify({ type: 'subscribe', channel: 'doc:nope' }));
    other.ws.send(JSON.stringify({ type: 'ping' }));
    await waitFor(() => other.frames.some((f) => f.type === 'pong') && other.frames.filter((f) => f.type === 'error').length === 2, { what: 'errors and a pong' });
    assert.deepEqual(other.frames.filter((f) => f.type === 'error').map((f) => f.code).sort(), ['invalid-subject', 'not-found']);
    other.ws.send(JSON.stringify({ type: 'unsubscribe', channel: `job:${mine.id}` }));
    await waitFor(() => other.frames.some((f) => f.type === 'unsubscribed'), { what: 'unsubscribed' });
    other.ws.close();
    s.ws.close();
    await cluster.waitForJob(mine.id, ended, 'to end');
  } finally {
    cluster.model.configure({ firstTokenDelayMs: 0, tokenDelayMs: 0 });
  }
});

test('/ws: a missing token, a malformed frame, an unknown frame type or a binary frame close the socket with their code', async () => {
  const noToken = openSocket('');
  assert.equal((await noToken.closed).code, CLOSE_CODES.unauthorized);
  const cases: Array<{ send: string | Uint8Array; code: number; reason: RegExp }> = [
    { send: '{not json', code: CLOSE_CODES.malformedFrame, reason: /not JSON/ },
    { send: JSON.stringify({ type: 'subscribe' }), code: CLOSE_CODES.malformedFrame, reason: /channel/ },
    { send: JSON.stringify({ type: 'subscribe', channel: 'job:x', extra: 1 }), code: CLOSE_CODES.malformedFrame, reason: /unknown keys extra/ },
    { send: JSON.stringify({ type: 'explode' }), code: CLOSE_CODES.unknownMessageType, reason: /unknown frame type "explode"/ },
    { send: Uint8Array.of(1, 2, 3), code: CLOSE_CODES.unsupportedData, reason: /binary/ },
  ];
  for (const c of cases) {
    const s = openSocket(`?token=${cluster.user.token}`);
    await s.opened;
    s.ws.send(c.send);
    const closed = await s.closed;
    assert.equal(closed.code, c.code, `${String(c.send)}: ${closed.reason}`);
    assert.match(closed.reason, c.reason);
  }
});

test('an internal service starts a job and follows its events over NATS alone', async () => {
  // Subjects are written out literally: this pins the contract PROTOCOL.md documents.
  const id = `svc-${Date.now()}`;
  const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const request = async (subject: string, body: Uint8Array): Promise<Msg> => {
    const jobId = subject.split('.')[2]!;
    for (let i = 0; i < 20; i++) {
      try {
        return await cluster.nc.request(subject, body, { timeout: 5_000 });
      } catch (err) {
        if (!(err instanceof RequestError && err.isNoResponders())) throw err;
        const activated = await cluster.nc.request('sys.activate.job', json({ id: jobId }), { timeout: 5_000 });
        assert.equal(JSON.parse(new TextDecoder().decode(activated.data)).status, 'active');
      }
    }
    throw new Error('never answered');
  };
  const seen: Array<{ type: string; seq: number }> = [];
  const sub = cluster.nc.subscribe(`event.job.${id}.*`, {
    callback: (_err, msg) => {
      const type = msg.subject.split('.')[3]!;
      if (type !== 'token') seen.push({ type, seq: Number(msg.headers?.get('Loom-Seq')) });
    },
  });
  await cluster.nc.flush();
  try {
    const start = { kind: 'research.deep', input: { question: 'Over NATS?', maxSubQuestions: 3 }, owner: 'billing-service' };
    const reply = await request(`actor.job.${id}.start`, json(start));
    assert.equal(reply.headers?.get('Loom-Error') ?? '', '');
    const body = JSON.parse(new TextDecoder().decode(reply.data)) as { created: boolean; job: { id: string; status: string } };
    assert.deepEqual([body.created, body.job.id], [true, id]);
    await waitFor(() => seen.some((e) => e.type === 'job-succeeded'), { what: 'the job to succeed, seen over NATS', timeoutMs: 30_000 });
    assert.equal(seen[0]!.type, 'job-created');
    assert.deepEqual(seen.map((e) => e.seq), [...seen.map((e) => e.seq)].sort((a, b) => a - b));
    // The same start again is the same job; another request under the id is refused with a code.
    const again = JSON.parse(new TextDecoder().decode((await request(`actor.job.${id}.start`, json(start))).data)) as { created: boolean };
    assert.equal(again.created, false);
    const other = await request(`actor.job.${id}.start`, json({ ...start, input: { question: 'Something else?' } }));
    assert.equal(other.headers?.get('Loom-Error'), 'conflict');
    const bad = await request(`actor.job.${id}-bad.start`, json({ kind: 'research.deep', input: {}, owner: 'x' }));
    assert.equal(bad.headers?.get('Loom-Error'), 'invalid-input');
    assert.match(JSON.parse(new TextDecoder().decode(bad.data)).message, /input\.question: is required/);
    const get = JSON.parse(new TextDecoder().decode((await request(`actor.job.${id}.get`, new Uint8Array(0))).data)) as { status: string; lastSeq: number };
    assert.equal(get.status, 'succeeded');
    assert.equal(get.lastSeq, seen.at(-1)!.seq);
  } finally {
    sub.unsubscribe();
  }
});
