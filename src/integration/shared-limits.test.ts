/**
 * Limits hold across gateways: two gateway processes share their login and
 * API token buckets through NATS, so a client spreading its requests over
 * both gets the configured limit once, not twice.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startCluster, type ClusterFixture } from './cluster-fixture.ts';

let cluster: ClusterFixture;

before(async () => {
  cluster = await startCluster({
    hosts: 1,
    gateways: 2,
    // Behind a (pretend) proxy, so each test is its own client address with its own buckets.
    env: { LOOM_TRUST_PROXY: 'true', LOOM_RATE_LOGIN_BURST: '4', LOOM_RATE_LOGIN_PER_MIN: '1', LOOM_RATE_API_BURST: '6', LOOM_RATE_API_PER_S: '1' },
  });
});
after(async () => {
  await cluster?.stop();
});

function gateway(i: number): string {
  const g = cluster.gateways[i % cluster.gateways.length];
  assert.ok(g !== undefined);
  return g.httpUrl;
}

async function post(base: string, path: string, body: unknown, clientIp: string): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': clientIp },
    body: JSON.stringify(body),
  });
}

test('failed logins spread over two gateways are throttled at the limit of one', async () => {
  const email = `throttle-${randomUUID()}@test.example`;
  const registered = await post(gateway(0), '/v1/auth/register', { email, password: 'correct horse battery' }, '203.0.113.10');
  assert.equal(registered.status, 201);
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) {
    const r = await post(gateway(i), '/v1/auth/login', { email, password: 'wrong password guess' }, '203.0.113.10');
    statuses.push(r.status);
    if (r.status === 429) {
      const body = (await r.json()) as { error: { code: string } };
      assert.equal(body.error.code, 'rate-limited');
    } else {
      await r.body?.cancel();
    }
  }
  // Burst 4 for the whole cluster: with per-process buckets this was four 401s per gateway.
  assert.deepEqual(statuses, [401, 401, 401, 401, 429, 429, 429, 429]);
});

test('API requests of one user spread over two gateways get the burst once', async () => {
  const email = `api-${randomUUID()}@test.example`;
  const registered = await post(gateway(1), '/v1/auth/register', { email, password: 'correct horse battery' }, '203.0.113.20');
  assert.equal(registered.status, 201);
  const { tokens } = (await registered.json()) as { tokens: { accessToken: string } };
  const statuses: number[] = [];
  for (let i = 0; i < 10; i++) {
    const r = await fetch(`${gateway(i)}/v1/docs`, { headers: { authorization: `Bearer ${tokens.accessToken}`, 'x-forwarded-for': '203.0.113.20' } });
    statuses.push(r.status);
    await r.body?.cancel();
  }
  // The user's bucket and the address's bucket (which the registration above also drew on) each
  // hold 6 for the whole cluster; with per-process buckets all ten passed (five per gateway).
  const passed = statuses.filter((s) => s === 200).length;
  assert.ok(passed >= 1 && passed <= 6, `statuses: ${statuses.join(',')}`);
  assert.deepEqual(statuses.slice(passed), Array(10 - passed).fill(429), `statuses: ${statuses.join(',')}`);
});
