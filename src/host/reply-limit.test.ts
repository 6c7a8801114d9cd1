/**
 * An actor reply larger than one NATS message (the server's max_payload,
 * 1 MiB on the harness's server) cannot be published. On a real
 * nats-server the caller must get a prompt `reply-too-large` error, over
 * NATS and on the in-process path alike, and the commands after it in the
 * actor's batch must still be answered. Before, the publish threw after the
 * command was marked answered: the caller waited out its timeout and
 * retried until its deadline, and the rest of the batch got `internal`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import type { ActorDefinition, ActorInstance, MailboxMessage } from '../../actors/actor.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { HEADERS } from '../../protocol/headers.ts';
import { parseActorId, type ActorId } from '../../protocol/ids.ts';
import { encodeJson, replyError } from '../../protocol/reply.ts';
import { commandSubject, leaseKey } from '../../protocol/subjects.ts';
import { fromNatsHeaders } from '../nats/headers.ts';
import { provisionNats, type Provisioned } from '../nats/provision.ts';
import { ActorClient } from '../placement/actor-client.ts';
import { acquireLease } from '../placement/lease.ts';
import { startNatsServer, type NatsServerHandle } from '../testing/index.ts';
import { Activation } from './activation.ts';
import { LocalActors } from './local-actors.ts';
import { replyWireBytes } from './reply-limit.ts';

const log = pino({ level: 'silent' });
let server: NatsServerHandle;
let nc: NatsConnection;
let nats: Provisioned;
const activations: Activation[] = [];

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  nats = await provisionNats(nc, { leaseTtlMs: 5_000, logger: log });
});
after(async () => {
  for (const a of activations) await a.passivate('test');
  await nc?.close();
  await server?.dispose();
});

const SEQ_HEADERS = { [HEADERS.seq]: '7' };

/** Answers every command with `bytes` zero bytes (the command's JSON body), under a Loom-Seq header. */
const sizedReplies: ActorDefinition = {
  kind: 'doc',
  activate: async (): Promise<ActorInstance> => ({
    async handle(batch: readonly MailboxMessage[]) {
      for (const m of batch) {
        if (m.source !== 'command') continue;
        const { bytes } = JSON.parse(new TextDecoder().decode(m.body)) as { bytes: number };
        m.respond({ headers: SEQ_HEADERS, body: new Uint8Array(bytes) });
      }
    },
    async onPassivate() {},
    dispose() {},
  }),
};

async function activate(local?: LocalActors): Promise<ActorId> {
  const id = parseActorId(`sized-${Math.random().toString(36).slice(2)}`);
  const lease = await acquireLease(nats.leases, leaseKey('doc', id), { host: 'test-host', ttlMs: 5_000, logger: log, onLost: () => undefined });
  assert.ok(lease, 'lease acquired');
  lease.start();
  const activation = new Activation({ nc, kind: 'doc', id, definition: sizedReplies, lease, idleMs: 60_000, mailbox: { maxMessages: 100, maxBytes: 1 << 20 }, log, onEnded: () => undefined, local });
  await activation.start();
  activations.push(activation);
  return id;
}

/** The largest body that fits one message beside the reply's headers. */
function largestBody(): number {
  const maxPayload = nc.info?.max_payload;
  assert.ok(maxPayload !== undefined && maxPayload > 0, 'the server announced its max_payload');
  return maxPayload - replyWireBytes({ headers: SEQ_HEADERS, body: new Uint8Array(0) });
}

// A short deadline: without the limit, the caller's retries end in `unavailable` (request timed out) instead.
const client = (local?: LocalActors) => new ActorClient(nc, { requestTimeoutMs: 1_000, deadlineMs: 3_000, log, local });

async function codeOf(request: Promise<unknown>): Promise<string> {
  try {
    await request;
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof ProtocolError, String(err));
    return err.code;
  }
}

test('a reply over max_payload reaches its NATS caller as reply-too-large, and a reply at the limit still goes', async () => {
  const id = await activate();
  const actors = client();
  const fits = await actors.request('doc', id, 'read', encodeJson({ bytes: largestBody() }));
  assert.equal(fits.body.length, largestBody(), 'a reply exactly at max_payload is delivered whole');
  assert.equal(await codeOf(actors.request('doc', id, 'read', encodeJson({ bytes: largestBody() + 1 }))), 'reply-too-large');

  // An internal service's plain request sees the code in the Loom-Error header, with the sizes in the message.
  const msg = await nc.request(commandSubject('doc', id, 'read'), encodeJson({ bytes: 3 * 1024 * 1024 }), { timeout: 2_000 });
  const err = replyError({ headers: fromNatsHeaders(msg.headers), body: msg.data });
  assert.equal(err?.code, 'reply-too-large');
  assert.equal(err?.retryable, false);
  assert.match(err?.message ?? '', new RegExp(`is ${3 * 1024 * 1024 + replyWireBytes({ headers: SEQ_HEADERS, body: new Uint8Array(0) })} bytes, over the ${nc.info?.max_payload}-byte limit`));
});

test('commands queued behind an oversized reply are still answered', async () => {
  const id = await activate();
  // Published together, so they usually share one batch: the oversized reply must not fail the others.
  const subject = commandSubject('doc', id, 'read');
  const replies = await Promise.all(
    [8 * 1024 * 1024, 10, 2 * 1024 * 1024, 20].map((bytes) => nc.request(subject, encodeJson({ bytes }), { timeout: 2_000 })),
  );
  const outcomes = replies.map((m) => replyError({ headers: fromNatsHeaders(m.headers), body: m.data })?.code ?? m.data.length);
  assert.deepEqual(outcomes, ['reply-too-large', 10, 'reply-too-large', 20]);
});

test('the in-process path holds replies to the same limit, so the answer does not depend on where the actor lives', async () => {
  const local = new LocalActors({ events: false });
  const id = await activate(local);
  const actors = client(local);
  const fits = await actors.request('doc', id, 'read', encodeJson({ bytes: largestBody() }));
  assert.equal(fits.body.length, largestBody());
  assert.equal(await codeOf(actors.request('doc', id, 'read', encodeJson({ bytes: largestBody() + 1 }))), 'reply-too-large');
});
