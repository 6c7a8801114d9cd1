/**
 * Jobs survive their processes. Two actor hosts, one gateway and one
 * inference worker run as separate OS processes:
 * - the host running a job is SIGKILLed mid-pipeline: the job completes on
 *   the other host, no completed step runs again (calls counted at the
 *   model server: one per step, in fact, since in-flight calls are neither
 *   resubmitted nor re-run) and its artifact is written once;
 * - a job whose host died while it waited to retry (nothing in flight that
 *   would wake it) is found and resumed by the supervisor;
 * - a job waiting for approval survives a restart of every process (Loom,
 *   NATS and PostgreSQL), then goes on when approved.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Kvm } from '@nats-io/kv';
import { parseActorId } from '../../protocol/ids.ts';
import { OWNER_BUCKET, leaseKey } from '../../protocol/subjects.ts';
import { waitFor } from '../testing/index.ts';
import { readSse, scriptedAnswer, startJobsCluster, taskOfRequest, type JobBody, type JobsCluster } from './jobs-fixture.ts';

let cluster: JobsCluster;

before(async () => {
  // Long backoffs, so a test can kill a host while a job waits to retry.
  cluster = await startJobsCluster({ layout: { hosts: 2, gateways: 1, workers: 1 }, env: { LOOM_JOB_RETRY_BASE_MS: '3000', LOOM_JOB_RETRY_MAX_MS: '6000' } });
});
after(async () => {
  await cluster?.stop();
});

const ended = (j: JobBody) => ['succeeded', 'failed', 'cancelled', 'rejected'].includes(j.status);

async function leaseHolder(jobId: string): Promise<string | null> {
  const kv = await new Kvm(cluster.nc).open(OWNER_BUCKET);
  const entry = await kv.get(leaseKey('job', parseActorId(jobId)));
  if (entry === null || entry.operation !== 'PUT') return null;
  return (JSON.parse(new TextDecoder().decode(entry.value)) as { host: string }).host;
}

async function blobsOf(jobId: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(path.join(dir, e.name));
      else if (e.name.endsWith('.blob')) out.push(path.join(dir, e.name));
    }
  };
  await walk(path.join(cluster.dataDir, 'objects', 'jobs', jobId));
  return out;
}

test('SIGKILL of the host running a job: it completes on the other host, no completed step runs twice, one artifact', async () => {
  cluster.model.configure({ firstTokenDelayMs: 400 });
  try {
    const topic = 'Crash course';
    const r = await cluster.createJob({ kind: 'document.generate', input: { topic, sections: 8 } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id = r.body.job.id;
    const mid = await cluster.waitForJob(
      id,
      (j) => j.steps.filter((s) => s.id.startsWith('sections.') && s.status === 'succeeded').length >= 2 && j.steps.some((s) => s.status === 'running'),
      'to be mid-pipeline',
    );
    const holder = await leaseHolder(id);
    const victim = cluster.hosts.find((h) => h.name === holder);
    assert.ok(victim !== undefined, `the lease names a host: ${holder}`);
    await victim.kill();
    const completedBefore = mid.steps.filter((s) => s.status === 'succeeded').map((s) => s.id);

    const done = await cluster.waitForJob(id, ended, 'to end after the kill', 60_000);
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    const survivor = cluster.hosts.find((h) => h !== victim)!;
    await waitFor(() => survivor.grep(/"msg":"actor activated"/).some((l) => l.includes(id)), { what: 'the other host took the job over' });

    // One model call per step: the outline once, every section once, completed ones never again.
    const calls = cluster.model.calls.filter((c) => c.request.messages.some((m) => m.content.includes(`Topic: ${topic}`)));
    const perStep = new Map<string, number>();
    for (const c of calls) {
      const task = taskOfRequest(c.request);
      const user = c.request.messages.find((m) => m.role === 'user')?.content ?? '';
      const step = task.endsWith('/outline') ? 'outline' : `sections.${/Write section (\d+)/.exec(user)?.[1]}`;
      perStep.set(step, (perStep.get(step) ?? 0) + 1);
    }
    for (const step of completedBefore.filter((s) => perStep.has(s))) assert.equal(perStep.get(step), 1, `${step} completed before the kill and ran once`);
    assert.deepEqual([...perStep.values()].filter((n) => n !== 1), [], `every step called once: ${JSON.stringify([...perStep])}`);
    assert.equal(perStep.size, 9);

    const save = done.steps.find((s) => s.id === 'save');
    assert.equal(save?.attempt, 1);
    assert.equal((await blobsOf(id)).length, 1, 'the artifact was written once');
    assert.equal(done.artifacts.length, 1);

    // The dead host comes back for the next test.
    await victim.start();
  } finally {
    cluster.model.configure({ firstTokenDelayMs: 0 });
  }
});

test('a job whose host died while it waited to retry is resumed by the supervisor', async () => {
  let failed = false;
  cluster.model.configure({
    respond: (r) => {
      if (!failed && taskOfRequest(r) === 'research.deep/plan' && r.messages.some((m) => m.content.includes('Question: Orphan?'))) {
        failed = true;
        throw new Error('model hiccup');
      }
      return scriptedAnswer(r);
    },
  });
  try {
    const r = await cluster.createJob({ kind: 'research.deep', input: { question: 'Orphan?', maxSubQuestions: 3 } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id = r.body.job.id;
    const url = `${cluster.gateways[0]!.httpUrl}/v1/jobs/${id}/events`;
    // Watch through SSE, which reads the log and never activates the job: only the supervisor may wake it.
    const failing = await readSse(url, { token: cluster.user.token, stopAfter: (e) => e.event === 'step-attempt-failed' });
    assert.equal(failing.events.at(-1)?.event, 'step-attempt-failed');
    const holderName = await leaseHolder(id);
    const victim = cluster.hosts.find((h) => h.name === holderName);
    assert.ok(victim !== undefined, `the lease names a host: ${holderName}`);
    await victim.kill();
    const rest = await readSse(url, { token: cluster.user.token, lastEventId: failing.events.at(-1)!.id!, timeoutMs: 60_000 });
    assert.equal(rest.ended, true);
    assert.equal(rest.events.filter((e) => e.id !== undefined).at(-1)?.event, 'job-succeeded');
    const survivor = cluster.hosts.find((h) => h !== victim)!;
    await waitFor(() => survivor.grep(/resumed jobs whose host died/).length > 0, { what: 'the supervisor resumed it' });
    await victim.start();
  } finally {
    cluster.model.configure({ respond: scriptedAnswer });
  }
});

test('a job waiting for approval survives a restart of every process, then goes on when approved', async () => {
  const r = await cluster.createJob({ kind: 'document.generate', input: { topic: 'Patience', sections: 2, requireApproval: true } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const id = r.body.job.id;
  await cluster.waitForJob(id, (j) => j.status === 'waiting-approval', 'to wait for approval');

  const loom = [...cluster.gateways, ...cluster.workers, ...cluster.hosts];
  await Promise.all(loom.map((p) => p.stop()));
  await cluster.nats.restart();
  await cluster.postgres.restart();
  for (const h of cluster.hosts) await h.start();
  await Promise.all([...cluster.gateways, ...cluster.workers].map((p) => p.start()));

  const waiting = await waitFor(async () => (await cluster.getJob(id)).status === 'waiting-approval', { what: 'the job still waiting after the restart', timeoutMs: 30_000 });
  assert.ok(waiting);
  const approved = await cluster.api<JobBody>('POST', `/v1/jobs/${id}/approve`, { body: { approved: true } });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  const done = await cluster.waitForJob(id, ended, 'to end after approval', 60_000);
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  assert.equal(cluster.model.calls.filter((c) => c.request.messages.some((m) => m.content.includes('Topic: Patience'))).length, 3, 'outline once, then two sections');
});
