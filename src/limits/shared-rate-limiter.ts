/**
 * Token buckets shared by every gateway: each bucket is one key of a NATS KV
 * bucket, read and written with compare-and-set on its revision, so N
 * gateways together allow the limit once, not N times. Requests of one
 * process for one key queue behind a single round trip, so a busy key costs
 * one compare-and-set at a time per gateway; a lost one (another gateway
 * took meanwhile) reads again after a short random pause.
 *
 * A process remembers the bucket as its own last write left it (value and
 * revision, bounded by key): the next take computes from that and writes
 * with that revision, without reading first. The compare-and-set makes this
 * exact: it succeeds only when nobody wrote since, and otherwise the take
 * reads and tries again as before. So a client that keeps to one gateway
 * costs one KV write per request instead of a read and a write; one whose
 * requests alternate between gateways costs a failed write more.
 *
 * When NATS cannot answer, a process-local bucket decides alone (logged, at
 * most once a minute): a limiter must not take the API down with it.
 */
import { createHash } from 'node:crypto';
import { setTimeout } from 'node:timers/promises';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { createRateLimiter, type AsyncRateLimiter, type RateLimitResult } from '../auth/rate-limiter.ts';
import type { Logger } from '../log.ts';
import { BoundedMap } from './bounded-map.ts';

export interface SharedRateLimiterOptions {
  /** The bucket family, e.g. `login` (a KV key prefix: letters, digits, '-'). */
  readonly name: string;
  readonly capacity: number;
  readonly refillPerSec: number;
  readonly kv: KV;
  readonly log: Logger;
  readonly now?: () => number;
  /** Compare-and-set attempts before the local bucket decides (as when NATS is down). Default 20. */
  readonly maxAttempts?: number;
}

interface Waiter {
  readonly cost: number;
  readonly resolve: (result: RateLimitResult) => void;
}

interface StoredBucket {
  /** Tokens left at `at`. */
  readonly t: number;
  /** Epoch ms of the last take. */
  readonly a: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const FALLBACK_LOG_EVERY_MS = 60_000;
const CONFLICT_PAUSE_MS = 2;
/** Buckets whose last write a process remembers (an entry is a key and two numbers). */
const REMEMBERED_BUCKETS = 10_000;

/** A bucket as this process last wrote it: valid for a write exactly while `revision` is still the key's. */
interface KnownBucket {
  readonly stored: StoredBucket;
  readonly revision: number;
}

/**
 * A limiter shared through `kv`.
 * @throws RangeError for a bad name, capacity or refill rate.
 */
export function createSharedRateLimiter(opts: SharedRateLimiterOptions): AsyncRateLimiter {
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(opts.name)) throw new RangeError(`shared rate limiter name ${JSON.stringify(opts.name)} must be lowercase letters, digits and '-'`);
  const now = opts.now ?? Date.now;
  const fallback = createRateLimiter({ capacity: opts.capacity, refillPerSec: opts.refillPerSec, now });
  const maxAttempts = opts.maxAttempts ?? 20;
  let lastFallbackLogAt = -Infinity;
  const known = new BoundedMap<string, KnownBucket>(REMEMBERED_BUCKETS);

  const refill = (stored: StoredBucket | null, at: number): number =>
    stored === null ? opts.capacity : Math.min(opts.capacity, stored.t + (Math.max(0, at - stored.a) / 1000) * opts.refillPerSec);

  /**
   * Grants what the shared bucket holds to `waiters` in order, in one
   * compare-and-set: concurrent requests of this process for one key share
   * a round trip instead of racing each other for the same revision.
   */
  async function takeBatch(kvKey: string, waiters: readonly Waiter[]): Promise<RateLimitResult[]> {
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      // Our own last write, when there is one: a stale one fails the compare-and-set below and is read again.
      const mine = known.get(kvKey);
      let stored: StoredBucket | null;
      let revision: number | null;
      if (mine !== undefined) {
        ({ stored, revision } = mine);
      } else {
        const entry = await opts.kv.get(kvKey);
        stored = entry === null || entry.operation !== 'PUT' ? null : parseBucket(entry.value);
        // A deleted key (a reset) is written again by update on its delete marker's revision.
        revision = entry === null ? null : entry.revision;
      }
      const at = now();
      let tokens = refill(stored, at);
      const results = waiters.map((w): RateLimitResult => {
        if (tokens >= w.cost) {
          tokens -= w.cost;
          return { ok: true };
        }
        return { ok: false, retryAfterMs: Math.ceil(((Math.min(w.cost, opts.capacity) - tokens) / opts.refillPerSec) * 1000) };
      });
      if (!results.some((r) => r.ok)) {
        // A refusal writes nothing, so no compare-and-set would catch a stale memory (another gateway's reset): read first.
        if (mine !== undefined) {
          known.delete(kvKey);
          continue;
        }
        return results; // nothing taken: nothing to write
      }
      const next: StoredBucket = { t: tokens, a: at };
      const value = encoder.encode(JSON.stringify(next));
      try {
        const written = revision === null ? await opts.kv.create(kvKey, value) : await opts.kv.update(kvKey, value, revision);
        known.set(kvKey, { stored: next, revision: written });
        return results;
      } catch (err) {
        known.delete(kvKey);
        if (!isRevisionConflict(err)) throw err;
        // What we remembered was stale (another gateway wrote): read now, without a pause.
        if (mine !== undefined) continue;
        // Another gateway took from this bucket between our read and write: read again, spread out.
        await setTimeout(Math.random() * CONFLICT_PAUSE_MS * (attempt + 1));
      }
    }
    throw new Error(`shared bucket ${kvKey}: ${maxAttempts} compare-and-set conflicts in a row`);
  }

  /** Per key: the requests waiting for the next round trip, while one is in flight. */
  const queues = new Map<string, Waiter[]>();

  async function drain(kvKey: string, key: string): Promise<void> {
    for (;;) {
      const waiters = queues.get(kvKey);
      if (waiters === undefined || waiters.length === 0) {
        queues.delete(kvKey);
        return;
      }
      queues.set(kvKey, []);
      let results: RateLimitResult[];
      try {
        results = await takeBatch(kvKey, waiters);
      } catch (err) {
        const at = now();
        if (at - lastFallbackLogAt >= FALLBACK_LOG_EVERY_MS) {
          lastFallbackLogAt = at;
          opts.log.warn({ err, limiter: opts.name }, 'shared rate limit unavailable: this gateway decides alone');
        }
        results = waiters.map((w) => fallback.take(key, w.cost));
      }
      waiters.forEach((w, i) => w.resolve(results[i] ?? { ok: false, retryAfterMs: 1_000 }));
    }
  }

  return {
    take(key, cost = 1) {
      const kvKey = kvKeyFor(opts.name, key);
      return new Promise<RateLimitResult>((resolve) => {
        const queue = queues.get(kvKey);
        if (queue !== undefined) {
          queue.push({ cost, resolve });
          return;
        }
        queues.set(kvKey, [{ cost, resolve }]);
        void drain(kvKey, key);
      });
    },
    async reset(key) {
      fallback.reset(key);
      known.delete(kvKeyFor(opts.name, key));
      try {
        await opts.kv.delete(kvKeyFor(opts.name, key));
      } catch (err) {
        opts.log.warn({ err, limiter: opts.name }, 'could not reset a shared rate-limit bucket; it refills on its own');
      }
    },
  };
}

/** KV keys allow only a few characters: the caller's key (an IP, an email) is hashed. */
function kvKeyFor(name: string, key: string): string {
  return `${name}.${createHash('sha256').update(key).digest('base64url').slice(0, 32)}`;
}

function parseBucket(raw: Uint8Array): StoredBucket | null {
  try {
    const v = JSON.parse(decoder.decode(raw)) as Partial<StoredBucket>;
    return typeof v.t === 'number' && typeof v.a === 'number' && Number.isFinite(v.t) && Number.isFinite(v.a) ? { t: v.t, a: v.a } : null;
  } catch {
    return null; // unreadable: treated as a full bucket, and overwritten by this take
  }
}

function isRevisionConflict(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}
