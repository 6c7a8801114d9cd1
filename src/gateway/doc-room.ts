/**
 * A gateway's view of one document: the local sockets on it and one
 * subscription to the document's events, fanned out to every socket except
 * the one an update came from. Holds no document state. An `access` event
 * (rights on the document changed) is not relayed: it asks the gateway to
 * re-check the room's sockets.
 *
 * Events are core NATS messages, which a dying NATS server can drop, and a
 * Yjs client that misses one update of a peer holds back every later update
 * of that peer. So the room follows the log's sequence (Loom-Seq and
 * Loom-Prev-Seq on updates the actor publishes, Nats-Sequence and
 * Nats-Last-Sequence on those the log stream republishes, Loom-Seq on
 * `head`) and, when it sees it missed an entry, sends every member the
 * document's state from its actor. An update at or below the sequence the
 * room has reached is not relayed again.
 *
 * When the document's actor runs in this process (the fast path of
 * src/host/local-actors.ts), its events arrive here directly; the NATS
 * copies of those it publishes carry this process's Loom-Source and are
 * skipped, and the log stream's copy of an update is one the room has
 * already reached (or the first-hand one arrives second, and is the copy).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { encodeAwarenessFrame, encodeUpdateFrame } from '../../protocol/collab.ts';
import { HEADERS, readSeqHeader, updateEventSeqs, type HeaderMap } from '../../protocol/headers.ts';
import type { DocId } from '../../protocol/ids.ts';
import { eventWildcard } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';
import { observeFanOut, observeRoomResync, type RoomResyncReason } from '../metrics/index.ts';

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

/** The document's whole state from its actor, and the log sequence it includes. */
export type FetchDocState = (docId: DocId) => Promise<{ readonly update: Uint8Array; readonly seq: number | undefined }>;

export interface DocRoomOptions {
  readonly nc: NatsConnection;
  readonly docId: DocId;
  readonly log: Logger;
  readonly fetchState: FetchDocState;
  readonly onEmpty: (room: DocRoom) => void;
  readonly onAccessChanged?: (room: DocRoom) => void;
  readonly local?: LocalDocEvents | undefined;
  /** Waits between failed attempts to fetch the state (default 250 ms doubling to 4 s, 8 attempts). */
  readonly repairBackoff?: { readonly firstMs: number; readonly maxMs: number; readonly attempts: number };
}

const DEFAULT_BACKOFF = { firstMs: 250, maxMs: 4_000, attempts: 8 };

export class DocRoom {
  readonly docId: DocId;
  private readonly members = new Set<RoomMember>();
  private sub: Subscription | undefined;
  private unlisten: (() => void) | undefined;
  /** The highest log sequence this room has relayed or fetched; undefined until the first. */
  private lastSeq: number | undefined;
  private repairing = false;
  private repairAgain = false;
  /** Resolves once the server has the subscription, so no event after it is missed. */
  readonly ready: Promise<void>;

  constructor(private readonly opts: DocRoomOptions) {
    this.docId = opts.docId;
    // Both before any socket joins: an event published in process before this point reaches neither.
    const source = opts.local?.source;
    this.unlisten = opts.local?.listen('doc', opts.docId, (event, body, headers) => this.onEvent(event, body, headers[HEADERS.origin], headers[HEADERS.seq], headers[HEADERS.prevSeq]));
    this.sub = opts.nc.subscribe(eventWildcard('doc', opts.docId), {
      callback: (err, msg) => {
        if (err) {
          opts.log.error({ err, docId: opts.docId }, 'document event subscription failed');
          return;
        }
        if (source !== undefined && msg.headers?.get(HEADERS.source) === source) return;
        this.onMsg(msg);
      },
    });
    this.ready = opts.nc.flush();
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

  /** A member synced with the actor at `seq`: the room's sequence starts there if it had none. */
  synced(seq: number | undefined): void {
    if (this.lastSeq === undefined && seq !== undefined) this.lastSeq = seq;
  }

  /**
   * Sends every member the document's state from its actor (Yjs drops what a
   * client has): for when events may have been lost, as after this gateway's
   * NATS connection came back. Attempts coalesce; failures are retried with
   * backoff while the room has members.
   */
  repair(reason: RoomResyncReason, detail?: string): void {
    observeRoomResync(reason);
    if (this.repairing) {
      this.repairAgain = true;
      return;
    }
    this.repairing = true;
    void this.repairUntilDone(detail === undefined ? reason : `${reason}: ${detail}`).finally(() => {
      this.repairing = false;
    });
  }

  private async repairUntilDone(reason: string): Promise<void> {
    const backoff = this.opts.repairBackoff ?? DEFAULT_BACKOFF;
    let failures = 0;
    this.opts.log.info({ docId: this.docId, reason, lastSeq: this.lastSeq }, 'resyncing room from the document actor');
    while (this.members.size > 0) {
      this.repairAgain = false;
      try {
        const state = await this.opts.fetchState(this.docId);
        if (state.seq !== undefined) this.lastSeq = Math.max(this.lastSeq ?? state.seq, state.seq);
        this.relay('update', state.update, undefined);
        failures = 0;
        if (!this.repairAgain) return;
      } catch (err) {
        failures++;
        if (failures >= backoff.attempts) {
          this.opts.log.warn({ err, docId: this.docId, reason, failures }, 'room resync failed; its clients catch up at their next sync');
          return;
        }
        this.opts.log.warn({ err, docId: this.docId, reason, failures }, 'room resync failed; retrying');
        await sleep(Math.min(backoff.maxMs, backoff.firstMs * 2 ** (failures - 1)));
      }
    }
  }

  private onMsg(msg: Msg): void {
    // The subscription is event.doc.<this doc>.*, so only the last token varies:
    // no need to parse (and base64-decode) the whole subject for every event.
    const name = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
    if (name === 'update' || name === 'head') {
      const h = msg.headers;
      // Published by the actor (Loom-Seq) or by the log stream itself (Nats-Sequence).
      const { seq, prev } = h === undefined ? { seq: undefined, prev: undefined } : updateEventSeqs(h);
      this.onEvent(name, msg.data, h?.get(HEADERS.origin), seq, prev);
    } else {
      this.onEvent(name, msg.data, name === 'access' ? undefined : msg.headers?.get(HEADERS.origin), undefined, undefined);
    }
  }

  private onEvent(name: string, data: Uint8Array, origin: string | undefined, seq: string | undefined, prev: string | undefined): void {
    if (name === 'update' || name === 'head') {
      const at = readSeqHeader(seq);
      // Relayed already, or inside a state sent since: the log stream's copy of an update this process's actor handed over first-hand, or the reverse.
      if (name === 'update' && at !== undefined && this.lastSeq !== undefined && at <= this.lastSeq) return;
      if (this.missedEntry(at, readSeqHeader(prev))) this.repair('missed-event', `an entry before seq ${seq}`);
      if (name === 'head') return;
    }
    if (name === 'access') {
      // The body only informs; every socket is re-checked whatever it says.
      this.opts.onAccessChanged?.(this);
      return;
    }
    this.relay(name, data, origin);
  }

  /**
   * Follows the log through an update (`prev` set) or a head / re-broadcast
   * (`prev` absent). An event of an older actor without Loom-Seq is relayed unchecked.
   */
  private missedEntry(seq: number | undefined, prev: number | undefined): boolean {
    if (seq === undefined) return false;
    const last = this.lastSeq;
    this.lastSeq = last === undefined ? seq : Math.max(last, seq);
    if (last === undefined) return false;
    return prev !== undefined ? prev > last : seq > last;
  }

  private relay(name: string, data: Uint8Array, origin: string | undefined): void {
    const startedAt = performance.now();
    let frame: Uint8Array;
    if (name === 'update') frame = encodeUpdateFrame(data);
    else if (name === 'awareness') frame = encodeAwarenessFrame(data);
    else {
      this.opts.log.debug({ docId: this.docId, event: name }, 'ignoring unknown document event');
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
    this.opts.onEmpty(this);
  }
}
