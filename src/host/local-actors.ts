/**
 * The in-process fast path, for a process that runs the actors role.
 *
 * Commands: while an actor is active on this host, a caller in the same
 * process hands a command straight to its mailbox and gets the reply as a
 * value: no request, reply or header encoding on NATS. The callers are the
 * gateway's ActorClient (with the gateway role), the host's own ActorClient
 * (the activity service forwarding workers' claims, heartbeats and
 * completions to job actors, agent tools writing documents or starting
 * jobs, job steps writing documents) and the inference worker's result
 * delivery (with the inference role). When the actor is not active here
 * (another host owns it, or it is activating, passivating or stepping
 * down), `deliver` answers `undefined` and the caller goes over NATS as any
 * other process would.
 *
 * Events, only when the gateway role runs here too (`events`): what an
 * activation publishes reaches this process's listeners (the gateway's
 * rooms) directly, and is still published once on NATS, with `Loom-Source`
 * naming this process, for other gateways and internal services. A room
 * skips a NATS event carrying its own process's source: it already had it.
 * Nothing changes in the write path's order: an actor publishes an update
 * only after its log append was acknowledged, so local listeners see
 * nothing that is not in the log either.
 */
import { randomBytes } from 'node:crypto';
import type { ActorId, ActorKind } from '../../protocol/ids.ts';
import type { HeaderMap } from '../../protocol/headers.ts';
import type { WireMessage } from '../../protocol/reply.ts';

/** An activation as the fast path sees it. */
export interface LocalTarget {
  /** Queues a command in the actor's mailbox; undefined when it takes no commands now (the caller uses NATS). */
  deliver(name: string, headers: HeaderMap, body: Uint8Array): Promise<WireMessage> | undefined;
}

/** Receives an actor's events in this process, in publish order. */
export type LocalEventListener = (event: string, body: Uint8Array, headers: HeaderMap) => void;

export class LocalActors {
  /** Marks this process's event publications (the Loom-Source header): random, so two processes never share it. */
  readonly source = `p${randomBytes(8).toString('hex')}`;
  /** Whether events go to listeners in this process (a gateway runs here); without, actors publish on NATS only. */
  readonly events: boolean;

  constructor(opts: { readonly events: boolean }) {
    this.events = opts.events;
  }

  private readonly targets = new Map<string, LocalTarget>();
  private readonly listeners = new Map<string, Set<LocalEventListener>>();

  /** Makes an activation reachable in process; returns the call that removes it (a no-op once replaced). */
  register(kind: ActorKind, id: ActorId, target: LocalTarget): () => void {
    const key = keyOf(kind, id);
    this.targets.set(key, target);
    return () => {
      if (this.targets.get(key) === target) this.targets.delete(key);
    };
  }

  /** Hands a command to the actor when it is active here; undefined otherwise. */
  deliver(kind: ActorKind, id: ActorId, name: string, headers: HeaderMap, body: Uint8Array): Promise<WireMessage> | undefined {
    return this.targets.get(keyOf(kind, id))?.deliver(name, headers, body);
  }

  /** Listens to an actor's events published in this process; returns the call that stops listening. */
  listen(kind: ActorKind, id: ActorId, listener: LocalEventListener): () => void {
    const key = keyOf(kind, id);
    let set = this.listeners.get(key);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(key, set);
    }
    set.add(listener);
    return () => {
      const current = this.listeners.get(key);
      if (current === undefined) return;
      current.delete(listener);
      if (current.size === 0) this.listeners.delete(key);
    };
  }

  /** Delivers an event to this process's listeners of the actor. */
  emit(kind: ActorKind, id: ActorId, event: string, body: Uint8Array, headers: HeaderMap): void {
    const set = this.listeners.get(keyOf(kind, id));
    if (set === undefined) return;
    for (const listener of set) listener(event, body, headers);
  }
}

function keyOf(kind: ActorKind, id: ActorId): string {
  return `${kind}\u0000${id}`;
}
