/**
 * GET /v1/jobs/:id/events as Server-Sent Events. Every job event goes out as
 *   id: <log sequence>\nevent: <type>\ndata: <JobEvent JSON>\n\n
 * and model token deltas as `event: token` without an id, so a browser's
 * EventSource reconnects with the last job event's id in Last-Event-ID and
 * gets everything after it exactly once (job-event-feed.ts). The stream
 * ends after the job's terminal event; a client too slow to keep up is
 * disconnected (it resumes where it was) rather than buffered without bound.
 */
import type { Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import type { AuthEnv, Principal } from '../../auth/principal.ts';
import { ProtocolError } from '../../../protocol/errors.ts';
import type { ActorId } from '../../../protocol/ids.ts';
import { followJobEvents, type JobEventFeedDeps, type JobFeedEnd, type JobFeedItem } from '../../jobs/job-event-feed.ts';
import { jobOwner } from '../../jobs/job-owner.ts';
import type { JetStreamJobLog } from '../../nats/jetstream-job-log.ts';
import type { Logger } from '../../log.ts';

/** A comment line this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;
/** Items queued for a slow client before it is disconnected. */
const MAX_QUEUED = 10_000;
/** Browsers wait this long before reconnecting. */
const RETRY_MS = 1_000;

export interface JobEventsRequest {
  readonly jobLog: JetStreamJobLog;
  readonly feed: JobEventFeedDeps;
  readonly logger: Logger;
  readonly principal: Principal;
  readonly jobId: ActorId;
  readonly afterSeq: number;
}

/**
 * Checks ownership (404 otherwise), then streams.
 * @throws ProtocolError `not-found` before the stream starts.
 */
export async function jobEventsHandler(c: Context<AuthEnv>, req: JobEventsRequest): Promise<Response> {
  const owner = await jobOwner(req.jobLog, req.jobId);
  if (owner === null || owner !== req.principal.userId) throw new ProtocolError('not-found', `job ${req.jobId} does not exist`);
  c.header('Cache-Control', 'no-store');
  c.header('X-Accel-Buffering', 'no');
  return streamSSE(c, (stream) => pump(stream, req), async (err, stream) => {
    req.logger.warn({ err, jobId: req.jobId }, 'job event stream failed');
    await stream.close();
  });
}

async function pump(stream: SSEStreamingApi, req: JobEventsRequest): Promise<void> {
  const abort = new AbortController();
  stream.onAbort(() => abort.abort());
  const queue: JobFeedItem[] = [];
  let end: JobFeedEnd | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  await stream.writeSSE({ data: '', event: 'open', retry: RETRY_MS });
  await followJobEvents(req.feed, req.jobId, {
    afterSeq: req.afterSeq,
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
      if (why === 'error') req.logger.warn({ err, jobId: req.jobId }, 'following job events failed');
      end ??= why;
      notify();
    },
  });
  const keepalive = setInterval(() => void stream.write(': keepalive\n\n').catch(() => abort.abort()), KEEPALIVE_MS);
  try {
    for (;;) {
      const item = queue.shift();
      if (item !== undefined) {
        if (item.kind === 'event') await stream.writeSSE({ id: String(item.seq), event: item.event.type, data: JSON.stringify(item.event) });
        else await stream.writeSSE({ event: 'token', data: JSON.stringify(item.token) });
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
  if (end === 'overflow' || end === 'error') req.logger.info({ jobId: req.jobId, why: end }, 'job event stream ended early; the client resumes');
  await stream.close();
}
