/**
 * webhooks-role.ts: the webhook dispatcher as a role (`LOOM_ROLES=webhooks`),
 * and the /v1/webhooks routes a gateway serves. Dispatchers scale like the
 * other roles: any number of processes share the work (one reads events at
 * a time, all of them send, each endpoint leased to one).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Config } from '../config.ts';
import { webhooksRoutes } from '../http/routes/webhooks.ts';
import type { Router } from '../http/router.ts';
import type { Logger } from '../log.ts';
import type { Provisioned } from '../nats/provision.ts';
import type { Database } from '../storage/index.ts';
import { SecretBox, startWebhookDispatcher, WebhookService, type WebhookDispatcher } from '../webhooks/index.ts';
import type { GatewayRole } from './gateway-role.ts';

/** @throws {Error} when there is no database (deliveries are recorded there). */
export function startWebhooksRole(opts: { config: Config; nc: NatsConnection; nats: Provisioned; database: Database | undefined; log: Logger }): Promise<WebhookDispatcher> {
  if (opts.database === undefined) throw new Error('the webhooks role needs a database');
  return startWebhookDispatcher({
    config: opts.config.webhooks,
    nc: opts.nc,
    leases: opts.nats.leases,
    leaseTtlMs: opts.config.actors.leaseTtlMs,
    db: opts.database.db,
    instanceId: opts.config.instanceId,
    log: opts.log.child({ role: 'webhooks' }),
  });
}

export function webhooksRouter(opts: { config: Config; gateway: GatewayRole; database: Database; dispatcher: WebhookDispatcher | undefined }): Router {
  const { webhooks } = opts.config;
  const service = new WebhookService({
    db: opts.database.db,
    secrets: new SecretBox(webhooks.secretKey),
    audit: opts.gateway.auth.audit,
    allowHttp: webhooks.allowHttp,
    allowPrivate: webhooks.allowPrivate,
    rotationOverlapMs: webhooks.rotationOverlapMs,
    ...(opts.dispatcher === undefined ? {} : { onDeliveryDue: opts.dispatcher.wake }),
  });
  return webhooksRoutes({ service, authenticate: opts.gateway.auth.middleware });
}
