/**
 * Single activation of actors through ownership entries without TTL (bucket
 * OWNER_BUCKET, key `<kind>.<token>`), valid while the owning host's
 * liveness key (host-liveness.ts) names the incarnation the entry names. An
 * idle actor costs no KV write at all: only its host's liveness is refreshed.
 *
 * - Acquire: create-if-absent. An existing entry whose host is dead (its
 *   liveness key expired, was deleted, or names another incarnation) is
 *   taken over by compare-and-set on the entry's revision; a live one means
 *   the actor is `elsewhere`.
 * - Release: the entry's message is deleted by its sequence (our revision).
 *   That is compare-and-set too (an entry taken over has a new sequence, and
 *   the old one is already gone), and unlike a KV delete it leaves no marker:
 *   a bucket without TTL would otherwise keep one per actor ever activated.
 * - Loss: the host's liveness lost steps every ownership down; a takeover
 *   while the liveness was briefly expired is found by the logs' fencing at
 *   the next write, or by HostLiveness's check when it takes its key again.
 */
import { randomBytes } from 'node:crypto';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { hostLivenessKey, OWNER_BUCKET } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';
import type { HostLiveness, LivenessMember } from './host-liveness.ts';
import { attemptTimeoutMs, isNoMessageFound, isWrongLastSequence, within } from './kv-cas.ts';
import type { LeaseHolder } from './lease.ts';

/** The value of an ownership entry. */
export interface OwnerEntry {
  readonly host: string;
  /** The token of the host's liveness key when the entry was written. */
  readonly incarnation: string;
  /** Random per acquisition: tells our own write whose ack was lost from anyone else's. */
  readonly token: string;
  readonly acquiredAt: string;
}

interface Stored {
  /** Null when the key holds a delete or purge marker (written by hand: Loom deletes the message). */
  readonly entry: OwnerEntry | null;
  readonly revision: number;
}

export interface OwnershipOptions {
  readonly log: Logger;
  /** The ownership ended without a release: the host's liveness was lost, or another host took the entry. */
  readonly onLost: (reason: string) => void;
}

/** What an activation holds: the key, a fencing token, and the way to give it up. */
export interface ActorLease {
  readonly key: string;
  /** The entry's KV revision: usable as a fencing token. */
  readonly currentRevision: number;
  release(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Attempts at an acquisition racing other hosts' (each loses only to a write that happened meanwhile). */
const ACQUIRE_ATTEMPTS = 3;

/** Releases retried this many times, ttl apart, before the entry is left to this host's liveness. */
const RELEASE_ATTEMPTS = 3;

export class OwnerDirectory {
  private readonly attemptMs: number;
  private readonly stream: string;

  /**
   * @param buckets OWNER_BUCKET (`owners`), LEASE_BUCKET (`leases`, where the hosts' liveness keys are), and the manager (`jsm`); Provisioned has all three.
   *   `ownersStream` names the owners bucket's stream when it is not OWNER_BUCKET's (tests use fresh buckets).
   * @param ttlMs the lease bucket's TTL: each KV round trip gets a third of it
   */
  constructor(
    private readonly buckets: { readonly owners: KV; readonly leases: KV; readonly jsm: JetStreamManager; readonly ownersStream?: string },
    private readonly ttlMs: number,
  ) {
    this.attemptMs = attemptTimeoutMs(ttlMs);
    this.stream = buckets.ownersStream ?? `KV_${OWNER_BUCKET}`;
  }

  private async read(key: string): Promise<Stored | null> {
    const e = await within(this.buckets.owners.get(key), this.attemptMs, `reading ownership ${key}`);
    if (e === null) return null;
    if (e.operation !== 'PUT') return { entry: null, revision: e.revision };
    try {
      return { entry: JSON.parse(decoder.decode(e.value)) as OwnerEntry, revision: e.revision };
    } catch (err) {
      throw new Error(`ownership ${key} holds an unreadable value`, { cause: err });
    }
  }

  /** Whether the host `entry` names still lives in the incarnation it names. */
  private async isLive(entry: OwnerEntry): Promise<boolean> {
    const e = await within(this.buckets.leases.get(hostLivenessKey(entry.host)), this.attemptMs, `reading liveness of ${entry.host}`);
    if (e === null || e.operation !== 'PUT') return false;
    return (JSON.parse(decoder.decode(e.value)) as LeaseHolder).token === entry.incarnation;
  }

  /** The live owner of `key`, or null when nobody (alive) owns it. */
  async liveOwner(key: string): Promise<OwnerEntry | null> {
    const stored = await this.read(key);
    if (stored?.entry == null) return null;
    return (await this.isLive(stored.entry)) ? stored.entry : null;
  }

  /** The revision of `key` now (null: absent), for an owner checking it still holds it. */
  async revisionOf(key: string): Promise<number | null> {
    const stored = await this.read(key);
    return stored?.entry == null ? null : stored.revision;
  }

  /**
   * Tries to own `key` for the host of `liveness`.
   * @returns the ownership, or `{ heldBy }` naming the live owner (null if it vanished while we raced)
   * @throws Error when a bucket does not answer in time, or the host cannot hold its liveness (retry later)
   */
  async acquire(key: string, liveness: HostLiveness, opts: OwnershipOptions): Promise<Ownership | { readonly heldBy: string | null }> {
    const incarnation = await liveness.incarnation();
    const mine: OwnerEntry = { host: liveness.hostId, incarnation, token: randomBytes(6).toString('base64url'), acquiredAt: new Date().toISOString() };
    const value = encoder.encode(JSON.stringify(mine));
    // First try as if absent (the common case: one round trip).
    let current: Stored | null = null;
    for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS; attempt++) {
      if (attempt > 0) current = await this.read(key);
      const entry = current?.entry ?? null;
      if (entry !== null && current !== null) {
        // Our own write, whose ack was lost: it is ours.
        if (entry.token === mine.token) return this.own(key, current.revision, liveness, incarnation, opts);
        // An entry of this very incarnation that no activation here holds is one whose release failed: take it back.
        const ownIncarnation = entry.host === mine.host && entry.incarnation === incarnation;
        if (!ownIncarnation && (await this.isLive(entry))) return { heldBy: entry.host };
      }
      try {
        const revision = await this.buckets.owners.put(key, value, { previousSeq: current?.revision ?? 0, timeout: this.attemptMs });
        return this.own(key, revision, liveness, incarnation, opts);
      } catch (err) {
        // Someone wrote first (or it was not absent): look again.
        if (!isWrongLastSequence(err)) throw new Error(`acquiring ownership ${key} failed`, { cause: err });
      }
    }
    return { heldBy: (await this.read(key))?.entry?.host ?? null };
  }

  private own(key: string, revision: number, liveness: HostLiveness, incarnation: string, opts: OwnershipOptions): Ownership {
    // The liveness may have been lost while the entry was written: then the entry
    // names a dead incarnation (free for anyone) and nobody would tell this owner.
    if (!liveness.holds(incarnation)) throw new Error(`host liveness lost while acquiring ${key}; retry`);
    const ownership = new Ownership(this, key, revision, liveness, incarnation, opts);
    liveness.add(ownership);
    return ownership;
  }

  /**
   * Deletes the entry written at `revision`, and nothing newer.
   * @returns false when it was already gone (taken over, or released before)
   */
  async remove(key: string, revision: number): Promise<boolean> {
    try {
      // erase=false: a plain delete; the value is not secret.
      return await within(this.buckets.jsm.streams.deleteMessage(this.stream, revision, false), this.attemptMs, `releasing ownership ${key}`);
    } catch (err) {
      if (isNoMessageFound(err)) return false;
      throw err;
    }
  }

  get retryMs(): number {
    return this.ttlMs;
  }
}

/** One actor owned by this host. Holds no timer: its host's liveness keeps it. */
export class Ownership implements LivenessMember, ActorLease {
  private ended = false;

  constructor(
    private readonly directory: OwnerDirectory,
    readonly key: string,
    private readonly revision: number,
    private readonly liveness: HostLiveness,
    private readonly incarnation: string,
    private readonly opts: OwnershipOptions,
  ) {}

  get currentRevision(): number {
    return this.revision;
  }

  lose(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.liveness.delete(this);
    this.opts.onLost(reason);
  }

  async verify(): Promise<void> {
    if (this.ended) return;
    const revision = await this.directory.revisionOf(this.key);
    if (!this.ended && revision !== this.revision) this.lose('ownership taken by another host');
  }

  /** Gives the actor up so another host can activate it at once. */
  async release(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.liveness.delete(this);
    // An entry naming an incarnation that is gone is free for anyone already.
    if (!this.liveness.holds(this.incarnation)) return;
    try {
      await this.directory.remove(this.key, this.revision);
    } catch (err) {
      this.opts.log.warn({ err, key: this.key }, 'ownership release failed; retrying in the background');
      // Not awaited: the actor has left; until the delete lands, other hosts see it owned
      // here, and this host's next activation of it takes the entry back.
      void this.retryRelease();
    }
  }

  private async retryRelease(): Promise<void> {
    for (let attempt = 2; attempt <= RELEASE_ATTEMPTS; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, this.directory.retryMs).unref());
      if (!this.liveness.holds(this.incarnation)) return;
      try {
        await this.directory.remove(this.key, this.revision);
        return;
      } catch (err) {
        this.opts.log.debug({ err, key: this.key, attempt }, 'ownership release failed again');
      }
    }
    this.opts.log.warn({ key: this.key, attempts: RELEASE_ATTEMPTS }, 'ownership release gave up; the entry stays until this host stops');
  }
}
