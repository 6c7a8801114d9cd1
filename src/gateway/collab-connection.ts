/**
 * One y-websocket client socket on one document. Validates every frame,
 * forwards updates and presence to the document actor over NATS, answers
 * sync step 1 from the actor's state, and relays the room's events. Bad input
 * closes this socket with a specific code; it never affects other sockets.
 */
import * as Y from 'yjs';
import type { WebSocket, RawData } from 'ws';
import { authorFor } from '../../protocol/attribution.ts';
import { decodeAwarenessUpdate } from '../../protocol/awareness.ts';
import {
  CollabFrameError,
  decodeCollabFrame,
  encodeAwarenessFrame,
  encodePermissionDenied,
  encodeSyncStep1,
  encodeSyncStep2,
  type CollabFrame,
} from '../../protocol/collab.ts';
import { CLOSE_CODES, closeCodeForError, ProtocolError } from '../../protocol/errors.ts';
import { HEADERS } from '../../protocol/headers.ts';
import type { DocId } from '../../protocol/ids.ts';
import type { Logger } from '../log.ts';
import type { ActorClient } from '../placement/actor-client.ts';
import { requestSync } from '../placement/doc-sync.ts';
import type { RateLimiter } from '../auth/index.ts';
import { canWrite, type CollabAccess } from './access.ts';
import type { DocRoom, RoomMember } from './doc-room.ts';
import { GatewaySocket } from './gateway-socket.ts';
import type { GatewayLimits } from './limits.ts';

/** y-websocket sends an empty step 2 when it has nothing the server lacks. */
function isEmptyUpdate(update: Uint8Array): boolean {
  return update.length === 2 && update[0] === 0 && update[1] === 0;
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}

export class CollabConnection extends GatewaySocket implements RoomMember {
  /** Whether this socket ever sent presence (then the actor drops it when the socket closes). */
  private sentAwareness = false;
  private readonly early: Uint8Array[] = [];
  private ready = false;
  private inFlight = 0;
  private paused = false;
  /** Who is connected and with which role; replaced when rights are re-checked. */
  access: CollabAccess;

  constructor(
    connId: string,
    ws: WebSocket,
    readonly docId: DocId,
    private readonly room: DocRoom,
    private readonly deps: { client: ActorClient; gatewayId: string; limits: GatewayLimits; messageLimiter?: RateLimiter | undefined; log: Logger },
    access: CollabAccess,
  ) {
    super(connId, ws, { maxBufferedBytes: deps.limits.maxBufferedBytes, messageLimiter: deps.messageLimiter, log: deps.log, credential: access.credential, endpoint: 'collab' });
    this.access = access;
  }

  /** Starts reading; frames are held until the room's subscription is live. */
  start(): void {
    this.room.join(this);
    this.listen((data, isBinary) => {
      if (!isBinary) return this.close(CLOSE_CODES.unsupportedData, 'text frames are not supported');
      const frame = toBytes(data);
      if (this.ready) this.dispatch(frame);
      else this.early.push(frame);
    });
    this.room.ready.then(
      () => {
        this.ready = true;
        for (const frame of this.early.splice(0)) this.dispatch(frame);
      },
      (err: unknown) => {
        this.deps.log.error({ err }, 'joining document events failed');
        this.close(CLOSE_CODES.unavailable, 'document events unavailable');
      },
    );
  }

  /** Sends a frame unless the socket is backed up (then it is closed as a slow consumer). */
  send(frame: Uint8Array): void {
    this.transmit(frame);
  }

  private dispatch(raw: Uint8Array): void {
    if (this.closed) return;
    let frame: CollabFrame;
    try {
      frame = decodeCollabFrame(raw);
    } catch (err) {
      const e = err as CollabFrameError;
      this.deps.log.debug({ err }, 'bad frame');
      this.close(e.reason === 'unknown-type' ? CLOSE_CODES.unknownMessageType : CLOSE_CODES.malformedFrame, e.message);
      return;
    }
    switch (frame.type) {
      case 'sync-step1':
        this.track(this.answerSync(frame.stateVector));
        break;
      case 'sync-step2':
      case 'update':
        if (isEmptyUpdate(frame.update)) break;
        if (!canWrite(this.access.role)) {
          // A viewer stays connected and keeps receiving; its edits never reach the document.
          this.send(encodePermissionDenied(`role ${this.access.role} may not edit this document`));
          break;
        }
        this.track(this.forwardUpdate(frame.update));
        break;
      case 'awareness':
        this.forwardAwareness(frame.update);
        break;
      case 'query-awareness':
        this.track(this.answerPresenceQuery());
        break;
      default: {
        const never: never = frame;
        throw new Error(`unhandled frame ${JSON.stringify(never)}`);
      }
    }
  }

  /** Counts requests in flight and stops reading the socket while too many are. */
  private track(work: Promise<void>): void {
    this.inFlight++;
    if (this.inFlight >= this.deps.limits.maxInFlight && !this.paused) {
      this.paused = true;
      this.ws.pause();
    }
    work
      .catch((err: unknown) => this.fail(err))
      .finally(() => {
        this.inFlight--;
        if (this.paused && this.inFlight < this.deps.limits.maxInFlight / 2) {
          this.paused = false;
          if (!this.closed) this.ws.resume();
        }
      });
  }

  private request(command: string, body: Uint8Array, headers: Record<string, string>) {
    return this.deps.client.request('doc', this.docId, command, body, headers);
  }

  private async answerSync(stateVector: Uint8Array): Promise<void> {
    try {
      Y.decodeStateVector(stateVector);
    } catch (err) {
      throw new ProtocolError('malformed-message', 'sync step 1 carries an invalid state vector', { cause: err });
    }
    const reply = await requestSync(this.deps.client, this.docId, stateVector);
    this.room.synced(reply.seq);
    this.send(encodeSyncStep2(reply.update));
    // Ask the client for whatever the document lacks.
    this.send(encodeSyncStep1(reply.stateVector));
    if (reply.awareness.length > 0) this.send(encodeAwarenessFrame(reply.awareness));
  }

  private async forwardUpdate(update: Uint8Array): Promise<void> {
    // Attribution (protocol/attribution.ts): the user behind the socket, also for API keys; anonymous access writes unattributed.
    const userId = this.access.credential?.userId;
    const headers: Record<string, string> = { [HEADERS.origin]: this.connId };
    if (userId !== undefined) headers[HEADERS.author] = authorFor('user', userId);
    await this.request('update', update, headers);
  }

  private forwardAwareness(update: Uint8Array): void {
    try {
      decodeAwarenessUpdate(update);
    } catch (err) {
      this.close(CLOSE_CODES.malformedFrame, (err as Error).message);
      return;
    }
    this.sentAwareness = true;
    this.track(this.sendAwareness(update));
  }

  private async sendAwareness(update: Uint8Array): Promise<void> {
    await this.request('awareness', update, { [HEADERS.origin]: this.connId, [HEADERS.gateway]: this.deps.gatewayId });
  }

  private async answerPresenceQuery(): Promise<void> {
    const reply = await this.request('presence', new Uint8Array(0), {});
    if (reply.body.length > 0) this.send(encodeAwarenessFrame(reply.body));
  }

  private fail(err: unknown): void {
    if (this.closed) return;
    if (err instanceof ProtocolError) {
      this.deps.log.info({ code: err.code, reason: err.message }, 'closing connection after refused request');
      this.close(closeCodeForError(err.code), err.message);
      return;
    }
    this.deps.log.error({ err }, 'connection request failed');
    this.close(CLOSE_CODES.internalError, 'internal error');
  }

  protected onClosed(): void {
    this.room.leave(this);
    if (this.sentAwareness) {
      this.request('disconnect', new Uint8Array(0), { [HEADERS.origin]: this.connId }).catch((err: unknown) =>
        this.deps.log.warn({ err }, 'presence removal failed; it will time out'),
      );
    }
  }
}
