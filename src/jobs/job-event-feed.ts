/**
 * Follows one job's events for a client (SSE, /ws): replay from the job's
 * log after the client's last seen sequence, then live, with no gap and no
 * duplicate. The order matters: subscribe to event.job.<id>.* first (and
 * wait until the server has the subscription), then replay the log up to
 * its end, then drain what arrived live meanwhile, dropping every event whose
 * sequence the replay already delivered. An event appended before the
 * subscription is in the replay; one appended after is delivered live.
 * Token deltas (`token`) are live only and carry no sequence.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { HEADERS } from '../../protocol/headers.ts';
import { parseActorId } from '../../protocol/ids.ts';
import { decodeTokenDelta, type TokenDelta } from '../../protocol/inference.ts';
import { decodeJobEvent, TERMINAL_JOB_EVENTS, type JobEvent } from '../../protocol/job-events.ts';
import { JOB_TOKEN_EVENT } from '../../protocol/job.ts';
import { eventWildcard, parseEventSubject } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';
import { fromNatsHeaders } from '../nats/headers.ts';
import type { JetStreamJobLog } from '../nats/jetstream-job-log.ts';

export type JobFeedItem =
  | { readonly kind: 'event'; readonly seq: number; readonly event: JobEvent }
  | { readonly kind: 'token'; readonly token: TokenDelta };

/** Why a feed ended: the job ended, the client left, the client fell too far behind, or following failed. */
export type JobFeedEnd = 'job-ended' | 'closed' | 'overflow' | 'error';

export interface FollowOptions {
  /** Sequence the client has seen (0: from the start). */
  readonly afterSeq: number;
  /** Called in order, never concurrently with itself. */
  readonly onItem: (item: JobFeedItem) => void;
  readonly onEnd: (why: JobFeedEnd, err?: unknown) => void;
  /** Live messages held while the replay runs, or while the client is busy; beyond this the feed ends with `overflow`. */
  readonly maxBuffered?: number;
  /** Stops following (the client went away). */
  readonly signal: AbortSignal;
}

export interface JobEventFeedDeps {
  readonly nc: NatsConnection;
  readonly log: JetStreamJobLog;
  readonly logger: Logger;
  readonly flushTimeoutMs: number;
  /** Gap check interval (default 10 s). */
  readonly repairIntervalMs?: number;
}

const DEFAULT_MAX_BUFFERED = 10_000;

/**
 * Starts following; returns once the subscription is live (the replay continues in the background).
 * @throws when the subscription cannot be confirmed in time.
 */
export async function followJobEvents(deps: JobEventFeedDeps, jobId: string, opts: FollowOptions): Promise<void> {
  const id = parseActorId(jobId);
  const max = opts.maxBuffered ?? DEFAULT_MAX_BUFFERED;
  let buffer: Msg[] | null = [];
  let lastSeq = opts.afterSeq;
  let ended = false;
  let sub: Subscription | undefined;

  const end = (why: JobFeedEnd, err?: unknown) => {
    if (ended) return;
    ended = true;
    sub?.unsubscribe();
    opts.onEnd(why, err);
  };
  opts.signal.addEventListener('abort', () => end('closed'), { once: true });

  const emitEvent = (seq: number, event: JobEvent) => {
    if (ended || seq <= lastSeq) return;
    lastSeq = seq;
    opts.onItem({ kind: 'event', seq, event });
    if (TERMINAL_JOB_EVENTS.has(event.type)) end('job-ended');
  };

  const deliver = (msg: Msg) => {
    if (ended) return;
    try {
      const { name } = parseEventSubject(msg.subject);
      const headers = fromNatsHeaders(msg.headers);
      if (name === JOB_TOKEN_EVENT) {
        opts.onItem({ kind: 'token', token: decodeTokenDelta({ headers, body: msg.data }) });
        return;
      }
      const seq = Number(headers[HEADERS.seq]);
      if (!Number.isSafeInteger(seq) || seq <= 0) throw new Error(`job event ${name} without a valid ${HEADERS.seq} header`);
      emitEvent(seq, decodeJobEvent(msg.data));
    } catch (err) {
      deps.logger.warn({ err, subject: msg.subject }, 'ignoring malformed job event');
    }
  };

  sub = deps.nc.subscribe(eventWildcard('job', id), {
    callback: (err, msg) => {
      if (err) return end('error', err);
      if (buffer === null) return deliver(msg);
      if (buffer.length >= max) return end('overflow');
      buffer.push(msg);
    },
  });
  try {
    await bounded(deps.nc.flush(), deps.flushTimeoutMs, 'confirming the job event subscription');
  } catch (err) {
    ended = true;
    sub.unsubscribe();
    throw err;
  }

  /** Replays the log after what was delivered, holding live messages meanwhile, then releases them. */
  const catchUp = async () => {
    buffer ??= [];
    for await (const entry of deps.log.readAfter(id, lastSeq, opts.signal)) {
      if (ended) return;
      emitEvent(entry.seq, decodeJobEvent(entry.body));
    }
    const held = buffer;
    buffer = null;
    for (const msg of held) deliver(msg);
  };

  void (async () => {
    try {
      await catchUp();
      // A client resuming after the job's last event: nothing more will come.
      if (!ended && lastSeq === opts.afterSeq && opts.afterSeq > 0) {
        const last = await deps.log.last(id);
        if (last !== null && last.seq <= opts.afterSeq && TERMINAL_JOB_EVENTS.has(decodeJobEvent(last.body).type)) return end('job-ended');
      }
      // Live events are core NATS (at most once): one lost in a reconnect would leave a gap. A log
      // that stays ahead of what was delivered for a whole interval is read again from there.
      let suspect = -1;
      while (!ended) {
        await sleep(deps.repairIntervalMs ?? REPAIR_INTERVAL_MS, opts.signal);
        if (ended) return;
        const logSeq = (await deps.log.last(id))?.seq ?? 0;
        if (logSeq <= lastSeq) suspect = -1;
        else if (suspect !== lastSeq) suspect = lastSeq;
        else {
          deps.logger.warn({ jobId, delivered: lastSeq, logSeq }, 'job events went missing live; reading them from the log');
          await catchUp();
        }
      }
    } catch (err) {
      if (!ended && !opts.signal.aborted) deps.logger.warn({ err, jobId }, 'replaying job events failed');
      end(opts.signal.aborted ? 'closed' : 'error', err);
    }
  })();
}

/** How often a follower checks that the log is not ahead of what it delivered. */
const REPAIR_INTERVAL_MS = 10_000;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
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
