/**
 * /readyz warns (and stays ready) while a queue holds work no live worker
 * serves; the warning goes once a worker announces itself. Real nats-server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ACTIVITY_VERSION, activityTaskSubject, encodeActivity, workerPresenceKey } from '../../protocol/activity.ts';
import { createApp } from '../http/app.ts';
import { createRootLogger } from '../log.ts';
import { provisionNats, type Provisioned } from '../nats/provision.ts';
import { startNatsServer, waitFor, type NatsServerHandle } from '../testing/index.ts';
import { WorkerPresenceWatch } from './presence.ts';
import { waitingForWorkerWarning } from './readiness.ts';

const log = createRootLogger({ level: 'silent', instanceId: 'readiness-test' });
let nats: NatsServerHandle;
let nc: NatsConnection;
let provisioned: Provisioned;
let presence: WorkerPresenceWatch;

before(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  provisioned = await provisionNats(nc, { leaseTtlMs: 3_000, logger: log });
  presence = new WorkerPresenceWatch(provisioned.workerPresence, log);
  await presence.start();
});
after(async () => {
  presence?.stop();
  await nc?.close();
  await nats?.dispose();
});

test('/readyz lists a queue with waiting tasks and no live worker as a warning, and drops it when a worker appears', async () => {
  const app = createApp({
    log,
    routes: [],
    readinessChecks: [],
    readinessWarnings: [{ name: 'waiting-for-worker', warn: () => waitingForWorkerWarning(provisioned.jsm, presence) }],
  });
  const readyz = async () => {
    const res = await app.request('/readyz');
    return { status: res.status, body: (await res.json()) as { status: string; warnings: Record<string, string> } };
  };
  assert.deepEqual((await readyz()).body.warnings, {}, 'nothing waits yet');

  const task = { v: ACTIVITY_VERSION, taskId: 'job_x.work.1', jobId: 'job_x', step: 'work', attempt: 1, queue: 'render', input: null, startToCloseMs: 1_000, heartbeatTimeoutMs: null, enqueuedAt: 0 } as const;
  await jetstream(nc).publish(activityTaskSubject('render', 'batch'), encodeActivity(task), { msgID: task.taskId });
  const warned = await readyz();
  assert.equal(warned.status, 200);
  assert.equal(warned.body.status, 'ready');
  assert.equal(warned.body.warnings['waiting-for-worker'], 'service queue render: 1 waiting, no live worker');

  await provisioned.workerPresence.put(workerPresenceKey('service', 'render', 'renderer-1'), new Uint8Array(0));
  await waitFor(async () => Object.keys((await readyz()).body.warnings).length === 0, { what: 'the warning to go once a worker is alive' });
});
