/**
 * Where a worker's output goes: the result as a command to the calling actor
 * (activation-aware, retried through failover by ActorClient) and token
 * deltas as fire-and-forget events.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { ProtocolError } from '../../protocol/errors.ts';
import { parseActorId } from '../../protocol/ids.ts';
import { encodeInferenceResult, encodeTokenDelta, type InferenceRequest, type InferenceResult, type TokenDelta } from '../../protocol/inference.ts';
import { eventSubject } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';
import { toNatsHeaders } from '../nats/headers.ts';
import type { ActorClient } from '../placement/actor-client.ts';

/**
 * `delivered`: the caller replied success. `refused`: it replied with a
 * non-retryable error and never will accept this result. `unreachable`: it
 * did not answer within ActorClient's deadline (try again later).
 */
export type Delivery = 'delivered' | 'refused' | 'unreachable';

export class ResultSink {
  readonly #nc: NatsConnection;
  readonly #actors: ActorClient;

  constructor(nc: NatsConnection, actors: ActorClient) {
    this.#nc = nc;
    this.#actors = actors;
  }

  /**
   * Sends the result command and reports how it went; never throws for the caller's sake.
   * `log` is asked for only when there is something to log.
   */
  async deliver(request: InferenceRequest, result: InferenceResult, log: () => Logger, signal?: AbortSignal): Promise<Delivery> {
    const wire = encodeInferenceResult(result);
    try {
      await this.#actors.request(request.replyTo.kind, parseActorId(request.replyTo.id), request.replyTo.command, wire.body, wire.headers, signal);
      return 'delivered';
    } catch (err) {
      if (err instanceof ProtocolError && !err.retryable) {
        log().error({ err, replyTo: request.replyTo }, 'caller refused the inference result');
        return 'refused';
      }
      log().warn({ err, replyTo: request.replyTo }, 'caller unreachable; result not delivered');
      return 'unreachable';
    }
  }

  /** Publishes one token delta when the request asked for them (ephemeral, ordered per connection). */
  publishDelta(request: InferenceRequest, delta: TokenDelta): void {
    const to = request.tokensTo;
    if (to === undefined) return;
    const wire = encodeTokenDelta(delta);
    const headers = toNatsHeaders(wire.headers);
    this.#nc.publish(eventSubject(to.kind, parseActorId(to.id), to.event), wire.body, headers ? { headers } : undefined);
  }
}
