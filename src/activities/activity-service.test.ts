/**
 * ActivityService's bounds on a real nats-server: at most `maxInFlight`
 * worker messages are forwarded to job actors at once, and of them at most
 * `maxClaimsInFlight` claims, with the last tenth of the bound kept for
 * heartbeats; the rest are answered `mailbox-full` at once
 * and never reach a job, and a completion refused so is sent again by
 * ActivityWorker and applied once. The job actors are a
 * stand-in on their command subjects that holds its answers (slow actors)
 * and takes the first completion of a task, as the job actor does (the
 * real actor's first-wins rule is covered by the job engine's tests).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { connect, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { pino } from 'pino';
import { requestIdFor } from '../../actors/ports/index.ts';
import {
  ACTIVITY_CLAIM_SUBJECT,
  ACTIVITY_COMPLETE_SUBJECT,
  ACTIVITY_HEARTBEAT_SUBJECT,
  ACTIVITY_VERSION,
  activityReply,
  activityTaskSubject,
  decodeActivityComplete,
  decodeActivityReply,
  encodeActivity,
  type ActivityTask,
} from '../../protocol/activity.ts';
import { replyError } from '../../protocol/reply.ts';
import { createRootLogger, type Logger } from '../log.ts';
import { registry } from '../metrics/index.ts';
import { fromNatsHeaders } from '../nats/headers.ts';
import { ActorClient } from '../placement/actor-client.ts';
import { parsePrometheusText, startNatsServer, waitFor, type NatsServerHandle } from '../testing/index.ts';
import { ActivityService, heartbeatReserve } from './activity-service.ts';
import { provisionActivities } from './provision.ts';
import { ActivityWorker, type ActivityContext, type TaskEvent } from './worker.ts';

const log = createRootLogger({ level: 'silent', instanceId: 'test' });
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

/**
 * Job actors that answer heartbeats at once (or hold them, with `holdHeartbeats`), hold completions while
 * `holding` (claims while `holdingClaims`), and take the first completion of a task.
 */
function standInJobs(opts: { holdClaims?: boolean; holdHeartbeats?: boolean } = {}): {
  held: Msg[];
  heldClaims: Msg[];
  heldHeartbeats: Msg[];
  holding: boolean;
  holdingClaims: boolean;
  arrivals: Map<string, number>;
  release(): void;
  sub: Subscription;
} {
  const taken = new Set<string>();
  const answer = (msg: Msg) => {
    const done = decodeActivityComplete(msg.data);
    const first = !taken.has(done.taskId);
    taken.add(done.taskId);
    msg.respond(activityReply(first, first ? null : 'completed already').body);
  };
  const jobs = {
    held: [] as Msg[],
    heldClaims: [] as Msg[],
    heldHeartbeats: [] as Msg[],
    holding: true,
    holdingClaims: opts.holdClaims === true,
    arrivals: new Map<string, number>(),
    release() {
      jobs.holding = false;
      jobs.holdingClaims = false;
      for (const msg of jobs.held.splice(0)) answer(msg);
      for (const msg of jobs.heldClaims.splice(0)) msg.respond(activityReply(true).body);
      for (const msg of jobs.heldHeartbeats.splice(0)) msg.respond(activityReply(true).body);
    },
    sub: nc.subscribe('actor.job.*.*', {
      callback: (_err, msg) => {
        if (msg.subject.endsWith('.activity-claim') && jobs.holdingClaims) {
          jobs.heldClaims.push(msg);
          return;
        }
        if (msg.subject.endsWith('.activity-heartbeat') && opts.holdHeartbeats === true && jobs.holding) {
          jobs.heldHeartbeats.push(msg);
          return;
        }
        if (!msg.subject.endsWith('.activity-complete')) {
          msg.respond(activityReply(true).body);
          return;
        }
        const taskId = decodeActivityComplete(msg.data).taskId;
        jobs.arrivals.set(taskId, (jobs.arrivals.get(taskId) ?? 0) + 1);
        if (jobs.holding) jobs.held.push(msg);
        else answer(msg);
      },
    }),
  };
  return jobs;
}

function startService(maxInFlight: number, maxClaimsInFlight = maxInFlight): ActivityService {
  const service = new ActivityService(nc, new ActorClient(nc, { requestTimeoutMs: 20_000, deadlineMs: 30_000, log }), log, { maxInFlight, maxClaimsInFlight });
  service.start();
  return service;
}

function ids(jobId: string) {
  return { v: ACTIVITY_VERSION, taskId: requestIdFor(jobId, 'fetch', 1), jobId, step: 'fetch', attempt: 1, workerId: 'w-1' } as const;
}

/** `accepted`, `stale` or the error code of a worker's request. */
async function ask(subject: string, body: Uint8Array): Promise<string> {
  const msg = await nc.request(subject, body, { timeout: 20_000 });
  const err = replyError({ headers: fromNatsHeaders(msg.headers), body: msg.data });
  if (err !== null) return `${err.code}${err.retryable ? ' (retryable)' : ''}`;
  return decodeActivityReply(msg.data).accepted ? 'accepted' : 'stale';
}

const complete = (jobId: string) => ask(ACTIVITY_COMPLETE_SUBJECT, encodeActivity({ ...ids(jobId), outcome: { ok: true, output: { jobId } } }));
const claim = (jobId: string) => ask(ACTIVITY_CLAIM_SUBJECT, encodeActivity(ids(jobId)));
const heartbeat = (jobId: string) => ask(ACTIVITY_HEARTBEAT_SUBJECT, encodeActivity({ ...ids(jobId), progress: { at: 'half' } }));

/** loom_activity_messages_refused_total for one command and bound, as /metrics shows it. */
async function refusedCount(command: string, bound: string): Promise<number> {
  return parsePrometheusText(await registry.metrics()).sum('loom_activity_messages_refused_total', { command, bound });
}

/**
 * An ActivityWorker on `queue` whose handler waits for `go()` (then runs `afterGate`), with one task published
 * for job `jobId`: `running()` says when it was claimed and started, `events` what the worker reported.
 */
async function gatedWorker(opts: { queue: string; jobId: string; log: Logger; afterGate?: (ctx: ActivityContext) => Promise<void>; requestTimeoutMs?: number }) {
  let go: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (go = resolve));
  let started = false;
  const worker = new ActivityWorker({
    nc,
    jsm,
    presence,
    queue: opts.queue,
    workerId: `${opts.queue}-worker`,
    heartbeatMs: 600_000,
    ...(opts.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: opts.requestTimeoutMs }),
    log: opts.log,
    handler: async (_task, ctx) => {
      started = true;
      await gate;
      await opts.afterGate?.(ctx);
      return { done: true };
    },
  });
  const events: TaskEvent[] = [];
  worker.onTask((e) => events.push(e));
  await worker.start();
  const { jobId, queue } = opts;
  const task: ActivityTask = { v: ACTIVITY_VERSION, taskId: requestIdFor(jobId, 'fetch', 1), jobId, step: 'fetch', attempt: 1, queue, input: {}, startToCloseMs: 60_000, heartbeatTimeoutMs: null, enqueuedAt: Date.now() };
  await jetstream(nc).publish(activityTaskSubject(queue, 'batch'), encodeActivity(task), { msgID: task.taskId });
  await waitFor(() => started, { what: 'the task claimed and running' });
  return { worker, events, task, go };
}

test('past its bound a completion is refused mailbox-full at once and never reaches its job; sent again later it is applied once', { timeout: 30_000 }, async () => {
  const jobs = standInJobs();
  // Four slots, the last kept for heartbeats: three completions at once.
  const service = startService(4);
  assert.equal(service.heartbeatReserve, 1);
  await nc.flush();
  const ids = ['job-b1', 'job-b2', 'job-b3', 'job-b4', 'job-b5'];
  // One connection keeps their order: the first three are forwarded and held by the slow jobs.
  const answers = ids.map((id) => complete(id));
  const refused = await Promise.all(answers.slice(3));
  assert.deepEqual(refused, ['mailbox-full (retryable)', 'mailbox-full (retryable)']);
  await waitFor(() => jobs.held.length === 3, { what: 'three completions held by the jobs' });
  assert.equal(service.forwarding, 3, 'the bound holds');
  assert.deepEqual([...jobs.arrivals.keys()], ids.slice(0, 3).map((id) => requestIdFor(id, 'fetch', 1)), 'the refused never reached a job');

  jobs.release();
  assert.deepEqual(await Promise.all(answers.slice(0, 3)), ['accepted', 'accepted', 'accepted']);
  await waitFor(() => service.forwarding === 0, { what: 'the service to hold nothing' });
  // Sent again by their workers, the refused two are taken now, each once.
  assert.deepEqual(await Promise.all(ids.slice(3).map((id) => complete(id))), ['accepted', 'accepted']);
  assert.deepEqual([...jobs.arrivals.values()], [1, 1, 1, 1, 1]);
  await service.stop();
  jobs.sub.unsubscribe();
});

test('ActivityWorker sends a completion refused mailbox-full again until it is taken, and it is applied once', { timeout: 60_000 }, async () => {
  const queue = 'bound-test';
  const jobs = standInJobs();
  const service = startService(1);
  await nc.flush();
  const sends = new Map<string, number>();
  // A plain (not queue-group) subscriber sees every completion a worker sends, refused or not.
  const spy = nc.subscribe(ACTIVITY_COMPLETE_SUBJECT, {
    callback: (_err, msg) => {
      const taskId = decodeActivityComplete(msg.data).taskId;
      sends.set(taskId, (sends.get(taskId) ?? 0) + 1);
    },
  });
  const { worker, events, task, go } = await gatedWorker({ queue, jobId: 'job-bound-1', log });

  // Another worker's completion, held by a slow job, fills the service's one slot.
  const blocker = complete('job-bound-blocker');
  await waitFor(() => jobs.held.length === 1 && service.forwarding === 1, { what: 'the service at its bound' });
  go();
  await waitFor(() => (sends.get(task.taskId) ?? 0) >= 2, { what: 'the refused completion sent again' });
  assert.equal(jobs.arrivals.get(task.taskId), undefined, 'no refused send reached the job');

  jobs.release();
  assert.equal(await blocker, 'accepted');
  await waitFor(() => events.some((e) => e.type === 'completed'), { what: "the worker's completion taken" });
  await worker.stop();
  const completed = events.filter((e) => e.type === 'completed');
  assert.deepEqual(completed, [{ type: 'completed', taskId: task.taskId, accepted: true, ok: true, reason: null }]);
  assert.equal(jobs.arrivals.get(task.taskId), 1, 'the job saw the completion once');
  spy.unsubscribe();
  await service.stop();
  jobs.sub.unsubscribe();
});

test('with claims at their own bound, a heartbeat and a completion are still forwarded and accepted; the refusal is counted by kind and bound', { timeout: 30_000 }, async () => {
  const jobs = standInJobs({ holdClaims: true });
  jobs.holding = false; // completions are answered at once; only claims are held
  const service = startService(4, 2);
  await nc.flush();
  const claimsRefusedBefore = await refusedCount('activity-claim', 'claims');
  const claims = ['job-s1', 'job-s2'].map((id) => claim(id));
  await waitFor(() => jobs.heldClaims.length === 2, { what: 'two claims held by slow jobs' });
  assert.equal(await claim('job-s3'), 'mailbox-full (retryable)', 'a third claim is past the claim bound');
  assert.equal(await refusedCount('activity-claim', 'claims'), claimsRefusedBefore + 1);

  // The claims saturate their bound, not the service's: heartbeats and completions go through.
  assert.equal(await heartbeat('job-s1'), 'accepted');
  assert.equal(await complete('job-s2'), 'accepted');
  assert.equal(jobs.arrivals.get(requestIdFor('job-s2', 'fetch', 1)), 1, 'the completion reached its job');
  assert.equal(service.forwarding, 2, 'only the held claims are in flight');

  jobs.release();
  assert.deepEqual(await Promise.all(claims), ['accepted', 'accepted']);
  await service.stop();
  jobs.sub.unsubscribe();
});

test('completions leave the heartbeat reserve free: a heartbeat still goes through; past the whole bound a heartbeat is refused too', { timeout: 30_000 }, async () => {
  const jobs = standInJobs({ holdHeartbeats: true });
  const service = startService(2, 1);
  await nc.flush();
  const completionsBefore = await refusedCount('activity-complete', 'heartbeat-reserve');
  const heartbeatsBefore = await refusedCount('activity-heartbeat', 'all');
  const held = complete('job-a1');
  await waitFor(() => jobs.held.length === 1, { what: 'a completion held by a slow job' });
  // The one slot left is the heartbeats': a second completion is refused, a heartbeat is forwarded.
  assert.equal(await complete('job-a2'), 'mailbox-full (retryable)');
  assert.equal(await refusedCount('activity-complete', 'heartbeat-reserve'), completionsBefore + 1);
  const beat = heartbeat('job-a3');
  await waitFor(() => jobs.heldHeartbeats.length === 1, { what: 'the heartbeat forwarded and held' });
  assert.equal(service.forwarding, 2);
  assert.equal(await heartbeat('job-a4'), 'mailbox-full (retryable)');
  assert.equal(await refusedCount('activity-heartbeat', 'all'), heartbeatsBefore + 1);
  jobs.release();
  assert.deepEqual(await Promise.all([held, beat]), ['accepted', 'accepted']);
  assert.equal(jobs.arrivals.get(requestIdFor('job-a2', 'fetch', 1)), undefined, 'the refused completion never reached its job');
  await service.stop();
  jobs.sub.unsubscribe();
});

test('ActivityWorker stopped while no activity service answers keeps sending its completion through the drain, and stop() waits for it', { timeout: 60_000 }, async () => {
  const queue = 'drain-test';
  const jobs = standInJobs();
  jobs.holding = false;
  let service = startService(8);
  await nc.flush();
  // The spy below is a subscriber that never answers: each send waits out this timeout.
  const { worker, events, task, go } = await gatedWorker({ queue, jobId: 'job-drain-1', log, requestTimeoutMs: 300 });
  await service.stop();
  await nc.flush();
  const sends: number[] = [];
  const spy = nc.subscribe(ACTIVITY_COMPLETE_SUBJECT, { callback: () => void sends.push(Date.now()) });
  go();
  await waitFor(() => sends.length >= 1, { what: 'the completion sent, unanswered' });
  // The worker is told to stop while Loom is away: its completion is not given up.
  let stopped = false;
  const stopping = worker.stop().then(() => (stopped = true));
  await waitFor(() => sends.length >= 3, { what: 'the completion sent again after stop()' });
  assert.equal(stopped, false, 'stop() waits for the completion');
  service = startService(8);
  await stopping;
  assert.deepEqual(events.filter((e) => e.type === 'completed'), [{ type: 'completed', taskId: task.taskId, accepted: true, ok: true, reason: null }]);
  assert.equal(jobs.arrivals.get(task.taskId), 1, 'the job saw the completion once');
  spy.unsubscribe();
  await service.stop();
  jobs.sub.unsubscribe();
});

test('the heartbeat reserve is a tenth of the bound, at least one slot, and none for a bound of one', () => {
  assert.deepEqual([1, 2, 9, 10, 19, 20, 256].map(heartbeatReserve), [0, 1, 1, 1, 1, 2, 25]);
});

test('ActivityWorker sends a completion again while no activity service answers; once one is back the job applies it once, and the lost heartbeat is logged', { timeout: 60_000 }, async () => {
  const queue = 'absent-test';
  const jobs = standInJobs();
  jobs.holding = false;
  let service = startService(8);
  await nc.flush();
  // The worker's log lines, read back: a heartbeat or completion Loom could not take must be said, with the task's ids.
  const lines: Array<Record<string, unknown>> = [];
  const workerLog = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const jobId = 'job-absent-1';
  const { worker, events, task, go } = await gatedWorker({ queue, jobId, log: workerLog, afterGate: (ctx) => ctx.heartbeat({ stage: 'done' }) });

  // The actors hosts go away (a restart): nobody subscribes to activity.* while the task finishes.
  await service.stop();
  await nc.flush();
  go();
  const said = (msg: string) => lines.find((l) => l.msg === msg && l.jobId === jobId && l.step === 'fetch' && l.attempt === 1 && l.code === 'unavailable');
  await waitFor(() => said('heartbeat not taken; the next one will do') !== undefined, { what: 'the unanswered heartbeat logged with its task' });
  await waitFor(() => said('completion not taken yet; sending it again') !== undefined, { what: 'the unanswered completion logged and kept' });
  assert.equal(jobs.arrivals.get(task.taskId), undefined, 'nothing reached the job while no service ran');
  assert.deepEqual(events.filter((e) => e.type === 'completed'), [], 'the completion is not given up');

  // The hosts are back: the completion is taken, once.
  service = startService(8);
  await waitFor(() => events.some((e) => e.type === 'completed'), { what: "the worker's completion taken after the restart" });
  assert.deepEqual(events.filter((e) => e.type === 'completed'), [{ type: 'completed', taskId: task.taskId, accepted: true, ok: true, reason: null }]);
  assert.equal(jobs.arrivals.get(task.taskId), 1, 'the job saw the completion once');
  assert.ok(lines.some((l) => l.msg === 'completion delivered after Loom could not take it' && l.jobId === jobId));
  assert.equal(lines.filter((l) => l.level === 50).length, 0, `no error logged: ${JSON.stringify(lines.filter((l) => l.level === 50))}`);
  await worker.stop();
  await service.stop();
  jobs.sub.unsubscribe();
});
