/**
 * The caller's side of actor addressing, used by gateways, HTTP and tests.
 * Sends a command to actor.<kind>.<id>.<command>; on "no responders" asks a
 * host to activate the actor, then retries; on a retryable error (actor moved,
 * mailbox full, host died mid-request) backs off with jitter and retries until
 * the activation deadline. Commands are safe to repeat: Yjs updates are
 * idempotent and reads have no effect.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { activateReplySchema } from '../../protocol/activation.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import type { HeaderMap } from '../../protocol/headers.ts';
import type { ActorId, ActorKind } from '../../protocol/ids.ts';
import { decodeJson, encodeJson, replyError, type WireMessage } from '../../protocol/reply.ts';
import { activationSubject, commandSubject } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';
import { fromNatsHeaders, toNatsHeaders } from '../nats/headers.ts';
import { RequestMux, type RequestOutcome } from '../nats/request-mux.ts';
import { tracingEnabled, withTraceHeaders } from '../tracing/index.ts';

export interface ActorClientOptions {
  /** Per-request timeout. */
  readonly requestTimeoutMs: number;
  /** Total time to keep retrying through activation and failover. */
  readonly deadlineMs: number;
  readonly log: Logger;
  /**
   * Actors active in this process (src/host/local-actors.ts): a command to
   * one of them skips NATS. Not used while tracing is on, so traces keep
   * their NATS hops.
   */
  readonly local?: LocalCommandPort | undefined;
}

/** Hands a command to an actor active in this process; undefined when it is not (the caller uses NATS). */
export interface LocalCommandPort {
  deliver(kind: ActorKind, id: ActorId, name: string, headers: HeaderMap, body: Uint8Array): Promise<WireMessage> | undefined;
}

const BACKOFF_START_MS = 25;
const BACKOFF_MAX_MS = 500;

export class ActorClient {
  private readonly mux: RequestMux;

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: ActorClientOptions,
  ) {
    this.mux = new RequestMux(nc);
  }

  /**
   * Sends a command and returns the actor's successful reply.
   * @throws ProtocolError with the actor's error code, or `unavailable` after the deadline.
   */
  async request(kind: ActorKind, id: ActorId, command: string, body: Uint8Array, headers?: HeaderMap, signal?: AbortSignal): Promise<WireMessage> {
    const local = this.opts.local !== undefined && !tracingEnabled() ? this.opts.local : undefined;
    if (local !== undefined) {
      // The fast path: an actor active in this process answers without NATS.
      const reply = await this.deliverLocal(local, kind, id, command, body, headers ?? {});
      if (reply !== undefined) return reply;
    }
    const subject = commandSubject(kind, id, command);
    const deadline = Date.now() + this.opts.deadlineMs;
    // The caller's span (HTTP request, WebSocket frame, actor batch) becomes the actor's parent.
    const h = withTraceHeaders(toNatsHeaders(headers));
    let attempt = 0;
    let lastProblem = 'no attempt made';
    while (Date.now() < deadline) {
      signal?.throwIfAborted();
      if (local !== undefined && attempt > 0) {
        // After a retryable failure the actor may have (re)activated here.
        const reply = await this.deliverLocal(local, kind, id, command, body, headers ?? {});
        if (reply !== undefined) return reply;
      }
      let outcome: RequestOutcome;
      try {
        outcome = await this.mux.request(subject, body, {
          timeoutMs: Math.min(this.opts.requestTimeoutMs, Math.max(1, deadline - Date.now())),
          ...(h ? { headers: h } : {}),
        });
      } catch (err) {
        throw new ProtocolError('unavailable', `request to ${kind}/${id} failed: ${(err as Error).message}`, { cause: err });
      }
      if (outcome.kind === 'reply') {
        const reply: WireMessage = { headers: fromNatsHeaders(outcome.msg.headers), body: outcome.msg.data };
        const err = replyError(reply);
        if (err === null) return reply;
        if (!err.retryable) throw err;
        lastProblem = `${err.code}: ${err.message}`;
      } else if (outcome.kind === 'no-responders') {
        lastProblem = 'actor not active';
        if (await this.activate(kind, id, deadline)) continue;
      } else {
        lastProblem = 'request timed out';
        this.opts.log.debug({ kind, id, command }, 'actor request timed out; retrying');
      }
      await backoff(attempt++, deadline, signal);
    }
    throw new ProtocolError('unavailable', `actor ${kind}/${id} unavailable (${lastProblem})`);
  }

  /**
   * One attempt on the fast path.
   * @returns the actor's successful reply, or undefined when the actor is not active here or answered a retryable error (go on over NATS)
   * @throws ProtocolError with a non-retryable error code
   */
  private async deliverLocal(local: LocalCommandPort, kind: ActorKind, id: ActorId, command: string, body: Uint8Array, headers: HeaderMap): Promise<WireMessage | undefined> {
    const pending = local.deliver(kind, id, command, headers, body);
    if (pending === undefined) return undefined;
    // No timer: the activation answers every command it queued (after its batch, or when it steps down or passivates).
    const reply = await pending;
    const err = replyError(reply);
    if (err === null) return reply;
    if (!err.retryable) throw err;
    return undefined;
  }

  /** @returns true when a host reports the actor active (retry the command now). */
  private async activate(kind: ActorKind, id: ActorId, deadline: number): Promise<boolean> {
    try {
      const msg = await this.nc.request(activationSubject(kind), encodeJson({ id }), {
        timeout: Math.min(this.opts.requestTimeoutMs, Math.max(1, deadline - Date.now())),
      });
      const reply: WireMessage = { headers: fromNatsHeaders(msg.headers), body: msg.data };
      const err = replyError(reply);
      if (err !== null) {
        if (!err.retryable) throw err;
        return false;
      }
      return decodeJson(reply.body, activateReplySchema, 'activate reply').status === 'active';
    } catch (err) {
      if (err instanceof ProtocolError && !err.retryable) throw err;
      // No host answered (none running yet, or one just died): wait and retry.
      this.opts.log.debug({ err, kind, id }, 'activation attempt failed');
      return false;
    }
  }
}

async function backoff(attempt: number, deadline: number, signal?: AbortSignal): Promise<void> {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** attempt);
  const waitMs = Math.min(Math.max(0, deadline - Date.now()), ceiling / 2 + Math.random() * (ceiling / 2));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, waitMs);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(signal.reason as Error);
    }, { once: true });
  });
}
