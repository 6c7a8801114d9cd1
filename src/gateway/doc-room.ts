/**
 * A gateway's view of one document: the local sockets on it and one
 * subscription to the document's events, fanned out to every socket except
 * the one an update came from. Holds no document state. An `access` event
 * (rights on the document changed) is not relayed: it asks the gateway to
 * re-check the room's sockets.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { encodeAwarenessFrame, encodeUpdateFrame } from '../../protocol/collab.ts';
import { HEADERS } from '../../protocol/headers.ts';
import type { DocId } from '../../protocol/ids.ts';
import { eventWildcard } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';
import { observeFanOut } from '../metrics/index.ts';

/** What a room needs from a connection. */
export interface RoomMember {
  readonly connId: string;
  send(frame: Uint8Array): void;
}

export class DocRoom {
  private readonly members = new Set<RoomMember>();
  private sub: Subscription | undefined;
  /** Resolves once the server has the subscription, so no event after it is missed. */
  readonly ready: Promise<void>;

  constructor(
    nc: NatsConnection,
    readonly docId: DocId,
    private readonly log: Logger,
    private readonly onEmpty: (room: DocRoom) => void,
    private readonly onAccessChanged: (room: DocRoom) => void = () => undefined,
  ) {
    this.sub = nc.subscribe(eventWildcard('doc', docId), {
      callback: (err, msg) => {
        if (err) {
          log.error({ err, docId }, 'document event subscription failed');
          return;
        }
        this.fanOut(msg);
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

  private fanOut(msg: Msg): void {
    const startedAt = performance.now();
    // The subscription is event.doc.<this doc>.*, so only the last token varies:
    // no need to parse (and base64-decode) the whole subject for every event.
    const name = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
    let frame: Uint8Array;
    if (name === 'update') frame = encodeUpdateFrame(msg.data);
    else if (name === 'awareness') frame = encodeAwarenessFrame(msg.data);
    else if (name === 'access') {
      // The body only informs; every socket is re-checked whatever it says.
      this.onAccessChanged(this);
      return;
    } else {
      this.log.debug({ subject: msg.subject }, 'ignoring unknown document event');
      return;
    }
    const origin = msg.headers?.get(HEADERS.origin);
    for (const m of this.members) if (m.connId !== origin) m.send(frame);
    observeFanOut(startedAt);
  }

  private close(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
    this.onEmpty(this);
  }
}
