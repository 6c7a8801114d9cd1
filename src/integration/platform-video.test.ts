/**
 * Platform 5, video ad analysis, end to end on real processes: a real upload
 * through the presigned URL, the example registered over HTTP, the job
 * created with the upload's id, extract-audio and transcribe as worker
 * processes, scores and recommendations from the real inference worker.
 * Each stage shows up as the job's current step on both SSE and /ws.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { sampleFile, waitFor } from '../testing/index.ts';
import { platformAnswer } from '../testing/platform-workers/platform-answers.ts';
import { platformWorkerFleet, type PlatformWorkerFleet } from '../testing/platform-workers/platform-worker-fleet.ts';
import { readSse, startJobsCluster, type JobsCluster } from './jobs-fixture.ts';

const definition: unknown = JSON.parse(readFileSync(fileURLToPath(new URL('../../examples/pipelines/video-ad-analysis.json', import.meta.url)), 'utf8'));
const STAGES = ['extract-audio', 'transcribe', 'analyse', 'recommendations'];

let cluster: JobsCluster;
let fleet: PlatformWorkerFleet;

before(async () => {
  cluster = await startJobsCluster();
  cluster.model.configure({
    respond: (r) => platformAnswer({ system: r.messages.find((m) => m.role === 'system')?.content ?? '', user: r.messages.find((m) => m.role === 'user')?.content ?? '' }),
  });
  fleet = platformWorkerFleet(cluster.nats.url);
  await fleet.start('media-worker', ['extract-audio', 'transcribe'], 500);
  const put = await cluster.api('PUT', '/v1/pipelines/video.analyse', { body: definition });
  assert.equal(put.status, 201, JSON.stringify(put.body));
});
after(async () => {
  await fleet?.stop();
  await cluster?.stop();
});

test('video ad analysis: upload through the presigned URL, each stage the current step over SSE and /ws, scores and recommendations on the job', async () => {
  const video = sampleFile('mp4', 4_096);
  const upload = await cluster.api<{ uploadId: string; objectKey: string; put: { url: string; method: string; headers: Record<string, string> } }>('POST', '/v1/uploads', {
    body: { filename: 'ad.mp4', contentType: 'video/mp4', size: video.length },
  });
  assert.equal(upload.status, 201, JSON.stringify(upload.body));
  const stored = await fetch(upload.body.put.url, { method: upload.body.put.method, headers: upload.body.put.headers, body: video });
  assert.ok(stored.ok, `PUT ${stored.status}`);

  const created = await cluster.createJob({ kind: 'video.analyse', input: { sources: [{ uploadId: upload.body.uploadId }], brand: 'Bean There' } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.job.id;

  const ws = new WebSocket(`${cluster.gateways[0]!.wsUrl}/ws?token=${cluster.user.token}`);
  const frames: Array<{ type: string; channel?: string; event?: string; data?: { step?: string } }> = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString()) as (typeof frames)[number]));
  await new Promise<void>((resolve, reject) => (ws.once('open', () => resolve()), ws.once('error', reject)));
  ws.send(JSON.stringify({ type: 'subscribe', channel: `job:${id}`, lastEventId: '0' }));
  const sse = await readSse(`${cluster.gateways[0]!.httpUrl}/v1/jobs/${id}/events`, { token: cluster.user.token, timeoutMs: 120_000 });
  assert.equal(sse.status, 200);
  assert.ok(sse.ended, 'the stream ends with the job');
  const sseStarted = sse.events.filter((e) => e.event === 'step-started').map((e) => (JSON.parse(e.data) as { step: string }).step);
  assert.deepEqual(sseStarted, STAGES, 'SSE: each stage starts once, in order');

  await waitFor(() => frames.some((f) => f.type === 'end' && f.channel === `job:${id}`), { what: 'the /ws channel to end' });
  ws.close();
  const wsStarted = frames.filter((f) => f.type === 'event' && f.event === 'step-started').map((f) => f.data?.step);
  assert.deepEqual(wsStarted, STAGES, '/ws: the same stages');

  const done = await cluster.getJob(id);
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  const out = done.output as { scores: Record<string, number>; issues: unknown[]; recommendations: string[]; transcript: Array<{ text: string }> };
  assert.deepEqual(out.scores, { hook: 7, clarity: 8, brand: 5, callToAction: 6 });
  assert.deepEqual(out.recommendations, ['Show the logo in the first two seconds.']);
  assert.equal(out.transcript[0]?.text, 'Tired of slow mornings?');
  const extract = done.steps.find((s) => s.id === 'extract-audio') as { output: { audioKey: string } } | undefined;
  assert.equal(extract?.output.audioKey, `${upload.body.objectKey}.wav`, 'the worker got the uploaded object');
  const analysePrompt = cluster.model.calls.map((c) => c.request.messages.find((m) => m.role === 'user')?.content ?? '').find((u) => u.includes('Transcript:'));
  assert.match(analysePrompt ?? '', /\[0\] Tired of slow mornings\?\n/, 'the transcript reaches the scoring prompt');
  assert.equal([...fleet.acceptedByTask(id).values()].reduce((a, b) => a + b, 0), 2);
});
