/**
 * A closed or refused socket ends its TCP connection within about a second
 * of the server's close frame, on /ws and /collab, even when the client never
 * answers the close frame (ws alone would wait 30 s).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { CLOSE_CODES } from '../../protocol/errors.ts';
import { startNatsServer, waitFor, type NatsServerHandle } from '../testing/index.ts';
import { openSilentClient, smallMessageLimiter, startSocketFixture, type SilentClient, type SocketFixture } from '../testing/gateway-socket-fixture.ts';

// Far below ws's own 30 s close timeout, far above the 1 s the gateway allows.
const ENDED_WITHIN_MS = 8_000;

let nats: NatsServerHandle;
let fx: SocketFixture;
const silent: SilentClient[] = [];

before(async () => {
  nats = await startNatsServer();
  fx = await startSocketFixture({ nats, messageLimiter: smallMessageLimiter(5) });
});
after(async () => {
  for (const c of silent) c.destroy();
  await fx?.stop();
  await nats?.dispose();
});

async function silentClient(path: string): Promise<SilentClient> {
  const c = await openSilentClient(fx.port, path);
  silent.push(c);
  return c;
}

async function expectEnded(c: SilentClient, code: number, what: string): Promise<void> {
  await waitFor(() => c.closeCode() !== undefined, { what: `${what}: close frame` });
  assert.equal(c.closeCode(), code, what);
  await waitFor(() => c.ended(), { what: `${what}: server ended the TCP connection`, timeoutMs: ENDED_WITHIN_MS });
}

test('a /ws socket refused for lacking a token ends at once for a well-behaved client and soon for a silent one', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${fx.port}/ws`);
  const code = await waitFor(
    () => new Promise<number>((resolve, reject) => {
      ws.once('close', (c) => resolve(c));
      ws.once('error', reject);
    }),
    { what: 'refused client sees close', timeoutMs: ENDED_WITHIN_MS },
  );
  assert.equal(code, CLOSE_CODES.unauthorized);
  await expectEnded(await silentClient('/ws'), CLOSE_CODES.unauthorized, 'silent /ws client without token');
  await waitFor(async () => (await fx.connections()) === 0, { what: 'server holds no connection' });
});

test('a /ws socket closed with 4429 ends even when the client never answers the close frame', async () => {
  const c = await silentClient('/ws?token=user:flooder');
  await waitFor(() => fx.jobs.connectionCount === 1, { what: 'socket admitted' });
  for (let i = 0; i < 10; i++) c.sendText('{"type":"ping"}');
  await expectEnded(c, CLOSE_CODES.rateLimited, 'flooding /ws client');
  await waitFor(async () => (await fx.connections()) === 0 && fx.jobs.connectionCount === 0, { what: 'server socket count back to 0' });
});

test('refused and closed /collab sockets end even when the client never answers the close frame', async () => {
  await expectEnded(await silentClient('/collab/%E0%A4%A'), CLOSE_CODES.invalidDocId, 'invalid room');
  const c = await silentClient('/collab/room-close-test');
  await waitFor(() => fx.collab.connectionCount === 1, { what: 'collab socket admitted' });
  for (let i = 0; i < 10; i++) c.sendText('text is refused');
  await expectEnded(c, CLOSE_CODES.unsupportedData, 'text frame on /collab');
  await waitFor(async () => (await fx.connections()) === 0 && fx.collab.connectionCount === 0, { what: 'server socket count back to 0' });
});
