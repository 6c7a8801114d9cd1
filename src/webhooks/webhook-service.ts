/**
 * What the /v1/webhooks routes do: endpoints owned by one user (another
 * user's endpoints answer not-found), a secret shown once at creation and
 * at each rotation, test events, the delivery log and replays.
 */
import { randomUUID } from 'node:crypto';
import { and, count, desc, eq, getTableColumns, lt, or, sql } from 'drizzle-orm';
import type { AuditLog, Principal } from '../auth/index.ts';
import type { LoomDatabase } from '../storage/index.ts';
import { webhookDeliveries, webhookEndpoints, type WebhookDeliveryStatus } from '../storage/postgres/webhooks-schema.ts';
import { DeliveryStore } from './delivery-store.ts';
import { checkEndpointUrl } from './endpoint-url.ts';
import { deliveryBody } from './event-intake.ts';
import { checkEventPatterns } from './event-patterns.ts';
import { generateWebhookSecret, type SecretBox } from './secret-box.ts';
import { WebhookError } from './webhook-error.ts';

/** Endpoints one user may have. */
export const MAX_ENDPOINTS_PER_USER = 50;

export type WebhookEndpoint = Omit<typeof webhookEndpoints.$inferSelect, 'secret' | 'previousSecret' | 'leaseOwner' | 'leaseUntil'>;
export type WebhookDelivery = Omit<typeof webhookDeliveries.$inferSelect, 'body'>;

export interface EndpointInput {
  readonly url: string;
  readonly events: readonly string[];
  readonly description?: string | undefined;
}

export interface WebhookServiceOptions {
  readonly db: LoomDatabase;
  readonly secrets: SecretBox;
  readonly audit: AuditLog;
  readonly allowHttp: boolean;
  readonly allowPrivate: boolean;
  readonly rotationOverlapMs: number;
  /** Wakes a dispatcher in this process, if any (others find the work at their next poll). */
  readonly onDeliveryDue?: () => void;
}

// What the API may show: never the secrets, nor the dispatcher's lease.
const { secret: _s, previousSecret: _p, leaseOwner: _lo, leaseUntil: _lu, ...endpointColumns } = getTableColumns(webhookEndpoints);
const { body: _b, ...deliveryColumns } = getTableColumns(webhookDeliveries);

export class WebhookService {
  readonly #o: WebhookServiceOptions;
  readonly #store: DeliveryStore;

  constructor(opts: WebhookServiceOptions) {
    this.#o = opts;
    this.#store = new DeliveryStore(opts.db);
  }

  /** @throws WebhookError `invalid-url`, `invalid-event-pattern`, `too-many-endpoints`. */
  async create(principal: Principal, input: EndpointInput): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    const url = checkEndpointUrl(input.url, this.#o);
    const events = checkEventPatterns(input.events);
    const [owned] = await this.#o.db.select({ n: count() }).from(webhookEndpoints).where(eq(webhookEndpoints.ownerId, principal.userId));
    if ((owned?.n ?? 0) >= MAX_ENDPOINTS_PER_USER) throw new WebhookError('too-many-endpoints', `at most ${MAX_ENDPOINTS_PER_USER} endpoints per user`);
    const secret = generateWebhookSecret();
    const [endpoint] = await this.#o.db
      .insert(webhookEndpoints)
      .values({ id: randomUUID(), ownerId: principal.userId, url, events, description: input.description ?? null, secret: this.#o.secrets.seal(secret) })
      .returning(endpointColumns);
    if (endpoint === undefined) throw new Error('webhook endpoint insert returned nothing');
    await this.#audit(principal, 'webhook.create', endpoint);
    return { endpoint, secret };
  }

  list(principal: Principal): Promise<WebhookEndpoint[]> {
    return this.#o.db.select(endpointColumns).from(webhookEndpoints).where(eq(webhookEndpoints.ownerId, principal.userId)).orderBy(desc(webhookEndpoints.createdAt));
  }

  /** @throws WebhookError `not-found` when absent or another user's. */
  async get(principal: Principal, id: string): Promise<WebhookEndpoint> {
    const [endpoint] = await this.#o.db.select(endpointColumns).from(webhookEndpoints).where(this.#mine(principal, id));
    if (endpoint === undefined) throw new WebhookError('not-found', 'no such webhook endpoint');
    return endpoint;
  }

  /** `enabled: true` re-enables a disabled endpoint; its pending deliveries resume. */
  async update(principal: Principal, id: string, patch: Partial<EndpointInput> & { enabled?: boolean | undefined }): Promise<WebhookEndpoint> {
    const set: Partial<typeof webhookEndpoints.$inferInsert> = { updatedAt: new Date() };
    if (patch.url !== undefined) set.url = checkEndpointUrl(patch.url, this.#o);
    if (patch.events !== undefined) set.events = checkEventPatterns(patch.events);
    if (patch.description !== undefined) set.description = patch.description;
    if (patch.enabled === true) Object.assign(set, { status: 'enabled', disabledReason: null, failingSince: null });
    if (patch.enabled === false) Object.assign(set, { status: 'disabled', disabledReason: 'disabled by its owner' });
    const [endpoint] = await this.#o.db.update(webhookEndpoints).set(set).where(this.#mine(principal, id)).returning(endpointColumns);
    if (endpoint === undefined) throw new WebhookError('not-found', 'no such webhook endpoint');
    if (patch.enabled === true) this.#o.onDeliveryDue?.();
    return endpoint;
  }

  /** Deletes the endpoint and its delivery log. */
  async delete(principal: Principal, id: string): Promise<void> {
    const [endpoint] = await this.#o.db.delete(webhookEndpoints).where(this.#mine(principal, id)).returning(endpointColumns);
    if (endpoint === undefined) throw new WebhookError('not-found', 'no such webhook endpoint');
    await this.#audit(principal, 'webhook.delete', endpoint);
  }

  /** A new secret; the previous one keeps signing (beside it) for the configured overlap. */
  async rotateSecret(principal: Principal, id: string): Promise<{ secret: string; previousSecretExpiresAt: Date }> {
    const secret = generateWebhookSecret();
    const until = new Date(Date.now() + this.#o.rotationOverlapMs);
    const [endpoint] = await this.#o.db
      .update(webhookEndpoints)
      .set({ previousSecret: sql`${webhookEndpoints.secret}`, previousSecretUntil: until, secret: this.#o.secrets.seal(secret), updatedAt: new Date() })
      .where(this.#mine(principal, id))
      .returning(endpointColumns);
    if (endpoint === undefined) throw new WebhookError('not-found', 'no such webhook endpoint');
    await this.#audit(principal, 'webhook.rotate-secret', endpoint);
    return { secret, previousSecretExpiresAt: until };
  }

  /** Queues a `webhook.test` event for this endpoint alone. */
  async sendTest(principal: Principal, id: string): Promise<WebhookDelivery> {
    const endpoint = await this.get(principal, id);
    const eventId = `test_${randomUUID()}`;
    const body = deliveryBody({ type: 'webhook.test', timestamp: new Date().toISOString(), data: { endpointId: endpoint.id } });
    const deliveryId = randomUUID();
    await this.#store.insertOne({ id: deliveryId, endpointId: endpoint.id, eventId, eventType: 'webhook.test', orderKey: eventId, eventSeq: 0, body });
    this.#o.onDeliveryDue?.();
    return this.#delivery(endpoint.id, deliveryId);
  }

  /**
   * One page of an endpoint's deliveries, newest first; `status: failed` is the dead-letter list.
   * @param before cursor: the last delivery id of the previous page.
   */
  async deliveries(principal: Principal, id: string, query: { limit: number; status?: WebhookDeliveryStatus | undefined; before?: string | undefined }): Promise<WebhookDelivery[]> {
    await this.get(principal, id);
    const d = webhookDeliveries;
    let older;
    if (query.before !== undefined) {
      const [anchor] = await this.#o.db.select({ createdAt: d.createdAt }).from(d).where(and(eq(d.id, query.before), eq(d.endpointId, id)));
      if (anchor === undefined) throw new WebhookError('not-found', 'before: no such delivery of this endpoint', { field: 'before' });
      older = or(lt(d.createdAt, anchor.createdAt), and(eq(d.createdAt, anchor.createdAt), lt(d.id, query.before)));
    }
    return this.#o.db
      .select(deliveryColumns)
      .from(d)
      .where(and(eq(d.endpointId, id), query.status === undefined ? undefined : eq(d.status, query.status), older))
      .orderBy(desc(d.createdAt), desc(d.id))
      .limit(query.limit);
  }

  /** Sends a delivery again now (same `webhook-id`), whatever its state; its schedule starts over. */
  async replay(principal: Principal, id: string, deliveryId: string): Promise<WebhookDelivery> {
    await this.get(principal, id);
    const d = webhookDeliveries;
    const rows = await this.#o.db
      .update(d)
      .set({ status: 'pending', attempts: 0, nextAttemptAt: sql`now()`, deliveredAt: null })
      .where(and(eq(d.id, deliveryId), eq(d.endpointId, id)))
      .returning({ id: d.id });
    if (rows.length === 0) throw new WebhookError('not-found', 'no such delivery of this endpoint');
    this.#o.onDeliveryDue?.();
    return this.#delivery(id, deliveryId);
  }

  async #delivery(endpointId: string, deliveryId: string): Promise<WebhookDelivery> {
    const d = webhookDeliveries;
    const [delivery] = await this.#o.db.select(deliveryColumns).from(d).where(and(eq(d.id, deliveryId), eq(d.endpointId, endpointId)));
    if (delivery === undefined) throw new WebhookError('not-found', 'no such delivery of this endpoint');
    return delivery;
  }

  #mine(principal: Principal, id: string) {
    return and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.ownerId, principal.userId));
  }

  #audit(principal: Principal, action: 'webhook.create' | 'webhook.delete' | 'webhook.rotate-secret', endpoint: WebhookEndpoint): Promise<void> {
    return this.#o.audit.record({ action, actor: principal, targetType: 'user', targetId: principal.userId, detail: { endpointId: endpoint.id, url: endpoint.url } });
  }
}
