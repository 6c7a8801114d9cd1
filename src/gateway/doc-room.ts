/**
 * A gateway's view of one document: the local sockets on it and one
 * subscription to the document's events, fanned out to every socket except
 * the one an update came from. Holds no document state. An `access` event
 * (rights on the document changed) is not relayed: it asks the gateway to
 * re-check the room's sockets.
 *
 * When the document's actor runs in this process (the fast path of
 * src/host/local-actors.ts), its events arrive here directly; their NATS
 * copies carry this process's Loom-Source and are skipped.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { encodeAwarenessFrame, encodeUpdateFrame } from '../../protocol/collab.ts';
import { HEADERS } from '../../protocol/headers.ts';
import type { HeaderMap } from '../../protocol/headers.ts';
import type { DocId } from '../../protocol/ids.ts';
import { eventWildcard } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';
import { observeFanOut } from '../metrics/index.ts';

/** This process's actor events (src/host/local-actors.ts), declared here as the room uses them. */
export interface LocalDocEvents {
  /** The Loom-Source value of this process's publications. */
  readonly source: string;
  listen(kind: 'doc', id: DocId, listener: (event: string, body: Uint8Array, headers: HeaderMap) => void): () => void;
}

/** What a room needs from a connection. */
export interface RoomMember {
  readonly connId: string;
  send(frame: Uint8Array): void;
}

export class DocRoom {
  private readonly members = new Set<RoomMember>();
  private sub: Subscription | undefined;
  private unlisten: (() => void) | undefined;
  /** Resolves once the server has the subscription, so no event after it is missed. */
  readonly ready: Promise<void>;

  constructor(
    nc: NatsConnection,
    readonly docId: DocId,
    private readonly log: Logger,
    private readonly onEmpty: (room: DocRoom) => void,
    private readonly onAccessChanged: (room: DocRoom) => void = () => undefined,
    local?: LocalDocEvents,
  ) {
    // Both before any socket joins: an event published in process before this point reaches neither.
    const source = local?.source;
    this.unlisten = local?.listen('doc', docId, (event, body, headers) => this.fanOut(event, body, headers[HEADERS.origin]));
    this.sub = nc.subscribe(eventWildcard('doc', docId), {
      callback: (err, msg) => {
        if (err) {
          log.error({ err, docId }, 'document event subscription failed');
          return;
        }
        if (source !== undefined && msg.headers?.get(HEADERS.source) === source) return;
        this.fanOutMsg(msg);
      },
    });
    this.ready = nc.flush();
  }

  get size(): number {
    return this.members.size;
  }

  join(member: RoomMember): void {
    this.members.add(member);
  }

  leave(member: RoomMember): void {
    this.members.delete(member);
    if (this.members.size === 0) this.close();
  }

  /**
   * Sends every member `update` (the document's state from its actor): after
   * the gateway's NATS connection came back, events published while it was
   * away are lost, and a Yjs client missing one update of a peer holds that
   * peer's later updates back until it gets it. Yjs drops what it has.
   */
  resync(update: Uint8Array): void {
    this.fanOut('update', update, undefined);
  }

  private fanOutMsg(msg: Msg): void {
    // The subscription is event.doc.<this doc>.*, so only the last token varies:
    // no need to parse (and base64-decode) the whole subject for every event.
    const name = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
    this.fanOut(name, msg.data, name === 'access' ? undefined : msg.headers?.get(HEADERS.origin));
  }

  private fanOut(name: string, data: Uint8Array, origin: string | undefined): void {
    const startedAt = performance.now();
    let frame: Uint8Array;
    if (name === 'update') frame = encodeUpdateFrame(data);
    else if (name === 'awareness') frame = encodeAwarenessFrame(data);
    else if (name === 'access') {
      // The body only informs; every socket is re-checked whatever it says.
      this.onAccessChanged(this);
      return;
    } else {
      this.log.debug({ docId: this.docId, event: name }, 'ignoring unknown document event');
      return;
    }
    for (const m of this.members) if (m.connId !== origin) m.send(frame);
    observeFanOut(startedAt);
  }

  private close(): void {
    this.unlisten?.();
    this.unlisten = undefined;
    this.sub?.unsubscribe();
    this.sub = undefined;
    this.onEmpty(this);
  }
}
