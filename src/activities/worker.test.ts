/**
 * ActivityWorker against a real nats-server, with a stand-in for Loom's
 * activity service that accepts claims at once but holds its answers to
 * completions: a slot is freed when the handler ends, so with concurrency
 * 1 the next task runs while the previous completion still waits for
 * Loom's answer (it waited for that answer before). Stand-ins that answer
 * late or not at all show a completion sent again until answered, and
 * stop() ending that.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import {
  ACTIVITY_CLAIM_SUBJECT,
  ACTIVITY_COMPLETE_SUBJECT,
  ACTIVITY_VERSION,
  activityReply,
  activityTaskSubject,
  decodeActivityComplete,
  encodeActivity,
  type ActivityComplete,
  type ActivityTask,
} from '../../protocol/activity.ts';
import { createRootLogger } from '../log.ts';
import { startNatsServer, waitFor, type NatsServerHandle } from '../testing/index.ts';
import { provisionActivities } from './provision.ts';
import { ActivityWorker, type TaskEvent } from './worker.ts';

const log = createRootLogger({ level: 'silent', instanceId: 'test' });
const QUEUE = 'slot-test';
let server: NatsServerHandle;
let nc: NatsConnection;
let jsm: JetStreamManager;
let presence: KV;

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
  presence = await provisionActivities(nc, jsm, log);
});

after(async () => {
  await nc.close();
  await server.dispose();
});

function task(n: number): ActivityTask {
  return { v: ACTIVITY_VERSION, taskId: `job-${n}.fetch.1`, jobId: `job-${n}`, step: 'fetch', attempt: 1, queue: QUEUE, input: { n }, startToCloseMs: 60_000, heartbeatTimeoutMs: null, enqueuedAt: Date.now() };
}

test('a slot is freed when the handler ends: the next task runs while the completion waits for Loom', { timeout: 30_000 }, async () => {
  const accepted = activityReply(true).body;
  const heldCompletions: Msg[] = [];
  let holding = true;
  const claims = nc.subscribe(ACTIVITY_CLAIM_SUBJECT, {
    callback: (_err, msg) => {
      msg.respond(accepted);
    },
  });
  const completions = nc.subscribe(ACTIVITY_COMPLETE_SUBJECT, {
    callback: (_err, msg) => {
      if (holding) heldCompletions.push(msg);
      else msg.respond(accepted);
    },
  });
  await nc.flush();

  const started: number[] = [];
  let secondStarted: () => void = () => {};
  const second = new Promise<void>((resolve) => (secondStarted = resolve));
  const worker = new ActivityWorker({
    nc,
    jsm,
    presence,
    queue: QUEUE,
    workerId: 'slot-worker',
    concurrency: 1,
    // Longer than the test waits: with the old slot rule the second task could only start once this ran out.
    requestTimeoutMs: 120_000,
    log,
    handler: async (t) => {
      const n = (t.input as { n: number }).n;
      started.push(n);
      if (started.length === 2) secondStarted();
      return { n };
    },
  });
  await worker.start();
  const js = jetstream(nc);
  for (const n of [1, 2]) await js.publish(activityTaskSubject(QUEUE, 'batch'), encodeActivity(task(n)), { msgID: task(n).taskId });

  await second;
  assert.deepEqual(started, [1, 2]);
  // The first completion was sent and is still unanswered: the slot did not wait for it.
  assert.ok(heldCompletions.length >= 1, 'the first completion reached Loom');

  holding = false;
  for (const msg of heldCompletions) msg.respond(accepted);
  await worker.stop();
  claims.unsubscribe();
  completions.unsubscribe();
});

test('a completion Loom would refuse is not sent as it is: long errors are cut, unsendable outputs become a terminal invalid-output', { timeout: 30_000 }, async () => {
  const queue = 'fit-test';
  const accepted = activityReply(true).body;
  // The stand-in decodes completions as Loom's activity service does; before, these three were malformed and never recorded.
  const got = new Map<string, ActivityComplete | string>();
  const claims = nc.subscribe(ACTIVITY_CLAIM_SUBJECT, {
    callback: (_err, msg) => {
      msg.respond(accepted);
    },
  });
  const completions = nc.subscribe(ACTIVITY_COMPLETE_SUBJECT, {
    callback: (_err, msg) => {
      try {
        const done = decodeActivityComplete(msg.data);
        got.set(done.jobId, done);
      } catch (err) {
        got.set((JSON.parse(new TextDecoder().decode(msg.data)) as { jobId: string }).jobId, (err as Error).message);
      }
      msg.respond(accepted);
    },
  });
  await nc.flush();
  const worker = new ActivityWorker({
    nc,
    jsm,
    presence,
    queue,
    workerId: 'fit-worker',
    concurrency: 3,
    log,
    handler: async (t) => {
      const n = (t.input as { n: number }).n;
      if (n === 1) throw new Error(`build failed:\n${'error: x\n'.repeat(2_000)}`);
      if (n === 2) return { log: 'x'.repeat(600 * 1024) };
      return { text: 'nul \u0000 here' };
    },
  });
  await worker.start();
  const js = jetstream(nc);
  for (const n of [1, 2, 3]) {
    const t = { ...task(n), queue, taskId: `job-fit-${n}.fetch.1`, jobId: `job-fit-${n}` };
    await js.publish(activityTaskSubject(queue, 'batch'), encodeActivity(t), { msgID: t.taskId });
  }
  await waitFor(() => got.size === 3, { what: 'three completions' });
  await worker.stop();
  claims.unsubscribe();
  completions.unsubscribe();

  const outcome = (jobId: string) => {
    const done = got.get(jobId);
    assert.ok(typeof done === 'object', `${jobId}: Loom would refuse it: ${String(done)}`);
    return done.outcome;
  };
  const failed = outcome('job-fit-1');
  assert.ok(!failed.ok && failed.error.code === 'worker-error' && failed.retryable);
  assert.equal(failed.error.message.length, 4_000);
  assert.ok(failed.error.message.startsWith('build failed:'));
  for (const [jobId, why] of [['job-fit-2', /more than 524288/], ['job-fit-3', /outcome\.output\.text must not contain NUL/]] as const) {
    const o = outcome(jobId);
    assert.ok(!o.ok && o.error.code === 'invalid-output' && !o.retryable, JSON.stringify(o));
    assert.match(o.error.message, why);
  }
});

/** A worker on `queue` whose handler returns at once, logging into `lines`, with claims answered `accepted` by a stand-in. */
async function loggedWorker(queue: string, requestTimeoutMs: number, completionDrainMs?: number) {
  const lines: Array<Record<string, unknown>> = [];
  const claims = nc.subscribe(ACTIVITY_CLAIM_SUBJECT, { callback: (_err, msg) => void msg.respond(activityReply(true).body) });
  await nc.flush();
  const connections = { nc, jsm, presence };
  const worker = new ActivityWorker({
    ...connections,
    queue,
    workerId: `${queue}-worker`,
    requestTimeoutMs,
    ...(completionDrainMs === undefined ? {} : { completionDrainMs }),
    log: pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }),
    handler: async () => ({ done: true }),
  });
  const events: TaskEvent[] = [];
  worker.onTask((e) => events.push(e));
  await worker.start();
  const t = { ...task(7), queue, taskId: `job-${queue}.fetch.1`, jobId: `job-${queue}` };
  await jetstream(nc).publish(activityTaskSubject(queue, 'batch'), encodeActivity(t), { msgID: t.taskId });
  const said = (msg: string) => lines.find((l) => l.msg === msg && l.jobId === t.jobId && l.step === 'fetch' && l.attempt === 1);
  return { worker, events, task: t, said, stopClaims: () => claims.unsubscribe() };
}

test('a completion without an answer in time is sent again, and the first answer ends the sending', { timeout: 30_000 }, async () => {
  const queue = 'timeout-test';
  // Loom took the first copy but its answer was lost: only later copies are answered.
  let arrivals = 0;
  const completions = nc.subscribe(ACTIVITY_COMPLETE_SUBJECT, {
    callback: (_err, msg) => {
      if (decodeActivityComplete(msg.data).jobId !== `job-${queue}`) return;
      arrivals++;
      if (arrivals > 1) msg.respond(activityReply(false, 'step fetch is succeeded').body);
    },
  });
  const w = await loggedWorker(queue, 2_000);
  await waitFor(() => w.events.some((e) => e.type === 'completed'), { what: 'the completion answered' });
  assert.equal(w.said('completion not taken yet; sending it again')?.code, 'timeout');
  assert.deepEqual(w.events.filter((e) => e.type === 'completed'), [{ type: 'completed', taskId: w.task.taskId, accepted: false, ok: true, reason: 'step fetch is succeeded' }]);
  await w.worker.stop();
  assert.equal(arrivals, 2, 'sent until answered, then no more');
  w.stopClaims();
  completions.unsubscribe();
});

test('stop() sends a completion that nothing answers for the drain, then gives it up and says it was not delivered', { timeout: 30_000 }, async () => {
  // No subscriber on activity.complete: every send gets no responders, as while the actors hosts restart.
  const w = await loggedWorker('stop-test', 10_000, 800);
  await waitFor(() => w.said('completion not taken yet; sending it again') !== undefined, { what: 'the completion kept after no responders' });
  assert.equal(w.said('completion not taken yet; sending it again')?.code, 'unavailable');
  const stopAt = performance.now();
  await w.worker.stop();
  assert.ok(performance.now() - stopAt >= 700, 'stop() kept sending through the drain');
  const given = w.said('completion not delivered: the worker stopped and Loom could not take it within the drain; the attempt times out at Loom and is retried');
  assert.ok(given, 'the loss is logged with its task');
  assert.equal(given.drainMs, 800);
  assert.deepEqual(w.events.filter((e) => e.type === 'completed'), []);
  w.stopClaims();
});

test('an idle worker pulls each priority about once per task: the queue rings once a task is stored', { timeout: 30_000 }, async () => {
  const queue = 'ring-test';
  const accepted = activityReply(true).body;
  const claims = nc.subscribe(ACTIVITY_CLAIM_SUBJECT, { callback: (_err, msg) => void msg.respond(accepted) });
  const completions = nc.subscribe(ACTIVITY_COMPLETE_SUBJECT, { callback: (_err, msg) => void msg.respond(accepted) });
  let pulls = 0;
  const pullCounter = nc.subscribe('$JS.API.CONSUMER.MSG.NEXT.LOOM_ACTIVITIES.>', { callback: () => void pulls++ });
  await nc.flush();
  const done: number[] = [];
  // No idle polls during the test: every pull answers a ring, or is the worker's first look.
  const worker = new ActivityWorker({ nc, jsm, presence, queue, workerId: 'ring-worker', concurrency: 4, idlePollMs: 60_000, log, handler: async (t) => ({ n: (t.input as { n: number }).n }) });
  worker.onTask((e) => {
    if (e.type === 'completed' && e.accepted) done.push(done.length + 1);
  });
  await worker.start();
  const js = jetstream(nc);
  const tasks = 8;
  for (let n = 1; n <= tasks; n++) {
    const t = { ...task(n), queue, taskId: `job-ring-${n}.fetch.1`, jobId: `job-ring-${n}` };
    await js.publish(activityTaskSubject(queue, n % 2 === 0 ? 'interactive' : 'batch'), encodeActivity(t), { msgID: t.taskId });
    await waitFor(() => done.length === n, { what: `task ${n} completed` });
  }
  // Two per task (interactive, then what it left asked of batch), and the first look; before the ring rule, four.
  assert.ok(pulls <= 3 * tasks, `${pulls} pulls for ${tasks} tasks`);
  await worker.stop();
  pullCounter.unsubscribe();
  claims.unsubscribe();
  completions.unsubscribe();
});
