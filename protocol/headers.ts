/**
 * NATS header names used on Loom messages. protocol/ does no I/O, so headers
 * are plain string maps here; the NATS adapter copies them to real headers.
 */
import { ProtocolError } from './errors.ts';

export const HEADERS = {
  /** Message layout version; absent means 1. */
  version: 'Loom-Version',
  /** Opaque id of the connection an update or awareness change came from. */
  origin: 'Loom-Origin',
  /**
   * Who wrote a document update, for attribution and revert: `user:<id>`,
   * `job:<id>` or `agent:<id>` (protocol/attribution.ts). Set by the gateway
   * from the connection's principal, by jobs and by agent sessions.
   */
  author: 'Loom-Author',
  /** Gateway that owns the origin connection (awareness is dropped when it dies). */
  gateway: 'Loom-Gateway',
  /** Sequence of the update in the document log (on update events and replies). */
  seq: 'Loom-Seq',
  /**
   * On document update events: the sequence of the document's entry before
   * this one. A subscriber whose last seen sequence differs missed an event
   * (core NATS may drop one when a server dies) and resynchronises.
   */
  prevSeq: 'Loom-Prev-Seq',
  /** Set on error replies: an ErrorCode. The body is then a JSON ErrorBody. */
  error: 'Loom-Error',
  /**
   * On events an actor host publishes while it serves a gateway in the same
   * process: an opaque id of that process. Its gateway delivered the event in
   * process already and skips this copy; everyone else ignores the header.
   */
  source: 'Loom-Source',
} as const;

/**
 * The headers JetStream puts on a document update event when the log stream
 * republishes its entries (DOC_UPDATE_REPUBLISH): the entry's stream
 * sequence, and the sequence of the subject's entry before it. They carry
 * what Loom-Seq and Loom-Prev-Seq carry on an event the actor publishes.
 */
export const JETSTREAM_HEADERS = {
  sequence: 'Nats-Sequence',
  lastSequence: 'Nats-Last-Sequence',
} as const;

export type HeaderMap = Readonly<Record<string, string>>;

export const CURRENT_VERSION = 1;

/** Origins and gateway ids are short opaque tokens. */
const OPAQUE = /^[A-Za-z0-9_:.-]{1,128}$/;

/**
 * Checks the version header of an incoming message.
 * @throws ProtocolError `unsupported-version`.
 */
export function checkVersion(headers: HeaderMap): void {
  const raw = headers[HEADERS.version];
  if (raw === undefined) return;
  if (raw !== String(CURRENT_VERSION)) {
    throw new ProtocolError('unsupported-version', `unsupported ${HEADERS.version} ${JSON.stringify(raw)}; this server speaks ${CURRENT_VERSION}`);
  }
}

/**
 * A log sequence header's value (Loom-Seq, Loom-Prev-Seq): undefined when
 * absent, empty (how nats.js reports an absent header) or not a
 * non-negative integer.
 */
export function readSeqHeader(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/**
 * Where a document update event stands in the log, whoever published it: the
 * actor (Loom-Seq, Loom-Prev-Seq) or the log stream (Nats-Sequence,
 * Nats-Last-Sequence). Raw values, for readSeqHeader. `headers`: a NATS
 * message's headers as they are (nats.js MsgHdrs has this `get`).
 */
export function updateEventSeqs(headers: { get(name: string): string | undefined }): { seq: string | undefined; prev: string | undefined } {
  const seq = headers.get(HEADERS.seq);
  if (seq !== undefined && seq !== '') return { seq, prev: headers.get(HEADERS.prevSeq) };
  return { seq: headers.get(JETSTREAM_HEADERS.sequence), prev: headers.get(JETSTREAM_HEADERS.lastSequence) };
}

/** Reads an optional opaque header (origin, gateway id), validating its shape. */
export function readOpaqueHeader(headers: HeaderMap, name: string): string | undefined {
  const raw = headers[name];
  if (raw === undefined || raw === '') return undefined;
  if (!OPAQUE.test(raw)) throw new ProtocolError('malformed-message', `header ${name} must match ${OPAQUE.source}`);
  return raw;
}
