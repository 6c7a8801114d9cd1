/**
 * The coalescing transport against a real nats-server: what one loop turn
 * sends goes out in one socket write, in order; a close still delivers what
 * was queued; and a reconnect after the server restarts dials the same kind
 * of transport, so the connection keeps working.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { connect, type NatsConnection, type NatsConnectionImpl } from '@nats-io/transport-node';
import { createRootLogger } from '../log.ts';
import { startNatsServer, waitFor, type NatsServerHandle } from '../testing/index.ts';
import { CoalescingTransport } from './coalescing-transport.ts';
import { openNatsConnection } from './connection.ts';

const logger = createRootLogger({ level: 'silent', instanceId: 'coalescing-transport-test' });
let server: NatsServerHandle;
let listener: NatsConnection;

before(async () => {
  server = await startNatsServer();
  listener = await connect({ servers: server.url });
});

after(async () => {
  await listener.close();
  await server.dispose();
});

function transportOf(nc: NatsConnection): CoalescingTransport {
  const transport = (nc as NatsConnectionImpl).protocol.transport;
  assert.ok(transport instanceof CoalescingTransport, 'Loom connections use the coalescing transport');
  return transport;
}

/** Counts the socket writes of a connection from now on. */
function countWrites(socket: Socket): { readonly count: number } {
  const counter = { count: 0 };
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  socket.write = ((...args: unknown[]) => {
    counter.count += 1;
    return write(...args);
  }) as Socket['write'];
  return counter;
}

async function receive(subject: string, expected: number): Promise<string[]> {
  const got: string[] = [];
  const sub = listener.subscribe(subject, { max: expected });
  await listener.flush();
  void (async () => {
    for await (const m of sub) got.push(m.string());
  })();
  return got;
}

test('publishes from separate microtasks of one loop turn share one socket write, in order', async () => {
  const nc = await openNatsConnection({ url: server.url, name: 'coalescing-test', logger });
  try {
    const got = await receive('coalesce.turn', 100);
    const writes = countWrites(transportOf(nc).socket);
    // nats.js flushes after every microtask that published: without the
    // transport each of these would be its own write.
    for (let i = 0; i < 100; i += 1) {
      nc.publish('coalesce.turn', `m${i}`);
      await Promise.resolve();
    }
    await waitFor(() => got.length === 100, { timeoutMs: 5_000, what: 'the hundred messages' });
    assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => `m${i}`));
    assert.equal(writes.count, 1, 'one write for the whole turn');
  } finally {
    await nc.close();
  }
});

test('a close right after a publish still delivers it', async () => {
  const nc = await openNatsConnection({ url: server.url, name: 'coalescing-close', logger });
  const got = await receive('coalesce.close', 1);
  nc.publish('coalesce.close', 'last words');
  await nc.close();
  await waitFor(() => got.length === 1, { timeoutMs: 5_000, what: 'the message published before close' });
  assert.deepEqual(got, ['last words']);
});

test('after the server restarts, the connection redials with the same transport and requests work', async () => {
  const nc = await openNatsConnection({ url: server.url, name: 'coalescing-reconnect', logger });
  try {
    const sub = nc.subscribe('coalesce.echo');
    void (async () => {
      for await (const m of sub) m.respond(m.data);
    })();
    await nc.flush();
    await server.restart();
    // A probe that throws counts as "not yet" until the client is back.
    await waitFor(async () => (await nc.request('coalesce.echo', 'ping', { timeout: 500 })).string() === 'ping', {
      timeoutMs: 15_000,
      what: 'a request after the restart',
    });
    transportOf(nc);
  } finally {
    await nc.close();
  }
});
