import { test } from 'node:test';
import assert from 'node:assert/strict';
import { natsCredentials } from './connection.ts';

test('NATS_URL may list a cluster: every seed becomes a server, and credentials in any apply to the connection', () => {
  assert.deepEqual(natsCredentials('nats://a.example:4222'), { servers: ['nats://a.example:4222'], auth: {} });
  const cluster = natsCredentials('nats://gateway:s%40cret@nats-0:4222, nats://gateway:s%40cret@nats-1:4222,nats://nats-2:4222');
  assert.deepEqual(cluster.servers, ['nats://nats-0:4222', 'nats://nats-1:4222', 'nats://nats-2:4222']);
  assert.deepEqual(cluster.auth, { user: 'gateway', pass: 's@cret' });
  assert.deepEqual(natsCredentials('tls://tok3n@nats-0:4222').auth, { token: 'tok3n' });
});
