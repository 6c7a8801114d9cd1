/**
 * Every built-in pipeline end to end, the way clients and the platform use
 * them: POST /v1/jobs on a real gateway, the job actor on a real host, model
 * calls through the inference work queue and a real inference worker (the
 * `openai` SDK over HTTP) to the fake model server, artifacts in the object
 * store and downloadable through their URLs, usage and cost on the job.
 * One Loom process with every role keeps this file light.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startJobsCluster, TEST_MODEL, type JobBody, type JobsCluster } from './jobs-fixture.ts';

let cluster: JobsCluster;

before(async () => {
  cluster = await startJobsCluster();
});
after(async () => {
  await cluster?.stop();
});

async function runToEnd(body: unknown): Promise<JobBody> {
  const created = await cluster.createJob(body);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.created, true);
  return cluster.waitForJob(created.body.job.id, (j) => ['succeeded', 'failed', 'cancelled', 'rejected'].includes(j.status), 'to end');
}

async function download(job: JobBody, name: string): Promise<string> {
  const artifact = job.artifacts.find((a) => a.name === name);
  assert.ok(artifact?.downloadUrl, `artifact ${name} with a download URL: ${JSON.stringify(job.artifacts)}`);
  const res = await fetch(artifact.downloadUrl);
  assert.equal(res.status, 200);
  return res.text();
}

test('document.generate: outline, sections in parallel, composed markdown saved as an artifact, usage and cost summed', async () => {
  const job = await runToEnd({ kind: 'document.generate', input: { topic: 'Tides', sections: 3 } });
  assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  const markdown = await download(job, 'document.md');
  assert.equal(markdown, (job.output as { markdown: string }).markdown);
  assert.match(markdown, /^# Tides\n\n## Part 1\n\nBody of section 1, written by the model\.\n\n## Part 2/);
  assert.deepEqual(job.steps.map((s) => s.id).sort(), ['compose', 'outline', 'save', 'section-1', 'section-2', 'section-3']);
  assert.equal(job.usage.calls, 4);
  assert.ok(job.usage.promptTokens > 0 && job.usage.completionTokens > 0);
  const expected = (job.usage.promptTokens * 1 + job.usage.completionTokens * 2) / 1_000_000;
  assert.ok(Math.abs(job.usage.costUsd - expected) < 1e-9, `cost ${job.usage.costUsd} vs ${expected}`);
  assert.ok(cluster.model.calls.filter((c) => c.request.model === TEST_MODEL).length >= 4);
  // The projection agrees with the job.
  const db = new pg.Client({ connectionString: cluster.databaseUrl });
  await db.connect();
  try {
    const rows = await db.query('select status, calls, needs_host from jobs where id = $1', [job.id]);
    assert.deepEqual(rows.rows[0], { status: 'succeeded', calls: 4, needs_host: false });
    const steps = await db.query('select count(*)::int as n from job_steps where job_id = $1 and status = $2', [job.id, 'succeeded']);
    assert.equal(steps.rows[0].n, 6);
  } finally {
    await db.end();
  }
});
