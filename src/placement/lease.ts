/**
 * Single activation through a JetStream KV lease. Acquire = create-if-absent;
 * keep = compare-and-set on the revision every ttl/3; expiry = the bucket's
 * TTL once the owner stops refreshing (a killed host). A refresh that fails
 * its CAS, or that cannot be confirmed before the lease would have expired,
 * means the lease is lost and the owner must step down.
 */
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { Logger } from '../log.ts';

export interface LeaseHolder {
  readonly host: string;
  readonly acquiredAt: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/**
 * Tries to take the lease on `key`.
 * @returns the lease, or null when someone else holds it.
 */
export async function acquireLease(
  kv: KV,
  key: string,
  opts: { host: string; ttlMs: number; logger: Logger; onLost: (reason: string) => void },
): Promise<Lease | null> {
  const holder: LeaseHolder = { host: opts.host, acquiredAt: new Date().toISOString() };
  const value = encoder.encode(JSON.stringify(holder));
  try {
    const revision = await kv.create(key, value);
    return new Lease(kv, key, value, revision, opts.ttlMs, opts.logger, opts.onLost);
  } catch (err) {
    if (isWrongLastSequence(err)) return null;
    throw new Error(`acquiring lease ${key} failed`, { cause: err });
  }
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

export class Lease {
  private timer: NodeJS.Timeout | undefined;
  private lastConfirmedAt = Date.now();
  private released = false;
  private refreshing = false;

  constructor(
    private readonly kv: KV,
    readonly key: string,
    private readonly value: Uint8Array,
    private revision: number,
    private readonly ttlMs: number,
    private readonly log: Logger,
    private readonly onLost: (reason: string) => void,
  ) {}

  /** The KV revision the lease currently holds; usable as a fencing token. */
  get currentRevision(): number {
    return this.revision;
  }

  /** Starts refreshing every ttl/3. */
  start(): void {
    const everyMs = Math.max(100, Math.floor(this.ttlMs / 3));
    this.timer = setInterval(() => void this.refresh(), everyMs);
    this.timer.unref();
  }

  private async refresh(): Promise<void> {
    if (this.released || this.refreshing) return;
    this.refreshing = true;
    try {
      this.revision = await this.kv.update(this.key, this.value, this.revision, Math.floor(this.ttlMs / 3));
      this.lastConfirmedAt = Date.now();
    } catch (err) {
      if (this.released) return;
      if (isWrongLastSequence(err)) {
        this.lose('lease taken by another host');
      } else if (Date.now() - this.lastConfirmedAt > this.ttlMs * 0.8) {
        // We cannot prove we still hold it, and it may expire any moment.
        this.log.warn({ err, key: this.key }, 'lease refresh failing');
        this.lose('lease could not be refreshed before expiry');
      } else {
        this.log.warn({ err, key: this.key }, 'lease refresh failed, retrying');
      }
    } finally {
      this.refreshing = false;
    }
  }

  private lose(reason: string): void {
    this.stop();
    this.released = true;
    this.onLost(reason);
  }

  private stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Gives the lease up so another host can activate the actor at once. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.stop();
    try {
      await this.kv.delete(this.key, { previousSeq: this.revision });
    } catch (err) {
      // Not fatal: the lease expires by TTL anyway; the next owner just waits longer.
      this.log.warn({ err, key: this.key }, 'lease release failed; it will expire by ttl');
    }
  }
}
