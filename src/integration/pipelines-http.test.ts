/**
 * The pipeline registry and the jobs API it feeds, through a real gateway,
 * actor host and inference worker (NATS, PostgreSQL, the fake model server):
 * registering versions as JSON and YAML, ownership, built-ins, every fault
 * of a bad definition at once, jobs of a registered kind (input checked
 * against its schema, pinned to the version they started on), GET /v1/jobs
 * pages and filters, and the stuck-job watchdog with a short setting.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { waitFor, type FakeChatRequest } from '../testing/index.ts';
import { startJobsCluster, type JobBody, type JobsCluster } from './jobs-fixture.ts';

let cluster: JobsCluster;

before(async () => {
  cluster = await startJobsCluster({ env: { LOOM_JOB_STUCK_AFTER_MS: '1500' } });
});
after(async () => {
  await cluster?.stop();
});

interface PipelineBody {
  kind: string;
  version: number | null;
  builtin: boolean;
  description: string | null;
  createdAt: string | null;
  definition: Record<string, unknown> | null;
}
interface ErrorBody {
  error: { code: string; message: string; field?: string; errors?: Array<{ path: string; message: string }> };
}
type JobView = JobBody & { pipeline: { kind: string; version: number } | null; stuck: boolean; stuckSince: string | null };

/** A one-step pipeline whose system prompt says which version asked. */
function summary(kind: string, version: string): Record<string, unknown> {
  return {
    kind,
    description: `summary ${version}`,
    input: { type: 'object', additionalProperties: false, required: ['text'], properties: { text: { type: 'string', minLength: 1 }, tone: { type: 'string', enum: ['dry', 'warm'] } } },
    steps: [{ id: 'summary', type: 'llm', prompt: { system: `Summary pipeline ${version}.`, user: 'Summarise: {{input.text}}' } }],
  };
}

/** The model's next answer waits until the returned function is called. */
function holdNextAnswer(answer: (request: FakeChatRequest) => string): () => void {
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  cluster.model.script([
    async (request) => {
      await held;
      return answer(request);
    },
  ]);
  return release;
}

const put = (kind: string, body: unknown, opts: { token?: string; contentType?: string } = {}) =>
  cluster.api<PipelineBody & ErrorBody>('PUT', `/v1/pipelines/${kind}`, {
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': opts.contentType ?? 'application/json' },
    ...(opts.token === undefined ? {} : { token: opts.token }),
  });

test('versions count up per kind, as JSON or YAML, and each stays readable as it was', async () => {
  const v1 = await put('acme.notes', summary('acme.notes', 'one'));
  assert.equal(v1.status, 201, JSON.stringify(v1.body));
  assert.deepEqual([v1.body.kind, v1.body.version, v1.body.builtin], ['acme.notes', 1, false]);
  assert.equal(v1.headers.get('location'), '/v1/pipelines/acme.notes/versions/1');

  const yaml = [
    'description: summary two',
    'input:',
    '  type: object',
    '  required: [text]',
    '  properties:',
    '    text: { type: string }',
    'steps:',
    '  - id: summary',
    '    type: llm',
    '    prompt:',
    '      user: "Summarise: {{input.text}}"',
  ].join('\n');
  const v2 = await put('acme.notes', yaml, { contentType: 'application/yaml' });
  assert.equal(v2.status, 201, JSON.stringify(v2.body));
  assert.equal(v2.body.version, 2);
  assert.equal(v2.body.definition?.kind, 'acme.notes', 'a body without kind takes the path’s');

  const latest = await cluster.api<PipelineBody>('GET', '/v1/pipelines/acme.notes');
  assert.deepEqual([latest.status, latest.body.version, latest.body.description], [200, 2, 'summary two']);
  const first = await cluster.api<PipelineBody>('GET', '/v1/pipelines/acme.notes/versions/1');
  assert.deepEqual([first.status, first.body.version, first.body.description], [200, 1, 'summary one']);
  const missing = await cluster.api<ErrorBody>('GET', '/v1/pipelines/acme.notes/versions/3');
  assert.deepEqual([missing.status, missing.body.error.code], [404, 'pipeline-not-found']);
});

test("another user's kinds do not exist for you, and built-ins are everyone's but no one's to overwrite", async () => {
  assert.equal((await put('acme.private', summary('acme.private', 'one'))).status, 201);
  const theirs = await cluster.api<ErrorBody>('GET', '/v1/pipelines/acme.private', { token: cluster.stranger.token });
  assert.deepEqual([theirs.status, theirs.body.error.code], [404, 'pipeline-not-found']);
  const theirVersion = await cluster.api<ErrorBody>('GET', '/v1/pipelines/acme.private/versions/1', { token: cluster.stranger.token });
  assert.equal(theirVersion.status, 404);
  // The stranger may use the same kind name for their own pipeline: it starts again at version 1.
  const own = await put('acme.private', summary('acme.private', 'theirs'), { token: cluster.stranger.token });
  assert.deepEqual([own.status, own.body.version], [201, 1]);

  const builtin = await cluster.api<PipelineBody>('GET', '/v1/pipelines/document.generate', { token: cluster.stranger.token });
  assert.deepEqual([builtin.status, builtin.body.builtin, builtin.body.version], [200, true, null]);
  assert.equal(builtin.body.definition?.['kind'], 'document.generate', 'every built-in ships as a definition');
  const overwrite = await put('document.generate', summary('document.generate', 'mine'));
  assert.deepEqual([overwrite.status, overwrite.body.error.code, overwrite.body.error.field], [409, 'builtin-kind', 'kind']);
  const reserved = await put('schema.json', summary('schema.json', 'mine'));
  assert.deepEqual([reserved.status, reserved.body.error.code], [409, 'builtin-kind'], 'the schema’s own name is no kind');

  const list = await cluster.api<{ pipelines: PipelineBody[]; nextCursor: string | null }>('GET', '/v1/pipelines?limit=100', { token: cluster.stranger.token });
  assert.equal(list.status, 200);
  const kinds = list.body.pipelines.map((p) => p.kind);
  for (const k of ['document.generate', 'research.deep', 'script.variations', 'slides.generate', 'acme.private']) assert.ok(kinds.includes(k), `${k} in ${kinds.join(', ')}`);
  assert.ok(!kinds.includes('acme.notes'), "the other user's kinds are not listed");
  assert.deepEqual(kinds, [...kinds].sort(), 'ordered by kind');
});

test('the list pages by kind with an opaque cursor and refuses one it did not make', async () => {
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const page: { status: number; body: { pipelines: PipelineBody[]; nextCursor: string | null } } = await cluster.api('GET', `/v1/pipelines?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`);
    assert.equal(page.status, 200);
    assert.ok(page.body.pipelines.length <= 2);
    seen.push(...page.body.pipelines.map((p) => p.kind));
    cursor = page.body.nextCursor;
  } while (cursor !== null);
  assert.deepEqual(seen, [...new Set(seen)].sort(), 'every kind once, in order');
  assert.ok(seen.includes('acme.notes'));
  const bad = await cluster.api<ErrorBody>('GET', '/v1/pipelines?cursor=Zm9vYmFy');
  assert.deepEqual([bad.status, bad.body.error.field], [400, 'cursor']);
});

test('a bad definition is refused with every fault named by its path, and nothing is stored', async () => {
  const bad = {
    kind: 'acme.broken',
    input: { type: 'object' },
    steps: [
      { id: 'a', type: 'llm', prompt: { user: 'hi' }, after: ['nope'] },
      { id: 'b', type: 'teleport' },
    ],
  };
  const res = await put('acme.broken', bad);
  assert.equal(res.status, 400, JSON.stringify(res.body));
  assert.equal(res.body.error.code, 'invalid-definition');
  const paths = (res.body.error.errors ?? []).map((e) => e.path);
  assert.ok(paths.includes('/steps/1/type'), `unknown step type named: ${paths.join(', ')}`);
  assert.equal((await cluster.api('GET', '/v1/pipelines/acme.broken')).status, 404);

  const dangling = await put('acme.broken', { ...bad, steps: [bad.steps[0]] });
  assert.equal(dangling.status, 400);
  assert.ok((dangling.body.error.errors ?? []).some((e) => e.path === '/steps/0/after/0'), JSON.stringify(dangling.body));

  const mismatch = await put('acme.broken', summary('acme.other', 'x'));
  assert.deepEqual([mismatch.status, mismatch.body.error.code, mismatch.body.error.field], [400, 'kind-mismatch', 'kind']);
  const notYaml = await put('acme.broken', 'steps: [unclosed', { contentType: 'text/yaml' });
  assert.deepEqual([notYaml.status, notYaml.body.error.code], [400, 'invalid-body']);
  const nul = await put('acme.broken', { ...summary('acme.broken', 'x'), description: 'bad\u0000text' });
  assert.deepEqual([nul.status, nul.body.error.field], [400, 'description']);
  const xml = await put('acme.broken', '<pipeline/>', { contentType: 'application/xml' });
  assert.equal(xml.status, 415);
  // A pattern with exponential backtracking would let one input hold the gateway's event loop.
  const redos = await put('acme.broken', { ...summary('acme.broken', 'x'), input: { type: 'object', properties: { text: { type: 'string', pattern: '^(a+)+$' } } } });
  assert.deepEqual([redos.status, redos.body.error.code], [400, 'invalid-definition'], JSON.stringify(redos.body));
  assert.ok((redos.body.error.errors ?? []).some((e) => e.path === '/input' && /exponentially/.test(e.message)), JSON.stringify(redos.body));
  assert.equal((await cluster.api('GET', '/v1/pipelines/acme.broken')).status, 404);
});

test('registering needs the pipelines:write scope; the JSON Schema is public', async () => {
  const key = await cluster.api<{ key: string }>('POST', '/v1/api-keys', { body: { name: 'jobs only', scopes: ['jobs:run'] } });
  assert.equal(key.status, 201, JSON.stringify(key.body));
  const refused = await put('acme.keyed', summary('acme.keyed', 'x'), { token: key.body.key });
  assert.deepEqual([refused.status, refused.body.error.code], [403, 'insufficient-scope']);
  const writer = await cluster.api<{ key: string }>('POST', '/v1/api-keys', { body: { name: 'registry', scopes: ['pipelines:write'] } });
  assert.equal((await put('acme.keyed', summary('acme.keyed', 'x'), { token: writer.body.key })).status, 201);

  const schema = await fetch(`${cluster.gateways[0]!.httpUrl}/v1/pipelines/schema.json`);
  assert.equal(schema.status, 200);
  const body = (await schema.json()) as { $schema?: string; properties?: Record<string, unknown> };
  assert.match(body.$schema ?? '', /json-schema\.org/);
  assert.ok(body.properties?.steps !== undefined);
});

test('a job of a registered kind checks its input against the schema and records the version it runs', async () => {
  assert.equal((await put('acme.jobs', summary('acme.jobs', 'one'))).status, 201);
  const badInput = await cluster.createJob({ kind: 'acme.jobs', input: { text: 'x', tone: 'loud' } });
  assert.equal(badInput.status, 400, JSON.stringify(badInput.body));
  assert.equal((badInput.body as unknown as ErrorBody).error.field, 'input.tone');
  const missing = await cluster.createJob({ kind: 'acme.jobs', input: {} });
  assert.equal((missing.body as unknown as ErrorBody).error.field, 'input.text');
  const unknown = await cluster.createJob({ kind: 'acme.nothing', input: {} });
  assert.deepEqual([unknown.status, (unknown.body as unknown as ErrorBody).error.code, (unknown.body as unknown as ErrorBody).error.field], [400, 'unknown-kind', 'kind']);
  const strangers = await cluster.api<ErrorBody>('POST', '/v1/jobs', { token: cluster.stranger.token, body: { kind: 'acme.jobs', input: { text: 'hi' } } });
  assert.deepEqual([strangers.status, strangers.body.error.code], [400, 'unknown-kind'], "another user's kind is not yours to run");

  const created = await cluster.createJob({ kind: 'acme.jobs', input: { text: 'the tides' } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const job = (await cluster.waitForJob(created.body.job.id, (j) => j.status === 'succeeded', 'succeeds')) as JobView;
  assert.deepEqual(job.pipeline, { kind: 'acme.jobs', version: 1 });
});

test('a job started on v1 finishes on v1 after v2 is registered; the next job runs v2', async () => {
  assert.equal((await put('acme.pinned', summary('acme.pinned', 'one'))).status, 201);
  const release = holdNextAnswer((request) => `answered ${request.messages.find((m) => m.role === 'system')?.content ?? ''}`);
  const created = await cluster.createJob({ kind: 'acme.pinned', input: { text: 'first' } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await waitFor(() => cluster.model.calls.some((c) => c.outcome === 'in-flight' && JSON.stringify(c.request.messages).includes('first')), { what: 'the v1 job calls the model' });
  assert.equal((await put('acme.pinned', summary('acme.pinned', 'two'))).body.version, 2);
  release();
  const v1Job = (await cluster.waitForJob(created.body.job.id, (j) => j.status === 'succeeded', 'succeeds')) as JobView;
  assert.deepEqual(v1Job.pipeline, { kind: 'acme.pinned', version: 1 });
  assert.match(JSON.stringify(v1Job.output), /Summary pipeline one\./);

  const next = await cluster.createJob({ kind: 'acme.pinned', input: { text: 'second' } });
  const v2Job = (await cluster.waitForJob(next.body.job.id, (j) => j.status === 'succeeded', 'succeeds')) as JobView;
  assert.deepEqual(v2Job.pipeline, { kind: 'acme.pinned', version: 2 });
  const v2Call = cluster.model.calls.find((c) => JSON.stringify(c.request.messages).includes('second'));
  assert.match(v2Call?.request.messages.find((m) => m.role === 'system')?.content ?? '', /Summary pipeline two\./);
});

test('GET /v1/jobs lists my jobs newest first, by kind and status, in cursor pages', async () => {
  const lister = cluster.stranger;
  const ids: string[] = [];
  for (const text of ['a', 'b', 'c']) {
    const r = await cluster.api<{ job: JobBody }>('POST', '/v1/jobs', { token: lister.token, body: { kind: 'acme.private', input: { text } } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    ids.push(r.body.job.id);
  }
  const bad = await cluster.api<{ job: JobBody }>('POST', '/v1/jobs', { token: lister.token, body: { kind: 'slides.generate', input: { topic: 'Tides', slideCount: 2 } } });
  assert.equal(bad.status, 201, JSON.stringify(bad.body));
  await waitFor(async () => {
    const all = await cluster.api<{ jobs: Array<{ id: string; status: string }> }>('GET', '/v1/jobs?limit=100', { token: lister.token });
    return all.body.jobs.length === 4 && all.body.jobs.every((j) => j.status === 'succeeded') ? true : null;
  }, { what: 'all four jobs succeed', timeoutMs: 30_000 });

  const pages: string[][] = [];
  let cursor: string | null = null;
  do {
    const r: { status: number; body: { jobs: Array<{ id: string; kind: string }>; nextCursor: string | null } } = await cluster.api('GET', `/v1/jobs?kind=acme.private&limit=2${cursor === null ? '' : `&cursor=${cursor}`}`, { token: lister.token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    pages.push(r.body.jobs.map((j) => j.id));
    assert.ok(r.body.jobs.every((j) => j.kind === 'acme.private'));
    cursor = r.body.nextCursor;
  } while (cursor !== null);
  assert.deepEqual(pages, [[ids[2], ids[1]], [ids[0]]], 'newest first, two then one');

  const failed = await cluster.api<{ jobs: unknown[] }>('GET', '/v1/jobs?status=failed', { token: lister.token });
  assert.deepEqual([failed.status, failed.body.jobs.length], [200, 0]);
  const mine = await cluster.api<{ jobs: Array<{ id: string }> }>('GET', '/v1/jobs?limit=100');
  assert.ok(!mine.body.jobs.some((j) => ids.includes(j.id)), "another user's jobs are not listed");
  for (const [query, field] of [['status=bogus', 'status'], ['kind=NOT%20A%20KIND', 'kind'], ['limit=0', 'limit'], ['limit=1e400', 'limit'], ['cursor=x', 'cursor']] as const) {
    const r = await cluster.api<ErrorBody>('GET', `/v1/jobs?${query}`);
    assert.deepEqual([r.status, r.body.error.field], [400, field], query);
  }
});

test('a running job with no new event for LOOM_JOB_STUCK_AFTER_MS is flagged stuck in its view and log, and its next event clears it', async () => {
  assert.equal((await put('acme.slow', summary('acme.slow', 'one'))).status, 201);
  const release = holdNextAnswer(() => 'late but done');
  const created = await cluster.createJob({ kind: 'acme.slow', input: { text: 'slow' } });
  assert.equal(created.status, 201);
  const stuck = (await cluster.waitForJob(created.body.job.id, (j) => (j as JobView).stuck, 'is flagged stuck')) as JobView;
  assert.equal(stuck.status, 'running');
  assert.ok(stuck.stuckSince !== null && Date.parse(stuck.stuckSince) <= Date.now());
  release();
  const done = (await cluster.waitForJob(created.body.job.id, (j) => j.status === 'succeeded', 'succeeds')) as JobView;
  assert.deepEqual([done.stuck, done.stuckSince], [false, null]);

  // The flag is a durable event of the job's own log, so SSE (and webhooks) see it.
  const res = await fetch(`${cluster.gateways[0]!.httpUrl}/v1/jobs/${encodeURIComponent(created.body.job.id)}/events`, { headers: { authorization: `Bearer ${cluster.user.token}` } });
  const text = await res.text();
  assert.equal(text.match(/event: job-stuck/g)?.length, 1, 'flagged once for the one stall');
});

// Last in the file: the gateway answers before reading the oversized body and closes that connection, which a pooled next request would hit.
// YAML is the case to prove: the app-wide body limit covers JSON bodies only.
test('an oversized definition is refused with 413 before it is read whole', async () => {
  const huge = await put('acme.huge', `description: ${'x'.repeat(300 * 1024)}\n`, { contentType: 'application/yaml' });
  assert.deepEqual([huge.status, huge.body.error.code], [413, 'definition-too-large']);
});
