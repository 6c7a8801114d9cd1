import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp } from '../http/app.ts';
import { createRootLogger } from '../log.ts';
import { parsePrometheusText } from '../testing/index.ts';
import { metricsRouter } from './metrics-route.ts';
import { startProcessMetrics } from './registry.ts';

const log = createRootLogger({ level: 'silent', instanceId: 'metrics-test' });
const appWith = (token?: string) => createApp({ log, routes: [{ path: '/', router: metricsRouter({ token }) }], readinessChecks: [] });

test('GET /metrics answers Prometheus text in which every family starts with loom_, process metrics included', async () => {
  startProcessMetrics();
  const res = await appWith().request('/metrics');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const scrape = parsePrometheusText(await res.text());
  assert.ok(scrape.families.size > 10, `families: ${[...scrape.families.keys()].join(', ')}`);
  for (const name of scrape.families.keys()) assert.match(name, /^loom_/);
  for (const name of ['loom_process_cpu_seconds_total', 'loom_process_resident_memory_bytes', 'loom_nodejs_eventloop_lag_seconds', 'loom_http_request_duration_seconds', 'loom_ws_connections', 'loom_actors_active', 'loom_doc_append_duration_seconds', 'loom_jobs_total', 'loom_inference_queue_depth']) {
    assert.ok(scrape.families.has(name), `${name} missing`);
  }
});

test('HTTP latency is labelled with the route pattern and status, never the raw path; unknown paths count as unmatched', async () => {
  const app = appWith();
  const before = parsePrometheusText(await (await app.request('/metrics')).text());
  assert.equal((await app.request('/healthz')).status, 200);
  assert.equal((await app.request('/no/such/path-0d7c1f')).status, 404);
  const after = parsePrometheusText(await (await app.request('/metrics')).text());
  const count = (s: typeof after, route: string, status: string) => s.sum('loom_http_request_duration_seconds_count', { method: 'GET', route, status });
  assert.equal(count(after, '/healthz', '200') - count(before, '/healthz', '200'), 1);
  assert.equal(count(after, 'unmatched', '404') - count(before, 'unmatched', '404'), 1);
  const routes = new Set(after.samples.filter((s) => s.name.startsWith('loom_http_')).map((s) => s.labels.route));
  assert.ok(![...routes].some((r) => r?.includes('path-0d7c1f')), `raw path leaked into labels: ${[...routes].join(', ')}`);
});

test('with LOOM_METRICS_TOKEN set, /metrics wants that bearer token and refuses others with 401', async () => {
  const app = appWith('scrape-secret-0123456789');
  const none = await app.request('/metrics');
  assert.equal(none.status, 401);
  assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'unauthorized');
  assert.equal((await app.request('/metrics', { headers: { authorization: 'Bearer wrong' } })).status, 401);
  assert.equal((await app.request('/metrics', { headers: { authorization: 'scrape-secret-0123456789' } })).status, 401);
  const ok = await app.request('/metrics', { headers: { authorization: 'Bearer scrape-secret-0123456789' } });
  assert.equal(ok.status, 200);
  assert.match(await ok.text(), /^# HELP loom_/m);
});
