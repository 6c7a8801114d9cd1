/**
 * Revocation notices on a real nats-server, with the credential store faked:
 * a notice closes the named sockets only when the store confirms the
 * revocation, in arrival order; the sweep closes sockets whose credential
 * was revoked without a notice reaching this gateway.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { WebSocket } from 'ws';
import { CLOSE_CODES } from '../../protocol/errors.ts';
import { createRootLogger } from '../log.ts';
import { startNatsServer, waitFor, type NatsServerHandle } from '../testing/index.ts';
import { RevocationNotices } from './revocation-notices.ts';
import { startSocketFixture, type SocketFixture } from '../testing/gateway-socket-fixture.ts';

let nats: NatsServerHandle;
let nc: NatsConnection;
let fx: SocketFixture;
let notices: RevocationNotices;
const running: RevocationNotices[] = [];
const revoked = new Set<string>();
const sockets: WebSocket[] = [];

before(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  fx = await startSocketFixture({ nats });
  // Sweeping only once an hour: the first test sees notices alone at work.
  notices = await startNotices(3_600_000);
});
after(async () => {
  for (const ws of sockets) ws.terminate();
  for (const n of running) await n.stop();
  await fx?.stop();
  await nc?.close();
  await nats?.dispose();
});

async function startNotices(sweepIntervalMs: number): Promise<RevocationNotices> {
  const n = new RevocationNotices({
    nc,
    status: { isRevoked: (c) => Promise.resolve(c.keyId !== undefined && revoked.has(c.keyId)) },
    sockets: () => [...fx.jobs.sockets(), ...fx.collab.sockets()],
    log: createRootLogger({ level: 'silent', instanceId: 'test' }),
    sweepIntervalMs,
  });
  running.push(n);
  await n.start();
  return n;
}

/** An admitted /ws socket opened with `token`, and the close code once it closes. */
async function openSocket(token: string): Promise<{ ws: WebSocket; closeCode: () => number | undefined }> {
  const ws = new WebSocket(`ws://127.0.0.1:${fx.port}/ws?token=${token}`);
  sockets.push(ws);
  let code: number | undefined;
  ws.on('close', (c) => {
    code = c;
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () => ws.ping());
    ws.once('pong', () => resolve());
  });
  return { ws, closeCode: () => code };
}

test('a notice closes the sockets of a credential the store confirms revoked, and none of one it does not', async () => {
  const kept = await openSocket('key:kept');
  const gone = [await openSocket('key:gone'), await openSocket('key:gone')];
  notices.publish({ kind: 'api-key', userId: 'owner-kept', keyId: 'kept' });
  revoked.add('gone');
  notices.publish({ kind: 'api-key', userId: 'owner-gone', keyId: 'gone' });
  await waitFor(() => gone.every((s) => s.closeCode() === CLOSE_CODES.unauthorized), { what: 'sockets of the revoked key closed' });
  // Notices are handled in order: the earlier one, for a live key, closed nothing.
  assert.equal(kept.closeCode(), undefined);
  assert.equal(kept.ws.readyState, WebSocket.OPEN);
});

test('the sweep closes a socket whose key was revoked without a notice reaching this gateway', async () => {
  const missed = await openSocket('key:missed');
  const live = await openSocket('key:live');
  revoked.add('missed');
  await startNotices(200);
  await waitFor(() => missed.closeCode() === CLOSE_CODES.unauthorized, { what: 'sweep closed the socket of the revoked key' });
  assert.equal(live.closeCode(), undefined);
});
