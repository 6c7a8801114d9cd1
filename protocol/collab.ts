/**
 * y-websocket framing, numbered as y-protocols does so an unmodified
 * `y-websocket` WebsocketProvider works:
 *   varUint messageType (0 sync, 1 awareness, 2 auth, 3 query-awareness)
 *   sync:      varUint step (0 step1, 1 step2, 2 update), varUint8Array payload
 *   awareness: varUint8Array awareness update
 * The decoder checks the whole frame before anyone acts on it.
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';

export const COLLAB_MESSAGE = { sync: 0, awareness: 1, auth: 2, queryAwareness: 3 } as const;
export const SYNC_STEP = { step1: 0, step2: 1, update: 2 } as const;

export type CollabFrame =
  | { readonly type: 'sync-step1'; readonly stateVector: Uint8Array }
  | { readonly type: 'sync-step2'; readonly update: Uint8Array }
  | { readonly type: 'update'; readonly update: Uint8Array }
  | { readonly type: 'awareness'; readonly update: Uint8Array }
  | { readonly type: 'query-awareness' };

/** Why a frame was refused; the gateway maps each reason to a close code. */
export class CollabFrameError extends Error {
  override readonly name = 'CollabFrameError';
  constructor(
    readonly reason: 'malformed' | 'unknown-type',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** @throws CollabFrameError */
export function decodeCollabFrame(frame: Uint8Array): CollabFrame {
  if (frame.length === 0) throw new CollabFrameError('malformed', 'empty frame');
  const d = decoding.createDecoder(frame);
  let result: CollabFrame;
  try {
    const type = decoding.readVarUint(d);
    switch (type) {
      case COLLAB_MESSAGE.sync: {
        const step = decoding.readVarUint(d);
        const payload = decoding.readVarUint8Array(d);
        if (step === SYNC_STEP.step1) result = { type: 'sync-step1', stateVector: payload };
        else if (step === SYNC_STEP.step2) result = { type: 'sync-step2', update: payload };
        else if (step === SYNC_STEP.update) result = { type: 'update', update: payload };
        else throw new CollabFrameError('unknown-type', `unknown sync step ${step}`);
        break;
      }
      case COLLAB_MESSAGE.awareness:
        result = { type: 'awareness', update: decoding.readVarUint8Array(d) };
        break;
      case COLLAB_MESSAGE.queryAwareness:
        result = { type: 'query-awareness' };
        break;
      default:
        throw new CollabFrameError('unknown-type', `unknown message type ${type}`);
    }
  } catch (err) {
    if (err instanceof CollabFrameError) throw err;
    throw new CollabFrameError('malformed', 'frame is truncated or malformed', { cause: err });
  }
  if (decoding.hasContent(d)) throw new CollabFrameError('malformed', 'trailing bytes after message');
  return result;
}

function syncFrame(step: number, payload: Uint8Array): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, COLLAB_MESSAGE.sync);
  encoding.writeVarUint(e, step);
  encoding.writeVarUint8Array(e, payload);
  return encoding.toUint8Array(e);
}

export const encodeSyncStep1 = (stateVector: Uint8Array): Uint8Array => syncFrame(SYNC_STEP.step1, stateVector);
export const encodeSyncStep2 = (update: Uint8Array): Uint8Array => syncFrame(SYNC_STEP.step2, update);
export const encodeUpdateFrame = (update: Uint8Array): Uint8Array => syncFrame(SYNC_STEP.update, update);

export function encodeAwarenessFrame(update: Uint8Array): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, COLLAB_MESSAGE.awareness);
  encoding.writeVarUint8Array(e, update);
  return encoding.toUint8Array(e);
}

/** y-protocols auth message: permission denied, with a reason the client logs. */
export function encodePermissionDenied(reason: string): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, COLLAB_MESSAGE.auth);
  encoding.writeVarUint(e, 0);
  encoding.writeVarString(e, reason);
  return encoding.toUint8Array(e);
}
