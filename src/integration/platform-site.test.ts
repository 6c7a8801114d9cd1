/**
 * Platform 4, the site generator, end to end on real processes: the example
 * definition registered over HTTP, jobs created and approved over HTTP, the
 * real inference worker calling the fake model server with the openai SDK,
 * and the platform's services (repository, patch, build-and-test,
 * deploy-preview) as separate worker processes. Completions are counted at
 * the workers.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../testing/index.ts';
import { platformAnswer, platformTaskOf } from '../testing/platform-workers/platform-answers.ts';
import { platformWorkerFleet, type PlatformWorkerFleet } from '../testing/platform-workers/platform-worker-fleet.ts';
import { startJobsCluster, type JobBody, type JobsCluster } from './jobs-fixture.ts';

const SITE_QUEUES = ['repository', 'patch', 'build-and-test', 'deploy-preview'] as const;
const definition = JSON.parse(readFileSync(fileURLToPath(new URL('../../examples/pipelines/site-generate.json', import.meta.url)), 'utf8')) as {
  steps: Array<{ id: string; steps?: Array<{ id: string; heartbeatTimeoutMs?: number }> }>;
};
// The example gives a build 30 s of silence before it counts as lost; the test cannot wait that long for a killed worker.
for (const member of definition.steps.find((s) => s.id === 'build-loop')?.steps ?? []) if (member.id === 'build') member.heartbeatTimeoutMs = 2_000;

let cluster: JobsCluster;
let fleet: PlatformWorkerFleet;

before(async () => {
  cluster = await startJobsCluster();
  cluster.model.configure({
    respond: (r) => platformAnswer({ system: r.messages.find((m) => m.role === 'system')?.content ?? '', user: r.messages.find((m) => m.role === 'user')?.content ?? '' }),
  });
  fleet = platformWorkerFleet(cluster.nats.url);
  await Promise.all([fleet.start('site-a', SITE_QUEUES, 800), fleet.start('site-b', SITE_QUEUES, 800)]);
  const put = await cluster.api('PUT', '/v1/pipelines/site.generate', { body: definition });
  assert.equal(put.status, 201, JSON.stringify(put.body));
});
after(async () => {
  await fleet?.stop();
  await cluster?.stop();
});

const patchPrompts = () =>
  cluster.model.calls
    .map((c) => c.request.messages)
    .filter((m) => platformTaskOf(m.find((x) => x.role === 'system')?.content ?? '') === 'site.generate/patch')
    .map((m) => m.find((x) => x.role === 'user')?.content ?? '');

/** Every service step that succeeded was completed once, at the worker, under its final attempt's task id. */
function assertEachTaskOnce(job: JobBody): void {
  const accepted = fleet.acceptedByTask(job.id);
  for (const [taskId, n] of accepted) assert.equal(n, 1, `${taskId} accepted ${n} times`);
  const services = job.steps.filter((s) => s.activity === 'service' && s.status === 'succeeded');
  for (const s of services) {
    const okOnes = fleet.events(job.id).filter((e) => e.task === 'completed' && e.accepted === true && e.ok === true && /^\d+$/.test(e.taskId.slice(`${job.id}.${s.id}.`.length)) && e.taskId.startsWith(`${job.id}.${s.id}.`));
    assert.deepEqual(okOnes.map((e) => e.taskId), [`${job.id}.${s.id}.${s.attempt}`], `step ${s.id}`);
  }
}

test('site generator: build fixed in the loop, a build worker SIGKILLed mid-task, a revision re-enters at the patch with the comment, the second approval completes', async () => {
  const created = await cluster.createJob({ kind: 'site.generate', input: { business: 'Bean There', onboarding: 'A coffee cart by the station.', pages: 2 } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.job.id;

  // Kill whichever worker takes the first build while it works on it.
  let victim = '';
  await waitFor(
    () => {
      victim = fleet.events(id).find((e) => e.task === 'working' && e.queue === 'build-and-test')?.workerId ?? '';
      return victim !== '';
    },
    { what: 'a worker to start the first build', timeoutMs: 120_000 },
  );
  const killed = fleet.workers.find((w) => w.name === victim);
  assert.ok(killed);
  await killed.kill();
  await fleet.start(`${victim}-again`, SITE_QUEUES, 800);

  const waiting = await cluster.waitForJob(id, (j) => j.status === 'waiting-approval' || j.status === 'failed', 'to wait for the review', 180_000);
  assert.equal(waiting.status, 'waiting-approval', JSON.stringify(waiting.error));
  assert.deepEqual(waiting.waitingFor, ['review']);
  const firstBuild = waiting.steps.find((s) => s.id === 'build.1');
  assert.equal(firstBuild?.status, 'succeeded');
  assert.equal(firstBuild?.attempt, 2, 'the killed attempt went silent and was retried elsewhere');
  assert.deepEqual(
    waiting.steps.filter((s) => s.activity === 'service').map((s) => s.id),
    ['repository', 'apply.1', 'build.1', 'apply.2', 'build.2', 'preview'],
  );
  assert.match(patchPrompts()[1] ?? '', /The last build failed:\nsrc\/index.html:1: unexpected token BROKEN/, 'the fix reads the failing build log');

  const reject = await cluster.api('POST', `/v1/jobs/${id}/approve`, { body: { approved: false, comment: 'Make the headline bigger' } });
  assert.equal(reject.status, 200, JSON.stringify(reject.body));
  const again = await cluster.waitForJob(id, (j) => j.waitingFor.includes('review.r2') || j.status === 'failed', 'to wait for the second review', 120_000);
  assert.equal(again.status, 'waiting-approval', JSON.stringify(again.error));
  assert.match(patchPrompts()[2] ?? '', /The reviewer asked for changes \(round 2\): Make the headline bigger/, 'the comment reaches the re-entered patch prompt the model server received');

  const approve = await cluster.api('POST', `/v1/jobs/${id}/approve`, { body: { approved: true } });
  assert.equal(approve.status, 200, JSON.stringify(approve.body));
  const done = await cluster.waitForJob(id, (j) => ['succeeded', 'failed', 'rejected'].includes(j.status), 'to finish', 60_000);
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  const out = done.output as { url: string; repo: string; commit: string };
  assert.equal(out.repo, 'sites/bean-there');
  assert.equal(out.url, `https://bean-there.preview.test/${out.commit}`);
  assert.ok(done.steps.some((s) => s.id === 'build.r2.1' && s.status === 'succeeded'));

  // Per-step time, tokens and cost are on the job.
  const spec = done.steps.find((s) => s.id === 'spec') as JobBody['steps'][number] & { startedAt: string; finishedAt: string; usage: { calls: number; promptTokens: number; costUsd: number } };
  assert.ok(Date.parse(spec.finishedAt) >= Date.parse(spec.startedAt));
  assert.equal(spec.usage.calls, 1);
  assert.ok(spec.usage.promptTokens > 0 && spec.usage.costUsd > 0, JSON.stringify(spec.usage));
  assert.ok(done.usage.costUsd > 0 && done.usage.calls >= 10, JSON.stringify(done.usage));

  await waitFor(() => fleet.events(id).filter((e) => e.task === 'completed').length >= done.steps.filter((s) => s.activity === 'service').length, { what: 'the workers to log their completions' });
  assertEachTaskOnce(done);
});
