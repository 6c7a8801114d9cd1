/**
 * The document actor: owns one Y.Doc and is the only writer of its log.
 *
 * States: recovering (in `activate`) -> serving -> passivated | stepped down,
 * and serving -> deleted (or deleted from the start, when the directory says
 * so at activation). A deleted actor answers every command `not-found`
 * except `delete` itself, so a late update can never recreate the log.
 * Messages: update, sync, awareness, content, presence, restore, delete,
 * attribution, revert (commands, see protocol/doc.ts) and the host signals
 * gateway-gone and events-may-be-lost (answered with a `head` event). Who wrote what is recorded as updates apply (attribution.ts).
 *
 * Write path: validate an update by decoding and applying it, append it to the
 * durable log (updates queued together are merged into one append), and only
 * then publish it on event.doc.<id>.update and acknowledge it. Reads (sync,
 * content) first flush pending appends, so nobody ever sees state that is not
 * durable. A failed append means this activation may hold state nobody else
 * has: it steps down and the next activation rebuilds from the log.
 */
import * as Y from 'yjs';
import type { ActorContext, ActorInstance, CommandMessage, MailboxMessage, SignalMessage } from '../actor.ts';
import { StepDownError } from '../actor.ts';
import { readAuthorHeader, UNKNOWN_AUTHOR } from '../../protocol/attribution.ts';
import { decodeAwarenessUpdate } from '../../protocol/awareness.ts';
import {
  type AttributionReply,
  type DeleteReply,
  type DocContent,
  encodeSyncReply,
  isDocCommand,
  restoreRequestSchema,
  type RestoreReply,
  revertRequestSchema,
  type RevertReply,
  syncPartRequestSchema,
} from '../../protocol/doc.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { checkVersion, HEADERS, readOpaqueHeader } from '../../protocol/headers.ts';
import { decodeJson, encodeJson, errorReply, type WireMessage } from '../../protocol/reply.ts';
import { attributedRoots } from './attribution-spans.ts';
import type { AttributionRecord } from './attribution-record.ts';
import type { Attribution } from './attribution.ts';
import { Compactor } from './compactor.ts';
import { appendCost, type AttributedUpdate, entryAttribution, startsNewEntry } from './entry-attribution.ts';
import { renderContent } from './content.ts';
import { DEFAULT_PRESENCE_LIMITS, type DocumentLimits, type PresenceLimits } from './limits.ts';
import { FencingError, type DocumentLog, type SnapshotStore } from './ports.ts';
import { Presence } from './presence.ts';
import type { RegistrationGate } from './registration-gate.ts';
import { type DecodedUpdate, UpdateScreen } from './update-screen.ts';
import { SyncParts } from './sync-parts.ts';
import { transactionChanged } from './transaction-changed.ts';
import type { RecoveredDocument } from './recovery.ts';
import { restoreUpdate } from './restore.ts';
import { planRevert } from './revert.ts';

interface PendingUpdate extends AttributedUpdate {
  readonly command: CommandMessage;
  /** null when the update changed nothing: acknowledged, never appended. */
  readonly update: Uint8Array | null;
  readonly origin: string | undefined;
}

const EMPTY = new Uint8Array(0);
/** Smallest part a cut sync reply uses, however large the presence is. */
const MIN_SYNC_PART_BYTES = 64 * 1024;

/** An update passed decoding but threw while being integrated. */
class SuspectStateError extends ProtocolError {
  constructor(cause: unknown) {
    super('invalid-update', 'not a valid Yjs update: it failed while being integrated into the document', { cause });
  }
}

export class DocumentActor implements ActorInstance {
  private readonly doc: Y.Doc;
  private readonly attribution: Attribution;
  private lastSeq: number;
  private readonly presence: Presence;
  private readonly screen: UpdateScreen;
  private pending: PendingUpdate[] = [];
  /** Bytes of the pending updates, kept beside them so the size check stays O(1) per update. */
  private pendingBytes = 0;
  /** Set after a transaction that changed something (transaction-changed.ts). */
  private changed = false;
  private readonly syncParts = new SyncParts();
  /** The in-memory doc may have integrated part of a refused update: never snapshot it. */
  private suspect = false;

  constructor(
    private readonly ctx: ActorContext,
    recovered: RecoveredDocument,
    private readonly log: DocumentLog,
    private readonly compactor: Compactor,
    private readonly limits: DocumentLimits,
    private readonly snapshots: SnapshotStore,
    /** True when the directory marks the document deleted: serve nothing. */
    private deleted = false,
    /** Refuses updates to ids never registered (LOOM_DOC_ACCESS=members); absent: any id is writable. */
    private readonly registration?: RegistrationGate,
  ) {
    this.doc = recovered.doc;
    this.attribution = recovered.attribution;
    this.lastSeq = recovered.lastSeq;
    this.presence = new Presence((removal) => ctx.publish('awareness', removal), presenceLimits(limits));
    this.screen = new UpdateScreen(this.doc, ctx.log);
    // Not the 'update' event: with no listener on it Yjs encodes no update per transaction.
    this.doc.on('afterTransaction', (tr: Y.Transaction) => {
      if (transactionChanged(tr)) this.changed = true;
    });
  }

  async handle(batch: readonly MailboxMessage[]): Promise<void> {
    this.registration?.newBatch();
    for (const message of batch) {
      if (message.source === 'timer') continue; // documents schedule nothing
      if (message.source === 'signal') {
        this.onSignal(message);
        continue;
      }
      try {
        checkVersion(message.headers);
        if (!isDocCommand(message.name)) throw new ProtocolError('invalid-subject', `unknown document command ${message.name}`);
        if (this.deleted && message.name !== 'delete') throw new ProtocolError('not-found', `document ${this.ctx.id} was deleted`);
        if (message.name === 'update') {
          await this.registration?.check(this.ctx.id);
          this.acceptUpdate(message);
          continue;
        }
        await this.flush();
        switch (message.name) {
          case 'sync':
            this.sync(message);
            break;
          case 'sync-part':
            this.syncPart(message);
            break;
          case 'awareness':
            this.awareness(message);
            break;
          case 'content':
            this.respondJson(message, this.content(), 'content');
            break;
          case 'attribution':
            this.respondJson(message, { id: this.ctx.id, seq: this.lastSeq, roots: attributedRoots(this.doc, this.attribution) } satisfies AttributionReply, 'attribution');
            break;
          case 'revert':
            await this.revert(message);
            break;
          case 'presence':
            message.respond({ headers: {}, body: this.presence.snapshot() });
            break;
          case 'disconnect':
            this.disconnect(message);
            break;
          case 'restore':
            await this.restore(message);
            break;
          case 'delete':
            await this.remove(message);
            break;
          default: {
            const never: never = message.name;
            throw new Error(`unhandled command ${String(never)}`);
          }
        }
      } catch (err) {
        if (err instanceof StepDownError) throw err;
        if (err instanceof SuspectStateError) {
          message.respond(errorReply('invalid-update', err.message));
          await this.quarantine(err);
        }
        if (err instanceof ProtocolError) message.respond(errorReply(err.code, err.message));
        else throw err;
      }
    }
    await this.flush();
  }

  /** Validates and applies an update in memory; it becomes durable at the next flush. */
  private acceptUpdate(command: CommandMessage): void {
    const update = command.body;
    if (update.length > this.limits.maxUpdateBytes) {
      throw new ProtocolError('update-too-large', `update of ${update.length} bytes exceeds the limit of ${this.limits.maxUpdateBytes}`);
    }
    // An update the log cannot take in one message could never become durable.
    if (update.length > this.limits.maxAppendBytes) {
      throw new ProtocolError('update-too-large', `update of ${update.length} bytes exceeds what the log accepts in one message (${this.limits.maxAppendBytes})`);
    }
    if (this.compactor.approxDocumentBytes + this.pendingBytes + update.length > this.limits.maxDocumentBytes) {
      throw new ProtocolError('document-too-large', `document would exceed ${this.limits.maxDocumentBytes} bytes`);
    }
    const origin = readOpaqueHeader(command.headers, HEADERS.origin);
    const author = readAuthorHeader(command.headers);
    let record: AttributionRecord | null = null;
    this.changed = false;
    let decoded: DecodedUpdate;
    try {
      // Decoding first rejects garbage before it can touch the document.
      decoded = Y.decodeUpdate(update);
    } catch (err) {
      throw new ProtocolError('invalid-update', 'not a valid Yjs update', { cause: err });
    }
    // Tried on a shadow first: a poisoned update is refused there and never touches this doc.
    this.screen.check(update, decoded, origin);
    try {
      this.screen.applyLive(() => {
        record = this.attribution.captureAs(author, () => Y.applyUpdate(this.doc, update, origin));
      });
    } catch (err) {
      // Yjs may have integrated part of it before throwing.
      throw new SuspectStateError(err);
    }
    // Structs waiting for missing dependencies change nothing yet but must be kept.
    const waiting = this.doc.store.pendingStructs !== null || this.doc.store.pendingDs !== null;
    this.enqueue({ command, update: this.changed || waiting ? update : null, origin, author, record });
  }

  private enqueue(p: PendingUpdate): void {
    this.pending.push(p);
    this.pendingBytes += p.update?.length ?? 0;
  }

  /** Appends pending updates (merged, in chunks that fit one message), then publishes and acknowledges them. */
  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    for (const chunk of this.chunks(batch)) await this.appendChunk(chunk);
  }

  /** Splits a batch in arrival order so each chunk's updates, with their attribution (entry-attribution.ts), fit in one append. */
  private *chunks(batch: readonly PendingUpdate[]): Generator<PendingUpdate[]> {
    let chunk: PendingUpdate[] = [];
    let bytes = 0;
    for (const p of batch) {
      const size = appendCost(p);
      if (chunk.length > 0 && (bytes + size > this.limits.maxAppendBytes || startsNewEntry(chunk, p))) {
        yield chunk;
        chunk = [];
        bytes = 0;
      }
      chunk.push(p);
      bytes += size;
    }
    if (chunk.length > 0) yield chunk;
  }

  private async appendChunk(batch: readonly PendingUpdate[]): Promise<void> {
    const updates = batch.flatMap((p) => (p.update === null ? [] : [p.update]));
    if (updates.length === 0) {
      // Duplicates (resends, retries): already durable, nothing to append or broadcast.
      for (const p of batch) p.command.respond({ headers: { [HEADERS.seq]: String(this.lastSeq) }, body: encodeJson({ seq: this.lastSeq }) });
      return;
    }
    const merged = updates.length === 1 ? updates[0]! : Y.mergeUpdates(updates);
    const attribution = entryAttribution(batch);
    const origins = new Set(batch.map((p) => p.origin));
    const [only] = origins;
    // With one origin, its gateway can skip echoing the update back to that socket.
    const origin = origins.size === 1 ? only : undefined;
    let seq: number;
    try {
      seq = await this.log.append(this.ctx.id, merged, this.lastSeq, origin === undefined ? attribution : { ...attribution, origin });
    } catch (err) {
      const fenced = err instanceof FencingError;
      for (const p of batch) {
        p.command.respond(errorReply(fenced ? 'not-owner' : 'unavailable', fenced ? 'document moved to another host; retry' : 'document log unavailable; retry'));
      }
      throw new StepDownError(fenced ? 'fenced out of the document log' : 'append to the document log failed', { cause: err });
    }
    const prevSeq = this.lastSeq;
    this.lastSeq = seq;
    const headers: Record<string, string> = { [HEADERS.seq]: String(seq), [HEADERS.prevSeq]: String(prevSeq) };
    if (origin !== undefined) headers[HEADERS.origin] = origin;
    if (attribution.author !== undefined) headers[HEADERS.author] = attribution.author;
    // A log that announces its entries already told NATS; rooms in this process still hear it first-hand.
    if (this.log.announcesUpdates === true) this.ctx.publishLocal('update', merged, headers);
    else this.ctx.publish('update', merged, headers);
    const ack = encodeJson({ seq });
    for (const p of batch) p.command.respond({ headers: { [HEADERS.seq]: String(seq) }, body: ack });
    if (!this.suspect) this.compactor.afterAppend(this.doc, seq, merged.length);
  }

  private onSignal(signal: SignalMessage): void {
    if (signal.name === 'gateway-gone') {
      const removal = this.presence.dropGateway(signal.gatewayId);
      if (removal !== null) this.ctx.publish('awareness', removal);
      return;
    }
    // Our last update events may have died with a NATS server: tell subscribers where the log stands (empty body).
    this.ctx.publish('head', new Uint8Array(0), { [HEADERS.seq]: String(this.lastSeq) });
  }

  /**
   * After an update failed half-way through integration, the in-memory doc
   * may differ from anything durable: make the earlier pending updates
   * durable (their bytes are intact), never snapshot this doc, and step down
   * releasing the lease so the next message rebuilds from snapshot + log.
   */
  private async quarantine(cause: SuspectStateError): Promise<never> {
    this.suspect = true;
    this.ctx.log.warn({ err: cause }, 'update failed mid-integration; rebuilding document from durable state');
    await this.flush();
    throw new StepDownError('document state suspect after a refused update', { cause });
  }

  private sync(command: CommandMessage): void {
    let update: Uint8Array;
    try {
      update = command.body.length === 0 ? Y.encodeStateAsUpdate(this.doc) : Y.encodeStateAsUpdate(this.doc, command.body);
    } catch (err) {
      throw new ProtocolError('malformed-message', 'sync body is not a valid Yjs state vector', { cause: err });
    }
    const stateVector = Y.encodeStateVector(this.doc);
    const awareness = this.presence.snapshot();
    // What fits beside the state vector and presence in one message; the rest goes by sync-part.
    const room = Math.max(MIN_SYNC_PART_BYTES, this.limits.maxAppendBytes - stateVector.length - awareness.length - 1_024);
    const { first, parts, syncId } = this.syncParts.split(update, room);
    const body = encodeSyncReply({ update: first, stateVector, awareness, parts, syncId });
    command.respond({ headers: { [HEADERS.seq]: String(this.lastSeq) }, body });
  }

  private syncPart(command: CommandMessage): void {
    const { syncId, index } = decodeJson(command.body, syncPartRequestSchema, 'sync-part request');
    const part = this.syncParts.part(syncId, index);
    if (part === null) throw new ProtocolError('not-found', `sync part ${index} of ${syncId} is unknown or expired; sync again`);
    command.respond({ headers: {}, body: part });
  }

  private awareness(command: CommandMessage): void {
    const entries = decodeAwarenessUpdate(command.body);
    const origin = readOpaqueHeader(command.headers, HEADERS.origin);
    const gateway = readOpaqueHeader(command.headers, HEADERS.gateway);
    const { update, forged } = this.presence.apply(entries, origin, gateway);
    if (forged > 0) this.ctx.log.warn({ origin, forged, forgedTotal: this.presence.forgedTotal }, 'presence of another connection refused');
    // Only what was accepted fans out; echoes and forgeries stop here.
    if (update !== null) this.ctx.publish('awareness', update, origin === undefined ? {} : { [HEADERS.origin]: origin });
    command.respond({ headers: {}, body: EMPTY });
  }

  /** A connection closed: its presence leaves with it. */
  private disconnect(command: CommandMessage): void {
    const origin = readOpaqueHeader(command.headers, HEADERS.origin);
    if (origin === undefined) throw new ProtocolError('malformed-message', `disconnect needs a ${HEADERS.origin} header`);
    const removal = this.presence.dropOrigin(origin);
    if (removal !== null) this.ctx.publish('awareness', removal);
    command.respond({ headers: {}, body: EMPTY });
  }

  private content(): DocContent {
    const { roots, text, markdown } = renderContent(this.doc);
    return { id: this.ctx.id, seq: this.lastSeq, roots, text, markdown };
  }

  /** Answers with a JSON body, refusing one too big for a single message. */
  private respondJson(command: CommandMessage, value: unknown, what: string): void {
    const body = encodeJson(value);
    if (body.length > this.limits.maxAppendBytes) {
      throw new ProtocolError('document-too-large', `${what} is ${body.length} bytes, more than one message carries; read it with sync`);
    }
    command.respond({ headers: {}, body });
  }

  /**
   * Reverts a job's or agent session's edits with one new update (see
   * revert.ts), appended with its own attribution record and broadcast like
   * any edit. First a snapshot covers the content as it is now: restoring
   * it (`undoSeq`) undoes the revert.
   */
  private async revert(command: CommandMessage): Promise<void> {
    const { origin } = decodeJson(command.body, revertRequestSchema, 'revert request');
    const reverter = readAuthorHeader(command.headers) ?? UNKNOWN_AUTHOR;
    const plan = planRevert(this.doc, this.attribution, origin, reverter);
    const answer = (seq: number, undoSeq: number | null): WireMessage => ({
      headers: { [HEADERS.seq]: String(seq) },
      body: encodeJson({ seq, origin, changed: plan !== null, removed: plan?.removed ?? 0, restored: plan?.restored ?? 0, undoSeq } satisfies RevertReply),
    });
    if (plan === null) {
      command.respond(answer(this.lastSeq, null));
      return;
    }
    const record = plan.record.encode();
    // The record travels base64-encoded in a header of the same log message.
    const bytes = plan.update.length + Math.ceil(record.length / 3) * 4;
    if (bytes > this.limits.maxAppendBytes || this.compactor.approxDocumentBytes + plan.update.length > this.limits.maxDocumentBytes) {
      throw new ProtocolError('document-too-large', `reverting ${origin} needs an update of ${bytes} bytes, over the document limits`);
    }
    try {
      await this.compactor.flush(this.doc, this.lastSeq);
    } catch (err) {
      throw new ProtocolError('unavailable', 'could not snapshot the document before reverting; retry', { cause: err });
    }
    const undoSeq = this.compactor.snapshotSeq > 0 ? this.compactor.snapshotSeq : null;
    this.attribution.withRecord(plan.record, () => Y.applyUpdate(this.doc, plan.update, 'revert'));
    const asRevert: CommandMessage = {
      ...command,
      respond: (reply) => command.respond(reply.headers[HEADERS.error] === undefined ? answer(Number(reply.headers[HEADERS.seq]), undoSeq) : reply),
    };
    this.enqueue({ command: asRevert, update: plan.update, origin: undefined, author: undefined, attribution: record });
    await this.flush();
    this.ctx.log.info({ origin, reverter, seq: this.lastSeq, removed: plan.removed, restored: plan.restored, undoSeq }, 'edits reverted');
  }

  /**
   * Makes the document equal a snapshot again with one new update (see
   * restore.ts), appended and broadcast like a client's: every replica
   * converges to the snapshot's content, and the log stays append-only.
   * Runs after the mailbox flushed, so it rewrites durable state only.
   */
  private async restore(command: CommandMessage): Promise<void> {
    const { seq } = decodeJson(command.body, restoreRequestSchema, 'restore request');
    const snapshot = await this.snapshots.get(this.ctx.id, seq);
    if (snapshot === null) throw new ProtocolError('not-found', `document ${this.ctx.id} has no snapshot at seq ${seq}`);
    const update = restoreUpdate(this.doc, snapshot.state);
    const restored = (at: number, changed: boolean): WireMessage => ({
      headers: { [HEADERS.seq]: String(at) },
      body: encodeJson({ seq: at, restoredFrom: seq, changed } satisfies RestoreReply),
    });
    if (update === null) {
      command.respond(restored(this.lastSeq, false));
      return;
    }
    if (update.length > this.limits.maxAppendBytes || this.compactor.approxDocumentBytes + update.length > this.limits.maxDocumentBytes) {
      throw new ProtocolError('document-too-large', `restoring seq ${seq} needs an update of ${update.length} bytes, over the document limits`);
    }
    const author = readAuthorHeader(command.headers);
    const record = this.attribution.captureAs(author, () => Y.applyUpdate(this.doc, update, 'restore'));
    // The write path acknowledges with an UpdateAck; the caller gets a RestoreReply instead.
    const asRestore: CommandMessage = {
      source: 'command',
      name: command.name,
      headers: command.headers,
      body: command.body,
      expectsReply: command.expectsReply,
      respond: (reply) => command.respond(reply.headers[HEADERS.error] === undefined ? restored(Number(reply.headers[HEADERS.seq]), true) : reply),
    };
    this.enqueue({ command: asRestore, update, origin: undefined, author, record });
    await this.flush();
    this.ctx.log.info({ restoredFrom: seq, seq: this.lastSeq, bytes: update.length }, 'snapshot restored');
  }

  /**
   * Deletes the document's durable state: waits out a running snapshot (so
   * none lands after), then removes the log and every snapshot. The actor
   * counts as deleted from the first step; a failed removal is answered
   * `unavailable`, and a retried `delete` finishes it.
   */
  private async remove(command: CommandMessage): Promise<void> {
    this.deleted = true;
    try {
      await this.compactor.settle();
      await this.log.remove(this.ctx.id);
      await this.snapshots.remove(this.ctx.id);
    } catch (err) {
      this.ctx.log.warn({ err }, 'deleting document state failed');
      throw new ProtocolError('unavailable', `deleting document ${this.ctx.id} failed; retry`, { cause: err });
    }
    this.ctx.log.info({ lastSeq: this.lastSeq }, 'document deleted');
    command.respond({ headers: {}, body: encodeJson({ deleted: true } satisfies DeleteReply) });
  }

  async onPassivate(): Promise<void> {
    // A deleted document writes nothing: a final snapshot would bring it back.
    if (this.deleted) return;
    await this.flush();
    await this.compactor.flush(this.doc, this.lastSeq);
  }

  dispose(): void {
    this.presence.destroy();
    this.screen.dispose();
    this.doc.destroy();
  }
}

/** Presence limits, with the document's presence kept to a quarter of a message so snapshots fit in replies. */
function presenceLimits(limits: DocumentLimits): PresenceLimits {
  const presence = limits.presence ?? DEFAULT_PRESENCE_LIMITS;
  return { ...presence, maxDocumentBytes: Math.min(presence.maxDocumentBytes, Math.floor(limits.maxAppendBytes / 4)) };
}
