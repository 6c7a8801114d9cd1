/**
 * Service activities end to end: job hosts and service workers are separate
 * OS processes on a real nats-server and PostgreSQL. Completions are counted
 * at the workers (a completion is "accepted" when Loom's reply says so).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Kvm } from '@nats-io/kv';
import { ACTIVITY_COMPLETE_SUBJECT, ACTIVITY_HEARTBEAT_SUBJECT, ACTIVITY_VERSION, WORKER_PRESENCE_BUCKET, workerPresenceKey } from '../../protocol/activity.ts';
import { modelToToken } from '../../protocol/inference.ts';
import { HEADERS } from '../../protocol/headers.ts';
import { parseActorId } from '../../protocol/ids.ts';
import { jobStepsReplySchema, type JobView } from '../../protocol/job.ts';
import { encodeJson } from '../../protocol/reply.ts';
import { OWNER_BUCKET, leaseKey } from '../../protocol/subjects.ts';
import { startActivityCluster, type ActivityCluster } from '../testing/activity-fixture.ts';
import { gateSubject, MODEL_TEST_KIND } from '../testing/service-test-pipeline.ts';
import { waitFor } from '../testing/index.ts';

let cluster: ActivityCluster;

before(async () => {
  cluster = await startActivityCluster({ hosts: 2, workers: 2 });
});
after(async () => {
  await cluster?.stop();
});

const ended = (j: JobView) => ['succeeded', 'failed', 'cancelled', 'rejected'].includes(j.status);
const accepted = (id: string) => cluster.events(id).filter((e) => e.task === 'completed' && e.accepted === true);

test('a service step: a worker claims the task, completes it once, and the next step reads its output', async () => {
  const id = await cluster.startJob({ behave: 'echo', value: 'hello' });
  const done = await cluster.waitForJob(id, ended, 'to end');
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  assert.equal((done.output as { saw: { echoed: string } }).saw.echoed, 'hello');
  const work = done.steps.find((s) => s.id === 'work');
  assert.equal(work?.activity, 'service');
  assert.equal(work?.attempt, 1);
  await waitFor(() => accepted(id).length === 1, { what: 'the worker to log its accepted completion' });
  assert.deepEqual(
    cluster.events(id).filter((e) => e.task === 'completed').map((e) => [e.taskId, e.accepted]),
    [[`${id}.work.1`, true]],
  );
});

test('a retryable failure is retried as a new attempt, which succeeds', async () => {
  const id = await cluster.startJob({ behave: 'fail-first-attempt', value: 'again' });
  const done = await cluster.waitForJob(id, ended, 'to end');
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  const work = done.steps.find((s) => s.id === 'work');
  assert.equal(work?.attempt, 2);
  assert.equal((done.output as { saw: { attempt: number } }).saw.attempt, 2);
  await waitFor(() => accepted(id).length === 2, { what: 'both completions logged' });
  // Lines are gathered worker by worker, so order them by attempt.
  assert.deepEqual(accepted(id).map((e) => [e.taskId, e.ok]).sort(), [
    [`${id}.work.1`, false],
    [`${id}.work.2`, true],
  ]);
});

test('a terminal failure fails the step at once and the job with it', async () => {
  const id = await cluster.startJob({ behave: 'fail-terminal', value: 'poison' });
  const done = await cluster.waitForJob(id, ended, 'to end');
  assert.equal(done.status, 'failed');
  assert.equal(done.error?.code, 'bad-input');
  assert.match(done.error?.message ?? '', /terminal/);
  const work = done.steps.find((s) => s.id === 'work');
  assert.equal(work?.status, 'failed');
  assert.equal(work?.attempt, 1, 'not retried');
  assert.equal(done.steps.some((s) => s.id === 'after'), false, 'the next step never started');
});

test('SIGKILL of the worker mid-task: after the heartbeat timeout another worker completes it, accepted exactly once', async () => {
  const id = await cluster.startJob({ behave: 'slow', value: 'survivor', ms: 3_000, heartbeatTimeoutMs: 1_500 });
  let victimName = '';
  await waitFor(
    () => {
      victimName = cluster.events(id).find((e) => e.task === 'working')?.workerId ?? '';
      return victimName !== '';
    },
    { what: 'a worker to start the task', timeoutMs: 30_000 },
  );
  const victim = cluster.workers.find((w) => w.name === victimName);
  assert.ok(victim, victimName);
  await victim.kill();
  await cluster.startWorker(`${victimName}-b`);

  const done = await cluster.waitForJob(id, ended, 'to end after the worker died');
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  const work = done.steps.find((s) => s.id === 'work');
  assert.equal(work?.attempt, 2, 'the silent attempt failed and the retry ran elsewhere');
  await waitFor(() => accepted(id).length >= 1, { what: 'the completion logged' });
  const completions = accepted(id);
  assert.equal(completions.length, 1, JSON.stringify(completions));
  assert.notEqual(completions[0]?.workerId, victimName);
  assert.equal(completions[0]?.taskId, `${id}.work.2`);
});

test('SIGKILL of the job host while its task runs: the job goes on elsewhere, one completion accepted, no second run', async () => {
  const id = await cluster.startJob({ behave: 'slow', value: 'orphan', ms: 4_000, heartbeatTimeoutMs: 2_000 });
  await waitFor(() => cluster.events(id).some((e) => e.task === 'working'), { what: 'a worker to start the task', timeoutMs: 30_000 });
  const kv = await new Kvm(cluster.nc).open(OWNER_BUCKET);
  const entry = await kv.get(leaseKey('job', parseActorId(id)));
  const holder = entry === null ? '' : (JSON.parse(new TextDecoder().decode(entry.value)) as { host: string }).host;
  const victim = cluster.hosts.find((h) => h.name === holder);
  assert.ok(victim, `the lease names a host: ${holder}`);
  await victim.kill();

  const done = await cluster.waitForJob(id, ended, 'to end after its host died');
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  await waitFor(() => accepted(id).length >= 1, { what: 'the completion logged' });
  assert.equal(accepted(id).length, 1);
  assert.equal(cluster.events(id).filter((e) => e.task === 'working').length, 1, 'the task ran once: the restarted job did not hand it out again');
  assert.equal(done.steps.find((s) => s.id === 'work')?.attempt, 1);
  await cluster.startHost(`${holder}-b`);
});

test('the actors hosts restart while a task finishes: the worker sends its completion until a host is back, and the job takes it once', async () => {
  const id = await cluster.startJob({ behave: 'gated', value: 'through-restart' });
  await waitFor(() => cluster.events(id).some((e) => e.task === 'working'), { what: 'a worker to start the task', timeoutMs: 30_000 });
  const working = cluster.events(id).find((e) => e.task === 'working');
  assert.ok(working);
  // No actors host runs, so nothing subscribes to activity.*: the worker's completion gets no responders.
  const gone = cluster.hosts.splice(0);
  await Promise.all(gone.map((h) => h.stop(5_000)));
  cluster.nc.publish(gateSubject(working.taskId), new Uint8Array(0));
  const worker = cluster.workers.find((w) => w.name === working.workerId);
  assert.ok(worker, `the worker that took it: ${working.workerId}`);
  await waitFor(() => worker.output().some((l) => l.includes('completion not taken yet') && l.includes(id)), { what: 'the worker to keep its unanswered completion' });
  assert.deepEqual(cluster.events(id).filter((e) => e.task === 'completed'), [], 'the completion is not given up');

  for (const h of gone) await cluster.startHost(`${h.name}-r`);
  const done = await cluster.waitForJob(id, ended, 'to end once the hosts are back');
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  assert.deepEqual((done.output as { saw: { echoed: string; by: string } }).saw.echoed, 'through-restart');
  await waitFor(() => accepted(id).length >= 1, { what: 'the completion answered' });
  assert.deepEqual(
    cluster.events(id).filter((e) => e.task === 'completed').map((e) => e.accepted),
    [true],
    'one completion answered, accepted',
  );
  assert.equal(cluster.events(id).filter((e) => e.task === 'working').length, 1, 'the task ran once');
  assert.equal(done.steps.find((s) => s.id === 'work')?.attempt, 1);
});

test('cancelling the job tells the worker to stop; its task is not completed', async () => {
  const id = await cluster.startJob({ behave: 'hang' });
  await waitFor(() => cluster.events(id).some((e) => e.task === 'working'), { what: 'a worker to start the task', timeoutMs: 30_000 });
  await cluster.command(id, 'cancel', { by: 'tester', reason: 'changed my mind' });
  await waitFor(() => cluster.events(id).some((e) => e.task === 'cancelled'), { what: 'the worker to hear of the cancel' });
  const view = await cluster.view(id);
  assert.equal(view.status, 'cancelled');
  assert.equal(cluster.events(id).filter((e) => e.task === 'completed').length, 0);
});

test('malformed worker messages are answered with an error naming the fault, and the job is unharmed', async () => {
  const id = await cluster.startJob({ behave: 'hang', queue: 'nobody-here' });
  await cluster.waitForJob(id, (j) => j.steps.some((s) => s.id === 'work' && s.status === 'running'), 'to run its service step');
  const ask = async (subject: string, body: Uint8Array) => {
    const reply = await cluster.nc.request(subject, body, { timeout: 10_000 });
    return { code: reply.headers?.get(HEADERS.error) ?? '', text: new TextDecoder().decode(reply.data) };
  };
  const good = { v: ACTIVITY_VERSION, taskId: `${id}.work.1`, jobId: id, step: 'work', attempt: 1, workerId: 'rogue' };
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['not JSON', new TextEncoder().encode('{nope'), /not UTF-8 JSON/],
    ['wrong version', encodeJson({ ...good, v: 9, outcome: { ok: true, output: 1 } }), /v/],
    ['missing outcome', encodeJson(good), /outcome/],
    ['bad outcome', encodeJson({ ...good, outcome: { ok: false, error: { code: '' }, retryable: 'yes' } }), /outcome/],
    ['task id of another job', encodeJson({ ...good, taskId: 'job_other.work.1', outcome: { ok: true, output: 1 } }), /does not belong/],
    ['bad worker id', encodeJson({ ...good, workerId: 'has spaces', outcome: { ok: true, output: 1 } }), /workerId/],
    ['too large', encodeJson({ ...good, outcome: { ok: true, output: 'x'.repeat(600 * 1024) } }), /more than/],
  ];
  for (const [what, body, pattern] of cases) {
    const r = await ask(ACTIVITY_COMPLETE_SUBJECT, body);
    assert.equal(r.code, 'malformed-message', `${what}: ${r.text}`);
    assert.match(r.text, pattern, what);
  }
  const beat = await ask(ACTIVITY_HEARTBEAT_SUBJECT, encodeJson({ ...good, progress: 'y'.repeat(5_000) }));
  assert.equal(beat.code, 'malformed-message');
  assert.match(beat.text, /progress/);

  // Straight to the actor, past the service's checks: the actor refuses it too, and lives on.
  await assert.rejects(cluster.client.request('job', parseActorId(id), 'activity-complete', new TextEncoder().encode('[]')), { code: 'malformed-message' });
  // A well-formed completion for an attempt that is not the current one is refused, not taken.
  const stale = await ask(ACTIVITY_COMPLETE_SUBJECT, encodeJson({ ...good, taskId: `${id}.work.2`, attempt: 2, outcome: { ok: true, output: 'late' } }));
  assert.equal(stale.code, '');
  assert.deepEqual(JSON.parse(stale.text), { v: 1, accepted: false, reason: 'attempt 2 of step work is stale (now 1)' });

  const view = await cluster.view(id);
  assert.equal(view.status, 'running');
  assert.equal(view.steps.find((s) => s.id === 'work')?.status, 'running');
  await cluster.command(id, 'cancel', { by: 'tester', reason: null });
});

test('waiting-for-worker: a job on a queue without a live worker says so, and goes on when a worker appears', async () => {
  const id = await cluster.startJob({ behave: 'slow', value: 'patient', ms: 5_000, queue: 'lonely' });
  const waiting = await cluster.waitForJob(id, (j) => j.statusDetail === 'waiting-for-worker', 'to wait for a worker');
  assert.deepEqual(waiting.waitingForWorker, [{ step: 'work', activity: 'service', queue: 'lonely' }]);
  assert.equal(waiting.status, 'running');
  const waitingPage = jobStepsReplySchema.parse(await cluster.command(id, 'steps', {}));
  assert.deepEqual(waitingPage.steps.find((s) => s.id === 'work')?.waitingForWorker, { activity: 'service', queue: 'lonely' });

  await cluster.startWorker('lonely-worker', 'lonely');
  const working = await cluster.waitForJob(id, (j) => j.statusDetail === null && j.serviceTasks.length > 0, 'to stop waiting once a worker holds it');
  assert.deepEqual(working.waitingForWorker, []);
  // The worker's first heartbeat reports progress; the view shows who holds the task and what it said.
  const held = await cluster.waitForJob(id, (j) => (j.serviceTasks[0]?.progress ?? null) !== null, 'to show the worker\'s progress (it works 5 s)');
  assert.equal(held.status, 'running');
  assert.equal(held.serviceTasks[0]?.workerId, 'lonely-worker');
  assert.deepEqual(held.serviceTasks[0]?.progress, { stage: 'started' });
  // A page of steps says the same per step (what a summarised view's lists are read from).
  const page = jobStepsReplySchema.parse(await cluster.command(id, 'steps', { offset: 0, limit: 10 }));
  const work = page.steps.find((s) => s.id === 'work');
  assert.equal(work?.serviceTask?.workerId, 'lonely-worker');
  assert.equal(work?.waitingForWorker, null);
  const done = await cluster.waitForJob(id, ended, 'to end');
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  // The worker logs its completion once Loom's answer reaches it, which may be after the job ended.
  await waitFor(() => accepted(id).length >= 1, { what: 'the completion logged' });
  assert.equal(accepted(id).length, 1);
});

test('waiting-for-worker on a model: a model call nobody serves says so until an inference node announces the model', async () => {
  const id = await cluster.startJob({ question: 'anyone there?' }, MODEL_TEST_KIND);
  const waiting = await cluster.waitForJob(id, (j) => j.statusDetail === 'waiting-for-worker', 'to wait for an inference worker');
  assert.deepEqual(waiting.waitingForWorker, [{ step: 'ask', activity: 'inference', queue: 'test-model' }]);
  // What an inference node's presence beacon puts (src/inference/role.ts); no node is started, so the call stays queued.
  const presence = await new Kvm(cluster.nc).open(WORKER_PRESENCE_BUCKET);
  await presence.put(workerPresenceKey('inference', modelToToken('test-model'), 'gpu-node-1'), new Uint8Array(0));
  const served = await cluster.waitForJob(id, (j) => j.statusDetail === null, 'to stop waiting once the model has a live worker');
  assert.deepEqual(served.waitingForWorker, []);
  assert.equal(served.status, 'running');
  await cluster.command(id, 'cancel', { by: 'tester', reason: null });
});

test('the plain nats.js worker of PROTOCOL.md §17 serves a queue with nothing from Loom', async () => {
  const plain = await cluster.startPlainWorker('plain-worker', 'plain');
  const id = await cluster.startJob({ behave: 'echo', value: 'shout', queue: 'plain' });
  const done = await cluster.waitForJob(id, ended, 'to end');
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  assert.deepEqual((done.output as { saw: unknown }).saw, { text: 'SHOUT' });
  await waitFor(() => plain.output().some((l) => l.includes(`"taskId":"${id}.work.1","accepted":true`)), { what: 'the plain worker to log its accepted completion' });
});

test('the plain worker of PROTOCOL.md §17 keeps its completion while no actors host runs, and the job takes it once', async () => {
  const plain = await cluster.startPlainWorker('plain-restart-worker', 'plain-restart');
  const id = await cluster.startJob({ behave: 'gated', value: 'late', queue: 'plain-restart' });
  await waitFor(() => plain.output().some((l) => l.includes('"plain":"working","value":"late"')), { what: 'the plain worker to start the task', timeoutMs: 30_000 });
  const gone = cluster.hosts.splice(0);
  await Promise.all(gone.map((h) => h.stop(5_000)));
  cluster.nc.publish('test.gate.plain.late', new Uint8Array(0));
  await waitFor(() => plain.output().some((l) => l.includes('"completion":"not taken yet"')), { what: 'the plain worker to keep its unanswered completion' });

  for (const h of gone) await cluster.startHost(`${h.name}-p`);
  const done = await cluster.waitForJob(id, ended, 'to end once the hosts are back');
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  assert.deepEqual((done.output as { saw: unknown }).saw, { text: 'LATE' });
  await waitFor(() => plain.output().some((l) => l.includes(`"taskId":"${id}.work.1"`)), { what: 'the plain worker to log its completion' });
  assert.deepEqual(
    plain.output().filter((l) => l.includes(`"plain":"completed","taskId":"${id}.work.1"`)),
    [JSON.stringify({ plain: 'completed', taskId: `${id}.work.1`, accepted: true })],
  );
  assert.equal(done.steps.find((s) => s.id === 'work')?.attempt, 1);
});
