/**
 * ActivityWorker against a real nats-server, with a stand-in for Loom's
 * activity service that accepts claims at once but holds its answers to
 * completions: a slot is freed when the handler ends, so with concurrency
 * 1 the next task runs while the previous completion still waits for
 * Loom's answer (it waited for that answer before).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { ACTIVITY_CLAIM_SUBJECT, ACTIVITY_COMPLETE_SUBJECT, ACTIVITY_VERSION, activityReply, activityTaskSubject, encodeActivity, type ActivityTask } from '../../protocol/activity.ts';
import { createRootLogger } from '../log.ts';
import { startNatsServer, type NatsServerHandle } from '../testing/index.ts';
import { provisionActivities } from './provision.ts';
import { ActivityWorker } from './worker.ts';

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
