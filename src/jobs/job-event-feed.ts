/**
 * Follows one job's events for a client (SSE, /ws, the agent's job_start
 * tool): the generic follower of src/events/ over the job's log, ending at
 * the job's terminal event. Token deltas (`token`) are live only and carry
 * no sequence.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeTokenDelta, type TokenDelta } from '../../protocol/inference.ts';
import { decodeJobEvent, TERMINAL_JOB_EVENTS, type JobEvent } from '../../protocol/job-events.ts';
import { JOB_TOKEN_EVENT } from '../../protocol/job.ts';
import { followActorEvents, type EventSource } from '../events/index.ts';
import type { Logger } from '../log.ts';
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

/** Jobs as the generic follower sees them. */
export function jobEventSource(log: JetStreamJobLog): EventSource<JobEvent, TokenDelta> {
  return {
    kind: 'job',
    log,
    decode: decodeJobEvent,
    isTerminal: (event) => TERMINAL_JOB_EVENTS.has(event.type),
    decodeLive: (name, message) => (name === JOB_TOKEN_EVENT ? decodeTokenDelta(message) : undefined),
  };
}

/**
 * Starts following; returns once the subscription is live (the replay continues in the background).
 * @throws when the subscription cannot be confirmed in time.
 */
export async function followJobEvents(deps: JobEventFeedDeps, jobId: string, opts: FollowOptions): Promise<void> {
  await followActorEvents(deps, jobEventSource(deps.log), jobId, {
    afterSeq: opts.afterSeq,
    signal: opts.signal,
    ...(opts.maxBuffered === undefined ? {} : { maxBuffered: opts.maxBuffered }),
    onItem: (item) => opts.onItem(item.kind === 'event' ? item : { kind: 'token', token: item.data }),
    onEnd: (why, err) => opts.onEnd(why === 'ended' ? 'job-ended' : why, err),
  });
}
