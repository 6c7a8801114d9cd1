/**
 * Where workers' claims, heartbeats and completions land: a core-NATS
 * responder on activity.claim / activity.heartbeat / activity.complete in
 * the queue group `loom-activities` (every actor host runs one). It checks
 * each message at the edge (size, schema, that the task id is the one Loom
 * derives from job, step and attempt) and forwards it to the job's live
 * actor through the activation-aware ActorClient, wherever the job lives
 * now. A malformed message is answered with a `malformed-message` error and
 * logged; it never reaches an actor.
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
import { toNatsHeaders } from '../nats/headers.ts';
import type { ActorClient } from '../placement/actor-client.ts';

const ROUTES: ReadonlyArray<{ subject: string; command: ActivityCommand; decode: (body: Uint8Array) => { taskId: string; jobId: string; step: string; attempt: number } }> = [
  { subject: ACTIVITY_CLAIM_SUBJECT, command: 'activity-claim', decode: decodeActivityClaim },
  { subject: ACTIVITY_HEARTBEAT_SUBJECT, command: 'activity-heartbeat', decode: decodeActivityHeartbeat },
  { subject: ACTIVITY_COMPLETE_SUBJECT, command: 'activity-complete', decode: decodeActivityComplete },
];

export class ActivityService {
  private readonly subs: Subscription[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly stopping = new AbortController();

  constructor(
    private readonly nc: NatsConnection,
    private readonly actors: ActorClient,
    private readonly log: Logger,
  ) {}

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
            const done = this.handle(route, msg).finally(() => this.inFlight.delete(done));
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
    if (msg.reply === undefined || msg.reply === '') {
      this.log.warn({ subject: route.subject }, 'worker message without a reply subject: answered nowhere');
      return;
    }
    const headers = toNatsHeaders(reply.headers);
    msg.respond(reply.body, headers ? { headers } : undefined);
  }
}
