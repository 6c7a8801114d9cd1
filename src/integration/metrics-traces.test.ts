/**
 * Metrics and traces of a real deployment: a gateway, an actor host and an
 * inference worker as separate processes on real NATS and PostgreSQL, the
 * fake model server, real y-websocket clients, and an in-test OTLP receiver.
 * Two scrapes of each /metrics around a collaboration and a job run must show
 * every named family and the relevant ones moved, with no ids in labels; a
 * job started with a `traceparent` must come back as one trace with spans
 * from all three processes, each linked to its parent.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { connectCollabClient, parsePrometheusText, startOtlpReceiver, waitFor, type LoomProcess, type OtlpReceiver, type ReceivedSpan, type Scrape } from '../testing/index.ts';
import { uniqueDocName } from './cluster-fixture.ts';
import { startJobsCluster, TEST_MODEL, type JobBody, type JobsCluster } from './jobs-fixture.ts';

let cluster: JobsCluster;
let receiver: OtlpReceiver;

before(async () => {
  receiver = await startOtlpReceiver();
  cluster = await startJobsCluster({
    layout: { hosts: 1, gateways: 1, workers: 1 },
    // Snapshots (and so compactions) after a handful of updates, so one short collaboration takes some.
    env: { LOOM_DOC_SNAPSHOT_EVERY_UPDATES: '3', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'loom-test' },
  });
});
after(async () => {
  await cluster?.stop();
  await receiver?.close();
});

const ENDED = ['succeeded', 'failed', 'cancelled', 'rejected'];

async function scrape(p: LoomProcess): Promise<Scrape> {
  const res = await fetch(`${p.httpUrl}/metrics`, { signal: AbortSignal.timeout(15_000) });
  assert.equal(res.status, 200);
  return parsePrometheusText(await res.text());
}

async function runJob(topic: string, headers?: Record<string, string>): Promise<JobBody> {
  const created = await cluster.createJob({ kind: 'document.generate', input: { topic, sections: 2 } }, headers);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const job = await cluster.waitForJob(created.body.job.id, (j) => ENDED.includes(j.status), 'to end');
  assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  return job;
}

const NAMED_FAMILIES = ['loom_ws_connections', 'loom_actors_active', 'loom_doc_append_duration_seconds', 'loom_jobs_total', 'loom_inference_queue_depth', 'loom_http_request_duration_seconds', 'loom_process_cpu_seconds_total'];

test('a collaboration and a job run move the metrics of gateway, actor host and inference worker, and no label carries an id', async () => {
  const gw = cluster.gateways[0]!;
  const host = cluster.hosts[0]!;
  const worker = cluster.workers[0]!;
  const before = { gw: await scrape(gw), host: await scrape(host), worker: await scrape(worker) };
  for (const [role, s] of Object.entries(before)) {
    for (const name of NAMED_FAMILIES) assert.ok(s.families.has(name), `${role} lacks ${name}`);
    for (const name of s.families.keys()) assert.match(name, /^loom_/, `${role} exports ${name}`);
  }

  const room = uniqueDocName('metrics');
  const a = connectCollabClient(gw.wsUrl, room);
  const b = connectCollabClient(gw.wsUrl, room);
  let job: JobBody;
  let during: Scrape;
  try {
    await Promise.all([a.synced(), b.synced()]);
    // One edit at a time, each seen by b before the next, so each is its own append (the actor merges what arrives together).
    for (let i = 0; i < 12; i++) {
      a.doc.getText('t').insert(0, `edit ${i}. `);
      await waitFor(() => b.doc.getText('t').toString() === a.doc.getText('t').toString(), { what: `b has edit ${i}` });
    }
    during = await scrape(gw);
    job = await runJob('Metrics');
  } finally {
    a.destroy();
    b.destroy();
  }
  // Snapshots and truncation run beside the mailbox, after the appends that triggered them.
  const hostAfter = await waitFor(
    async () => {
      const s = await scrape(host);
      return s.sum('loom_doc_compactions_total', { outcome: 'ok' }) > before.host.sum('loom_doc_compactions_total', { outcome: 'ok' }) ? s : undefined;
    },
    { what: 'a compaction counted on the host', timeoutMs: 20_000 },
  );
  const after = { gw: await scrape(gw), host: hostAfter, worker: await scrape(worker) };
  const moved = (role: keyof typeof after, name: string, match?: Record<string, string>) => after[role].sum(name, match) - before[role].sum(name, match);

  // Gateway: sockets, frames, fan-out, HTTP by route pattern.
  assert.ok(during.sum('loom_ws_connections', { endpoint: 'collab' }) >= 2, 'both clients counted as open');
  assert.ok(moved('gw', 'loom_ws_frames_received_total', { endpoint: 'collab' }) >= 12);
  assert.ok(moved('gw', 'loom_ws_frames_sent_total', { endpoint: 'collab' }) >= 12);
  assert.ok(moved('gw', 'loom_gateway_fanout_duration_seconds_count') >= 12);
  const jobPosts = after.gw.samples.filter((s) => s.name === 'loom_http_request_duration_seconds_count' && s.labels.method === 'POST' && s.labels.status === '201');
  assert.ok(jobPosts.some((s) => /^\/v1\/jobs\/?$/.test(s.labels.route ?? '')), `POST /v1/jobs by its route: ${JSON.stringify(jobPosts)}`);

  // Actor host: activations, mailbox, document persistence, jobs and steps, the queue gauges.
  assert.ok(moved('host', 'loom_actor_activations_total', { kind: 'doc', outcome: 'activated' }) >= 1);
  assert.ok(moved('host', 'loom_actor_activations_total', { kind: 'job', outcome: 'activated' }) >= 1);
  assert.ok(moved('host', 'loom_actor_activation_duration_seconds_count', { kind: 'doc' }) >= 1);
  assert.ok(after.host.sum('loom_actors_active', { kind: 'doc' }) >= 1, 'the document is still live');
  assert.ok(moved('host', 'loom_actor_mailbox_depth_count', { kind: 'doc' }) >= 1);
  assert.ok(moved('host', 'loom_doc_append_duration_seconds_count', { outcome: 'ok' }) >= 12);
  assert.ok(moved('host', 'loom_doc_snapshots_total', { outcome: 'ok' }) >= 1);
  assert.ok(moved('host', 'loom_doc_snapshot_duration_seconds_count') >= 1);
  assert.ok(moved('host', 'loom_doc_compaction_duration_seconds_count') >= 1);
  assert.equal(moved('host', 'loom_jobs_total', { kind: 'document.generate', status: 'created' }), 1);
  assert.equal(moved('host', 'loom_jobs_total', { kind: 'document.generate', status: 'succeeded' }), 1);
  // An outline, then two sections: three model steps at least.
  assert.ok(moved('host', 'loom_job_steps_total', { activity: 'inference', status: 'succeeded' }) >= 3);
  assert.ok(moved('host', 'loom_job_step_duration_seconds_count', { activity: 'inference', outcome: 'succeeded' }) >= 3);
  for (const s of [after.host, after.worker]) {
    assert.ok(s.samples.some((x) => x.name === 'loom_inference_queue_depth' && x.labels.model === TEST_MODEL), 'queue depth of the test model');
    assert.ok(s.samples.some((x) => x.name === 'loom_queue_consumer_lag_messages' && x.labels.stream === 'LOOM_INFERENCE'), 'consumer lag of the inference queue');
  }

  // Inference worker: requests, latency, tokens and cost by model.
  assert.ok(moved('worker', 'loom_inference_requests_total', { model: TEST_MODEL, outcome: 'succeeded' }) >= 3);
  assert.ok(moved('worker', 'loom_inference_call_duration_seconds_count', { model: TEST_MODEL }) >= 3);
  assert.ok(moved('worker', 'loom_inference_tokens_total', { model: TEST_MODEL, direction: 'completion' }) > 0);
  assert.ok(moved('worker', 'loom_inference_cost_usd_total', { model: TEST_MODEL }) > 0);
  assert.ok(moved('worker', 'loom_process_cpu_seconds_total') > 0);

  // Bounded labels: no document, job or user id anywhere, and few series per family.
  const ids = [room, job.id, cluster.user.id];
  for (const [role, s] of Object.entries(after)) {
    const perFamily = new Map<string, number>();
    for (const sample of s.samples) {
      for (const value of Object.values(sample.labels)) {
        for (const id of ids) assert.ok(!value.includes(id), `${role}: ${sample.name} carries ${id}`);
        assert.doesNotMatch(value, /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}/, `${role}: ${sample.name} carries a uuid`);
      }
      const family = sample.name.replace(/_(bucket|count|sum)$/, '');
      perFamily.set(family, (perFamily.get(family) ?? 0) + 1);
    }
    for (const [family, n] of perFamily) assert.ok(n <= 600, `${role}: ${family} has ${n} series`);
  }
});

/** The spans of one trace, once each has its parent among them (or is the given root's child). */
function linkedTrace(traceId: string, rootSpanId: string): ReceivedSpan[] | undefined {
  const spans = receiver.spans.filter((s) => s.traceId === traceId);
  const ids = new Set(spans.map((s) => s.spanId));
  return spans.length > 0 && spans.every((s) => s.parentSpanId === rootSpanId || ids.has(s.parentSpanId)) ? spans : undefined;
}

function ancestors(span: ReceivedSpan, spans: readonly ReceivedSpan[]): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (let p = spans.find((s) => s.spanId === span.parentSpanId); p !== undefined; p = spans.find((s) => s.spanId === p?.parentSpanId)) out.push(p);
  return out;
}

test('a job started with a traceparent is one trace: HTTP at the gateway, the job actor on the host, the model calls on the worker', async () => {
  const traceId = randomBytes(16).toString('hex');
  const rootSpanId = randomBytes(8).toString('hex');
  await runJob('Traced', { traceparent: `00-${traceId}-${rootSpanId}-01` });
  const names = { gw: cluster.gateways[0]!.name, host: cluster.hosts[0]!.name, worker: cluster.workers[0]!.name };
  const spans = await waitFor(
    () => {
      const t = linkedTrace(traceId, rootSpanId);
      return t !== undefined && Object.values(names).every((n) => t.some((s) => s.instance === n)) && t.filter((s) => s.instance === names.worker).length >= 3 ? t : undefined;
    },
    { what: `spans of trace ${traceId} from gateway, host and worker, all linked`, timeoutMs: 30_000 },
  );
  const http = spans.find((s) => s.instance === names.gw && s.parentSpanId === rootSpanId);
  assert.ok(http, 'the gateway span is the child of the caller');
  assert.match(http.name, /^HTTP POST \/v1\/jobs\/?$/);
  assert.equal(http.service, 'loom-test');
  const create = spans.find((s) => s.instance === names.host && s.parentSpanId === http.spanId);
  assert.ok(create, `the job actor's span is the child of the HTTP span: ${JSON.stringify(spans.map((s) => [s.instance, s.name]))}`);
  assert.equal(create.attributes['loom.actor.kind'], 'job');
  for (const serve of spans.filter((s) => s.instance === names.worker)) {
    assert.equal(serve.name, 'inference serve');
    const chain = ancestors(serve, spans);
    assert.ok(chain.some((s) => s.instance === names.host), 'queued by the job actor');
    assert.ok(chain.includes(http), 'within the HTTP request');
  }
});

test('a WebSocket frame starts a trace that reaches the document actor on the host', async () => {
  const gw = cluster.gateways[0]!;
  const client = connectCollabClient(gw.wsUrl, uniqueDocName('traced'));
  try {
    await client.synced();
    client.doc.getText('t').insert(0, 'traced edit');
    const names = { gw: gw.name, host: cluster.hosts[0]!.name };
    await waitFor(
      () =>
        receiver.spans.some((frame) => frame.instance === names.gw && frame.name === 'ws collab frame' && receiver.spans.some((s) => s.instance === names.host && s.parentSpanId === frame.spanId && s.attributes['loom.actor.kind'] === 'doc')),
      { what: 'a frame span on the gateway with a document actor span as its child', timeoutMs: 30_000 },
    );
  } finally {
    client.destroy();
  }
});
