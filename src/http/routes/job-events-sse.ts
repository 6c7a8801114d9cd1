/**
 * GET /v1/jobs/:id/events as Server-Sent Events (event-stream-sse.ts): every
 * job event with its log sequence as id and its type as event name, model
 * token deltas as `event: token` without an id. The stream ends after the
 * job's terminal event.
 */
import type { Context } from 'hono';
import type { AuthEnv, Principal } from '../../auth/principal.ts';
import { ProtocolError } from '../../../protocol/errors.ts';
import type { ActorId } from '../../../protocol/ids.ts';
import { followJobEvents, type JobEventFeedDeps, type JobFeedItem } from '../../jobs/job-event-feed.ts';
import type { JobOwners } from '../../jobs/job-owner.ts';
import type { Logger } from '../../log.ts';
import { eventStreamResponse } from './event-stream-sse.ts';

export interface JobEventsRequest {
  /** Whose jobs they are (read from each job's first log entry, then remembered). */
  readonly owners: Pick<JobOwners, 'of'>;
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
  const owner = await req.owners.of(req.jobId);
  if (owner === null || owner !== req.principal.userId) throw new ProtocolError('not-found', `job ${req.jobId} does not exist`);
  return eventStreamResponse<JobFeedItem>(c, {
    follow: (opts) => followJobEvents(req.feed, req.jobId, { ...opts, afterSeq: req.afterSeq }),
    toMessage: (item) =>
      item.kind === 'event' ? { id: String(item.seq), event: item.event.type, data: JSON.stringify(item.event) } : { event: 'token', data: JSON.stringify(item.token) },
    logger: req.logger,
    bindings: { jobId: req.jobId },
    userId: req.principal.userId,
  });
}
