/**
 * The contract between an actor kind and the host that runs it. An actor
 * kind is a definition (name, limits, how to activate); an activation is an
 * instance that receives its mailbox one batch at a time, in arrival order.
 * The host owns NATS, leases and timers; the actor owns its state.
 */
import type { Logger } from 'pino';
import type { ActorId, ActorKind } from '../protocol/ids.ts';
import type { HeaderMap } from '../protocol/headers.ts';
import type { WireMessage } from '../protocol/reply.ts';

/** A command from NATS, queued in the mailbox. Reply exactly once via `respond`. */
export interface CommandMessage {
  readonly source: 'command';
  readonly name: string;
  readonly headers: HeaderMap;
  readonly body: Uint8Array;
  /** Whether the sender waits for a reply (requests) or not (plain publishes). */
  readonly expectsReply: boolean;
  respond(reply: WireMessage): void;
}

/** A signal from the host itself (not from the wire). */
export type SignalMessage = GatewayGoneSignal | EventsMayBeLostSignal;

/** A gateway stopped beating: drop what the actor keeps for its sockets. */
export interface GatewayGoneSignal {
  readonly source: 'signal';
  readonly name: 'gateway-gone';
  readonly gatewayId: string;
}

/**
 * The host's NATS connection came back after a server was lost: events it
 * published just before may never have left that server. Actors whose
 * subscribers cannot tell (documents) say where their log stands.
 */
export interface EventsMayBeLostSignal {
  readonly source: 'signal';
  readonly name: 'events-may-be-lost';
}

/** A message the actor scheduled to itself (timeouts, retry backoff). Lost if the activation ends. */
export interface TimerMessage {
  readonly source: 'timer';
  readonly name: string;
  readonly payload: unknown;
}

export type MailboxMessage = CommandMessage | SignalMessage | TimerMessage;

/** What the host gives each activation: identity, logging, publishing, cancellation. */
export interface ActorContext {
  readonly kind: ActorKind;
  readonly id: ActorId;
  readonly log: Logger;
  /** Aborted when the host deactivates the actor (passivation, step-down, shutdown). */
  readonly signal: AbortSignal;
  /** Publishes a fact on event.<kind>.<id>.<event> (fire and forget, ordered per actor). */
  publish(event: string, body: Uint8Array, headers?: HeaderMap): void;
  /**
   * Hands an event to this process's own subscribers only (rooms of a gateway
   * in the same process), for an event NATS already carries: a document
   * update its log stream republishes. Nothing happens without such rooms.
   */
  publishLocal(event: string, body: Uint8Array, headers?: HeaderMap): void;
  /**
   * Delivers `{ source: 'timer', name, payload }` to this actor's mailbox after
   * `delayMs`. Timers die with the activation: durable waits must be
   * re-armed from durable state in `activate`.
   */
  schedule(delayMs: number, name: string, payload?: unknown): void;
}

export interface ActorInstance {
  /**
   * Handles queued messages in arrival order. The host never calls it again
   * before the returned promise settles. Throwing StepDownError makes the
   * host drop the activation without flushing.
   */
  handle(batch: readonly MailboxMessage[]): Promise<void>;
  /** Return false to stay in memory although idle (e.g. work in flight elsewhere). */
  canPassivate?(): boolean;
  /** Flushes state before the activation leaves memory (passivation or shutdown). */
  onPassivate(): Promise<void>;
  /** Releases timers and memory after passivation or step-down. */
  dispose(): void;
}

export interface ActorDefinition {
  readonly kind: ActorKind;
  /** Rebuilds the actor's state from durable storage. */
  activate(ctx: ActorContext): Promise<ActorInstance>;
}

/**
 * An activation must stop without flushing: it lost ownership (fencing
 * failed), or its in-memory state can no longer be trusted. The host drops
 * it and gives up the lease (compare-and-set, so a lease another host already
 * took is left alone); the next message rebuilds the actor from durable state.
 */
export class StepDownError extends Error {
  override readonly name = 'StepDownError';
  readonly code = 'not-owner';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
