/**
 * Server-Sent Events for an event-sourced actor (job, agent session): each
 * log event goes out as `id: <log sequence>\nevent: <type>\ndata: <JSON>`,
 * live-only items (token deltas, status) without an id, so a browser's
 * EventSource reconnects with the last event's id in Last-Event-ID and gets
 * everything after it exactly once (src/events/). A client too slow to keep
 * up is disconnected (it resumes where it was) rather than buffered without
 * bound; a comment line keeps idle proxies from closing the stream.
 */
import type { Context } from 'hono';
import { streamSSE, type SSEMessage, type SSEStreamingApi } from 'hono/streaming';
import type { Logger } from '../../log.ts';

/** A comment line this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;
/** Items queued for a slow client before it is disconnected. */
const MAX_QUEUED = 10_000;
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
}

/** Streams `feed` to the client until it ends or the client leaves. Check access before calling. */
export function eventStreamResponse<I>(c: Context, feed: SseFeed<I>): Response {
  c.header('Cache-Control', 'no-store');
  c.header('X-Accel-Buffering', 'no');
  return streamSSE(c, (stream) => pump(stream, feed), async (err, stream) => {
    feed.logger.warn({ err, ...feed.bindings }, 'event stream failed');
    await stream.close();
  });
}

async function pump<I>(stream: SSEStreamingApi, feed: SseFeed<I>): Promise<void> {
  const abort = new AbortController();
  stream.onAbort(() => abort.abort());
  const queue: I[] = [];
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
      if (queue.length >= MAX_QUEUED) {
        abort.abort();
        end = 'overflow';
      } else queue.push(item);
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
        const items = queue.splice(0, queue.length);
        await stream.write(items.map((item) => formatSse(feed.toMessage(item))).join(''));
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
