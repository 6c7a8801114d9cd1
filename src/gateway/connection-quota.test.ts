/**
 * Connection limits on /collab and /ws together: per client address (behind
 * a trusted proxy, from X-Forwarded-For) and per user, refused with 4430; a
 * slot comes back when its socket closes, refused sockets included.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { CLOSE_CODES } from '../../protocol/errors.ts';
import { startNatsServer, waitFor, type NatsServerHandle } from '../testing/index.ts';
import type { CollabAccessPolicy } from './access.ts';
import { ConnectionQuota } from './connection-quota.ts';
import { startSocketFixture, type SocketFixture } from '../testing/gateway-socket-fixture.ts';

let nats: NatsServerHandle;
const fixtures: SocketFixture[] = [];
const sockets: WebSocket[] = [];

/** Users by `?token=user:<id>`, as on /ws; no token is refused. */
const tokenAccess: CollabAccessPolicy = {
  authorize: (req) => {
    const token = req.url.searchParams.get('token') ?? '';
    if (!token.startsWith('user:')) return Promise.reject(new Error('test policy needs a token'));
    const userId = token.slice(5);
    return Promise.resolve({ principalId: userId, role: 'editor', credential: { userId } });
  },
  recheck: (access) => Promise.resolve(access),
};

before(async () => {
  nats = await startNatsServer();
});
after(async () => {
  for (const ws of sockets) ws.terminate();
  for (const fx of fixtures) await fx.stop();
  await nats?.dispose();
});

async function fixture(limits: { maxPerUser: number; maxPerIp: number }): Promise<{ fx: SocketFixture; quota: ConnectionQuota }> {
  const quota = new ConnectionQuota({ ...limits, trustProxy: true });
  const fx = await startSocketFixture({ nats, quota, access: tokenAccess });
  fixtures.push(fx);
  return { fx, quota };
}

/** Opens a socket and resolves with 'open', or with the close code when it is refused. */
function outcome(fx: SocketFixture, path: string, ip: string): Promise<{ ws: WebSocket; result: 'open' | number }> {
  const ws = new WebSocket(`ws://127.0.0.1:${fx.port}${path}`, { headers: { 'x-forwarded-for': ip } });
  sockets.push(ws);
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('close', (code) => resolve({ ws, result: code }));
    // Open alone is not admission (the checks run after the upgrade, on a paused socket):
    // a pong means the socket was resumed, which happens only once it is admitted.
    ws.once('open', () => ws.ping());
    ws.once('pong', () => resolve({ ws, result: 'open' }));
  });
}

test('an address over its limit is refused with 4430 on either endpoint; others are not; a closed socket frees its slot', async () => {
  const { fx, quota } = await fixture({ maxPerUser: 0, maxPerIp: 3 });
  const ip = '203.0.113.7';
  const held = [await outcome(fx, '/collab/quota-a?token=user:a', ip), await outcome(fx, '/ws?token=user:b', ip), await outcome(fx, '/ws?token=user:c', ip)];
  assert.deepEqual(held.map((o) => o.result), ['open', 'open', 'open']);
  assert.equal((await outcome(fx, '/ws?token=user:d', ip)).result, CLOSE_CODES.tooManyConnections);
  assert.equal((await outcome(fx, '/collab/quota-a?token=user:d', ip)).result, CLOSE_CODES.tooManyConnections);
  assert.equal((await outcome(fx, '/ws?token=user:d', '203.0.113.8')).result, 'open', 'another address is not affected');

  held[1]!.ws.close();
  await waitFor(() => quota.countForIp(ip) === 2, { what: 'slot released' });
  assert.equal((await outcome(fx, '/ws?token=user:e', ip)).result, 'open');
});

test('a user over its limit is refused with 4430 across /collab and /ws; unauthenticated sockets hold no slot after closing', async () => {
  const { fx, quota } = await fixture({ maxPerUser: 2, maxPerIp: 0 });
  const ip = '198.51.100.1';
  assert.equal((await outcome(fx, '/collab/quota-b?token=user:heavy', ip)).result, 'open');
  assert.equal((await outcome(fx, '/ws?token=user:heavy', ip)).result, 'open');
  assert.equal((await outcome(fx, '/ws?token=user:heavy', ip)).result, CLOSE_CODES.tooManyConnections);
  assert.equal((await outcome(fx, '/collab/quota-b?token=user:heavy', ip)).result, CLOSE_CODES.tooManyConnections);
  assert.equal((await outcome(fx, '/ws?token=user:light', ip)).result, 'open', 'another user is not affected');

  for (let i = 0; i < 5; i++) assert.equal((await outcome(fx, '/ws', '198.51.100.2')).result, CLOSE_CODES.unauthorized);
  await waitFor(() => quota.countForIp('198.51.100.2') === 0, { what: 'refused sockets released their address slots' });
});
