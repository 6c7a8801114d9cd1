/**
 * The sending half of the dispatcher. Every dispatcher process runs one: it
 * leases endpoints that have due deliveries (at most `concurrency` at once)
 * and, per leased endpoint, sends its due deliveries one after another in
 * event order, so one delivery is in flight per endpoint while many
 * endpoints are served in parallel. A failed delivery holds back the later
 * ones of its order key until it succeeds or is dead-lettered. A sender
 * that dies mid-delivery stops renewing its lease; when the lease runs out
 * another process takes the endpoint and sends the delivery again, with the
 * same `webhook-id`.
 */
import type { AuditLog } from '../auth/index.ts';
import type { Logger } from '../log.ts';
import { observeWebhookDelivery } from '../metrics/index.ts';
import type { DeliveryStore, DueDelivery, SendTarget } from './delivery-store.ts';
import { minScheduleSpanMs, retryDelayMs } from './retry-schedule.ts';
import type { SecretBox } from './secret-box.ts';
import { signWebhook } from './signature.ts';
import type { AttemptOutcome, WebhookSender } from './webhook-sender.ts';

/** Deliveries read per query while draining one endpoint. */
const DUE_BATCH = 50;

export interface DeliveryWorkerOptions {
  readonly store: DeliveryStore;
  readonly sender: WebhookSender;
  readonly secrets: SecretBox;
  readonly audit: AuditLog;
  /** This process, as lease owner. */
  readonly owner: string;
  readonly concurrency: number;
  readonly leaseTtlMs: number;
  readonly pollIntervalMs: number;
  readonly retryScheduleMs: readonly number[];
  readonly log: Logger;
  readonly now?: () => number;
}

export class DeliveryWorker {
  readonly #o: DeliveryWorkerOptions;
  readonly #active = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #claiming: Promise<void> | undefined;
  #again = false;
  #stopped = true;

  constructor(opts: DeliveryWorkerOptions) {
    this.#o = opts;
  }

  start(): void {
    this.#stopped = false;
    this.#timer = setInterval(() => this.wake(), this.#o.pollIntervalMs);
    this.wake();
  }

  /** Looks for due deliveries now (new ones were recorded, or a sender finished). */
  wake(): void {
    if (this.#stopped) return;
    if (this.#claiming !== undefined) {
      this.#again = true;
      return;
    }
    this.#claiming = this.#claim()
      .catch((err: unknown) => this.#o.log.warn({ err }, 'claiming webhook endpoints failed; retrying at the next poll'))
      .finally(() => {
        this.#claiming = undefined;
        if (this.#again) {
          this.#again = false;
          this.wake();
        }
      });
  }

  /** Stops claiming and waits for the endpoints in progress to finish their current delivery. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#claiming;
    await Promise.allSettled([...this.#active]);
  }

  async #claim(): Promise<void> {
    const free = this.#o.concurrency - this.#active.size;
    if (free <= 0) return;
    const ids = await this.#o.store.claimEndpoints(this.#o.owner, free, this.#o.leaseTtlMs);
    for (const id of ids) {
      const run: Promise<void> = this.#drain(id)
        .catch((err: unknown) => this.#o.log.error({ err, endpointId: id }, 'webhook endpoint drain failed; its lease will expire and it is retried'))
        .finally(() => {
          this.#active.delete(run);
          this.wake();
        });
      this.#active.add(run);
    }
  }

  async #drain(endpointId: string): Promise<void> {
    const { store, owner, leaseTtlMs } = this.#o;
    let finished = false;
    try {
      while (!this.#stopped) {
        const target = await store.renew(endpointId, owner, leaseTtlMs);
        if (target === null || target.status !== 'enabled') {
          finished = target === null;
          return;
        }
        const due = await store.due(endpointId, DUE_BATCH);
        if (due.length === 0) return;
        const held = new Set<string>();
        let renewedAt = Date.now();
        let healthy = target.failingSince === null;
        for (const delivery of due) {
          if (this.#stopped) return;
          if (held.has(delivery.orderKey)) continue;
          const outcome = await this.#attempt(target, delivery, healthy);
          if (outcome === 'stop') return;
          if (outcome === 'failed') held.add(delivery.orderKey);
          healthy = outcome === 'sent';
          // Keep the lease alive through a long batch (a third of its TTL at most between renewals).
          if (Date.now() - renewedAt > leaseTtlMs / 3) {
            if ((await store.renew(endpointId, owner, leaseTtlMs)) === null) {
              finished = true;
              return;
            }
            renewedAt = Date.now();
          }
        }
      }
    } catch (err) {
      // Keep the lease: the endpoint is tried again when it lapses, not in a tight loop of the same failure.
      finished = true;
      throw err;
    } finally {
      if (!finished) await store.release(endpointId, owner);
    }
  }

  /** @param healthy no failure recorded on the endpoint since its last success (a success then needs no endpoint write). */
  async #attempt(target: SendTarget, delivery: DueDelivery, healthy: boolean): Promise<'sent' | 'failed' | 'stop'> {
    const { store, log } = this.#o;
    const now = this.#o.now?.() ?? Date.now();
    const secrets = [this.#o.secrets.open(target.secret)];
    if (target.previousSecret !== null && target.previousSecretUntil !== null && target.previousSecretUntil.getTime() > now) {
      secrets.push(this.#o.secrets.open(target.previousSecret));
    }
    const headers = signWebhook({ id: delivery.eventId, timestampS: Math.floor(now / 1_000), body: delivery.body, secrets });
    const outcome = await this.#o.sender.send(target.url, headers, delivery.body);
    const attempts = delivery.attempts + 1;
    const retryInMs = outcome.ok ? null : retryDelayMs(this.#o.retryScheduleMs, attempts);
    const record = { at: new Date(now).toISOString(), responseStatus: outcome.status, latencyMs: outcome.latencyMs, error: outcome.error, ok: outcome.ok };
    await store.recordAttempt(delivery, target.id, record, retryInMs, healthy);
    observeWebhookDelivery(outcome.ok ? 'delivered' : retryInMs === null ? 'dead-lettered' : 'retrying');
    const bindings = { endpointId: target.id, deliveryId: delivery.id, eventId: delivery.eventId, attempts, status: outcome.status };
    if (outcome.ok) {
      log.debug(bindings, 'webhook delivered');
      return 'sent';
    }
    log.info({ ...bindings, error: outcome.error, retryInMs }, retryInMs === null ? 'webhook delivery dead-lettered' : 'webhook delivery failed; will retry');
    const reason = this.#disableReason(target, outcome, retryInMs, now);
    if (reason !== null) {
      await this.#disable(target, reason);
      return 'stop';
    }
    return 'failed';
  }

  /** 410 Gone, or an endpoint failing for longer than the whole schedule, is disabled. */
  #disableReason(target: SendTarget, outcome: AttemptOutcome, retryInMs: number | null, now: number): string | null {
    if (outcome.status === 410) return 'the endpoint answered 410 Gone';
    const failingFor = target.failingSince === null ? 0 : now - target.failingSince.getTime();
    if (retryInMs === null && failingFor >= minScheduleSpanMs(this.#o.retryScheduleMs)) return `failing for longer than the retry schedule (${Math.round(failingFor / 1_000)} s)`;
    return null;
  }

  async #disable(target: SendTarget, reason: string): Promise<void> {
    if (!(await this.#o.store.disable(target.id, reason))) return;
    this.#o.log.warn({ endpointId: target.id, reason }, 'webhook endpoint disabled');
    await this.#o.audit.record({
      action: 'webhook.disable',
      actor: null,
      targetType: 'user',
      targetId: target.ownerId,
      detail: { endpointId: target.id, url: target.url, reason },
    });
  }
}
