/**
 * Document actor messages (kind `doc`): the public contract for gateways and
 * internal services. Layouts are described in PROTOCOL.md.
 *
 * Commands (request/reply on actor.doc.<id>.<command>):
 *   update     body: a Yjs update (v1), header Loom-Author (optional)  reply: JSON UpdateAck
 *   sync       body: a Yjs state vector or empty  reply: binary SyncReply
 *   awareness  body: a y-protocols awareness update (headers name origin + gateway)  reply: empty
 *   content    body: empty                        reply: JSON DocContent
 *   presence   body: empty                        reply: awareness update of every present client (may be empty)
 *   disconnect body: empty, header Loom-Origin     reply: empty; drops the presence that connection introduced
 *   sync-part  body: JSON SyncPartRequest         reply: the requested byte range of a cut sync update
 *   restore    body: JSON RestoreRequest          reply: JSON RestoreReply
 *   attribution body: empty                       reply: JSON AttributionReply (who wrote which text)
 *   revert     body: JSON RevertRequest, header Loom-Author (who reverts)  reply: JSON RevertReply
 *   delete     body: empty                        reply: JSON DeleteReply
 * Events (event.doc.<id>.<event>):
 *   update     body: a Yjs update, headers Loom-Seq, Loom-Prev-Seq (the entry before it; absent when the
 *              actor re-broadcasts its last entry on activation) and (optional) Loom-Origin
 *   head       body: empty, header Loom-Seq: where the log stands, published when the actor's host
 *              reconnected to NATS (its last update events may be lost); a subscriber that saw
 *              another sequence resynchronises
 *   awareness  body: an awareness update, header Loom-Origin (optional)
 *   access     body: JSON AccessChanged (published by gateways' HTTP side, not the actor)
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { z } from 'zod';
import { ProtocolError } from './errors.ts';
import { isAuthor, isRevertable, type Author } from './attribution.ts';
import { CURRENT_VERSION } from './headers.ts';

export const DOC_COMMANDS = ['update', 'sync', 'sync-part', 'awareness', 'content', 'presence', 'disconnect', 'restore', 'delete', 'attribution', 'revert'] as const;
export type DocCommand = (typeof DOC_COMMANDS)[number];
export const DOC_EVENTS = ['update', 'awareness', 'access', 'head'] as const;
export type DocEvent = (typeof DOC_EVENTS)[number];

export function isDocCommand(name: string): name is DocCommand {
  return (DOC_COMMANDS as readonly string[]).includes(name);
}

/** Reply to `update`: the log sequence that made the update durable. */
export interface UpdateAck {
  readonly seq: number;
}
export const updateAckSchema: z.ZodType<UpdateAck> = z.object({ seq: z.number().int().nonnegative() });

/**
 * Reply to `sync`: what the requester lacks, the actor's state vector and
 * current presence. An update too big for one NATS message is cut into
 * `parts` byte ranges: `update` is part 0, the rest are fetched with
 * `sync-part` under `syncId` (kept by the actor for SYNC_PART_TTL_MS) and
 * concatenated in order.
 */
export interface SyncReply {
  readonly update: Uint8Array;
  readonly stateVector: Uint8Array;
  /** Awareness update carrying every known state; empty when nobody is present. */
  readonly awareness: Uint8Array;
  /** Number of parts the update was cut into (1 = `update` is complete). */
  readonly parts: number;
  /** Names the cut update for `sync-part`; empty when `parts` is 1. */
  readonly syncId: string;
}

/** How long an actor keeps the parts of a cut sync reply. */
export const SYNC_PART_TTL_MS = 30_000;

export function encodeSyncReply(reply: SyncReply): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, CURRENT_VERSION);
  encoding.writeVarUint8Array(e, reply.update);
  encoding.writeVarUint8Array(e, reply.stateVector);
  encoding.writeVarUint8Array(e, reply.awareness);
  encoding.writeVarUint(e, reply.parts);
  encoding.writeVarString(e, reply.syncId);
  return encoding.toUint8Array(e);
}

/** @throws ProtocolError `malformed-message` or `unsupported-version`. */
export function decodeSyncReply(body: Uint8Array): SyncReply {
  const d = decoding.createDecoder(body);
  let reply: SyncReply;
  try {
    const version = decoding.readVarUint(d);
    if (version !== CURRENT_VERSION) throw new ProtocolError('unsupported-version', `sync reply version ${version}`);
    const update = decoding.readVarUint8Array(d);
    const stateVector = decoding.readVarUint8Array(d);
    const awareness = decoding.readVarUint8Array(d);
    const parts = decoding.readVarUint(d);
    const syncId = decoding.readVarString(d);
    reply = { update, stateVector, awareness, parts, syncId };
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    throw new ProtocolError('malformed-message', 'sync reply is truncated or malformed', { cause: err });
  }
  if (decoding.hasContent(d)) throw new ProtocolError('malformed-message', 'trailing bytes after sync reply');
  if (reply.parts < 1 || (reply.parts > 1 && reply.syncId === '')) throw new ProtocolError('malformed-message', 'sync reply parts without a sync id');
  return reply;
}

/** Body of `sync-part`: which part of which cut sync reply. */
export interface SyncPartRequest {
  readonly syncId: string;
  readonly index: number;
}
export const syncPartRequestSchema: z.ZodType<SyncPartRequest> = z
  .object({ syncId: z.string().min(1).max(64), index: z.number().int().min(1).max(100_000) })
  .strict();

/** One top-level shared type of a document, rendered as JSON. */
export interface DocRoot {
  readonly type: 'text' | 'map' | 'array' | 'xml';
  readonly value: unknown;
}

/** Reply to `content` (and the body of GET /v1/docs/:id). */
export interface DocContent {
  readonly id: string;
  /** Log sequence the content reflects. */
  readonly seq: number;
  readonly roots: Readonly<Record<string, DocRoot>>;
  /** Plain text when the document is a text document (its roots are text or xml). */
  readonly text: string | null;
  /**
   * Markdown when the document is a text document: headings, paragraphs,
   * lists, quotes, code and bold/italic/code/strike/link marks from
   * prosemirror-style XML roots; text roots as they are. Absent from replies
   * of older actors, null for other documents.
   */
  readonly markdown?: string | null;
}
export const docContentSchema: z.ZodType<DocContent> = z.object({
  id: z.string(),
  seq: z.number().int().nonnegative(),
  roots: z.record(z.object({ type: z.enum(['text', 'map', 'array', 'xml']), value: z.unknown() })),
  text: z.string().nullable(),
  markdown: z.string().nullable().optional(),
}) as z.ZodType<DocContent>;

/** Body of `restore`: the snapshot (by the log seq it covers) whose content the document takes again. */
export interface RestoreRequest {
  readonly seq: number;
}
export const restoreRequestSchema: z.ZodType<RestoreRequest> = z.object({ seq: z.number().int().positive() }).strict();

/**
 * Reply to `restore`: `seq` is the log sequence of the update that made the
 * document equal the snapshot again (the current seq when nothing differed,
 * `changed` false).
 */
export interface RestoreReply {
  readonly seq: number;
  readonly restoredFrom: number;
  readonly changed: boolean;
}
export const restoreReplySchema: z.ZodType<RestoreReply> = z.object({
  seq: z.number().int().nonnegative(),
  restoredFrom: z.number().int().positive(),
  changed: z.boolean(),
});

/** Reply to `delete`: the log and the snapshots are gone; the actor answers `not-found` from now on. */
export interface DeleteReply {
  readonly deleted: true;
}
export const deleteReplySchema: z.ZodType<DeleteReply> = z.object({ deleted: z.literal(true) });

/** Why the rights on a document changed. */
export const ACCESS_CHANGES = ['member-removed', 'member-changed', 'document-deleted'] as const;
export type AccessChange = (typeof ACCESS_CHANGES)[number];

/**
 * Body of the `access` event: someone's rights on the document shrank or
 * changed. Gateways re-check every socket they hold on the document; the
 * body is informational (`userId` absent: everyone may be affected).
 */
export interface AccessChanged {
  readonly change: AccessChange;
  readonly userId?: string;
}
export const accessChangedSchema: z.ZodType<AccessChanged> = z.object({
  change: z.enum(ACCESS_CHANGES),
  userId: z.string().min(1).max(200).optional(),
}) as z.ZodType<AccessChanged>;

/** A run of text written by one author (`unknown`: written without a Loom-Author header). */
export interface AttributionSpan {
  readonly text: string;
  readonly author: string;
}

/**
 * A text root's (or XML root's) text as spans in document order; their
 * texts concatenated equal the root's text in DocContent. In XML roots the
 * newline between blocks belongs to whoever inserted the following block.
 */
export interface AttributedRoot {
  readonly type: 'text' | 'xml';
  readonly spans: AttributionSpan[];
}

/** Reply to `attribution`: the text roots of the document, attributed. Map and array roots are left out. */
export interface AttributionReply {
  readonly id: string;
  readonly seq: number;
  readonly roots: Readonly<Record<string, AttributedRoot>>;
}
const spanSchema = z.object({ text: z.string(), author: z.string() });
export const attributionReplySchema: z.ZodType<AttributionReply> = z.object({
  id: z.string(),
  seq: z.number().int().nonnegative(),
  roots: z.record(z.object({ type: z.enum(['text', 'xml']), spans: z.array(spanSchema) })),
});

/** Body of `revert`: the job or agent session whose edits are undone. */
export interface RevertRequest {
  readonly origin: Author;
}
export const revertRequestSchema: z.ZodType<RevertRequest, z.ZodTypeDef, unknown> = z
  .object({
    origin: z
      .string()
      .refine((s): s is Author => isAuthor(s) && isRevertable(s), { message: 'origin must be job:<id> or agent:<id>' }),
  })
  .strict();

/**
 * Reply to `revert`. `seq` is the log sequence of the reverting update (the
 * current one when the origin left nothing to revert, `changed` false).
 * `undoSeq` names the snapshot holding the content just before the revert:
 * restoring it undoes the revert (null when nothing changed).
 */
export interface RevertReply {
  readonly seq: number;
  readonly origin: string;
  readonly changed: boolean;
  /** Characters (or other items) of the origin's text that were removed. */
  readonly removed: number;
  /** Characters (or other items) the origin had deleted that came back. */
  readonly restored: number;
  readonly undoSeq: number | null;
}
export const revertReplySchema: z.ZodType<RevertReply> = z.object({
  seq: z.number().int().nonnegative(),
  origin: z.string(),
  changed: z.boolean(),
  removed: z.number().int().nonnegative(),
  restored: z.number().int().nonnegative(),
  undoSeq: z.number().int().positive().nullable(),
});
