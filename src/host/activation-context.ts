/**
 * What an actor instance gets from its activation (ActorContext): one object
 * per activation whose methods live on the prototype, instead of a closure
 * per method per actor (each closure compiled through tsx also carries a
 * ~256-byte property dictionary for its name), and an abort signal made only
 * when the actor asks for it (documents never do).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { ActorContext, TimerMessage } from '../../actors/actor.ts';
import { HEADERS, type HeaderMap } from '../../protocol/headers.ts';
import type { ActorId, ActorKind } from '../../protocol/ids.ts';
import { eventSubject } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';
import { toNatsHeaders } from '../nats/headers.ts';
import type { LocalActors } from './local-actors.ts';

/** Where due timers go: the activation's mailbox. */
export interface TimerSink {
  timerDue(message: TimerMessage): void;
}

export interface ActivationContextDeps {
  readonly nc: NatsConnection;
  readonly kind: ActorKind;
  readonly id: ActorId;
  readonly log: Logger;
  readonly local?: LocalActors | undefined;
}

export class ActivationContext implements ActorContext {
  readonly kind: ActorKind;
  readonly id: ActorId;
  readonly log: Logger;
  private abort: AbortController | undefined;
  private ended = false;
  /** Pending timers; made on the first schedule (most actors never schedule). */
  private timers: Set<NodeJS.Timeout> | undefined;

  constructor(
    private readonly deps: ActivationContextDeps,
    private readonly sink: TimerSink,
  ) {
    this.kind = deps.kind;
    this.id = deps.id;
    this.log = deps.log;
  }

  get signal(): AbortSignal {
    if (this.abort === undefined) {
      this.abort = new AbortController();
      if (this.ended) this.abort.abort();
    }
    return this.abort.signal;
  }

  /** Whether the actor waits for a timer of its own (then it is not idle). */
  get waitingForTimer(): boolean {
    return (this.timers?.size ?? 0) > 0;
  }

  publish(event: string, body: Uint8Array, headers?: HeaderMap): void {
    const { nc, kind, id, local } = this.deps;
    if (local === undefined || !local.events) {
      const h = toNatsHeaders(headers);
      nc.publish(eventSubject(kind, id, event), body, h ? { headers: h } : undefined);
      return;
    }
    // This process's rooms first, then once on NATS for everyone else; the source header lets the rooms skip that copy.
    try {
      local.emit(kind, id, event, body, headers ?? {});
    } catch (err) {
      this.log.error({ err, event }, 'local event delivery failed');
    }
    nc.publish(eventSubject(kind, id, event), body, { headers: toNatsHeaders({ ...headers, [HEADERS.source]: local.source }) });
  }

  publishLocal(event: string, body: Uint8Array, headers?: HeaderMap): void {
    const { kind, id, local } = this.deps;
    if (local === undefined || !local.events) return;
    try {
      local.emit(kind, id, event, body, headers ?? {});
    } catch (err) {
      this.log.error({ err, event }, 'local event delivery failed');
    }
  }

  schedule(delayMs: number, name: string, payload?: unknown): void {
    const timers = (this.timers ??= new Set());
    const t = setTimeout(() => {
      timers.delete(t);
      this.sink.timerDue({ source: 'timer', name, payload });
    }, Math.max(0, delayMs));
    timers.add(t);
  }

  /** The activation ended: pending timers are dropped and the signal aborts. */
  end(): void {
    this.ended = true;
    for (const t of this.timers ?? []) clearTimeout(t);
    this.timers = undefined;
    this.abort?.abort();
  }
}
