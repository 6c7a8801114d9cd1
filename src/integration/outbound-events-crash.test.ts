/**
 * Outbound events survive SIGKILL (issue 9): two actor hosts run the relays
 * (one holds each relay's lease); killing the job-log relay's holder while
 * jobs run, or the host of a job right after it succeeded, loses no event:
 * the other host takes the lease over and resumes from the saved cursor.
 * Every event is on the stream at least once, a re-recorded one under the
 * same id (collapsed by the stream), and each job's events keep log order.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Kvm } from '@nats-io/kv';
import { jetstreamManager } from '@nats-io/jetstream';
import { parseActorId } from '../../protocol/ids.ts';
import { DOC_LOG_STREAM, docLogSubject, LEASE_BUCKET } from '../../protocol/subjects.ts';
import { createRootLogger } from '../log.ts';
import { openRelayCursors } from '../outbound-events/relay-cursors.ts';
import { leaseHolder } from '../placement/lease.ts';
import { connectCollabClient, readOutboundEvents, waitFor, waitForOutboundEvents, type LoomProcess, type StoredOutboundEvent } from '../testing/index.ts';
import { startJobsCluster, type JobBody, type JobsCluster } from './jobs-fixture.ts';

let cluster: JobsCluster;

before(async () => {
  cluster = await startJobsCluster({ layout: { hosts: 2, gateways: 1, workers: 1 }, env: { LOOM_WEBHOOK_DOC_DEBOUNCE_MS: '1000' } });
});
after(() => cluster?.stop());

/** The host holding a relay's lease now. */
async function relayHolder(relay: string): Promise<LoomProcess> {
  const kv = await new Kvm(cluster.nc).open(LEASE_BUCKET);
  const name = await waitFor(async () => (await leaseHolder(kv, `task.outbound-${relay}`))?.host ?? null, { what: `a holder of relay ${relay}`, timeoutMs: 30_000 });
  const host = cluster.hosts.find((h) => h.name === name);
  assert.ok(host, `lease holder ${name} is one of the hosts`);
  return host;
}

/** Asserts one job's events are complete, unique and in log order; returns them. */
function checkJobEvents(job: JobBody, all: StoredOutboundEvent[]): StoredOutboundEvent[] {
  const mine = all.filter((e) => e.event.orderKey === `job:${job.id}`);
  const types = mine.map((e) => e.event.type);
  assert.equal(new Set(mine.map((e) => e.event.id)).size, mine.length, `job ${job.id}: each event once on the stream (a re-recorded one is collapsed by id)`);
  assert.equal(types[0], 'job.created', `job ${job.id}: ${types.join(',')}`);
  assert.equal(types.at(-1), 'job.succeeded', `job ${job.id}: ${types.join(',')}`);
  assert.equal(types.filter((t) => t === 'job.created').length, 1);
  assert.equal(types.filter((t) => t === 'job.succeeded').length, 1);
  const succeededSteps = job.steps.filter((s) => s.status === 'succeeded').length;
  assert.equal(types.filter((t) => t === 'job.step.succeeded').length, succeededSteps, `job ${job.id}: one job.step.succeeded per succeeded step`);
  return mine;
}

const hasSucceeded = (jobId: string) => (all: StoredOutboundEvent[]) => (all.some((e) => e.event.orderKey === `job:${jobId}` && e.event.type === 'job.succeeded') ? all : null);

test('SIGKILL of the job-log relay holder mid-stream: every job event is recorded once per id, in order, by the host that takes over', async () => {
  cluster.model.configure({ firstTokenDelayMs: 150 });
  const victim = await relayHolder('job-log');
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) {
    const r = await cluster.createJob({ kind: 'document.generate', input: { topic: `Crash ${i}`, sections: 3 } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    ids.push(r.body.job.id);
  }
  // Mid-stream: some events are recorded and the holder has saved its cursor past them (it saves a few
  // times a second, so a kill right after the first event could come before any save), the jobs still run.
  await waitForOutboundEvents(cluster.nc, (all) => (all.some((e) => e.event.type === 'job.step.succeeded' && ids.includes(String(e.event.data.jobId))) ? true : null), 'a first step event');
  const cursors = await openRelayCursors(cluster.nc, 1, createRootLogger({ level: 'silent', instanceId: 'outbound-crash-test' }));
  await waitFor(async () => (await cursors.get('job-log')) > 0, { what: 'the job-log relay to save its cursor' });
  await victim.kill();
  cluster.model.configure({ firstTokenDelayMs: 0 });
  const jobs = await Promise.all(ids.map((id) => cluster.waitForJob(id, (j) => j.status === 'succeeded', 'succeeded after the kill', 90_000)));
  const all = await waitForOutboundEvents(cluster.nc, (events) => (ids.every((id) => hasSucceeded(id)(events) !== null) ? events : null), 'job.succeeded of every job', 60_000);
  for (const job of jobs) checkJobEvents(job, all);
  const successor = await relayHolder('job-log');
  assert.notEqual(successor.name, victim.name);
  // It resumed from the victim's saved cursor, not from the start of the log.
  const resumed = successor.grep(/"relay":"job-log".*"msg":"log relay started"/).map((l) => Number(/"afterSeq":(\d+)/.exec(l)?.[1] ?? 0));
  assert.ok(resumed.some((seq) => seq > 0), `successor resumed after a saved seq: ${resumed.join(',')}`);
  await victim.start();
});

test('SIGKILL of the job host and relay holder right after a job succeeded: its job.succeeded is still recorded', async () => {
  const holder = await relayHolder('job-log');
  const created = await cluster.createJob({ kind: 'document.generate', input: { topic: 'Kill after success', sections: 1 } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.job.id;
  const job = await cluster.waitForJob(id, (j) => j.status === 'succeeded', 'succeeded');
  await holder.kill();
  const all = await waitForOutboundEvents(cluster.nc, hasSucceeded(id), `job.succeeded of ${id} after the kill`, 60_000);
  checkJobEvents(job, all);
  await holder.start();
});

test('SIGKILL of the outbox relay holder between member changes: every doc.member event is recorded once per id, in order', async () => {
  const docId = (await cluster.api<{ id: string }>('POST', '/v1/docs', { body: { title: 'Crash members' } })).body.id;
  const victim = await relayHolder('outbox');
  const expected: string[] = [];
  for (let i = 0; i < 8; i++) {
    if (i === 4) await victim.kill();
    assert.equal((await cluster.api('PUT', `/v1/docs/${docId}/members/${cluster.stranger.id}`, { body: { role: 'editor' } })).status, 201);
    assert.equal((await cluster.api('DELETE', `/v1/docs/${docId}/members/${cluster.stranger.id}`)).status, 204);
    expected.push('doc.member.added', 'doc.member.removed');
  }
  const members = await waitForOutboundEvents(
    cluster.nc,
    (all) => {
      const mine = all.filter((e) => e.event.orderKey === `doc:${docId}` && e.event.type.startsWith('doc.member.'));
      return mine.length >= expected.length ? mine : null;
    },
    'every member event',
    60_000,
  );
  assert.deepEqual(members.map((e) => e.event.type), expected, 'each change once, in commit order');
  assert.equal(new Set(members.map((e) => e.event.id)).size, expected.length);
  await victim.start();
});

test('SIGKILL of the doc-log relay holder with a debounce window open: the doc.updated carrying the last seq still comes', async () => {
  const docId = (await cluster.api<{ id: string }>('POST', '/v1/docs', { body: { title: 'Crash edits' } })).body.id;
  const victim = await relayHolder('doc-log');
  const client = connectCollabClient(cluster.gateways[0]!.wsUrl, encodeURIComponent(docId));
  try {
    await client.synced();
    const text = client.doc.getText('t');
    for (let i = 0; i < 3; i++) text.insert(text.length, `line ${i}\n`);
    // The window is open (1 s) when its relay dies; the successor re-reads it from the saved cursor.
    await victim.kill();
    const jsm = await jetstreamManager(cluster.nc);
    // The edits reach the log asynchronously: each probe compares with the log's last seq of the moment.
    const updated = await waitFor(async () => {
      const lastSeq = (await jsm.streams.getMessage(DOC_LOG_STREAM, { last_by_subj: docLogSubject(parseActorId(docId)) }))?.seq;
      const mine = (await readOutboundEvents(cluster.nc)).filter((e) => e.event.orderKey === `doc:${docId}` && e.event.type === 'doc.updated');
      return lastSeq !== undefined && mine.some((e) => e.event.data.seq === lastSeq) ? mine : null;
    }, { what: 'doc.updated with the log\'s last seq after the kill', timeoutMs: 60_000, intervalMs: 200 });
    const seqs = updated.map((e) => Number(e.event.data.seq));
    assert.deepEqual([...seqs].sort((a, b) => a - b), seqs, 'in log order');
    assert.equal(new Set(updated.map((e) => e.event.id)).size, updated.length);
  } finally {
    client.destroy();
    await victim.start();
  }
});
