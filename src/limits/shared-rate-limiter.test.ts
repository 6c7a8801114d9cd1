/**
 * Shared token buckets against a real nats-server: two limiters on two
 * connections (two gateways) together allow the limit once; concurrent takes
 * never over-grant; a reset refills for both; and with NATS gone each falls
 * back to its own bucket instead of failing requests.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { AsyncRateLimiter } from '../auth/rate-limiter.ts';
import { createRootLogger } from '../log.ts';
import { startNatsServer, type NatsServerHandle } from '../testing/index.ts';
import { provisionRateLimitBucket } from './provision.ts';
import { createSharedRateLimiter } from './shared-rate-limiter.ts';

const log = createRootLogger({ level: 'silent', instanceId: 'limits-test' });
let nats: NatsServerHandle;
const connections: NatsConnection[] = [];

before(async () => {
  nats = await startNatsServer();
});
after(async () => {
  for (const nc of connections) await nc.close().catch(() => undefined);
  await nats.dispose();
});

/** One limiter per "gateway", each on its own connection. */
async function gateways(n: number, limit: { capacity: number; refillPerSec: number }, name = 'login'): Promise<AsyncRateLimiter[]> {
  const out: AsyncRateLimiter[] = [];
  for (let i = 0; i < n; i++) {
    const nc = await connect({ servers: nats.url });
    connections.push(nc);
    out.push(createSharedRateLimiter({ name, ...limit, kv: await provisionRateLimitBucket(nc), log }));
  }
  return out;
}

test('two gateways taking in turn get the capacity once between them, not once each', async () => {
  const [a, b] = await gateways(2, { capacity: 5, refillPerSec: 0.001 });
  assert.ok(a !== undefined && b !== undefined);
  const results = [];
  for (let i = 0; i < 10; i++) results.push(await (i % 2 === 0 ? a : b).take('ip:203.0.113.7'));
  assert.equal(results.filter((r) => r.ok).length, 5);
  const refused = results.at(-1);
  assert.ok(refused !== undefined && !refused.ok && refused.retryAfterMs > 0, 'a refusal says when to retry');
  // Another key has its own bucket.
  assert.ok((await b.take('ip:203.0.113.8')).ok);
});

test('concurrent takes from three gateways never grant more than the bucket holds', async () => {
  const limiters = await gateways(3, { capacity: 7, refillPerSec: 0.001 }, 'api');
  const takes = await Promise.all(Array.from({ length: 30 }, (_, i) => limiters[i % 3]!.take('user:u-concurrent')));
  assert.equal(takes.filter((r) => r.ok).length, 7);
});

test('a reset on one gateway refills the bucket for all', async () => {
  const [a, b] = await gateways(2, { capacity: 2, refillPerSec: 0.001 });
  assert.ok(a !== undefined && b !== undefined);
  const key = 'login-account:someone@example.com';
  assert.ok((await a.take(key)).ok);
  assert.ok((await b.take(key)).ok);
  assert.equal((await a.take(key)).ok, false);
  await b.reset(key);
  assert.ok((await a.take(key)).ok, 'refilled after the reset');
});

test('a gateway that keeps a bucket to itself reads it once, then writes on the revision it remembers', async () => {
  const nc = await connect({ servers: nats.url });
  connections.push(nc);
  const kv = await provisionRateLimitBucket(nc);
  let gets = 0;
  const counted = new Proxy(kv, {
    get(target, prop, receiver) {
      if (prop !== 'get') return Reflect.get(target, prop, receiver) as unknown;
      return (...args: Parameters<typeof kv.get>) => {
        gets += 1;
        return target.get(...args);
      };
    },
  });
  const a = createSharedRateLimiter({ name: 'api', capacity: 5, refillPerSec: 0.001, kv: counted, log });
  const results = [];
  for (let i = 0; i < 5; i++) results.push(await a.take('ip:192.0.2.77'));
  assert.ok(results.every((r) => r.ok));
  assert.equal(gets, 1, 'one read, then writes on the remembered revision');
  // A refusal is never decided on memory alone: it reads what the bucket holds now.
  assert.equal((await a.take('ip:192.0.2.77')).ok, false);
  assert.equal(gets, 2);
});

test('a bucket another gateway wrote or reset is read again, never decided from a stale memory', async () => {
  const [a, b] = await gateways(2, { capacity: 2, refillPerSec: 0.001 });
  assert.ok(a !== undefined && b !== undefined);
  const key = 'ip:192.0.2.78';
  assert.ok((await a.take(key)).ok);
  assert.ok((await a.take(key)).ok);
  assert.equal((await a.take(key)).ok, false, 'empty');
  await b.reset(key);
  assert.ok((await a.take(key)).ok, 'the reset on the other gateway is seen');
  assert.ok((await b.take(key)).ok, 'the other gateway took the last token');
  assert.equal((await a.take(key)).ok, false, 'its write on the revision it remembered failed, it read again and found none');
});

test('with NATS unreachable each gateway still limits with its own bucket', async () => {
  const [a] = await gateways(1, { capacity: 3, refillPerSec: 0.001 });
  assert.ok(a !== undefined);
  await nats.stop();
  try {
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await a.take('ip:198.51.100.1'));
    assert.deepEqual(
      results.map((r) => r.ok),
      [true, true, true, false, false],
    );
  } finally {
    await nats.start();
  }
});

test('many requests at once through one gateway share round trips and are all granted while the bucket holds', async () => {
  const [a] = await gateways(1, { capacity: 100, refillPerSec: 0.001 }, 'api');
  assert.ok(a !== undefined);
  // Fifty clients behind one address: before batching they raced for one revision and some were refused as contended.
  const takes = await Promise.all(Array.from({ length: 60 }, () => a.take('ip:192.0.2.50')));
  assert.equal(takes.filter((r) => r.ok).length, 60);
  const over = await Promise.all(Array.from({ length: 50 }, () => a.take('ip:192.0.2.50')));
  assert.equal(over.filter((r) => r.ok).length, 40, 'exactly what was left');
});
