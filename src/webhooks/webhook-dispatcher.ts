/**
 * The webhook dispatcher a `webhooks` role process runs: the intake (one
 * process at a time turns outbound events into deliveries) and the delivery
 * worker (every process sends, each endpoint leased to one of them). Add
 * processes to send to more endpoints at once.
 */
import { jetstream } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { AuditLog } from '../auth/index.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { LoomDatabase } from '../storage/index.ts';
import { DeliveryStore } from './delivery-store.ts';
import { DeliveryWorker } from './delivery-worker.ts';
import { EventIntake } from './event-intake.ts';
import { ensureOutboundEventsStream } from './outbound-stream.ts';
import { SecretBox } from './secret-box.ts';
import { WebhookSender } from './webhook-sender.ts';

export interface WebhookDispatcher {
  /** Look for due deliveries now (e.g. after a test event or a replay in this process). */
  wake(): void;
  stop(): Promise<void>;
}

export async function startWebhookDispatcher(opts: {
  config: Config['webhooks'];
  nc: NatsConnection;
  /** The actor lease bucket; the intake's lease lives there. */
  leases: KV;
  /** TTL of that bucket's leases. */
  leaseTtlMs: number;
  db: LoomDatabase;
  /** This process (lease owner). */
  instanceId: string;
  log: Logger;
}): Promise<WebhookDispatcher> {
  const { config, log } = opts;
  const js = jetstream(opts.nc);
  await ensureOutboundEventsStream(js, config.streamReplicas, log);
  if (config.secretKey === undefined) log.warn('LOOM_WEBHOOK_SECRET_KEY is not set: webhook secrets are stored unsealed');
  const store = new DeliveryStore(opts.db);
  const sender = new WebhookSender({ timeoutMs: config.timeoutMs, allowPrivate: config.allowPrivate });
  const worker = new DeliveryWorker({
    store,
    sender,
    secrets: new SecretBox(config.secretKey),
    audit: new AuditLog({ db: opts.db, log }),
    owner: opts.instanceId,
    concurrency: config.concurrency,
    leaseTtlMs: config.leaseTtlMs,
    pollIntervalMs: config.pollIntervalMs,
    retryScheduleMs: config.retryScheduleMs,
    log: log.child({ component: 'webhook-sender' }),
  });
  const intake = new EventIntake({
    js,
    leases: opts.leases,
    store,
    host: opts.instanceId,
    leaseTtlMs: opts.leaseTtlMs,
    retryMs: Math.max(opts.leaseTtlMs / 2, 100),
    onRecorded: (endpointIds) => worker.wake(endpointIds),
    log: log.child({ component: 'webhook-intake' }),
  });
  worker.start();
  intake.start();
  return {
    wake: () => worker.wake(),
    async stop() {
      await intake.stop();
      await worker.stop();
      await sender.close();
    },
  };
}
