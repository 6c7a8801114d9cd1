/**
 * Follows one event-sourced actor's events for a client (SSE, /ws): replay
 * from the actor's log after the client's last seen sequence, then live, with
 * no gap and no duplicate. Jobs and agent sessions both follow this way; an
 * EventSource says where the log is and how to read its events.
 *
 * The order matters: subscribe to event.<kind>.<id>.* first (and wait until
 * the server has the subscription), then replay the log up to its end, then
 * drain what arrived live meanwhile, dropping every event whose sequence the
 * replay already delivered. An event appended before the subscription is in
 * the replay; one appended after is delivered live. Live-only events (model
 * token deltas, status changes) carry no sequence and are never replayed.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { HEADERS } from '../../protocol/headers.ts';
import type { ActorKind } from '../../protocol/ids.ts';
import { parseActorId } from '../../protocol/ids.ts';
import type { WireMessage } from '../../protocol/reply.ts';
import { eventWildcard, parseEventSubject } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';
import { fromNatsHeaders } from '../nats/headers.ts';
import { pause } from '../pause.ts';

/** What a follower reads of an actor's log. */
export interface EventLogReader {
  /** Entries with seq > afterSeq, in order, up to the log's end when called. */
  readAfter(id: string, afterSeq: number, signal?: AbortSignal): AsyncIterable<{ readonly seq: number; readonly body: Uint8Array }>;
  /** The last entry, or null when the actor has no log. */
  last(id: string): Promise<{ readonly seq: number; readonly body: Uint8Array } | null>;
}

/** One kind of event-sourced actor, as a follower sees it. */
export interface EventSource<E, L> {
  readonly kind: ActorKind;
  readonly log: EventLogReader;
  /** @throws ProtocolError when the body is not an event of this kind. */
  decode(body: Uint8Array): E;
  /** After such an event nothing more is appended: the feed ends. */
  isTerminal(event: E): boolean;
  /** Decodes a live-only event (no sequence), or returns undefined when `name` is a log event. @throws ProtocolError when malformed. */
  decodeLive(name: string, message: WireMessage): L | undefined;
}

export type FeedItem<E, L> = { readonly kind: 'event'; readonly seq: number; readonly event: E } | { readonly kind: 'live'; readonly name: string; readonly data: L };

/** Why a feed ended: the actor ended, the client left, the client fell too far behind, or following failed. */
export type FeedEnd = 'ended' | 'closed' | 'overflow' | 'error';

export interface FollowEventsOptions<E, L> {
  /** Sequence the client has seen (0: from the start). */
  readonly afterSeq: number;
  /** Called in order, never concurrently with itself. */
  readonly onItem: (item: FeedItem<E, L>) => void;
  readonly onEnd: (why: FeedEnd, err?: unknown) => void;
  /** Live messages held while the replay runs; beyond this the feed ends with `overflow`. */
  readonly maxBuffered?: number;
  /** Stops following (the client went away). */
  readonly signal: AbortSignal;
}

export interface EventFeedDeps {
  readonly nc: NatsConnection;
  readonly logger: Logger;
  readonly flushTimeoutMs: number;
  /** Gap check interval (default 10 s). */
  readonly repairIntervalMs?: number;
}

const DEFAULT_MAX_BUFFERED = 10_000;
/** How often a follower checks that the log is not ahead of what it delivered. */
const REPAIR_INTERVAL_MS = 10_000;

/**
 * Starts following; returns once the subscription is live (the replay continues in the background).
 * @throws when the subscription cannot be confirmed in time.
 */
export async function followActorEvents<E, L>(deps: EventFeedDeps, source: EventSource<E, L>, actorId: string, opts: FollowEventsOptions<E, L>): Promise<void> {
  const id = parseActorId(actorId);
  const max = opts.maxBuffered ?? DEFAULT_MAX_BUFFERED;
  let buffer: Msg[] | null = [];
  let lastSeq = opts.afterSeq;
  let ended = false;
  let sub: Subscription | undefined;

  const end = (why: FeedEnd, err?: unknown) => {
    if (ended) return;
    ended = true;
    sub?.unsubscribe();
    opts.onEnd(why, err);
  };
  opts.signal.addEventListener('abort', () => end('closed'), { once: true });

  const emitEvent = (seq: number, event: E) => {
    if (ended || seq <= lastSeq) return;
    lastSeq = seq;
    opts.onItem({ kind: 'event', seq, event });
    if (source.isTerminal(event)) end('ended');
  };

  const deliver = (msg: Msg) => {
    if (ended) return;
    try {
      const { name } = parseEventSubject(msg.subject);
      const headers = fromNatsHeaders(msg.headers);
      const live = source.decodeLive(name, { headers, body: msg.data });
      if (live !== undefined) {
        opts.onItem({ kind: 'live', name, data: live });
        return;
      }
      const seq = Number(headers[HEADERS.seq]);
      if (!Number.isSafeInteger(seq) || seq <= 0) throw new Error(`${source.kind} event ${name} without a valid ${HEADERS.seq} header`);
      emitEvent(seq, source.decode(msg.data));
    } catch (err) {
      deps.logger.warn({ err, subject: msg.subject }, 'ignoring malformed actor event');
    }
  };

  sub = deps.nc.subscribe(eventWildcard(source.kind, id), {
    callback: (err, msg) => {
      if (err) return end('error', err);
      if (buffer === null) return deliver(msg);
      if (buffer.length >= max) return end('overflow');
      buffer.push(msg);
    },
  });
  try {
    await bounded(deps.nc.flush(), deps.flushTimeoutMs, `confirming the ${source.kind} event subscription`);
  } catch (err) {
    ended = true;
    sub.unsubscribe();
    throw err;
  }

  /** Replays the log after what was delivered, holding live messages meanwhile, then releases them. */
  const catchUp = async () => {
    buffer ??= [];
    for await (const entry of source.log.readAfter(id, lastSeq, opts.signal)) {
      if (ended) return;
      emitEvent(entry.seq, source.decode(entry.body));
    }
    const held = buffer;
    buffer = null;
    for (const msg of held) deliver(msg);
  };

  void (async () => {
    try {
      await catchUp();
      // A client resuming after the actor's last event: nothing more will come.
      if (!ended && lastSeq === opts.afterSeq && opts.afterSeq > 0) {
        const last = await source.log.last(id);
        if (last !== null && last.seq <= opts.afterSeq && source.isTerminal(source.decode(last.body))) return end('ended');
      }
      // Live events are core NATS (at most once): one lost in a reconnect would leave a gap. A log
      // that stays ahead of what was delivered for a whole interval is read again from there.
      let suspect = -1;
      while (!ended) {
        await pause(deps.repairIntervalMs ?? REPAIR_INTERVAL_MS, opts.signal);
        if (ended) return;
        const logSeq = (await source.log.last(id))?.seq ?? 0;
        if (logSeq <= lastSeq) suspect = -1;
        else if (suspect !== lastSeq) suspect = lastSeq;
        else {
          deps.logger.warn({ kind: source.kind, id: actorId, delivered: lastSeq, logSeq }, 'actor events went missing live; reading them from the log');
          await catchUp();
        }
      }
    } catch (err) {
      if (!ended && !opts.signal.aborted) deps.logger.warn({ err, kind: source.kind, id: actorId }, 'replaying actor events failed');
      end(opts.signal.aborted ? 'closed' : 'error', err);
    }
  })();
}


async function bounded<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
