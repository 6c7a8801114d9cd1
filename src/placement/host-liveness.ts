/**
 * The liveness of one actor host: a single key `host.<hostId>` in the lease
 * bucket (bucket-wide TTL), held as a fenced lease (lease.ts: refreshed by
 * compare-and-set every ttl/3, ride-through of RIDE_THROUGH_MS while the
 * bucket cannot be reached). The lease's random token is the host's
 * incarnation: every ownership entry this host writes (ownership.ts) names
 * it, and an entry is valid exactly while the liveness key still does. So a
 * host with 10,000 idle actors writes one key every ttl/3, not 10,000, and a
 * SIGKILLed host's actors can be taken over once its key expires (~ttl), as
 * when each actor held its own lease.
 *
 * Losing the liveness (the refresh refused because another process holds the
 * key, or unconfirmed past the grace) steps every member down, as a lost
 * per-actor lease did. The next activation makes a new incarnation, so the
 * old one's entries are free for any host, this one included.
 */
import type { KV } from '@nats-io/kv';
import { hostLivenessKey } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';
import { acquireLease, type Lease } from './lease.ts';

/** An ownership that lives and dies with the host's liveness. */
export interface LivenessMember {
  readonly key: string;
  /** The liveness is gone: step down (no write to the entry; it names a dead incarnation). */
  lose(reason: string): void;
  /** The liveness expired unconfirmed and was taken again: check the entry was not taken over meanwhile. */
  verify(): Promise<void>;
}

export interface HostLivenessOptions {
  /** The lease bucket (LEASE_BUCKET): its TTL is the liveness key's. */
  readonly kv: KV;
  readonly hostId: string;
  readonly ttlMs: number;
  readonly log: Logger;
}

/** Entries checked at once after the liveness was taken again (a rare event: a bucket outage past the TTL). */
const VERIFY_CONCURRENCY = 16;

export class HostLiveness {
  private lease: Lease | undefined;
  private acquiring: Promise<Lease> | undefined;
  private readonly members = new Set<LivenessMember>();
  private stopped = false;
  private readonly key: string;

  constructor(private readonly opts: HostLivenessOptions) {
    this.key = hostLivenessKey(opts.hostId);
  }

  get hostId(): string {
    return this.opts.hostId;
  }

  /** Ownerships held now (for tests and metrics). */
  get size(): number {
    return this.members.size;
  }

  /**
   * The incarnation that ownership entries must name, taking the liveness key
   * first if this host does not hold it (first use, or after a loss).
   * @throws Error when another process holds this host id's key (it expires
   *   within the TTL if that process is dead) or the bucket does not answer.
   */
  async incarnation(): Promise<string> {
    if (this.lease !== undefined) return this.lease.token;
    this.acquiring ??= this.acquire().finally(() => {
      this.acquiring = undefined;
    });
    return (await this.acquiring).token;
  }

  /** Whether `incarnation` is the one this host holds now (false once it was lost). */
  holds(incarnation: string): boolean {
    return this.lease !== undefined && this.lease.token === incarnation;
  }

  private async acquire(): Promise<Lease> {
    if (this.stopped) throw new Error('host liveness is released; the host is stopping');
    let lease: Lease | null = null;
    lease = await acquireLease(this.opts.kv, this.key, {
      host: this.opts.hostId,
      ttlMs: this.opts.ttlMs,
      logger: this.opts.log,
      // Every actor's writes are fenced on its log: ride through a KV leader election as each lease did.
      fencedWrites: true,
      onLost: (reason) => {
        if (lease !== null) this.lost(lease, reason);
      },
      onRetaken: () => void this.verifyAll(),
    });
    if (lease === null) {
      throw new Error(`host id ${this.opts.hostId} is live in another process (${this.key}); activations wait until its key expires`);
    }
    lease.start();
    this.lease = lease;
    this.opts.log.info({ key: this.key, incarnation: lease.token }, 'host liveness acquired');
    return lease;
  }

  add(member: LivenessMember): void {
    this.members.add(member);
  }

  delete(member: LivenessMember): void {
    this.members.delete(member);
  }

  private lost(lease: Lease, reason: string): void {
    if (this.lease !== lease) return;
    this.lease = undefined;
    const members = [...this.members];
    this.members.clear();
    this.opts.log.warn({ reason, key: this.key, actors: members.length }, 'host liveness lost; stepping every actor down');
    for (const member of members) member.lose(`host liveness lost: ${reason}`);
  }

  /**
   * While the key was expired another host may have taken entries over (it
   * saw this host dead). Their logs' fencing would stop our stale owners at
   * their next write; this finds the idle ones now, once per such event.
   */
  private async verifyAll(): Promise<void> {
    const members = [...this.members];
    this.opts.log.info({ actors: members.length }, 'host liveness taken again; checking every ownership');
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < members.length) {
        const member = members[next++];
        if (member === undefined) return;
        try {
          await member.verify();
        } catch (err) {
          // Not fatal: the member's next fenced write finds out anyway.
          this.opts.log.warn({ err, key: member.key }, 'ownership check failed');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(VERIFY_CONCURRENCY, members.length) }, worker));
  }

  /** Gives the key up (after the host passivated its actors): entries still naming it are free at once. */
  async release(): Promise<void> {
    this.stopped = true;
    await this.acquiring?.catch((err: unknown) => this.opts.log.debug({ err }, 'liveness acquisition failed while stopping'));
    const lease = this.lease;
    this.lease = undefined;
    await lease?.release();
  }
}
