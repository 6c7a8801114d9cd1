/**
 * Platform 2, script generation, end to end on real processes: the example
 * registered over HTTP, a user's "agent" passed as the job's parameters,
 * blocks written one by one into a document, every (variation, language)
 * written by the model and voiced by TTS workers in their own processes. The
 * actor host running the job is SIGKILLed while the TTS map is under way:
 * the job goes on on the other host and every TTS task runs and completes
 * exactly once (counted at the workers).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Kvm } from '@nats-io/kv';
import { parseActorId } from '../../protocol/ids.ts';
import { OWNER_BUCKET, leaseKey } from '../../protocol/subjects.ts';
import { waitFor } from '../testing/index.ts';
import { platformAnswer } from '../testing/platform-workers/platform-answers.ts';
import { platformWorkerFleet, type PlatformWorkerFleet } from '../testing/platform-workers/platform-worker-fleet.ts';
import { startJobsCluster, type JobsCluster } from './jobs-fixture.ts';

const definition: unknown = JSON.parse(readFileSync(fileURLToPath(new URL('../../examples/pipelines/script-generate.json', import.meta.url)), 'utf8'));

let cluster: JobsCluster;
let fleet: PlatformWorkerFleet;

before(async () => {
  cluster = await startJobsCluster({ layout: { hosts: 2, gateways: 1, workers: 1 } });
  cluster.model.configure({
    respond: (r) => platformAnswer({ system: r.messages.find((m) => m.role === 'system')?.content ?? '', user: r.messages.find((m) => m.role === 'user')?.content ?? '' }),
  });
  fleet = platformWorkerFleet(cluster.nats.url);
  await Promise.all([fleet.start('tts-a', ['tts'], 1_500), fleet.start('tts-b', ['tts'], 1_500)]);
  const put = await cluster.api('PUT', '/v1/pipelines/script.generate', { body: definition });
  assert.equal(put.status, 201, JSON.stringify(put.body));
});
after(async () => {
  await fleet?.stop();
  await cluster?.stop();
});

test('script generation: 2 variations x 3 languages voiced; the job host SIGKILLed mid-map; every TTS task completes exactly once', async () => {
  const agent = { name: 'Calm narrator', persona: 'You are a calm narrator.', rules: ['No slang', 'Short sentences'], blocks: ['Hook', 'Story', 'Call to action'], voice: 'alloy' };
  const outputs = [1, 2].flatMap((variation) => ['en', 'de', 'ja'].map((language) => ({ variation, language })));
  const created = await cluster.createJob({ kind: 'script.generate', input: { topic: 'Morning coffee', agent, outputs }, targetDocId: `script-${Date.now()}` });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.job.id;

  await waitFor(() => fleet.events(id).some((e) => e.task === 'working'), { what: 'a TTS worker to start', timeoutMs: 120_000 });
  const kv = await new Kvm(cluster.nc).open(OWNER_BUCKET);
  const entry = await kv.get(leaseKey('job', parseActorId(id)));
  const holder = entry === null ? '' : (JSON.parse(new TextDecoder().decode(entry.value)) as { host: string }).host;
  const host = cluster.hosts.find((h) => h.name === holder);
  assert.ok(host, `the lease names a host: ${holder}`);
  const before = await cluster.getJob(id);
  assert.ok(before.steps.filter((s) => /^voice\.\d+$/.test(s.id) && s.status === 'succeeded').length < 6, 'the map is not over yet');
  await host.kill();

  const done = await cluster.waitForJob(id, (j) => ['succeeded', 'failed'].includes(j.status), 'to finish on the other host', 180_000);
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  const out = done.output as { blocks: Array<{ block: string }>; outputs: Array<{ variation: number; language: string; characters: number; durationMs: number; audioKey: string }> };
  assert.deepEqual(out.blocks.map((b) => b.block), ['Hook', 'Story', 'Call to action']);
  assert.deepEqual(out.outputs.map((o) => `${o.variation}/${o.language}`), ['1/en', '1/de', '1/ja', '2/en', '2/de', '2/ja']);
  for (const [i, o] of out.outputs.entries()) {
    assert.equal(o.characters, `[${o.language}] variation ${o.variation} of the script.`.length, 'characters sent to TTS');
    assert.equal(o.durationMs, o.characters * 60, 'audio duration');
    assert.equal(o.audioKey, `tts/${id}/${i + 1}-${o.language}.mp3`);
  }
  assert.equal(done.steps.find((s) => s.id === 'master')?.status, 'succeeded');

  const voiced = done.steps.filter((s) => /^voice\.\d+$/.test(s.id));
  assert.equal(voiced.length, 6);
  await waitFor(() => fleet.events(id).filter((e) => e.task === 'completed').length >= 6, { what: 'the workers to log six completions' });
  const events = fleet.events(id);
  for (const s of voiced) {
    const taskId = `${id}.${s.id}.${s.attempt}`;
    assert.equal(s.attempt, 1, `${s.id} was not retried`);
    assert.equal(events.filter((e) => e.task === 'working' && e.taskId === taskId).length, 1, `${taskId} ran once`);
    assert.equal(events.filter((e) => e.task === 'completed' && e.accepted === true && e.taskId === taskId).length, 1, `${taskId} completed once`);
  }
  assert.equal(events.filter((e) => e.task === 'completed' && e.accepted === true).length, 6, 'no other completion was accepted');
});
