/**
 * Commands that stay in process (src/host/local-actors.ts) without a
 * gateway beside the actors: a service worker's claim and completion reach
 * the job actor through the activity service of the host that runs it, and
 * with the inference role in the same process the model's result does too,
 * without a request on the job's NATS command subjects. With the inference
 * worker in another process its result still crosses NATS, and the job
 * succeeds either way. With the gateway in its own process, its owner
 * checks of a job read the job's log, not the job's view.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { platformWorkerFleet, type PlatformWorkerFleet } from '../testing/platform-workers/platform-worker-fleet.ts';
import { startJobsCluster, type JobsCluster, type JobsClusterOptions } from './jobs-fixture.ts';

const KIND = 'local.voice';
const DEFINITION = {
  kind: KIND,
  description: 'One model call, then one service task.',
  input: { type: 'object', required: ['topic'], properties: { topic: { type: 'string', maxLength: 200 } } },
  steps: [
    { id: 'write', type: 'llm', prompt: { system: 'Task: local.voice/write. Write one line.', user: 'Topic: {{input.topic}}' } },
    { id: 'voice', type: 'service', after: ['write'], queue: 'tts', input: { jobId: '{{job.id}}', index: 1, text: '{{steps.write.output}}', language: 'en', voice: 'alloy' } },
  ],
};
const COMMANDS = ['activity-claim', 'activity-complete', 'inference-result'] as const;

const stops: Array<() => Promise<void>> = [];
after(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
});

/** Counts the job commands of each name that cross NATS (every job: the wildcard sees them all). */
function countJobCommands(nc: NatsConnection): { counts: () => Record<(typeof COMMANDS)[number], number>; subs: Subscription[] } {
  const counts = Object.fromEntries(COMMANDS.map((c) => [c, 0])) as Record<(typeof COMMANDS)[number], number>;
  const subs = COMMANDS.map((name) => nc.subscribe(`actor.job.*.${name}`, {
    callback: () => {
      counts[name] += 1;
    },
  }));
  return { counts: () => ({ ...counts }), subs };
}

async function runOneJob(layout: JobsClusterOptions['layout']): Promise<{ cluster: JobsCluster; jobId: string; counts: Record<(typeof COMMANDS)[number], number> }> {
  const cluster = await startJobsCluster({ layout });
  stops.push(() => cluster.stop());
  const fleet: PlatformWorkerFleet = platformWorkerFleet(cluster.nats.url);
  stops.push(() => fleet.stop());
  await fleet.start('tts-worker', ['tts']);
  const put = await cluster.api('PUT', `/v1/pipelines/${KIND}`, { body: DEFINITION });
  assert.equal(put.status, 201, JSON.stringify(put.body));
  const counter = countJobCommands(cluster.nc);
  await cluster.nc.flush();
  const created = await cluster.createJob({ kind: KIND, input: { topic: 'mornings' } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const done = await cluster.waitForJob(created.body.job.id, (j) => j.status !== 'queued' && j.status !== 'running', 'the job to end');
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  const voice = done.steps.find((s) => s.id === 'voice') as { output?: { characters?: number } } | undefined;
  assert.ok((voice?.output?.characters ?? 0) > 0, 'the worker voiced the model output');
  assert.equal([...fleet.acceptedByTask(created.body.job.id).values()].reduce((a, b) => a + b, 0), 1, 'one completion accepted');
  await cluster.nc.flush();
  for (const sub of counter.subs) sub.unsubscribe();
  return { cluster, jobId: created.body.job.id, counts: counter.counts() };
}

test('actors and inference in one process: claim, completion and model result reach the job without NATS', async () => {
  const { counts } = await runOneJob('combined');
  assert.deepEqual(counts, { 'activity-claim': 0, 'activity-complete': 0, 'inference-result': 0 });
});

test('actors alone in their process: the activity service stays in process, the remote worker’s result crosses NATS, the gateway’s owner checks ask the job nothing', async () => {
  const { cluster, jobId, counts } = await runOneJob({ hosts: 1, gateways: 1, workers: 1 });
  assert.equal(counts['activity-claim'], 0, 'the claim went to the job in process');
  assert.equal(counts['activity-complete'], 0, 'the completion went to the job in process');
  assert.ok(counts['inference-result'] >= 1, `the model result crossed NATS from the worker process (${counts['inference-result']})`);

  // The gateway checks a job's owner from its first log entry (then remembers it), not from the job's view:
  // the owner's output and steps, and every request of a stranger, ask the job for no `get`.
  let gets = 0;
  const sub = cluster.nc.subscribe('actor.job.*.get', { callback: () => void gets++ });
  await cluster.nc.flush();
  assert.equal((await cluster.api('GET', `/v1/jobs/${jobId}/output`)).status, 200);
  assert.equal((await cluster.api('GET', `/v1/jobs/${jobId}/steps`)).status, 200);
  for (const [method, route] of [['GET', ''], ['GET', '/output'], ['GET', '/steps'], ['POST', '/cancel']] as const) {
    const refused = await cluster.api(method, `/v1/jobs/${jobId}${route}`, { token: cluster.stranger.token, ...(method === 'POST' ? { body: {} } : {}) });
    assert.equal(refused.status, 404, `a stranger's ${method} ${route || '/'}`);
  }
  await cluster.nc.flush();
  assert.equal(gets, 0, 'no owner check read the view');
  assert.equal((await cluster.api('GET', `/v1/jobs/${jobId}`)).status, 200);
  await cluster.nc.flush();
  assert.equal(gets, 1, 'the view itself is read for GET /v1/jobs/:id');
  sub.unsubscribe();
});
