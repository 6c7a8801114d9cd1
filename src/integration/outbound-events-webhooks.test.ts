/**
 * End to end (issue 9): a real job's `job.succeeded`, recorded by the
 * job-log relay, is delivered by the webhook dispatcher (a `webhooks` role
 * process) to a receiver that verifies it with the published
 * `standardwebhooks` library, with the event's id as `webhook-id`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startLoomProcess, waitFor, type LoomProcess } from '../testing/index.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../testing/webhook-receiver.ts';
import { readOutboundEvents } from '../testing/index.ts';
import { startJobsCluster, type JobsCluster } from './jobs-fixture.ts';

const WEBHOOK_ENV = { LOOM_WEBHOOK_ALLOW_HTTP: 'true', LOOM_WEBHOOK_ALLOW_PRIVATE: 'true', LOOM_WEBHOOK_RETRY_SCHEDULE_MS: '200,400,800' };

let cluster: JobsCluster;
let dispatcher: LoomProcess;
let receiver: WebhookReceiver;

before(async () => {
  cluster = await startJobsCluster({ env: WEBHOOK_ENV });
  dispatcher = await startLoomProcess({ name: 'webhooks-0', roles: ['webhooks'], natsUrl: cluster.nats.url, databaseUrl: cluster.databaseUrl, dataDir: cluster.dataDir, env: WEBHOOK_ENV });
  receiver = await startWebhookReceiver();
});
after(async () => {
  await receiver?.close();
  await dispatcher?.stop();
  await cluster?.stop();
});

test("a real job's job.succeeded reaches a subscribed receiver, signed and verifiable by standardwebhooks, under the event's id", async () => {
  const sub = await cluster.api<{ endpoint: { id: string }; secret: string }>('POST', '/v1/webhooks', { body: { url: `${receiver.url}/hooks`, events: ['job.succeeded', 'job.created'] } });
  assert.equal(sub.status, 201, JSON.stringify(sub.body));
  receiver.setSecrets([sub.body.secret]);

  const created = await cluster.createJob({ kind: 'document.generate', input: { topic: 'Webhook tides', sections: 1 } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.job.id;
  await cluster.waitForJob(id, (j) => j.status === 'succeeded', 'succeeded');

  const delivered = await waitFor(
    () => {
      const bodies = receiver.received.map((r) => ({ r, body: JSON.parse(r.body) as { type: string; data: { jobId?: string } } }));
      const mine = bodies.filter((b) => b.body.data.jobId === id);
      return mine.some((b) => b.body.type === 'job.succeeded') ? mine : null;
    },
    { what: `job.succeeded of ${id} at the receiver`, timeoutMs: 60_000, intervalMs: 200 },
  );
  for (const { r } of delivered) assert.deepEqual(r.verifiedWith, [true], 'standardwebhooks verifies it with the endpoint secret');
  const types = delivered.map((d) => d.body.type);
  assert.ok(types.indexOf('job.created') < types.lastIndexOf('job.succeeded'), `in order: ${types.join(',')}`);
  const recorded = (await readOutboundEvents(cluster.nc)).find((e) => e.event.orderKey === `job:${id}` && e.event.type === 'job.succeeded');
  const succeeded = delivered.find((d) => d.body.type === 'job.succeeded');
  assert.equal(succeeded?.r.id, recorded?.event.id, 'webhook-id is the recorded event id');
});
