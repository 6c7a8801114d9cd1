/**
 * Per-user quotas at the HTTP edge: a user with as many jobs running as
 * LOOM_QUOTA_CONCURRENT_JOBS allows gets 429 `quota-exceeded` for the next
 * one (saying which quota), and once their jobs used the day's model tokens
 * (LOOM_QUOTA_TOKENS_PER_DAY) neither a job nor an agent-session message
 * starts. Another user is not held by the first one's use.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { scriptedAnswer, startJobsCluster, type JobsCluster } from './jobs-fixture.ts';

let cluster: JobsCluster;
let release: () => void = () => undefined;

before(async () => {
  cluster = await startJobsCluster({ env: { LOOM_QUOTA_CONCURRENT_JOBS: '2', LOOM_QUOTA_TOKENS_PER_DAY: '1' } });
  // Model calls wait until the test lets them go, so the first jobs stay running.
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  cluster.model.configure({ respond: async (request) => (await gate, scriptedAnswer(request)) });
});
after(async () => {
  release();
  await cluster?.stop();
});

interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}

const jobBody = (topic: string) => ({ kind: 'document.generate', input: { topic, sections: 1 } });

test('the concurrent-jobs quota, then the model-tokens quota, refuse new work with 429 quota-exceeded', async () => {
  const first = await cluster.createJob(jobBody('first'));
  const second = await cluster.createJob(jobBody('second'));
  assert.equal(first.status, 201);
  assert.equal(second.status, 201);
  // The quota counts the jobs projection, written by each job's actor as it starts.
  await cluster.waitForJob(second.body.job.id, (j) => j.status === 'running', 'second job running');
  const listed = async () => (await cluster.api<{ jobs: Array<{ status: string }> }>('GET', '/v1/jobs')).body.jobs.filter((j) => j.status === 'running' || j.status === 'pending').length;
  for (let i = 0; i < 100 && (await listed()) < 2; i++) await new Promise((r) => setTimeout(r, 100));

  const third = await cluster.createJob(jobBody('third'));
  assert.equal(third.status, 429);
  const refused = third.body as unknown as ErrorBody;
  assert.equal(refused.error.code, 'quota-exceeded');
  assert.match(refused.error.message, /2 jobs running or waiting to run/);
  assert.ok(third.headers.get('retry-after') !== null, 'says when to try again');

  // Another user is not held by the first user's jobs.
  const strangers = await cluster.api('POST', '/v1/jobs', { body: jobBody('stranger'), token: cluster.stranger.token });
  assert.equal(strangers.status, 201);

  release();
  await cluster.waitForJob(first.body.job.id, (j) => j.status === 'succeeded', 'first job done', 60_000);
  const done = await cluster.waitForJob(second.body.job.id, (j) => j.status === 'succeeded', 'second job done', 60_000);
  assert.ok(done.usage.promptTokens + done.usage.completionTokens > 0, 'the jobs used model tokens');
  // The finished jobs' usage reaches the projection with their last events.
  const succeededListed = async () => (await cluster.api<{ jobs: unknown[] }>('GET', '/v1/jobs?status=succeeded')).body.jobs.length;
  for (let i = 0; i < 100 && (await succeededListed()) < 2; i++) await new Promise((r) => setTimeout(r, 100));
  const afterDay = (await cluster.createJob(jobBody('after'))).body as unknown as ErrorBody;
  assert.equal(afterDay.error.code, 'quota-exceeded');
  assert.match(afterDay.error.message, /model tokens in the last 24 hours/);

  const session = await cluster.api<{ session: { id: string } }>('POST', '/v1/agent-sessions', { body: {} });
  assert.equal(session.status, 201);
  const message = await cluster.api<ErrorBody>('POST', `/v1/agent-sessions/${encodeURIComponent(session.body.session.id)}/messages`, { body: { content: 'hello' } });
  assert.equal(message.status, 429);
  assert.equal(message.body.error.code, 'quota-exceeded');
});
