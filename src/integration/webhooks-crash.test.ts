/**
 * A dispatcher SIGKILLed mid-delivery loses nothing: two `webhooks`-role
 * processes on real NATS and PostgreSQL; the one sending when the receiver
 * holds a request open is killed, its endpoint lease runs out, and the other
 * process delivers the same event again (same `webhook-id`) and the rest
 * after it, keeping the order of one job's events.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { encodeOutboundEvent, outboundEventSubject, type OutboundEvent } from '../../protocol/outbound-events.ts';
import { AuditLog, API_SCOPES, type Principal } from '../auth/index.ts';
import { openDatabase, type Database } from '../storage/index.ts';
import { startLoomProcess, startNatsServer, startPostgresServer, waitFor, type LoomProcess, type NatsServerHandle, type PostgresServerHandle, startWebhookReceiver, type WebhookReceiver } from '../testing/index.ts';
import { SecretBox, WebhookService } from '../webhooks/index.ts';

const logger = pino({ level: 'silent' });
const SECRET_KEY = Buffer.alloc(32, 3).toString('base64');
let nats: NatsServerHandle;
let pg: PostgresServerHandle;
let nc: NatsConnection;
let database: Database;
let databaseUrl: string;
let receiver: WebhookReceiver;
const processes: LoomProcess[] = [];

before(async () => {
  [nats, pg] = await Promise.all([startNatsServer(), startPostgresServer()]);
  nc = await connect({ servers: nats.url });
  databaseUrl = await pg.createDatabase();
  database = await openDatabase({ url: databaseUrl, logger });
  await database.migrate();
  receiver = await startWebhookReceiver();
});

after(async () => {
  for (const p of processes) await p.stop().catch(() => undefined);
  await receiver.close();
  await database.close();
  await nc.close();
  await Promise.all([nats.dispose(), pg.dispose()]);
});

function dispatcher(name: string): Promise<LoomProcess> {
  return startLoomProcess({
    name,
    roles: ['webhooks'],
    natsUrl: nats.url,
    databaseUrl,
    env: {
      LOOM_WEBHOOK_ALLOW_HTTP: 'true',
      LOOM_WEBHOOK_ALLOW_PRIVATE: 'true',
      LOOM_WEBHOOK_SECRET_KEY: SECRET_KEY,
      LOOM_WEBHOOK_LEASE_TTL_MS: '1000',
      LOOM_WEBHOOK_POLL_MS: '100',
      LOOM_WEBHOOK_RETRY_SCHEDULE_MS: '100,200,400',
    },
  });
}

test('SIGKILL of the sending dispatcher mid-delivery: another delivers the same webhook-id, then the rest in order', async () => {
  const userId = randomUUID();
  const principal: Principal = { kind: 'user', userId, keyId: undefined, scopes: new Set(API_SCOPES) };
  const service = new WebhookService({
    db: database.db,
    secrets: new SecretBox(SECRET_KEY),
    audit: new AuditLog({ db: database.db, log: logger }),
    allowHttp: true,
    allowPrivate: true,
    rotationOverlapMs: 0,
  });
  const { secret } = await service.create(principal, { url: receiver.url, events: ['job.*'] });
  receiver.setSecrets([secret]);
  // The first request is held open: the dispatcher is mid-delivery when it dies.
  receiver.setResponder((_req, n) => (n === 1 ? 'hang' : { status: 200 }));

  const first = await dispatcher('dispatcher-a');
  processes.push(first);
  const js = jetstream(nc);
  const jobId = randomUUID();
  const events: OutboundEvent[] = ['job.created', 'job.waiting-approval', 'job.succeeded'].map((type, i) => ({
    id: `job:${jobId}:${i}`,
    type,
    timestamp: new Date().toISOString(),
    ownerIds: [userId],
    orderKey: `job:${jobId}`,
    data: { jobId },
  }));
  for (const e of events) await js.publish(outboundEventSubject(e.type), encodeOutboundEvent(e), { msgID: e.id });

  await waitFor(() => receiver.received.length === 1, { timeoutMs: 30_000 });
  await first.kill();
  const second = await dispatcher('dispatcher-b');
  processes.push(second);

  await waitFor(() => new Set(receiver.received.map((r) => r.id)).size === events.length, { timeoutMs: 30_000 });
  const ids = receiver.received.map((r) => r.id);
  // At least once: the interrupted delivery came again with the same webhook-id.
  assert.equal(ids[0], events[0]!.id);
  assert.ok(ids.filter((id) => id === events[0]!.id).length >= 2, ids.join(' '));
  // Order per job: first arrivals follow the job's event order.
  assert.deepEqual([...new Set(ids)], events.map((e) => e.id));
  assert.ok(receiver.received.every((r) => r.verifiedWith[0] === true));
});
