/**
 * Webhooks end to end on real NATS (JetStream) and PostgreSQL: endpoints
 * made over the HTTP API, events published to the outbound-events stream as
 * the sources do, a dispatcher delivering them to receivers that verify with
 * the `standardwebhooks` library. Signatures verify (and a tampered body or
 * an old timestamp does not); a receiver that is down, then fails, then
 * recovers gets retries at growing gaps; 410 disables; a rotated secret
 * signs beside the old one during the overlap only; loopback and metadata
 * targets are refused without LOOM_WEBHOOK_ALLOW_PRIVATE; endpoints are
 * private to their owner.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { encodeOutboundEvent, outboundEventSubject, type OutboundEvent } from '../../protocol/outbound-events.ts';
import type { Config } from '../config.ts';
import { webhooksRoutes } from '../http/routes/webhooks.ts';
import { provisionNats } from '../nats/provision.ts';
import { openDatabase, type Database } from '../storage/index.ts';
import { createAccountsApp, startNatsServer, startPostgresServer, waitFor, type AccountsApp, type NatsServerHandle, type PostgresServerHandle, type TestUser, startWebhookReceiver, verifiesWith, type WebhookReceiver } from '../testing/index.ts';
import { SecretBox, startWebhookDispatcher, WebhookService, type WebhookDispatcher } from '../webhooks/index.ts';

const logger = pino({ level: process.env.WH_TEST_LOG ?? 'silent' });
const SCHEDULE = [150, 300, 600];
const OVERLAP_MS = 1_500;

let nats: NatsServerHandle;
let pg: PostgresServerHandle;
let nc: NatsConnection;
let js: JetStreamClient;
let database: Database;
let dataDir: string;
let api: AccountsApp;
let dispatcher: WebhookDispatcher;
const receivers: WebhookReceiver[] = [];

function webhookConfig(overrides: Partial<Config['webhooks']> = {}): Config['webhooks'] {
  return {
    allowHttp: true,
    allowPrivate: true,
    timeoutMs: 2_000,
    retryScheduleMs: SCHEDULE,
    rotationOverlapMs: OVERLAP_MS,
    secretKey: Buffer.alloc(32, 9).toString('base64'),
    concurrency: 16,
    leaseTtlMs: 2_000,
    pollIntervalMs: 50,
    streamReplicas: 1,
    ...overrides,
  };
}

before(async () => {
  [nats, pg] = await Promise.all([startNatsServer(), startPostgresServer()]);
  nc = await connect({ servers: nats.url });
  js = jetstream(nc);
  const provisioned = await provisionNats(nc, { leaseTtlMs: 2_000, logger });
  database = await openDatabase({ url: await pg.createDatabase(), logger });
  await database.migrate();
  dataDir = await mkdtemp(join(tmpdir(), 'loom-webhooks-'));
  const config = webhookConfig();
  dispatcher = await startWebhookDispatcher({ config, nc, leases: provisioned.leases, leaseTtlMs: 2_000, db: database.db, instanceId: 'test-dispatcher', log: logger });
  api = await createAccountsApp({
    db: database.db,
    log: logger,
    dataDir,
    routes: [
      {
        path: '/v1/webhooks',
        router: (auth) =>
          webhooksRoutes({
            service: new WebhookService({
              db: database.db,
              secrets: new SecretBox(config.secretKey),
              audit: auth.audit,
              allowHttp: true,
              allowPrivate: false,
              rotationOverlapMs: OVERLAP_MS,
              onDeliveryDue: () => dispatcher.wake(),
            }),
            authenticate: auth.middleware,
          }),
      },
    ],
  });
});

after(async () => {
  await dispatcher.stop();
  for (const r of receivers) await r.close();
  await database.close();
  await nc.close();
  await Promise.all([nats.dispose(), pg.dispose()]);
  await rm(dataDir, { recursive: true, force: true });
});

async function receiver(): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver();
  receivers.push(r);
  return r;
}

interface Created {
  endpoint: { id: string; enabled: boolean; disabledReason: string | null };
  secret: string;
}

/** Creates an endpoint over the API (the API refuses loopback, so the URL is written through the service's store afterwards for local receivers). */
async function subscribe(user: TestUser, url: string, events: string[] = ['job.*']): Promise<Created> {
  const res = await api.request<Created>('POST', '/v1/webhooks', { token: user.accessToken, body: { url: 'https://hooks.example.com/loom', events } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  await database.db.execute(`update webhook_endpoints set url = '${url}' where id = '${res.body.endpoint.id}'`);
  return res.body;
}

async function publish(user: TestUser, type: string, orderKey: string, data: Record<string, unknown> = {}): Promise<OutboundEvent> {
  const event: OutboundEvent = { id: `evt_${randomUUID()}`, type, timestamp: new Date().toISOString(), ownerIds: [user.userId], orderKey, data };
  await js.publish(outboundEventSubject(type), encodeOutboundEvent(event), { msgID: event.id });
  return event;
}

interface DeliveryJson {
  id: string;
  eventId: string;
  status: string;
  attempts: number;
  lastResponseStatus: number | null;
  lastError: string | null;
  attemptLog: Array<{ at: string; responseStatus: number | null; error: string | null }>;
}

async function deliveries(user: TestUser, endpointId: string, query = ''): Promise<DeliveryJson[]> {
  const res = await api.request<{ deliveries: DeliveryJson[] }>('GET', `/v1/webhooks/${endpointId}/deliveries${query}`, { token: user.accessToken });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.deliveries;
}

test('an event arrives signed; the library verifies it, and refuses a tampered body and an old timestamp', async () => {
  const user = await api.register();
  const r = await receiver();
  const { endpoint, secret } = await subscribe(user, r.url);
  assert.match(secret, /^whsec_/);
  r.setSecrets([secret]);
  const event = await publish(user, 'job.succeeded', 'job:1', { jobId: 'j1' });
  await waitFor(() => r.received.length === 1);
  const got = r.received[0]!;
  assert.equal(got.id, event.id);
  assert.deepEqual(JSON.parse(got.body), { type: 'job.succeeded', timestamp: event.timestamp, data: { jobId: 'j1' } });
  assert.deepEqual(got.verifiedWith, [true]);
  assert.equal(verifiesWith(secret, { ...got, body: got.body.replace('j1', 'j2') }), false);
  assert.equal(verifiesWith(secret, { ...got, timestamp: String(Number(got.timestamp) - 3_600) }), false);
  await waitFor(async () => (await deliveries(user, endpoint.id))[0]?.status === 'succeeded');
  // The secret is never shown again.
  const shown = await api.request<Record<string, unknown>>('GET', `/v1/webhooks/${endpoint.id}`, { token: user.accessToken });
  assert.equal(JSON.stringify(shown.body).includes(secret.slice(6)), false);
});

test('patterns select events: job.* takes job.created but neither job.step.succeeded nor doc.updated', async () => {
  const user = await api.register();
  const r = await receiver();
  await subscribe(user, r.url, ['job.*']);
  await publish(user, 'job.step.succeeded', 'job:p');
  await publish(user, 'doc.updated', 'doc:p');
  const wanted = await publish(user, 'job.created', 'job:p');
  await waitFor(() => r.received.length >= 1);
  // Events are recorded in stream order, so by the time the last one arrived the first two were passed over.
  assert.deepEqual(r.received.map((x) => x.id), [wanted.id]);
});

test('a receiver down, then failing, then up: retries at growing gaps until it succeeds, each attempt logged', async () => {
  const user = await api.register();
  const r = await receiver();
  const port = r.port;
  await r.close();
  const { endpoint } = await subscribe(user, `http://127.0.0.1:${port}/hook`);
  const event = await publish(user, 'job.failed', 'job:2');
  // Down: attempts fail to connect.
  await waitFor(async () => ((await deliveries(user, endpoint.id))[0]?.attempts ?? 0) >= 1);
  const back = await startWebhookReceiver({ port });
  receivers.push(back);
  back.setResponder((_req, n) => (n === 1 ? { status: 500 } : { status: 204 }));
  await waitFor(async () => (await deliveries(user, endpoint.id))[0]?.status === 'succeeded', { timeoutMs: 10_000 });
  const [d] = await deliveries(user, endpoint.id);
  assert.ok(d !== undefined && d.attempts >= 3, JSON.stringify(d));
  assert.equal(d.attemptLog[0]?.responseStatus, null);
  assert.equal(d.attemptLog.at(-2)?.responseStatus, 500);
  assert.equal(d.attemptLog.at(-1)?.responseStatus, 204);
  const times = d.attemptLog.map((a) => Date.parse(a.at));
  const gaps = times.slice(1).map((t, i) => t - times[i]!);
  // Each gap is at least its scheduled wait less the jitter, so the gaps grow.
  gaps.forEach((gap, i) => assert.ok(gap >= SCHEDULE[i]! * 0.8, `gap ${i} ${gap} ms`));
  assert.deepEqual(new Set(back.received.map((x) => x.id)), new Set([event.id]));
});

test('410 Gone disables the endpoint and tells its owner in the audit log; enabling it again resumes delivery', async () => {
  const user = await api.register();
  const r = await receiver();
  r.setResponder(() => ({ status: 410 }));
  const { endpoint } = await subscribe(user, r.url);
  await publish(user, 'job.cancelled', 'job:3');
  await waitFor(async () => {
    const res = await api.request<{ enabled: boolean; disabledReason: string | null }>('GET', `/v1/webhooks/${endpoint.id}`, { token: user.accessToken });
    return res.body.enabled === false;
  });
  const audit = await api.request<{ entries: Array<{ action: string; detail: { endpointId?: string } | null }> }>('GET', `/v1/audit?targetType=user&targetId=${user.userId}`, { token: user.accessToken });
  assert.ok(audit.body.entries.some((e) => e.action === 'webhook.disable' && e.detail?.endpointId === endpoint.id), JSON.stringify(audit.body));
  r.setResponder(() => ({ status: 200 }));
  const patched = await api.request<{ enabled: boolean }>('PATCH', `/v1/webhooks/${endpoint.id}`, { token: user.accessToken, body: { enabled: true } });
  assert.equal(patched.body.enabled, true);
  await waitFor(async () => (await deliveries(user, endpoint.id))[0]?.status === 'succeeded');
});

test('a delivery that runs out of retries is dead-lettered, its failing endpoint disabled, and once enabled it can be replayed with the same webhook-id', async () => {
  const user = await api.register();
  const r = await receiver();
  r.setResponder(() => ({ status: 503 }));
  const { endpoint } = await subscribe(user, r.url);
  const event = await publish(user, 'job.stuck', 'job:4');
  await waitFor(async () => (await deliveries(user, endpoint.id, '?status=failed')).length === 1, { timeoutMs: 10_000 });
  const [dead] = await deliveries(user, endpoint.id, '?status=failed');
  assert.equal(dead?.attempts, SCHEDULE.length + 1);
  // Failing for the whole schedule also disabled the endpoint; its owner turns it back on.
  const shown = await api.request<{ enabled: boolean; disabledReason: string }>('GET', `/v1/webhooks/${endpoint.id}`, { token: user.accessToken });
  assert.equal(shown.body.enabled, false);
  assert.match(shown.body.disabledReason, /longer than the retry schedule/);
  r.setResponder(() => ({ status: 200 }));
  assert.equal((await api.request('PATCH', `/v1/webhooks/${endpoint.id}`, { token: user.accessToken, body: { enabled: true } })).status, 200);
  const replay = await api.request<DeliveryJson>('POST', `/v1/webhooks/${endpoint.id}/deliveries/${dead!.id}/replay`, { token: user.accessToken });
  assert.equal(replay.status, 202);
  await waitFor(async () => (await deliveries(user, endpoint.id))[0]?.status === 'succeeded');
  assert.ok(r.received.every((x) => x.id === event.id));
});

test('rotation: during the overlap both secrets sign, after it only the new one', async () => {
  const user = await api.register();
  const r = await receiver();
  const { endpoint, secret: oldSecret } = await subscribe(user, r.url);
  const rotated = await api.request<{ secret: string; previousSecretExpiresAt: string }>('POST', `/v1/webhooks/${endpoint.id}/rotate-secret`, { token: user.accessToken });
  assert.equal(rotated.status, 200);
  r.setSecrets([oldSecret, rotated.body.secret]);
  const test1 = await api.request<DeliveryJson>('POST', `/v1/webhooks/${endpoint.id}/test`, { token: user.accessToken });
  assert.equal(test1.status, 202);
  await waitFor(() => r.received.length === 1);
  assert.deepEqual(r.received[0]!.verifiedWith, [true, true]);
  assert.equal(JSON.parse(r.received[0]!.body).type, 'webhook.test');
  await waitFor(() => Date.now() > Date.parse(rotated.body.previousSecretExpiresAt) + 100);
  await api.request('POST', `/v1/webhooks/${endpoint.id}/test`, { token: user.accessToken });
  await waitFor(() => r.received.length === 2);
  assert.deepEqual(r.received[1]!.verifiedWith, [false, true]);
});

test('endpoints are private to their owner, and the API refuses plain bad input by field', async () => {
  const owner = await api.register();
  const other = await api.register();
  const { endpoint } = await subscribe(owner, 'https://hooks.example.com/x');
  for (const [method, path] of [
    ['GET', `/v1/webhooks/${endpoint.id}`],
    ['DELETE', `/v1/webhooks/${endpoint.id}`],
    ['POST', `/v1/webhooks/${endpoint.id}/rotate-secret`],
    ['GET', `/v1/webhooks/${endpoint.id}/deliveries`],
  ] as const) {
    assert.equal((await api.request(method, path, { token: other.accessToken })).status, 404, `${method} ${path}`);
  }
  const listed = await api.request<{ endpoints: unknown[] }>('GET', '/v1/webhooks', { token: other.accessToken });
  assert.deepEqual(listed.body.endpoints, []);
  const badPattern = await api.request('POST', '/v1/webhooks', { token: owner.accessToken, body: { url: 'https://a.example.com', events: ['job.**'] } });
  assert.equal(badPattern.status, 400);
  assert.equal(badPattern.body.error.field, 'events.0');
  const metadata = await api.request('POST', '/v1/webhooks', { token: owner.accessToken, body: { url: 'http://169.254.169.254/latest', events: ['job.*'] } });
  assert.equal(metadata.status, 400);
  assert.equal(metadata.body.error.field, 'url');
  // An API key needs the webhooks:write scope.
  const key = await api.request<{ key: string }>('POST', '/v1/api-keys', { token: owner.accessToken, body: { name: 'docs-only', scopes: ['docs:read'] } });
  assert.equal((await api.request('GET', '/v1/webhooks', { token: key.body.key })).status, 403);
  assert.equal((await api.request('DELETE', `/v1/webhooks/${endpoint.id}`, { token: owner.accessToken })).status, 204);
});

test('SSRF: without LOOM_WEBHOOK_ALLOW_PRIVATE a name resolving to 127.0.0.1 and the metadata address are refused at delivery', async () => {
  const provisioned = await provisionNats(nc, { leaseTtlMs: 2_000, logger });
  // A second dispatcher process without the flag; the first is stopped so this one sends.
  await dispatcher.stop();
  const strict = await startWebhookDispatcher({ config: webhookConfig({ allowPrivate: false }), nc, leases: provisioned.leases, leaseTtlMs: 2_000, db: database.db, instanceId: 'strict', log: logger });
  try {
    const user = await api.register();
    const r = await receiver();
    const byName = await subscribe(user, `http://localhost:${r.port}/hook`);
    const metadata = await subscribe(user, 'http://169.254.169.254/latest/meta-data');
    await publish(user, 'job.created', 'job:5');
    for (const id of [byName.endpoint.id, metadata.endpoint.id]) {
      await waitFor(async () => ((await deliveries(user, id))[0]?.attempts ?? 0) >= 1);
      const [d] = await deliveries(user, id);
      assert.match(d?.lastError ?? '', /private, loopback, link-local or metadata/);
    }
    assert.equal(r.received.length, 0);
  } finally {
    await strict.stop();
    dispatcher = await startWebhookDispatcher({ config: webhookConfig(), nc, leases: provisioned.leases, leaseTtlMs: 2_000, db: database.db, instanceId: 'test-dispatcher-2', log: logger });
  }
});
