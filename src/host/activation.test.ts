/**
 * An activation on a real nats-server and lease bucket hands its actor every
 * message, including one pushed from a microtask just as a drain finds the
 * mailbox empty (the fast path and host signals push from promise
 * continuations): such a message must start the next drain, not wait for
 * a later push that may never come.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import type { ActorDefinition, ActorInstance, MailboxMessage, SignalMessage } from '../../actors/actor.ts';
import { parseActorId } from '../../protocol/ids.ts';
import { leaseKey } from '../../protocol/subjects.ts';
import { provisionNats, type Provisioned } from '../nats/provision.ts';
import { acquireLease } from '../placement/lease.ts';
import { startNatsServer, waitFor, type NatsServerHandle } from '../testing/index.ts';
import { Activation } from './activation.ts';

const log = pino({ level: 'silent' });
let server: NatsServerHandle;
let nc: NatsConnection;
let nats: Provisioned;

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  nats = await provisionNats(nc, { leaseTtlMs: 5_000, logger: log });
});
after(async () => {
  await nc?.close();
  await server?.dispose();
});

/** Resolves after `depth` microtask hops. */
function afterMicrotasks(depth: number, then: () => void): void {
  if (depth === 0) then();
  else queueMicrotask(() => afterMicrotasks(depth - 1, then));
}

test('a message pushed at any microtask depth after a batch is handled (no drain misses it)', async () => {
  let handled = 0;
  /** Set before each trial: the depth at which the next batch pushes one more message. */
  let pushAtDepth: number | undefined;
  let activation: Activation | undefined;
  const signal: SignalMessage = { source: 'signal', name: 'events-may-be-lost' };
  const definition: ActorDefinition = {
    kind: 'doc',
    activate: async (): Promise<ActorInstance> => ({
      async handle(batch: readonly MailboxMessage[]) {
        handled += batch.length;
        const depth = pushAtDepth;
        pushAtDepth = undefined;
        if (depth !== undefined) afterMicrotasks(depth, () => activation!.signal(signal));
      },
      async onPassivate() {},
      dispose() {},
    }),
  };
  const id = parseActorId(`drain-${Date.now()}`);
  const lease = await acquireLease(nats.leases, leaseKey('doc', id), { host: 'test-host', ttlMs: 5_000, logger: log, onLost: () => undefined });
  assert.ok(lease, 'lease acquired');
  lease.start();
  activation = new Activation({ nc, kind: 'doc', id, definition, lease, idleMs: 60_000, mailbox: { maxMessages: 1_000, maxBytes: 1 << 20 }, log, onEnded: () => undefined });
  await activation.start();
  // One trial per depth: a message, whose batch pushes one more `depth` microtasks later, somewhere around the drain's end.
  for (let depth = 0; depth <= 30; depth++) {
    const expected = handled + 2;
    pushAtDepth = depth;
    activation.signal(signal);
    await waitFor(() => handled === expected, { what: `the message pushed ${depth} microtasks after a batch to be handled`, timeoutMs: 2_000, intervalMs: 5 });
  }
  await activation.passivate('test');
});
