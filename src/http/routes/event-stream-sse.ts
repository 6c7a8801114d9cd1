/**
 * Server-Sent Events for an event-sourced actor (job, agent session): each
 * log event goes out as `id: <log sequence>\nevent: <type>\ndata: <JSON>`,
 * live-only items (token deltas, status) without an id, so a browser's
 * EventSource reconnects with the last event's id in Last-Event-ID and gets
 * everything after it exactly once (src/events/). A client too slow to keep
 * up is disconnected (it resumes where it was) rather than buffered without
 * bound, in items or in characters; a user holds a bounded number of
 * streams; a comment line keeps idle proxies from closing the stream.
 */
import type { Context } from 'hono';
import { streamSSE, type SSEMessage, type SSEStreamingApi } from 'hono/streaming';
import { RateLimitedError } from '../../errors/index.ts';
import type { Logger } from '../../log.ts';

/** A comment line this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;
/** Items queued for a slow client before it is disconnected. */
const MAX_QUEUED = 10_000;
/** Characters queued for a slow client before it is disconnected: a job's events may carry outputs of up to 1 MiB each. */
export const MAX_QUEUED_CHARS = 8 * 1024 * 1024;
/** Streams one user may hold open on one gateway process, as for WebSockets (LOOM_WS_MAX_CONNECTIONS_PER_USER's default). */
export const MAX_STREAMS_PER_USER = 100;
/** Browsers wait this long before reconnecting. */
const RETRY_MS = 1_000;

export interface SseFeed<I> {
  /** Starts following: the same contract as followActorEvents (items in order, then one end). */
  follow(opts: { signal: AbortSignal; maxBuffered: number; onItem: (item: I) => void; onEnd: (why: string, err?: unknown) => void }): Promise<void>;
  /** How an item is written. */
  toMessage(item: I): SSEMessage;
  readonly logger: Logger;
  /** Log bindings naming the stream (e.g. `{ jobId }`). */
  readonly bindings: Readonly<Record<string, string>>;
  /** Whose stream it is: a user holds at most MAX_STREAMS_PER_USER at once. */
  readonly userId: string;
}

/** Open streams per user on this process. */
const openStreams = new Map<string, number>();

/** Streams this process holds open for `userId` (tests). */
export function openStreamsOf(userId: string): number {
  return openStreams.get(userId) ?? 0;
}

/**
 * Streams `feed` to the client until it ends or the client leaves. Check access before calling.
 * @throws RateLimitedError when the user already holds MAX_STREAMS_PER_USER streams here.
 */
export function eventStreamResponse<I>(c: Context, feed: SseFeed<I>): Response {
  const open = openStreamsOf(feed.userId);
  if (open >= MAX_STREAMS_PER_USER) throw new RateLimitedError(`at most ${MAX_STREAMS_PER_USER} event streams may be open at once; close one first`, 5_000);
  openStreams.set(feed.userId, open + 1);
  const release = () => {
    const left = openStreamsOf(feed.userId) - 1;
    if (left > 0) openStreams.set(feed.userId, left);
    else openStreams.delete(feed.userId);
  };
  c.header('Cache-Control', 'no-store');
  c.header('X-Accel-Buffering', 'no');
  return streamSSE(
    c,
    (stream) => pump(stream, feed).finally(release),
    async (err, stream) => {
      feed.logger.warn({ err, ...feed.bindings }, 'event stream failed');
      await stream.close();
    },
  );
}

async function pump<I>(stream: SSEStreamingApi, feed: SseFeed<I>): Promise<void> {
  const abort = new AbortController();
  stream.onAbort(() => abort.abort());
  // Written out as the items arrive, so that what waits for a slow client is counted in characters too.
  const queue: string[] = [];
  let queuedChars = 0;
  let end: string | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  await stream.writeSSE({ data: '', event: 'open', retry: RETRY_MS });
  await feed.follow({
    signal: abort.signal,
    maxBuffered: MAX_QUEUED,
    onItem: (item) => {
      if (end === 'overflow') return;
      const text = formatSse(feed.toMessage(item));
      if (queue.length >= MAX_QUEUED || queuedChars + text.length > MAX_QUEUED_CHARS) {
        abort.abort();
        end = 'overflow';
      } else {
        queue.push(text);
        queuedChars += text.length;
      }
      notify();
    },
    onEnd: (why, err) => {
      if (why === 'error') feed.logger.warn({ err, ...feed.bindings }, 'following events failed');
      end ??= why;
      notify();
    },
  });
  const keepalive = setInterval(() => void stream.write(': keepalive\n\n').catch(() => abort.abort()), KEEPALIVE_MS);
  try {
    for (;;) {
      if (queue.length > 0) {
        // Everything queued goes out as one write: an actor's decision arrives as several events at once.
        const texts = queue.splice(0, queue.length);
        queuedChars = 0;
        await stream.write(texts.join(''));
        continue;
      }
      if (end !== undefined || abort.signal.aborted) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    clearInterval(keepalive);
    abort.abort();
  }
  if (end === 'overflow' || end === 'error') feed.logger.info({ ...feed.bindings, why: end }, 'event stream ended early; the client resumes');
  await stream.close();
}

/** One message in the text/event-stream form, as hono's writeSSE writes it (event, data lines, id, retry). */
function formatSse(message: SSEMessage): string {
  if (typeof message.data !== 'string') throw new Error('an SSE message of an event feed must carry its data as text');
  for (const value of [message.event, message.id]) if (value !== undefined && /[\r\n]/.test(value)) throw new Error('an SSE event name or id must not contain line breaks');
  let text = message.event ? `event: ${message.event}\n` : '';
  for (const line of message.data.split(/\r\n|\r|\n/)) text += `data: ${line}\n`;
  if (message.id !== undefined) text += `id: ${message.id}\n`;
  if (message.retry !== undefined) text += `retry: ${message.retry}\n`;
  return `${text}\n`;
}
