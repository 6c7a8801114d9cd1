/**
 * Outbound event sources end to end (issue 9): each event type is produced
 * by doing the real thing over HTTP and WebSocket against a real Loom
 * process (real NATS and PostgreSQL, the fake model server), and read back
 * from LOOM_OUTBOUND_EVENTS as any subscriber would.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { parseActorId } from '../../protocol/ids.ts';
import { DOC_LOG_STREAM, docChangeMarkSubject, docLogSubject } from '../../protocol/subjects.ts';
import { connectCollabClient, readOutboundEvents, waitFor, waitForOutboundEvents, type StoredOutboundEvent } from '../testing/index.ts';
import { startJobsCluster, type JobsCluster } from './jobs-fixture.ts';

let cluster: JobsCluster;

before(async () => {
  cluster = await startJobsCluster({ env: { LOOM_DOC_ACCESS: 'members', LOOM_WEBHOOK_DOC_DEBOUNCE_MS: '300' } });
});
after(() => cluster?.stop());

const ofKey = (key: string) => (events: StoredOutboundEvent[]) => events.filter((e) => e.event.orderKey === key);

/** Waits until the events of `orderKey` include every type of `types`, and returns them all. */
function eventsOf(orderKey: string, types: string[], what: string): Promise<StoredOutboundEvent[]> {
  return waitForOutboundEvents(
    cluster.nc,
    (all) => {
      const mine = ofKey(orderKey)(all);
      return types.every((t) => mine.some((e) => e.event.type === t)) ? mine : null;
    },
    what,
  );
}

test('a job records job.created, job.waiting-approval, job.step.succeeded and job.succeeded, in log order, told to its owner with links only', async () => {
  const created = await cluster.createJob({ kind: 'document.generate', input: { topic: 'Secret tide tables', sections: 2, requireApproval: true } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.job.id;
  await cluster.waitForJob(id, (j) => j.status === 'waiting-approval', 'waiting for approval');
  assert.equal((await cluster.api('POST', `/v1/jobs/${id}/approve`, { body: { approved: true } })).status, 200);
  await cluster.waitForJob(id, (j) => j.status === 'succeeded', 'succeeded');

  const events = await eventsOf(`job:${id}`, ['job.created', 'job.waiting-approval', 'job.step.succeeded', 'job.succeeded'], `events of job ${id}`);
  const types = events.map((e) => e.event.type);
  assert.equal(types[0], 'job.created');
  assert.equal(types.at(-1), 'job.succeeded');
  assert.ok(types.indexOf('job.waiting-approval') < types.indexOf('job.succeeded'));
  assert.deepEqual(events.filter((e) => e.event.type === 'job.waiting-approval').map((e) => e.event.data.step), ['approve-outline']);
  assert.ok(events.filter((e) => e.event.type === 'job.step.succeeded').length >= 3, 'outline, approval and sections each succeed');
  for (const { event, subject, msgId } of events) {
    assert.equal(subject, `events.out.${event.type}`);
    assert.equal(msgId, event.id, 'the event id is its Nats-Msg-Id');
    assert.deepEqual(event.ownerIds, [cluster.user.id]);
    assert.equal(event.data.jobId, id);
    assert.equal(event.data.link, `/v1/jobs/${id}`);
    assert.equal(event.data.kind, 'document.generate');
    assert.doesNotMatch(JSON.stringify(event), /Secret tide tables|Body of section/, 'no input or output content');
  }
  assert.equal(new Set(events.map((e) => e.event.id)).size, events.length, 'one event per fact');
});

test('a rejected job records job.failed (code rejected); a cancelled one job.cancelled', async () => {
  const rejected = (await cluster.createJob({ kind: 'document.generate', input: { topic: 'Rejected', sections: 1, requireApproval: true } })).body.job.id;
  await cluster.waitForJob(rejected, (j) => j.status === 'waiting-approval', 'waiting for approval');
  assert.equal((await cluster.api('POST', `/v1/jobs/${rejected}/approve`, { body: { approved: false } })).status, 200);
  const failed = await eventsOf(`job:${rejected}`, ['job.failed'], 'job.failed of the rejected job');
  assert.deepEqual(failed.find((e) => e.event.type === 'job.failed')?.event.data.error, { code: 'rejected' });

  cluster.model.configure({ firstTokenDelayMs: 3_000 });
  const cancelled = (await cluster.createJob({ kind: 'document.generate', input: { topic: 'Cancel me', sections: 3 } })).body.job.id;
  assert.equal((await cluster.api('POST', `/v1/jobs/${cancelled}/cancel`, { body: {} })).status, 200);
  cluster.model.configure({ firstTokenDelayMs: 0 });
  const events = await eventsOf(`job:${cancelled}`, ['job.created', 'job.cancelled'], 'job.cancelled');
  assert.equal(events.at(-1)?.event.type, 'job.cancelled');
  assert.ok(!events.some((e) => e.event.type === 'job.succeeded'));
});

test('sharing and unsharing a document record doc.member.added and doc.member.removed for the owner and the member', async () => {
  const doc = await cluster.api<{ id: string }>('POST', '/v1/docs', { body: { title: 'Shared notes' } });
  assert.equal(doc.status, 201, JSON.stringify(doc.body));
  const docId = doc.body.id;
  assert.equal((await cluster.api('PUT', `/v1/docs/${docId}/members/${cluster.stranger.id}`, { body: { role: 'editor' } })).status, 201);
  // A role change is not an addition.
  assert.equal((await cluster.api('PUT', `/v1/docs/${docId}/members/${cluster.stranger.id}`, { body: { role: 'viewer' } })).status, 200);
  assert.equal((await cluster.api('DELETE', `/v1/docs/${docId}/members/${cluster.stranger.id}`)).status, 204);

  const events = await eventsOf(`doc:${docId}`, ['doc.member.added', 'doc.member.removed'], 'member events');
  const members = events.filter((e) => e.event.type.startsWith('doc.member.'));
  assert.deepEqual(members.map((e) => e.event.type), ['doc.member.added', 'doc.member.removed']);
  for (const { event } of members) {
    assert.deepEqual(new Set(event.ownerIds), new Set([cluster.user.id, cluster.stranger.id]));
    assert.equal(event.data.docId, docId);
    assert.equal(event.data.userId, cluster.stranger.id);
    assert.equal(event.data.link, `/v1/docs/${docId}`);
  }
  assert.equal(members[0]?.event.data.role, 'editor');
});

test('editing a document with y-websocket records one debounced doc.updated carrying the last seq, not the content', async () => {
  const docId = (await cluster.api<{ id: string }>('POST', '/v1/docs', { body: { title: 'Edited' } })).body.id;
  const client = connectCollabClient(cluster.gateways[0]!.wsUrl, encodeURIComponent(docId), { params: { token: cluster.user.token } });
  try {
    await client.synced();
    const text = client.doc.getText('t');
    for (let i = 0; i < 5; i++) text.insert(text.length, `secret line ${i}\n`);
    const events = await eventsOf(`doc:${docId}`, ['doc.updated'], 'doc.updated');
    const updated = events.filter((e) => e.event.type === 'doc.updated');
    const last = updated.at(-1)!.event;
    assert.deepEqual(last.ownerIds, [cluster.user.id]);
    assert.equal(last.data.docId, docId);
    assert.equal(typeof last.data.seq, 'number');
    assert.doesNotMatch(JSON.stringify(last), /secret line/);
    assert.ok(updated.length <= 5, `debounced: ${updated.length} events for 5 quick edits`);
  } finally {
    client.destroy();
  }
});

/** The document's last log seq and how many updates and change marks its log holds. */
async function logOf(docId: string): Promise<{ lastSeq: number | undefined; updates: number; marks: number }> {
  const jsm = await jetstreamManager(cluster.nc);
  const id = parseActorId(docId);
  const last = await jsm.streams.getMessage(DOC_LOG_STREAM, { last_by_subj: docLogSubject(id) });
  const info = await jsm.streams.info(DOC_LOG_STREAM, { subjects_filter: `${docLogSubject(id)}.>` });
  const updates = (await jsm.streams.info(DOC_LOG_STREAM, { subjects_filter: docLogSubject(id) })).state.subjects?.[docLogSubject(id)] ?? 0;
  return { lastSeq: last?.seq, updates, marks: info.state.subjects?.[docChangeMarkSubject(id)] ?? 0 };
}

test('editing without pause across several windows: the relay reads a change mark per half window, not every update, and the last doc.updated carries the log\'s last seq', async () => {
  const docId = (await cluster.api<{ id: string }>('POST', '/v1/docs', { body: { title: 'Busy' } })).body.id;
  const client = connectCollabClient(cluster.gateways[0]!.wsUrl, encodeURIComponent(docId), { params: { token: cluster.user.token } });
  try {
    await client.synced();
    const text = client.doc.getText('t');
    // About 1.2 s of edits, one every 40 ms: four windows of 300 ms, marks at most every 150 ms.
    const startedAt = Date.now();
    while (Date.now() - startedAt < 1_200) {
      text.insert(text.length, 'x');
      await sleep(40);
    }
    const final = await waitFor(async () => {
      const log = await logOf(docId);
      const mine = ofKey(`doc:${docId}`)(await readOutboundEvents(cluster.nc)).filter((e) => e.event.type === 'doc.updated');
      return log.lastSeq !== undefined && mine.some((e) => e.event.data.seq === log.lastSeq) ? { log, mine } : null;
    }, { what: 'a doc.updated carrying the log\'s last seq', timeoutMs: 20_000, intervalMs: 200 });
    const { log, mine } = final;
    assert.ok(log.updates >= 10, `the edits reached the log: ${log.updates} entries`);
    assert.ok(log.marks >= 2 && log.marks <= 12, `${log.marks} change marks for ${log.updates} updates over 1.2 s`);
    assert.ok(mine.length >= 2, `one event per window: ${mine.length}`);
    const seqs = mine.map((e) => Number(e.event.data.seq));
    assert.deepEqual([...seqs].sort((a, b) => a - b), seqs, 'in log order');
    assert.equal(new Set(mine.map((e) => e.event.id)).size, mine.length, 'no duplicate ids');
  } finally {
    client.destroy();
  }
});

test('a completed upload records upload.completed with its id and size', async () => {
  const bytes = Buffer.from('# Field notes\n');
  const created = await cluster.api<{ uploadId: string; put: { url: string; method: string; headers: Record<string, string> } }>('POST', '/v1/uploads', {
    body: { filename: 'notes.md', contentType: 'text/markdown', size: bytes.length },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const put = await fetch(created.body.put.url, { method: created.body.put.method, headers: created.body.put.headers, body: bytes });
  assert.ok(put.ok, `PUT ${put.status}`);
  const id = created.body.uploadId;
  assert.equal((await cluster.api<{ status: string }>('GET', `/v1/uploads/${id}`)).body.status, 'complete');
  const [event] = await eventsOf(`upload:${id}`, ['upload.completed'], 'upload.completed');
  assert.deepEqual(event?.event.ownerIds, [cluster.user.id]);
  assert.deepEqual(event?.event.data, { uploadId: id, contentType: 'text/markdown', bytes: bytes.length, link: `/v1/uploads/${id}` });
});

test('an agent session turn records agent.turn.completed for the session owner', async () => {
  const created = await cluster.api<{ session: { id: string } }>('POST', '/v1/agent-sessions', { body: {} });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.session.id;
  const sent = await cluster.api<{ turnId: string }>('POST', `/v1/agent-sessions/${id}/messages`, { body: { content: 'How high was the tide?' } });
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  await waitFor(async () => ((await cluster.api<{ status: string }>('GET', `/v1/agent-sessions/${id}`)).body.status === 'idle' ? true : null), { what: `session ${id} idle`, timeoutMs: 30_000 });
  const [event] = (await eventsOf(`agent:${id}`, ['agent.turn.completed'], 'agent.turn.completed')).filter((e) => e.event.type === 'agent.turn.completed');
  assert.deepEqual(event?.event.ownerIds, [cluster.user.id]);
  assert.equal(event?.event.data.sessionId, id);
  assert.equal(event?.event.data.turnId, sent.body.turnId);
  assert.equal(event?.event.data.status, 'completed');
  assert.doesNotMatch(JSON.stringify(event?.event), /tide/);
});

test("a registered pipeline's emit step records its own event type with the step's data, beside job.step.succeeded", async () => {
  const kind = 'acme.brief';
  const definition = {
    kind,
    input: { type: 'object', required: ['topic'], properties: { topic: { type: 'string' } } },
    steps: [
      { id: 'plan', type: 'llm', prompt: { user: 'plan {{input.topic}}' } },
      { id: 'announce', type: 'emit', after: ['plan'], event: 'brief.ready', data: { plan: '{{steps.plan.output}}' } },
    ],
  };
  const put = await cluster.api('PUT', `/v1/pipelines/${kind}`, { body: definition });
  assert.equal(put.status, 201, JSON.stringify(put.body));
  const created = await cluster.createJob({ kind, input: { topic: 'tides' } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.job.id;
  await cluster.waitForJob(id, (j) => j.status === 'succeeded', 'succeeded');
  const events = await eventsOf(`job:${id}`, ['brief.ready', 'job.succeeded'], 'the emitted event');
  const emitted = events.filter((e) => e.event.type === 'brief.ready');
  assert.equal(emitted.length, 1);
  assert.equal(emitted[0]?.subject, 'events.out.brief.ready');
  assert.deepEqual(emitted[0]?.event.ownerIds, [cluster.user.id]);
  assert.deepEqual(emitted[0]?.event.data, { jobId: id, kind, link: `/v1/jobs/${id}`, step: 'announce', event: { plan: 'echo: plan tides' } });
  const types = events.map((e) => e.event.type);
  assert.ok(types.indexOf('brief.ready') < types.indexOf('job.succeeded'), types.join(','));
  assert.ok(events.some((e) => e.event.type === 'job.step.succeeded' && e.event.data.step === 'announce'));
});
