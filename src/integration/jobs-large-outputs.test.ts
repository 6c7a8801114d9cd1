/**
 * A job whose outputs total more than one NATS message (max_payload, 1 MiB
 * by default), end to end on one Loom process with every role: its view
 * still answers, with the largest outputs left out and flagged, and each
 * output left out is served whole by GET …/output (owner only). Every output
 * a job records is servable (larger ones are refused when recorded), and a
 * job with thousands of step instances has them summarised and paged.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { scriptedAnswer, startJobsCluster, taskOfRequest, type JobBody, type JobsCluster } from './jobs-fixture.ts';

let cluster: JobsCluster;
const SECTION_CHARS = 200_000;
/** The harness's nats-server has the default max_payload (1 MiB): outputs are held to 1 MiB less 32 KiB (actors/job/output-limit.ts). */
const OUTPUT_LIMIT = 1024 * 1024 - 32 * 1024;
/** Section answers by topic: just under the limit once collected and composed, and over it alone. */
const SIZED_SECTIONS: Record<string, number> = { 'Near the limit': OUTPUT_LIMIT - 10_000, 'Over the limit': OUTPUT_LIMIT + 1_000 };

function sectionAnswer(user: string): string {
  const sized = Object.entries(SIZED_SECTIONS).find(([topic]) => user.includes(`Topic: ${topic}\n`));
  return sized === undefined ? `${'s'.repeat(SECTION_CHARS)} ${user.length}` : 'n'.repeat(sized[1]);
}

before(async () => {
  cluster = await startJobsCluster();
  // Sections of 200 kB: four of them, the step collecting them and the composed document pass 1 MiB together (each output stays under it).
  cluster.model.configure({
    respond: (r) => (taskOfRequest(r) === 'document.generate/section' ? sectionAnswer(r.messages.at(-1)?.content ?? '') : scriptedAnswer(r)),
  });
});
after(async () => {
  await cluster?.stop();
});

interface OutputBody {
  readonly step: string | null;
  readonly output: unknown;
}

type ViewWithFlags = Omit<JobBody, 'steps'> & { outputOmitted?: true; steps: Array<JobBody['steps'][number] & { output: unknown; outputOmitted?: true }> };

test('a job whose outputs pass 1 MiB is viewable, its largest outputs flagged as left out and served by the output routes', async () => {
  const r = await cluster.createJob({ kind: 'document.generate', input: { topic: 'Very long', sections: 4 } });
  assert.equal(r.status, 201, JSON.stringify(r.body).slice(0, 500));
  const job = await cluster.waitForJob(r.body.job.id, (j) => j.status === 'succeeded' || j.status === 'failed', 'the job ends', 60_000);
  assert.equal(job.status, 'succeeded', JSON.stringify(job.error));

  const got = await cluster.api<ViewWithFlags>('GET', `/v1/jobs/${job.id}`);
  assert.equal(got.status, 200);
  const omitted = got.body.steps.filter((s) => s.outputOmitted === true);
  assert.ok(omitted.length > 0 || got.body.outputOmitted === true, 'something was left out');
  for (const s of omitted) assert.equal(s.output, null, s.id);
  const outline = got.body.steps.find((s) => s.id === 'outline');
  assert.ok(outline !== undefined && outline.outputOmitted === undefined && outline.output !== null, 'a small output stays in the view');

  // Every output left out is served whole, and matches what the step recorded.
  for (const s of omitted) {
    const out = await cluster.api<OutputBody>('GET', `/v1/jobs/${job.id}/steps/${encodeURIComponent(s.id)}/output`);
    assert.equal(out.status, 200, s.id);
    assert.equal(out.body.step, s.id);
    assert.ok(JSON.stringify(out.body.output).length > SECTION_CHARS, `${s.id}'s output is whole`);
  }
  const own = await cluster.api<OutputBody>('GET', `/v1/jobs/${job.id}/output`);
  assert.equal(own.status, 200);
  assert.equal(own.body.step, null);
  assert.ok(JSON.stringify(own.body.output).length > 4 * SECTION_CHARS, "the job's composed output is whole");

  // Cancel of an ended job is a conflict, not a 413: the view it would carry fits too.
  const cancel = await cluster.api('POST', `/v1/jobs/${job.id}/cancel`, { body: {} });
  assert.notEqual(cancel.status, 413);
});

test('outputs just under the limit are recorded and each is served whole, on every path (model call, map, artifact, result)', async () => {
  const r = await cluster.createJob({ kind: 'document.generate', input: { topic: 'Near the limit', sections: 1 } });
  assert.equal(r.status, 201);
  const job = await cluster.waitForJob(r.body.job.id, (j) => j.status === 'succeeded' || j.status === 'failed', 'the job ends', 60_000);
  assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  const got = await cluster.api<ViewWithFlags>('GET', `/v1/jobs/${job.id}`);
  assert.equal(got.status, 200);
  for (const s of got.body.steps) {
    const out = await cluster.api<OutputBody>('GET', `/v1/jobs/${job.id}/steps/${encodeURIComponent(s.id)}/output`);
    assert.equal(out.status, 200, s.id);
  }
  const own = await cluster.api<OutputBody>('GET', `/v1/jobs/${job.id}/output`);
  assert.equal(own.status, 200);
  const bytes = Buffer.byteLength(JSON.stringify(own.body.output));
  assert.ok(bytes > OUTPUT_LIMIT - 10_000 && bytes <= OUTPUT_LIMIT, `the job's result, ${bytes} bytes, is whole`);
});

test('an output over the limit is refused when recorded: the step fails for good naming the limit, and nothing answers 413', async () => {
  const r = await cluster.createJob({ kind: 'document.generate', input: { topic: 'Over the limit', sections: 1 } });
  assert.equal(r.status, 201);
  const job = await cluster.waitForJob(r.body.job.id, (j) => j.status === 'succeeded' || j.status === 'failed', 'the job ends', 60_000);
  assert.equal(job.status, 'failed');
  const got = await cluster.api<ViewWithFlags & { steps: Array<{ id: string; error: { code: string; message: string } | null }> }>('GET', `/v1/jobs/${job.id}`);
  assert.equal(got.status, 200);
  const refused = got.body.steps.find((s) => s.error?.code === 'output-too-large');
  assert.ok(refused !== undefined, JSON.stringify(got.body.steps.map((s) => [s.id, s.status, s.error])));
  assert.match(refused.error?.message ?? '', new RegExp(`its output is ${OUTPUT_LIMIT + 1_002} bytes of JSON, over ${OUTPUT_LIMIT}, the most one output may hold`));
  const out = await cluster.api<OutputBody>('GET', `/v1/jobs/${job.id}/steps/${encodeURIComponent(refused.id)}/output`);
  assert.deepEqual([out.status, out.body.output], [200, null]);
});

interface StepsPage {
  readonly total: number;
  readonly offset: number;
  readonly nextOffset: number | null;
  readonly steps: Array<{ id: string; status: string; artifact: { key: string; downloadUrl: string | null } | null }>;
}

test('a job with thousands of step instances is viewable: its steps summarised by status, and GET …/steps pages every one', async () => {
  // 2,500 artifact instances (5 maps of MAX_MAP_ITEMS, 500): their step views and artifact refs alone pass 1 MiB.
  const kind = 'acme.many-parts';
  const definition = {
    kind,
    input: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } },
    steps: [1, 2, 3, 4, 5].map((m) => ({ id: `p${m}`, type: 'map', over: 'input.n', maxParallel: 100, step: { type: 'artifact', name: 'part.txt', body: 'part {{index}}' } })),
    result: { parts: 'done' },
  };
  const put = await cluster.api('PUT', `/v1/pipelines/${kind}`, { body: definition });
  assert.equal(put.status, 201, JSON.stringify(put.body));
  const r = await cluster.createJob({ kind, input: { n: 500 } });
  assert.equal(r.status, 201, JSON.stringify(r.body).slice(0, 500));
  const job = await cluster.waitForJob(r.body.job.id, (j) => j.status === 'succeeded' || j.status === 'failed', 'the job ends', 180_000);
  assert.equal(job.status, 'succeeded', JSON.stringify(job.error));

  const got = await cluster.api<ViewWithFlags & { stepsOmitted?: true; stepCounts?: Record<string, number>; listsTruncated?: true; artifacts: unknown[] }>('GET', `/v1/jobs/${job.id}`);
  assert.equal(got.status, 200);
  assert.deepEqual([got.body.steps, got.body.stepsOmitted, got.body.stepCounts, got.body.listsTruncated, got.body.artifacts.length], [[], true, { succeeded: 2_505 }, true, 20]);

  const ids = new Set<string>();
  let offset: number | null = 0;
  while (offset !== null) {
    const page: { status: number; body: StepsPage } = await cluster.api<StepsPage>('GET', `/v1/jobs/${job.id}/steps?offset=${offset}&limit=1000`);
    assert.equal(page.status, 200);
    assert.equal(page.body.total, 2_505);
    for (const s of page.body.steps) {
      ids.add(s.id);
      if (!/^p\d$/.test(s.id)) assert.ok(s.artifact !== null && s.artifact.downloadUrl !== null, `${s.id} lists its artifact with a URL`);
    }
    offset = page.body.nextOffset;
  }
  assert.equal(ids.size, 2_505);
  assert.ok(ids.has('p1') && ids.has('p1.1') && ids.has('p5.500'), [...ids].slice(0, 3).join());

  for (const [query, field] of [['limit=0', 'limit'], ['limit=1001', 'limit'], ['offset=-1', 'offset'], ['offset=abc', 'offset']]) {
    const bad = await cluster.api<{ error: { code: string; field?: string } }>('GET', `/v1/jobs/${job.id}/steps?${query}`);
    assert.deepEqual([bad.status, bad.body.error.field], [400, field], query);
  }
  assert.equal((await cluster.api('GET', `/v1/jobs/${job.id}/steps`, { token: cluster.stranger.token })).status, 404);
});

test('the output routes are for the owner only, and an unknown step is a 404', async () => {
  const r = await cluster.createJob({ kind: 'document.generate', input: { topic: 'Short', sections: 1 } });
  assert.equal(r.status, 201);
  const id = r.body.job.id;
  await cluster.waitForJob(id, (j) => j.status === 'succeeded', 'the job succeeds', 60_000);
  assert.equal((await cluster.api('GET', `/v1/jobs/${id}/output`, { token: cluster.stranger.token })).status, 404);
  assert.equal((await cluster.api('GET', `/v1/jobs/${id}/steps/outline/output`, { token: cluster.stranger.token })).status, 404);
  const missing = await cluster.api<{ error: { code: string; message: string } }>('GET', `/v1/jobs/${id}/steps/no-such-step/output`);
  assert.equal(missing.status, 404);
  assert.match(missing.body.error.message, /no-such-step/);
  const outline = await cluster.api<OutputBody>('GET', `/v1/jobs/${id}/steps/outline/output`);
  assert.equal(outline.status, 200);
  assert.equal(outline.body.step, 'outline');
  assert.notEqual(outline.body.output, null);
});

test('/openapi.json lists the output routes with their errors, and the flag on the job view', async () => {
  const res = await fetch(`${cluster.gateways[0]!.httpUrl}/openapi.json`);
  assert.equal(res.status, 200);
  const doc = (await res.json()) as { paths: Record<string, { get?: { responses: Record<string, unknown> } }>; components: { schemas: Record<string, { properties?: Record<string, unknown> }> } };
  for (const p of ['/v1/jobs/{id}/output', '/v1/jobs/{id}/steps/{step}/output', '/v1/jobs/{id}/steps']) {
    const responses = doc.paths[p]?.get?.responses ?? {};
    assert.deepEqual(['200', '404', ...(p.endsWith('/steps') ? [] : ['413'])].filter((code) => responses[code] === undefined), [], p);
  }
  assert.ok(doc.components.schemas['JobOutput']);
  for (const flag of ['outputOmitted', 'stepsOmitted', 'stepCounts', 'listsTruncated']) assert.ok(doc.components.schemas['Job']?.properties?.[flag], `Job.${flag}`);
  assert.ok(doc.components.schemas['JobStepsPage']);
});
