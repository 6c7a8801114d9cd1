/**
 * The small pieces every compare-and-set user of JetStream KV here needs:
 * telling a refused CAS from a failure, and bounding one round trip so a
 * request lost with a dead NATS node costs a fraction of a TTL.
 */
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';

/** True when a write was refused because the key's revision was not the one expected (someone else wrote first). */
export function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** JSStreamMsgDeleteFailedF: a delete by sequence failed; its text says why. */
const STREAM_MSG_DELETE_FAILED = 10057;

/** True when a message to delete by sequence is already gone (replaced or deleted by someone else). */
export function isNoMessageFound(err: unknown): boolean {
  if (!(err instanceof JetStreamApiError)) return false;
  if (err.code === JetStreamApiCodes.NoMessageFound) return true;
  return err.code === STREAM_MSG_DELETE_FAILED && /no message found/i.test(err.message);
}

/** Per KV round trip: a request lost with a dead node costs this, not a whole client timeout. */
export function attemptTimeoutMs(ttlMs: number): number {
  return Math.max(250, Math.floor(ttlMs / 3));
}

/** Settles with `promise`, or rejects after `ms` (the request itself is left to time out on its own; reads and deletes are safe to abandon). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
