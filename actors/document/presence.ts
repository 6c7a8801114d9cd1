/**
 * Ephemeral presence (y-protocols awareness) of one document. Never persisted.
 *
 * Each client id belongs to the connection that introduced it (first set it),
 * so presence leaves with its connection or its gateway, and no other
 * connection may set or remove it. y-websocket clients echo every state they
 * receive, with the clock they received: an entry for somebody else's id at
 * a clock not above the known one is such a relay and is dropped silently;
 * one with a higher clock is a forgery, dropped and counted.
 *
 * Bounded: a state's JSON size, the presence bytes of the whole document
 * (so every snapshot fits in one reply), and the rate at which one
 * connection may change presence. Overstepping is refused with an error, so
 * the gateway closes the offender alone.
 */
import { type AwarenessEntry, type AwarenessState, encodeAwarenessUpdate } from '../../protocol/awareness.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { DEFAULT_PRESENCE_LIMITS, type PresenceLimits } from './limits.ts';
import { TokenBuckets } from './token-buckets.ts';

/** Who introduced a client id: the connection (origin) and its gateway. */
interface Owner {
  readonly origin: string | undefined;
  readonly gateway: string | undefined;
}

interface Entry {
  clock: number;
  /** JSON text of the state; null once removed (kept a while so late relays of it stay dropped). */
  state: string | null;
  /** Who may change it; null once removed (then a higher clock may introduce it again). */
  owner: Owner | null;
  /** What the entry counts against the document's presence budget. */
  bytes: number;
  updatedAt: number;
}

/** Bookkeeping bytes counted per entry on top of its state, so many tiny states are bounded too. */
const ENTRY_OVERHEAD_BYTES = 32;
/** y-protocols' outdated timeout: clients renew their state at half of it. */
export const PRESENCE_TIMEOUT_MS = 30_000;
/** Stale entries are looked for at most this often. */
const SWEEP_EVERY_MS = 1_000;

/** What one awareness message did. */
export interface PresenceOutcome {
  /** The accepted entries as one update to fan out; null when nothing changed. */
  readonly update: Uint8Array | null;
  /** Entries for ids another connection owns, with a higher clock: dropped. */
  readonly forged: number;
  /** Echoes of known states (or stale clocks): dropped silently. */
  readonly relayed: number;
}

export class Presence {
  private readonly entries = new Map<number, Entry>();
  private readonly rate: TokenBuckets;
  private totalBytes = 0;
  private lastSweep = 0;
  /** Forged entries dropped over this activation's life (reported in logs). */
  forgedTotal = 0;

  /** `onTimeout` receives an awareness update removing clients that went stale. */
  constructor(
    private readonly onTimeout: (removal: Uint8Array) => void,
    private readonly limits: PresenceLimits = DEFAULT_PRESENCE_LIMITS,
    private readonly now: () => number = Date.now,
  ) {
    this.rate = new TokenBuckets(limits.ratePerSec, limits.rateBurst);
  }

  /** Bytes the document's presence counts now (live states and recent removals). */
  get bytes(): number {
    return this.totalBytes;
  }

  /**
   * Applies a validated awareness update from connection `origin` on `gateway`.
   * Nothing changes when it throws.
   * @throws ProtocolError `presence-too-large` (a state or the document's presence over its limit),
   *   `rate-limited` (this connection changes presence too often).
   */
  apply(entries: readonly AwarenessEntry[], origin: string | undefined, gateway: string | undefined): PresenceOutcome {
    const now = this.now();
    this.sweep(now);
    for (const e of entries) {
      if (e.stateBytes > this.limits.maxStateBytes) {
        throw new ProtocolError('presence-too-large', `presence state of client ${e.clientId} is ${e.stateBytes} bytes (max ${this.limits.maxStateBytes})`);
      }
    }
    const accepted: AwarenessEntry[] = [];
    let forged = 0;
    let relayed = 0;
    let delta = 0;
    for (const e of entries) {
      const verdict = this.judge(e, origin);
      if (verdict === 'forged') forged++;
      else if (verdict === 'relay') relayed++;
      else {
        accepted.push(e);
        delta += entryBytes(e) - (this.entries.get(e.clientId)?.bytes ?? 0);
      }
    }
    // Forgeries count as attempts too, so a connection cannot flood them (nor the log lines about them).
    if ((accepted.length > 0 || forged > 0) && !this.rate.take(origin ?? '', gateway, now)) {
      throw new ProtocolError('rate-limited', `presence changes faster than ${this.limits.ratePerSec}/s`);
    }
    if (delta > 0 && this.totalBytes + delta > this.limits.maxDocumentBytes) {
      throw new ProtocolError('presence-too-large', `the document's presence would exceed ${this.limits.maxDocumentBytes} bytes`);
    }
    for (const e of accepted) this.set(e, origin, gateway, now);
    this.forgedTotal += forged;
    const update = accepted.length === 0 ? null : encodeAwarenessUpdate(accepted.map((e) => ({ clientId: e.clientId, clock: e.clock, state: e.removed ? null : e.state })));
    return { update, forged, relayed };
  }

  private judge(e: AwarenessEntry, origin: string | undefined): 'accept' | 'forged' | 'relay' {
    const known = this.entries.get(e.clientId);
    if (known === undefined) return e.removed ? 'relay' : 'accept';
    if (known.owner === null) {
      // Removed: only a newer state brings it back (an equal clock is a late echo of the removal's state).
      return !e.removed && e.clock > known.clock ? 'accept' : 'relay';
    }
    if (known.owner.origin !== origin) return e.clock > known.clock ? 'forged' : 'relay';
    if (e.clock > known.clock) return 'accept';
    // y-protocols removes at an equal clock too.
    return e.clock === known.clock && e.removed && known.state !== null ? 'accept' : 'relay';
  }

  private set(e: AwarenessEntry, origin: string | undefined, gateway: string | undefined, now: number): void {
    const previous = this.entries.get(e.clientId);
    const bytes = entryBytes(e);
    this.totalBytes += bytes - (previous?.bytes ?? 0);
    this.entries.set(e.clientId, {
      clock: e.clock,
      state: e.removed ? null : e.state,
      owner: e.removed ? null : { origin, gateway },
      bytes,
      updatedAt: now,
    });
  }

  /** Removes what connection `origin` introduced (it closed); null when nothing. */
  dropOrigin(origin: string): Uint8Array | null {
    this.rate.forget((key) => key === origin);
    return this.drop((o) => o.origin === origin);
  }

  /** Removes everything connections on `gatewayId` introduced (it died); null when nothing. */
  dropGateway(gatewayId: string): Uint8Array | null {
    this.rate.forget((_, gateway) => gateway === gatewayId);
    return this.drop((o) => o.gateway === gatewayId);
  }

  private drop(match: (owner: Owner) => boolean): Uint8Array | null {
    const removed: AwarenessState[] = [];
    const now = this.now();
    for (const [clientId, entry] of this.entries) {
      if (entry.owner === null || !match(entry.owner)) continue;
      this.remove(entry, now);
      removed.push({ clientId, clock: entry.clock, state: null });
    }
    return removed.length === 0 ? null : encodeAwarenessUpdate(removed);
  }

  /** Turns a live entry into a removal at the same clock (what y-protocols does for remote clients). */
  private remove(entry: Entry, now: number): void {
    this.totalBytes += ENTRY_OVERHEAD_BYTES - entry.bytes;
    entry.state = null;
    entry.owner = null;
    entry.bytes = ENTRY_OVERHEAD_BYTES;
    entry.updatedAt = now;
  }

  /** Removes states their owners stopped renewing and forgets old removals; publishes the removals. */
  private sweep(now: number): void {
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    const removed: AwarenessState[] = [];
    for (const [clientId, entry] of this.entries) {
      if (now - entry.updatedAt < PRESENCE_TIMEOUT_MS) continue;
      if (entry.state === null) {
        this.totalBytes -= entry.bytes;
        this.entries.delete(clientId);
      } else {
        this.remove(entry, now);
        removed.push({ clientId, clock: entry.clock, state: null });
      }
    }
    if (removed.length > 0) this.onTimeout(encodeAwarenessUpdate(removed));
  }

  /** Every present state as one update; empty when nobody is present. At most about `maxDocumentBytes`. */
  snapshot(): Uint8Array {
    this.sweep(this.now());
    const states: AwarenessState[] = [];
    for (const [clientId, entry] of this.entries) if (entry.state !== null) states.push({ clientId, clock: entry.clock, state: entry.state });
    return states.length === 0 ? new Uint8Array(0) : encodeAwarenessUpdate(states);
  }

  destroy(): void {
    this.entries.clear();
    this.rate.forget(() => true);
    this.totalBytes = 0;
  }
}

function entryBytes(e: AwarenessEntry): number {
  return ENTRY_OVERHEAD_BYTES + (e.removed ? 0 : e.stateBytes);
}
