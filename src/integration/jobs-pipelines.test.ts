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
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import pino from 'pino';
import { rebuildJobProjection } from '../jobs/index.ts';
import { JetStreamJobLog } from '../nats/jetstream-job-log.ts';
import { openDatabase, PostgresJobProjection } from '../storage/index.ts';
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
  assert.deepEqual(job.steps.filter((s) => s.status === 'succeeded').map((s) => s.id).sort(), ['outline', 'save', 'sections', 'sections.1', 'sections.2', 'sections.3', 'sources']);
  assert.deepEqual((job.output as { sections: string[] }).sections, ['Part 1', 'Part 2', 'Part 3']);
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
    assert.equal(steps.rows[0].n, 7);
  } finally {
    await db.end();
  }
});

test('research.deep: a plan of sub-questions, parallel answers, a synthesis citing them, a report artifact', async () => {
  const job = await runToEnd({ kind: 'research.deep', input: { question: 'Why are there tides?', maxSubQuestions: 3 } });
  assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  const report = await download(job, 'report.md');
  assert.match(report, /^# Why are there tides\?\n\nThe moon pulls the oceans \[1\]/);
  assert.match(report, /## Sources\n\n\[1\] \*\*What causes tides\?\*\*\n\nFinding 1\./);
  assert.deepEqual((job.output as { cited: number[] }).cited, [1, 2, 3]);
  assert.equal(job.steps.filter((s) => s.id.startsWith('answers.')).length, 3);
});

test('script.variations: N variations, each adapted to each language (N x languages steps), bundled as JSON', async () => {
  const job = await runToEnd({ kind: 'script.variations', input: { script: 'Meet the boat that sails itself.', variations: 2, languages: ['es', 'pt-BR'] } });
  assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  assert.equal(job.steps.filter((s) => s.id.startsWith('adaptations.')).length, 4);
  const bundle = JSON.parse(await download(job, 'scripts.json')) as { variations: Array<{ index: number; text: string; adaptations: Record<string, string> }> };
  assert.equal(bundle.variations.length, 2);
  assert.equal(bundle.variations[1]!.adaptations['pt-BR'], '[pt-BR] Variation 2 of the script.');
});

test('slides.generate: a schema-valid outline, speaker notes per slide, the deck as JSON', async () => {
  const job = await runToEnd({ kind: 'slides.generate', input: { topic: 'Tides', slideCount: 3 } });
  assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  const deck = JSON.parse(await download(job, 'slides.json')) as { title: string; slides: Array<{ title: string; layout: string; notes: string; bullets: string[] }> };
  assert.equal(deck.slides.length, 3);
  assert.deepEqual(deck.slides.map((s) => s.layout), ['title', 'title-bullets', 'title-bullets']);
  assert.equal(deck.slides[2]!.notes, 'Say this about slide 3.');
});

async function upload(filename: string, contentType: string, text: string): Promise<{ uploadId: string; objectKey: string }> {
  const bytes = Buffer.from(text);
  const created = await cluster.api<{ uploadId: string; objectKey: string; put: { url: string; method: string; headers: Record<string, string> } }>('POST', '/v1/uploads', {
    body: { filename, contentType, size: bytes.length },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const put = await fetch(created.body.put.url, { method: created.body.put.method, headers: created.body.put.headers, body: bytes });
  assert.ok(put.ok, `PUT ${put.status}`);
  return { uploadId: created.body.uploadId, objectKey: created.body.objectKey };
}

test('a job reads an uploaded file as input; an upload that does not exist or lost its file is refused at creation', async () => {
  const notes = await upload('notes.md', 'text/markdown', '# Field notes\n\nThe tide gauge at Brest rose 7.2 m today.');
  const job = await runToEnd({ kind: 'research.deep', input: { question: 'What did the gauge show?', maxSubQuestions: 3, sources: [{ uploadId: notes.uploadId }] } });
  assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  assert.equal(job.steps.find((s) => s.id === 'sources.1')?.status, 'succeeded');
  const plan = cluster.model.calls.find((c) => c.request.messages.some((m) => m.content.includes('Question: What did the gauge show?')));
  assert.match(plan?.request.messages.find((m) => m.role === 'user')?.content ?? '', /--- notes\.md ---\n# Field notes\n\nThe tide gauge at Brest rose 7\.2 m today\./);

  const unknown = await cluster.createJob({ kind: 'research.deep', input: { question: 'x', sources: [{ uploadId: '00000000-0000-4000-8000-000000000000' }] } });
  assert.equal(unknown.status, 404, JSON.stringify(unknown.body));
  const noId = await cluster.createJob({ kind: 'research.deep', input: { question: 'x', sources: [{ objectKey: notes.objectKey }] } });
  assert.equal(noId.status, 400, 'clients name uploads, never raw object keys');

  const lost = await upload('lost.md', 'text/markdown', 'soon gone');
  assert.equal((await cluster.api<{ status: string }>('GET', `/v1/uploads/${lost.uploadId}`)).body.status, 'complete');
  await rm(path.join(cluster.dataDir, 'objects', ...lost.objectKey.split('/').slice(0, -1)), { recursive: true, force: true });
  const missing = await cluster.createJob({ kind: 'document.generate', input: { topic: 'Lost', sources: [{ uploadId: lost.uploadId }] } });
  assert.equal(missing.status, 409, JSON.stringify(missing.body));
  assert.match(JSON.stringify(missing.body), /upload-object-missing/);
});

test('the projection is rebuilt from the job logs alone (rebuild = replay)', async () => {
  const snapshot = async () => {
    const db = new pg.Client({ connectionString: cluster.databaseUrl });
    await db.connect();
    try {
      const jobs = await db.query('select id, kind, owner_id, status, last_seq, calls, prompt_tokens, completion_tokens, cost_usd, output from jobs order by id');
      const steps = await db.query('select job_id, step, activity, status, attempt, calls from job_steps order by job_id, step');
      return { jobs: jobs.rows, steps: steps.rows };
    } finally {
      await db.end();
    }
  };
  const before = await snapshot();
  assert.ok(before.jobs.length >= 5);
  const wipe = new pg.Client({ connectionString: cluster.databaseUrl });
  await wipe.connect();
  await wipe.query('delete from jobs');
  await wipe.end();
  assert.equal((await snapshot()).jobs.length, 0);

  const logger = pino({ level: 'silent' });
  const database = await openDatabase({ url: cluster.databaseUrl, logger });
  try {
    const jsm = await jetstreamManager(cluster.nc);
    const result = await rebuildJobProjection({ jsm, log: new JetStreamJobLog(cluster.nc, jsm, { timeoutMs: 5_000, logger }), projection: new PostgresJobProjection(database.db), logger });
    assert.equal(result.failed, 0);
  } finally {
    await database.close();
  }
  assert.deepEqual(await snapshot(), before);
});

test('/openapi.json describes the jobs API from the schemas that validate it', async () => {
  const res = await fetch(`${cluster.gateways[0]!.httpUrl}/openapi.json`);
  assert.equal(res.status, 200);
  const doc = (await res.json()) as { paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, unknown> } };
  assert.ok(doc.paths['/v1/jobs']?.post, 'POST /v1/jobs');
  for (const p of ['/v1/jobs/{id}', '/v1/jobs/{id}/cancel', '/v1/jobs/{id}/approve', '/v1/jobs/{id}/events']) assert.ok(doc.paths[p], p);
  assert.ok(doc.components.schemas['CreateJob'] && doc.components.schemas['Job']);
});
