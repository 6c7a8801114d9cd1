/**
 * A JetStream KV lease: what a singleton task (retention purge, outbound
 * relays, webhook intake) holds, and what an actor host's liveness key is
 * (host-liveness.ts; actors themselves hold ownership entries without TTL,
 * ownership.ts). Acquire = create-if-absent;
 * keep = compare-and-set on the revision every ttl/3; expiry = the bucket's
 * TTL once the owner stops refreshing (a killed host). A refresh refused by
 * its CAS because another host holds the key means the lease is lost and the
 * owner must step down.
 *
 * A refresh that gets no answer (a NATS node died and the bucket is electing
 * a leader, about 7 s on nats-server 2.9) proves nothing either way. Owners
 * whose every write is fenced (actors: expected last subject sequence on
 * their logs) keep such a lease for up to RIDE_THROUGH_MS and keep serving:
 * a second owner meanwhile is refused at its first write, so riding through
 * costs at most a brief double activation, while giving up would cost every
 * document a teardown and a re-activation. Other owners (singleton tasks
 * with no fencing) give up after 0.8 x ttl, as before. Each KV round trip has
 * its own short timeout (ttl/3), so a lost request costs a fraction of the TTL.
 *
 * Refreshes are driven by one ticker per bucket handle (shared-ticker.ts), not
 * a timer per lease: a host with 10,000 open documents holds one timer for
 * all their leases, and each lease is refreshed when its own ttl/3 is up, so
 * the writes stay spread over the period as the leases were acquired.
 */
import { randomBytes } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import type { Logger } from '../log.ts';
import { attemptTimeoutMs, isWrongLastSequence, within } from './kv-cas.ts';
import { sharedTicker, type SharedTicker, type TickerMember } from './shared-ticker.ts';

export interface LeaseHolder {
  readonly host: string;
  readonly acquiredAt: string;
  /** Random per acquisition: tells this owner's own refresh (whose ack was lost) from another owner's entry. */
  readonly token?: string;
}

export interface LeaseOptions {
  readonly host: string;
  readonly ttlMs: number;
  readonly logger: Logger;
  readonly onLost: (reason: string) => void;
  /**
   * The owner's writes are fenced, so it may keep a lease it cannot confirm
   * (up to RIDE_THROUGH_MS) and take it again if it expired unseen meanwhile
   * with nobody else taking it. Default false.
   */
  readonly fencedWrites?: boolean;
  /**
   * Called when a fenced owner took its lease again after it expired
   * unconfirmed: whatever others may have done meanwhile (the host's
   * liveness: take over its actors) is worth checking now.
   */
  readonly onRetaken?: () => void;
}

/** How long a fenced owner keeps serving on a lease it cannot confirm: several KV leader elections (2.9: ~7 s each). */
export const RIDE_THROUGH_MS = 30_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The ticker checks for due refreshes this many times per refresh period: a refresh is at most ttl/24 late. */
const TICKS_PER_REFRESH = 8;

/** How often a lease is refreshed: three tries before its entry expires. */
function refreshEveryMs(ttlMs: number): number {
  return Math.max(100, Math.floor(ttlMs / 3));
}

/** The ticker that refreshes the leases of `kv` whose ttl is `ttlMs` (one per host's bucket handle). */
export function leaseTicker(kv: KV, ttlMs: number): SharedTicker {
  return sharedTicker(kv, Math.max(10, Math.floor(refreshEveryMs(ttlMs) / TICKS_PER_REFRESH)));
}

/**
 * Writes `value` at `key` if the key is absent or a delete/purge marker (a
 * released lease). @returns the new revision, or null when someone holds it.
 */
async function createIfFree(kv: KV, key: string, value: Uint8Array, timeoutMs: number): Promise<number | null> {
  try {
    return await kv.put(key, value, { previousSeq: 0, timeout: timeoutMs });
  } catch (err) {
    if (!isWrongLastSequence(err)) throw err;
  }
  const entry = await within(kv.get(key), timeoutMs, `reading lease ${key}`);
  if (entry !== null && entry.operation === 'PUT') return null;
  try {
    return await kv.put(key, value, { previousSeq: entry?.revision ?? 0, timeout: timeoutMs });
  } catch (err) {
    if (isWrongLastSequence(err)) return null;
    throw err;
  }
}

/**
 * Tries to take the lease on `key`.
 * @returns the lease, or null when someone else holds it.
 * @throws Error when the bucket does not answer in time (retry later).
 */
export async function acquireLease(kv: KV, key: string, opts: LeaseOptions): Promise<Lease | null> {
  const holder: LeaseHolder = { host: opts.host, acquiredAt: new Date().toISOString(), token: randomBytes(6).toString('base64url') };
  const value = encoder.encode(JSON.stringify(holder));
  let revision: number | null;
  try {
    revision = await createIfFree(kv, key, value, attemptTimeoutMs(opts.ttlMs));
  } catch (err) {
    throw new Error(`acquiring lease ${key} failed`, { cause: err });
  }
  return revision === null ? null : new Lease(kv, key, value, holder.token ?? '', revision, opts);
}

/** Who holds `key` now, or null when nobody does. */
export async function leaseHolder(kv: KV, key: string): Promise<LeaseHolder | null> {
  const entry = await kv.get(key);
  if (entry === null || entry.operation !== 'PUT') return null;
  try {
    return JSON.parse(decoder.decode(entry.value)) as LeaseHolder;
  } catch (err) {
    throw new Error(`lease ${key} holds an unreadable value`, { cause: err });
  }
}

export class Lease implements TickerMember {
  private ticker: SharedTicker | undefined;
  private nextRefreshAt = 0;
  private lastConfirmedAt = Date.now();
  private released = false;
  private refreshing = false;
  /** Failed refreshes since the last confirmed one (the first is logged at warn, the rest at debug). */
  private failures = 0;
  private readonly ttlMs: number;
  private readonly attemptMs: number;
  private readonly graceMs: number;
  private readonly log: Logger;

  constructor(
    private readonly kv: KV,
    readonly key: string,
    private readonly value: Uint8Array,
    /** This acquisition's random token (in the value): names this owner apart from any other with the same host. */
    readonly token: string,
    private revision: number,
    private readonly opts: LeaseOptions,
  ) {
    this.ttlMs = opts.ttlMs;
    this.attemptMs = attemptTimeoutMs(opts.ttlMs);
    this.graceMs = opts.fencedWrites === true ? Math.max(RIDE_THROUGH_MS, opts.ttlMs) : opts.ttlMs * 0.8;
    this.log = opts.logger;
  }

  /** The KV revision the lease currently holds; usable as a fencing token. */
  get currentRevision(): number {
    return this.revision;
  }

  /** Starts refreshing every ttl/3, on the host's lease ticker. */
  start(): void {
    if (this.released || this.ticker !== undefined) return;
    this.nextRefreshAt = Date.now() + refreshEveryMs(this.ttlMs);
    this.ticker = leaseTicker(this.kv, this.ttlMs);
    this.ticker.add(this);
  }

  /** Called by the ticker: refreshes when this lease's period is up and no refresh is in flight. */
  onTick(nowMs: number): void {
    if (this.released || this.refreshing || nowMs < this.nextRefreshAt) return;
    this.nextRefreshAt = nowMs + refreshEveryMs(this.ttlMs);
    void this.refresh();
  }

  private async refresh(): Promise<void> {
    this.refreshing = true;
    try {
      this.revision = await this.kv.update(this.key, this.value, this.revision, this.attemptMs);
      this.confirmed();
    } catch (err) {
      if (this.released) return;
      if (isWrongLastSequence(err)) await this.reconcile();
      else this.unconfirmed(err);
    } finally {
      this.refreshing = false;
    }
  }

  private confirmed(): void {
    if (this.failures > 0) this.log.info({ key: this.key, failures: this.failures, unconfirmedMs: Date.now() - this.lastConfirmedAt }, 'lease refresh recovered');
    this.failures = 0;
    this.lastConfirmedAt = Date.now();
  }

  private unconfirmed(err: unknown): void {
    this.failures++;
    const unconfirmedMs = Date.now() - this.lastConfirmedAt;
    if (unconfirmedMs > this.graceMs) {
      // We cannot prove we still hold it, and for longer than we may assume.
      this.log.warn({ err, key: this.key, unconfirmedMs }, 'lease refresh failing');
      this.lose('lease could not be refreshed in time');
    } else if (this.failures === 1) {
      this.log.warn({ err, key: this.key }, 'lease refresh failed, retrying');
    } else {
      this.log.debug({ err, key: this.key, failures: this.failures }, 'lease refresh failed, retrying');
    }
  }

  /** The CAS was refused: find out whether by another owner, by our own refresh whose ack was lost, or by an expiry. */
  private async reconcile(): Promise<void> {
    let entry;
    try {
      entry = await within(this.kv.get(this.key), this.attemptMs, `reading lease ${this.key}`);
    } catch (err) {
      this.unconfirmed(err);
      return;
    }
    if (this.released) return;
    if (entry !== null && entry.operation === 'PUT') {
      if (!sameBytes(entry.value, this.value)) {
        this.lose('lease taken by another host');
        return;
      }
      this.revision = entry.revision;
      this.confirmed();
      return;
    }
    if (this.opts.fencedWrites !== true) {
      this.lose('lease expired before it could be refreshed');
      return;
    }
    // It expired while the bucket could not be reached, and nobody took it:
    // take it again. Had another owner come and gone meanwhile and written,
    // our next write is fenced and we step down then.
    try {
      this.revision = await this.kv.put(this.key, this.value, { previousSeq: entry?.revision ?? 0, timeout: this.attemptMs });
      this.log.info({ key: this.key, unconfirmedMs: Date.now() - this.lastConfirmedAt }, 'lease taken again after it expired unconfirmed');
      this.confirmed();
      this.opts.onRetaken?.();
    } catch (err) {
      if (isWrongLastSequence(err)) this.lose('lease taken by another host');
      else this.unconfirmed(err);
    }
  }

  private lose(reason: string): void {
    this.stop();
    this.released = true;
    this.opts.onLost(reason);
  }

  private stop(): void {
    this.ticker?.delete(this);
    this.ticker = undefined;
  }

  /** Gives the lease up so another host can activate the actor at once. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.stop();
    try {
      await within(this.kv.delete(this.key, { previousSeq: this.revision }), this.attemptMs, `releasing lease ${this.key}`);
    } catch (err) {
      // Not fatal: the lease expires by TTL anyway; the next owner just waits longer.
      this.log.warn({ err, key: this.key }, 'lease release failed; it will expire by ttl');
    }
  }
}
