/**
 * Jobs that run a pipeline definition, end to end over NATS on a real Loom
 * process (actor host, inference worker, the fake model server): the start
 * command carries the definition, the job records it in job-created, runs a
 * choice, a bounded map and an approval whose rejection with a comment
 * re-enters the pipeline, and a host killed mid-job replays from the
 * recorded definition alone and finishes the same job.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestError, type Msg } from '@nats-io/transport-node';
import { waitFor } from '../testing/index.ts';
import { startJobsCluster, type JobsCluster } from './jobs-fixture.ts';

let cluster: JobsCluster;

before(async () => {
  cluster = await startJobsCluster();
});
after(async () => {
  await cluster?.stop();
});

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const parse = <T>(m: Msg) => JSON.parse(new TextDecoder().decode(m.data)) as T;

/**
 * A job command over NATS, activating the job's actor when nobody answers
 * (PROTOCOL.md §5). After a host is killed its lease stays until the TTL
 * runs out and activation answers `elsewhere` meanwhile: keep trying, with
 * a pause, for up to a minute.
 */
async function command(subject: string, body: Uint8Array): Promise<Msg> {
  const jobId = subject.split('.')[2]!;
  const deadline = Date.now() + 60_000;
  let activation = 'not tried';
  while (Date.now() < deadline) {
    try {
      return await cluster.nc.request(subject, body, { timeout: 5_000 });
    } catch (err) {
      if (!(err instanceof RequestError && err.isNoResponders())) throw err;
      activation = await cluster.nc.request('sys.activate.job', json({ id: jobId }), { timeout: 5_000 }).then(
        (m) => new TextDecoder().decode(m.data),
        (e: unknown) => String(e),
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  throw new Error(`${subject}: never answered within 60 s (last activation answer: ${activation})`);
}

interface View {
  status: string;
  output: unknown;
  waitingFor: string[];
  steps: Array<{ id: string; status: string; activity: string; skipReason: string | null; output: unknown }>;
}

const get = async (id: string) => parse<View>(await command(`actor.job.${id}.get`, new Uint8Array(0)));

const definition = {
  kind: 'demo.brief',
  input: { type: 'object', required: ['topic', 'pages'], properties: { topic: { type: 'string' }, pages: { type: 'array', items: { type: 'string' } } } },
  steps: [
    { id: 'plan', type: 'llm', prompt: { user: 'plan {{input.topic}}{{#revision}} [{{revision.comment}}]{{/revision}}' } },
    { id: 'route', type: 'choice', after: ['plan'], branches: [{ when: { path: 'input.topic', equals: 'skip' }, next: ['aside'] }], default: ['pages'] },
    { id: 'aside', type: 'llm', prompt: { user: 'aside' } },
    { id: 'pages', type: 'map', over: 'input.pages', maxParallel: 2, step: { type: 'llm', prompt: { user: 'page {{index}} {{item}}' } } },
    { id: 'review', type: 'approval', after: ['pages', 'aside'], revision: { reenterAt: 'plan' } },
    { id: 'announce', type: 'emit', after: ['review'], event: 'brief.ready', data: { plan: '{{steps.plan.output}}', pages: '{{steps.pages.output}}' } },
  ],
  result: { plan: '{{steps.plan.output}}', pages: '{{steps.pages.output}}' },
};

test('a job runs the definition it carries, survives its host being killed, and re-enters on a rejection with a comment', async () => {
  const id = `def-${Date.now()}`;
  const start = { kind: 'demo.brief', owner: 'platform-service', input: { topic: 'tides', pages: ['a', 'b', 'c'] }, pipeline: { kind: 'demo.brief', version: 1, definition } };
  const reply = await command(`actor.job.${id}.start`, json(start));
  assert.equal(reply.headers?.get('Loom-Error') ?? '', '', new TextDecoder().decode(reply.data));
  await waitFor(async () => (await get(id)).status === 'waiting-approval', { what: 'the job to wait for its review', timeoutMs: 60_000 });

  // The host dies; the next activation has only the log, whose job-created carries the definition.
  await cluster.hosts[0]!.kill();
  await cluster.hosts[0]!.start();
  const waiting = await get(id);
  assert.deepEqual(waiting.waitingFor, ['review']);
  assert.equal(waiting.steps.find((s) => s.id === 'aside')?.skipReason, 'branch-not-taken');
  assert.deepEqual(waiting.steps.find((s) => s.id === 'pages')?.output, ['echo: page 1 a', 'echo: page 2 b', 'echo: page 3 c']);

  const revised = await command(`actor.job.${id}.approve`, json({ by: 'editor', approved: false, comment: 'shorter' }));
  assert.equal(revised.headers?.get('Loom-Error') ?? '', '', new TextDecoder().decode(revised.data));
  await waitFor(async () => (await get(id)).waitingFor.includes('review.r2'), { what: 'round 2 to reach its review', timeoutMs: 60_000 });
  const approved = await command(`actor.job.${id}.approve`, json({ by: 'editor', approved: true }));
  assert.equal(approved.headers?.get('Loom-Error') ?? '', '');
  await waitFor(async () => (await get(id)).status === 'succeeded', { what: 'the job to succeed', timeoutMs: 60_000 });

  const done = await get(id);
  assert.deepEqual(done.output, { plan: 'echo: plan tides [shorter]', pages: ['echo: page 1 a', 'echo: page 2 b', 'echo: page 3 c'] });
  // Everything after the re-entered step ran again in round 2, the event too.
  const announce = done.steps.find((s) => s.id === 'announce.r2');
  assert.equal(announce?.activity, 'emit');
  assert.deepEqual(announce?.output, { type: 'brief.ready', data: { plan: 'echo: plan tides [shorter]', pages: ['echo: page 1 a', 'echo: page 2 b', 'echo: page 3 c'] } });
});

test('a start whose definition does not validate is refused with invalid-input naming the path, and nothing is recorded', async () => {
  const id = `def-bad-${Date.now()}`;
  const bad = { ...definition, steps: [{ id: 'plan', type: 'llm', after: ['nope'], prompt: { user: 'x' } }] };
  const reply = await command(`actor.job.${id}.start`, json({ kind: 'demo.brief', owner: 'svc', input: { topic: 't', pages: [] }, pipeline: { kind: 'demo.brief', version: 1, definition: bad } }));
  assert.equal(reply.headers?.get('Loom-Error'), 'invalid-input');
  assert.match(parse<{ message: string }>(reply).message, /pipeline\.definition\/steps\/0\/after\/0: unknown step "nope"/);
  const missing = await command(`actor.job.${id}.get`, new Uint8Array(0));
  assert.equal(missing.headers?.get('Loom-Error'), 'not-found');
});
