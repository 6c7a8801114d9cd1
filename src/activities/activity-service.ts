/**
 * Where workers' claims, heartbeats and completions land: a core-NATS
 * responder on activity.claim / activity.heartbeat / activity.complete in
 * the queue group `loom-activities` (every actor host runs one). It checks
 * each message at the edge (size, schema, that the task id is the one Loom
 * derives from job, step and attempt) and forwards it to the job's live
 * actor through the activation-aware ActorClient, wherever the job lives
 * now. A malformed message is answered with a `malformed-message` error and
 * logged; it never reaches an actor.
 *
 * Bounded: at most `maxInFlight` messages are being forwarded at once (a
 * flood of completions, or job actors slow to answer, would otherwise hold
 * work and message bodies without limit), and of them at most
 * `maxClaimsInFlight` claims. Heartbeats and completions may use the rest,
 * so a flood of claims cannot starve them: a refused heartbeat could let a
 * healthy task run into its heartbeat timeout, and a completion is what
 * finishes work and frees capacity, while a refused claim only leaves its
 * task in the queue a little longer. The last tenth of the bound (at least
 * one slot, none when the bound is 1) is kept for heartbeats alone, so a
 * flood of completions cannot starve them either. Past a bound a message is answered
 * at once with the retryable `mailbox-full` error, before anything is
 * decoded or forwarded, so the job never saw it: the worker sends it again
 * later (ActivityWorker does, for completions; a refused claim goes back to
 * the queue) and it is applied then, once.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { requestIdFor } from '../../actors/ports/index.ts';
import {
  ACTIVITY_COMPLETE_SUBJECT,
  ACTIVITY_CLAIM_SUBJECT,
  ACTIVITY_HEARTBEAT_SUBJECT,
  ACTIVITY_SERVICE_GROUP,
  decodeActivityClaim,
  decodeActivityComplete,
  decodeActivityHeartbeat,
  type ActivityCommand,
} from '../../protocol/activity.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { parseActorId } from '../../protocol/ids.ts';
import { errorReply, type WireMessage } from '../../protocol/reply.ts';
import type { Logger } from '../log.ts';
import { observeActivityRefused, type ActivityBound } from '../metrics/index.ts';
import { toNatsHeaders } from '../nats/headers.ts';
import type { ActorClient } from '../placement/actor-client.ts';

const ROUTES: ReadonlyArray<{ subject: string; command: ActivityCommand; decode: (body: Uint8Array) => { taskId: string; jobId: string; step: string; attempt: number } }> = [
  { subject: ACTIVITY_CLAIM_SUBJECT, command: 'activity-claim', decode: decodeActivityClaim },
  { subject: ACTIVITY_HEARTBEAT_SUBJECT, command: 'activity-heartbeat', decode: decodeActivityHeartbeat },
  { subject: ACTIVITY_COMPLETE_SUBJECT, command: 'activity-complete', decode: decodeActivityComplete },
];

/** How often, at most, refusals are logged (with their count since the last line): a flood must not become a flood of log lines. */
const REFUSAL_LOG_EVERY_MS = 5_000;

export interface ActivityServiceOptions {
  /** Messages of any kind forwarded at once (LOOM_ACTIVITY_MAX_IN_FLIGHT); past it they are refused `mailbox-full`. */
  readonly maxInFlight: number;
  /** Claims forwarded at once (LOOM_ACTIVITY_MAX_CLAIMS_IN_FLIGHT), 1..maxInFlight: the rest of the bound stays for heartbeats and completions. */
  readonly maxClaimsInFlight: number;
}

export class ActivityService {
  private readonly subs: Subscription[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private claimsInFlight = 0;
  private readonly stopping = new AbortController();
  private refusedSinceLog = 0;
  private lastRefusalLogAt = 0;
  /** Slots only heartbeats may take (heartbeatReserve()). */
  readonly heartbeatReserve: number;

  /** @throws RangeError when `maxInFlight` is not a positive integer, or `maxClaimsInFlight` not one up to it. */
  constructor(
    private readonly nc: NatsConnection,
    private readonly actors: ActorClient,
    private readonly log: Logger,
    private readonly opts: ActivityServiceOptions,
  ) {
    if (!Number.isInteger(opts.maxInFlight) || opts.maxInFlight < 1) throw new RangeError(`maxInFlight must be a positive integer, got ${opts.maxInFlight}`);
    if (!Number.isInteger(opts.maxClaimsInFlight) || opts.maxClaimsInFlight < 1 || opts.maxClaimsInFlight > opts.maxInFlight) {
      throw new RangeError(`maxClaimsInFlight must be an integer in 1..${opts.maxInFlight}, got ${opts.maxClaimsInFlight}`);
    }
    this.heartbeatReserve = heartbeatReserve(opts.maxInFlight);
  }

  /** Messages being forwarded now. */
  get forwarding(): number {
    return this.inFlight.size;
  }

  start(): void {
    for (const route of ROUTES) {
      this.subs.push(
        this.nc.subscribe(route.subject, {
          queue: ACTIVITY_SERVICE_GROUP,
          callback: (err, msg) => {
            if (err !== null) {
              this.log.error({ err, subject: route.subject }, 'activity subscription failed');
              return;
            }
            const bound = this.boundReached(route.command);
            if (bound !== null) {
              this.refuse(route, msg, bound);
              return;
            }
            const claim = route.command === 'activity-claim';
            if (claim) this.claimsInFlight++;
            const done = this.handle(route, msg).finally(() => {
              this.inFlight.delete(done);
              if (claim) this.claimsInFlight--;
            });
            this.inFlight.add(done);
          },
        }),
      );
    }
  }

  /** Stops taking messages and waits for those being forwarded. */
  async stop(): Promise<void> {
    for (const sub of this.subs) sub.unsubscribe();
    this.subs.length = 0;
    await Promise.allSettled([...this.inFlight]);
    this.stopping.abort();
  }

  /** Which bound refuses a message of `command` now, or null when it may be forwarded. */
  private boundReached(command: ActivityCommand): ActivityBound | null {
    if (this.inFlight.size >= this.limitOf('all')) return 'all';
    if (command !== 'activity-heartbeat' && this.inFlight.size >= this.limitOf('heartbeat-reserve')) return 'heartbeat-reserve';
    if (command === 'activity-claim' && this.claimsInFlight >= this.limitOf('claims')) return 'claims';
    return null;
  }

  /** The count at which `bound` refuses: all messages, claims and completions (short of the reserve), or claims. */
  private limitOf(bound: ActivityBound): number {
    if (bound === 'all') return this.opts.maxInFlight;
    if (bound === 'claims') return this.opts.maxClaimsInFlight;
    return this.opts.maxInFlight - this.heartbeatReserve;
  }

  private async handle(route: (typeof ROUTES)[number], msg: Msg): Promise<void> {
    let reply: WireMessage;
    try {
      const ids = route.decode(msg.data);
      const expected = requestIdFor(ids.jobId, ids.step, ids.attempt);
      if (ids.taskId !== expected) throw new ProtocolError('malformed-message', `taskId ${ids.taskId} does not belong to job ${ids.jobId}, step ${ids.step}, attempt ${ids.attempt}`);
      reply = await this.actors.request('job', parseActorId(ids.jobId), route.command, msg.data, undefined, this.stopping.signal);
    } catch (err) {
      const problem = err instanceof ProtocolError ? err : new ProtocolError('unavailable', `forwarding failed: ${(err as Error).message}`, { cause: err });
      this.log.warn({ err: problem, subject: route.subject, bytes: msg.data.byteLength }, 'worker message refused');
      reply = errorReply(problem.code, problem.message);
    }
    this.answer(route, msg, reply);
  }

  /** Answers `mailbox-full` at once: nothing is decoded, forwarded or kept. */
  private refuse(route: (typeof ROUTES)[number], msg: Msg, bound: ActivityBound): void {
    observeActivityRefused(route.command, bound);
    this.refusedSinceLog++;
    const now = Date.now();
    const limit = this.limitOf(bound);
    if (now - this.lastRefusalLogAt >= REFUSAL_LOG_EVERY_MS) {
      this.log.warn({ subject: route.subject, bound, refused: this.refusedSinceLog, limit }, 'activity service at its bound: worker messages refused mailbox-full');
      this.refusedSinceLog = 0;
      this.lastRefusalLogAt = now;
    }
    const what =
      bound === 'all' ? `${limit} worker messages` : bound === 'claims' ? `${limit} claims` : `${limit} worker messages, and keeps its last ${this.heartbeatReserve} for heartbeats`;
    this.answer(route, msg, errorReply('mailbox-full', `this host is forwarding ${what} already; send it again later`));
  }

  private answer(route: (typeof ROUTES)[number], msg: Msg, reply: WireMessage): void {
    if (msg.reply === undefined || msg.reply === '') {
      this.log.warn({ subject: route.subject }, 'worker message without a reply subject: answered nowhere');
      return;
    }
    const headers = toNatsHeaders(reply.headers);
    try {
      msg.respond(reply.body, headers ? { headers } : undefined);
    } catch (err) {
      // The connection is closing: the worker's request times out and it tries again.
      this.log.warn({ err, subject: route.subject }, 'answer to a worker not sent');
    }
  }
}

/** A tenth of `maxInFlight` (at least 1) kept for heartbeats; none when the bound is a single slot. */
export function heartbeatReserve(maxInFlight: number): number {
  return maxInFlight < 2 ? 0 : Math.max(1, Math.floor(maxInFlight / 10));
}
