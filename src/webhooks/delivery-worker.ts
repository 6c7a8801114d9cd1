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
 *
 * The database work is shared between endpoints: one statement reads the
 * due deliveries of every idle endpoint this process holds, attempts are
 * written in batches (AttemptRecorder), and leases are renewed together
 * every third of their TTL. An endpoint stays leased while it keeps getting
 * work and is released after LINGER_POLLS polls without any, so a busy
 * endpoint costs no claim and release per delivery.
 */
import type { KeyObject } from 'node:crypto';
import type { AuditLog } from '../auth/index.ts';
import type { Logger } from '../log.ts';
import { observeWebhookDelivery } from '../metrics/index.ts';
import { AttemptRecorder } from './attempt-recorder.ts';
import type { DeliveryStore, DueDelivery, SendTarget } from './delivery-store.ts';
import { minScheduleSpanMs, retryDelayMs } from './retry-schedule.ts';
import type { SecretBox } from './secret-box.ts';
import { signingKey, signWebhook } from './signature.ts';
import type { AttemptOutcome, WebhookSender } from './webhook-sender.ts';

/** Deliveries read per endpoint per query. */
const DUE_BATCH = 50;
/** Polls an endpoint stays leased without due deliveries before it is released. */
const LINGER_POLLS = 2;

/** An endpoint this process holds the lease of. */
interface Held {
  /** Its deliveries are being sent. */
  busy: boolean;
  /** The lease turned out to be someone else's: stop after the current attempt. */
  lost: boolean;
  /** When it last had nothing left to send. */
  idleSince: number;
}

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
  readonly #recorder: AttemptRecorder;
  readonly #held = new Map<string, Held>();
  readonly #active = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #again = false;
  #claimWanted = false;
  /** Held endpoints to read due deliveries for at the next tick (all of them when `#checkAll`). */
  readonly #check = new Set<string>();
  #checkAll = false;
  #renewedAt = 0;
  #stopped = true;

  constructor(opts: DeliveryWorkerOptions) {
    this.#o = opts;
    this.#recorder = new AttemptRecorder(opts.store);
  }

  start(): void {
    this.#stopped = false;
    // Leases are renewed in ticks: poll at least three times per TTL.
    this.#timer = setInterval(() => this.wake(), Math.min(this.#o.pollIntervalMs, this.#o.leaseTtlMs / 3));
    this.wake();
  }

  /**
   * Looks for due deliveries now, on endpoints not yet leased too (new ones were recorded, or a poll).
   * @param endpointIds the endpoints that got new deliveries; without, every endpoint held is read.
   */
  wake(endpointIds?: readonly string[]): void {
    if (endpointIds === undefined) {
      this.#claimWanted = true;
      this.#checkAll = true;
    } else {
      for (const id of endpointIds) {
        this.#check.add(id);
        // A claim is a round trip on the event's path: only for endpoints not held here already.
        if (!this.#held.has(id)) this.#claimWanted = true;
      }
    }
    this.#tickSoon();
  }

  /** Stops claiming, waits for the endpoints in progress to finish their current delivery, and releases every lease. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#ticking;
    await Promise.allSettled([...this.#active]);
    const held = [...this.#held.keys()];
    this.#held.clear();
    await this.#o.store.releaseLeases(held, this.#o.owner);
  }

  /** One tick at a time; a request during a tick runs another right after it. */
  #tickSoon(): void {
    if (this.#stopped) return;
    if (this.#ticking !== undefined) {
      this.#again = true;
      return;
    }
    this.#ticking = this.#tick()
      .catch((err: unknown) => this.#o.log.warn({ err }, 'looking for due webhook deliveries failed; retrying at the next poll'))
      .finally(() => {
        this.#ticking = undefined;
        if (this.#again) {
          this.#again = false;
          this.#tickSoon();
        }
      });
  }

  async #tick(): Promise<void> {
    const { store, owner, leaseTtlMs, pollIntervalMs } = this.#o;
    const held = this.#held;
    if (held.size > 0 && Date.now() - this.#renewedAt > leaseTtlMs / 3) {
      const renewing = Date.now();
      const ours = new Set(await store.renewLeases([...held.keys()], owner, leaseTtlMs));
      this.#renewedAt = renewing;
      for (const [id, h] of held) {
        if (ours.has(id)) continue;
        h.lost = true;
        if (!h.busy) held.delete(id);
      }
    }
    if (this.#claimWanted && !this.#stopped) {
      this.#claimWanted = false;
      const free = this.#o.concurrency - held.size;
      if (free > 0) {
        for (const id of await store.claimEndpoints(owner, free, leaseTtlMs)) {
          held.set(id, { busy: false, lost: false, idleSince: Date.now() });
          this.#check.add(id);
        }
      }
    }
    // Only endpoints that may have something new: woken for, just served, just claimed, or all at a poll.
    const all = this.#checkAll;
    this.#checkAll = false;
    const idle = [...held].filter(([id, h]) => !h.busy && (all || this.#check.has(id))).map(([id]) => id);
    // Served now, or not held here (another process's, or nothing left to claim): forget them.
    for (const id of this.#check) if (!held.get(id)?.busy) this.#check.delete(id);
    if (idle.length === 0 || this.#stopped) return;
    const work = await store.dueFor(idle, owner, DUE_BATCH);
    const release: string[] = [];
    const now = Date.now();
    for (const id of idle) {
      const h = held.get(id);
      if (h === undefined || h.busy) continue;
      const got = work.get(id);
      if (got === undefined) {
        // Not ours any more (it lapsed and another sender took it): nothing to release.
        held.delete(id);
      } else if (got.target.status !== 'enabled') {
        held.delete(id);
        release.push(id);
      } else if (got.due.length === 0) {
        if (now - h.idleSince >= LINGER_POLLS * pollIntervalMs) {
          held.delete(id);
          release.push(id);
        }
      } else {
        h.busy = true;
        this.#track(id, this.#serve(id, h, got.target, got.due));
      }
    }
    await store.releaseLeases(release, owner);
  }

  #track(endpointId: string, run: Promise<void>): void {
    const tracked: Promise<void> = run.finally(() => {
      this.#active.delete(tracked);
      this.#check.add(endpointId);
      this.#tickSoon();
    });
    this.#active.add(tracked);
  }

  /** Sends one endpoint's due deliveries in order, each attempt written before the next is sent. */
  async #serve(endpointId: string, h: Held, target: SendTarget, due: readonly DueDelivery[]): Promise<void> {
    try {
      const signWith = this.#signingSecrets(target);
      const held = new Set<string>();
      let healthy = target.failingSince === null;
      let outcome: 'sent' | 'failed' | 'stop' = 'sent';
      for (const delivery of due) {
        if (this.#stopped || h.lost) break;
        if (held.has(delivery.orderKey)) continue;
        outcome = await this.#attempt(target, signWith, delivery, healthy);
        if (outcome === 'stop') break;
        if (outcome === 'failed') held.add(delivery.orderKey);
        healthy = outcome === 'sent';
      }
      if (outcome === 'stop' || h.lost) this.#held.delete(endpointId);
      h.busy = false;
      h.idleSince = Date.now();
    } catch (err) {
      // Keep the lease: the endpoint is tried again when it lapses, not in a tight loop of the same failure.
      this.#held.delete(endpointId);
      this.#o.log.error({ err, endpointId }, 'webhook endpoint drain failed; its lease will expire and it is retried');
    }
  }

  /** The secrets that sign now: the current one, and the previous one during a rotation overlap. */
  #signingSecrets(target: SendTarget): (now: number) => KeyObject[] {
    const current = signingKey(this.#o.secrets.open(target.secret));
    const previous = target.previousSecret === null ? null : signingKey(this.#o.secrets.open(target.previousSecret));
    const until = target.previousSecretUntil?.getTime() ?? 0;
    return (now) => (previous !== null && until > now ? [current, previous] : [current]);
  }

  /**
   * One attempt, written (in a batch with other endpoints' attempts) before it returns: a
   * crash then repeats at most the one delivery in flight per endpoint.
   * @param healthy no failure recorded on the endpoint since its last success (a success then needs no endpoint write).
   */
  async #attempt(
    target: SendTarget,
    signWith: (now: number) => KeyObject[],
    delivery: DueDelivery,
    healthy: boolean,
  ): Promise<'sent' | 'failed' | 'stop'> {
    const { log } = this.#o;
    const now = this.#o.now?.() ?? Date.now();
    const headers = signWebhook({ id: delivery.eventId, timestampS: Math.floor(now / 1_000), body: delivery.body, secrets: signWith(now) });
    const outcome = await this.#o.sender.send(target.url, headers, delivery.body);
    const attempts = delivery.attempts + 1;
    const retryInMs = outcome.ok ? null : retryDelayMs(this.#o.retryScheduleMs, attempts);
    const attempt = { at: new Date(now).toISOString(), responseStatus: outcome.status, latencyMs: outcome.latencyMs, error: outcome.error, ok: outcome.ok };
    await this.#recorder.record({ delivery, attempt, retryInMs });
    if (!(outcome.ok && healthy)) await this.#o.store.markFailing(target.id, !outcome.ok);
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
