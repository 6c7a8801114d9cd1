/**
 * nats-server.test.ts: the harness runs a real nats-server with JetStream,
 * brings it back on the same port and store after a crash, cleans up after
 * itself, and says why a start failed. One server serves the file.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from './nats-server.ts';
import { waitFor } from './wait-for.ts';

let server: NatsServerHandle | undefined;

before(async () => {
  server = await startNatsServer();
});

after(async () => {
  await server?.dispose();
});

function nats(): NatsServerHandle {
  assert.ok(server, 'nats-server did not start');
  return server;
}

function uniqueStream(): string {
  return `harness_${randomBytes(6).toString('hex')}`;
}

test('accepts a client connection and acknowledges a JetStream publish', async () => {
  const nc = await connect({ servers: nats().url, timeout: 5_000 });
  try {
    const jsm = await jetstreamManager(nc);
    const name = uniqueStream();
    await jsm.streams.add({ name, subjects: [`${name}.>`] });

    const ack = await jetstream(nc).publish(`${name}.greeting`, 'hello');

    assert.equal(ack.stream, name);
    assert.equal(ack.seq, 1);
    const stored = await jsm.streams.getMessage(name, { seq: ack.seq });
    assert.equal(stored?.string(), 'hello');
  } finally {
    await nc.close();
  }
});

test('keeps an acknowledged message across SIGKILL and start, and the client reconnects to the same url', async () => {
  const nc = await connect({ servers: nats().url, timeout: 5_000, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
  let reconnects = 0;
  const watching = (async () => {
    for await (const status of nc.status()) if (status.type === 'reconnect') reconnects += 1;
  })();
  try {
    const jsm = await jetstreamManager(nc);
    const name = uniqueStream();
    await jsm.streams.add({ name, subjects: [`${name}.>`] });
    const ack = await jetstream(nc).publish(`${name}.event`, 'before the crash');
    const { url, pid } = nats();

    await nats().kill();
    assert.equal(nats().pid, undefined);
    await nats().start();

    assert.equal(nats().url, url);
    assert.notEqual(nats().pid, pid);
    // A request sent while the client is still disconnected can be lost
    // across the restart and only time out (5 s), so wait for the reconnect.
    await waitFor(() => reconnects > 0, { what: 'the client to reconnect' });
    const stored = await waitFor(() => jsm.streams.getMessage(name, { seq: ack.seq }), {
      what: 'the message published before the crash',
    });
    assert.equal(stored.string(), 'before the crash');
  } finally {
    await nc.close();
    await watching;
  }
});

test('restart keeps the port, and dispose stops the server and removes its temp dir', async () => {
  const own = await startNatsServer();
  const { url, storeDir } = own;

  await own.restart();
  assert.equal(own.url, url);
  assert.ok(own.pid);

  await own.dispose();
  assert.equal(own.pid, undefined);
  assert.equal(existsSync(dirname(storeDir)), false);
});

test('rejects with the reason when the binary does not exist', async () => {
  await assert.rejects(startNatsServer({ binary: '/nonexistent/nats-server' }), (err: unknown) => {
    assert.ok(err instanceof Error);
    assert.match(err.message, /nats-server failed to start/);
    assert.match(err.message, /\/nonexistent\/nats-server/);
    assert.match(err.message, /No such file|ENOENT/);
    return true;
  });
});
