/**
 * The document actor: owns one Y.Doc and is the only writer of its log.
 *
 * States: recovering (in `activate`) -> serving -> passivated | stepped down.
 * Messages: update, sync, awareness, content, presence (commands, see
 * protocol/doc.ts) and the host signal gateway-gone.
 *
 * Write path: validate an update by decoding and applying it, append it to the
 * durable log (updates queued together are merged into one append), and only
 * then publish it on event.doc.<id>.update and acknowledge it. Reads (sync,
 * content) first flush pending appends, so nobody ever sees state that is not
 * durable. A failed append means this activation may hold state nobody else
 * has: it steps down and the next activation rebuilds from the log.
 */
import * as Y from 'yjs';
import type { ActorContext, ActorInstance, CommandMessage, MailboxMessage } from '../actor.ts';
import { StepDownError } from '../actor.ts';
import { decodeAwarenessUpdate } from '../../protocol/awareness.ts';
import { type DocContent, encodeSyncReply, isDocCommand } from '../../protocol/doc.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { checkVersion, HEADERS, readOpaqueHeader } from '../../protocol/headers.ts';
import { encodeJson, errorReply } from '../../protocol/reply.ts';
import { Compactor } from './compactor.ts';
import { renderContent } from './content.ts';
import type { DocumentLimits } from './limits.ts';
import { FencingError, type DocumentLog } from './ports.ts';
import { Presence } from './presence.ts';
import type { RecoveredDocument } from './recovery.ts';

interface PendingUpdate {
  readonly command: CommandMessage;
  /** null when the update changed nothing: acknowledged, never appended. */
  readonly update: Uint8Array | null;
  readonly origin: string | undefined;
}

const EMPTY = new Uint8Array(0);

export class DocumentActor implements ActorInstance {
  private readonly doc: Y.Doc;
  private lastSeq: number;
  private readonly presence: Presence;
  private pending: PendingUpdate[] = [];
  /** Set by the doc's update event, which Yjs emits only for transactions that changed something. */
  private changed = false;

  constructor(
    private readonly ctx: ActorContext,
    recovered: RecoveredDocument,
    private readonly log: DocumentLog,
    private readonly compactor: Compactor,
    private readonly limits: DocumentLimits,
  ) {
    this.doc = recovered.doc;
    this.lastSeq = recovered.lastSeq;
    this.presence = new Presence(this.doc, (removal) => ctx.publish('awareness', removal));
    this.doc.on('update', () => {
      this.changed = true;
    });
  }

  async handle(batch: readonly MailboxMessage[]): Promise<void> {
    for (const message of batch) {
      if (message.source === 'timer') continue; // documents schedule nothing
      if (message.source === 'signal') {
        const removal = this.presence.dropGateway(message.gatewayId);
        if (removal !== null) this.ctx.publish('awareness', removal);
        continue;
      }
      try {
        checkVersion(message.headers);
        if (!isDocCommand(message.name)) throw new ProtocolError('invalid-subject', `unknown document command ${message.name}`);
        if (message.name === 'update') {
          this.acceptUpdate(message);
          continue;
        }
        await this.flush();
        switch (message.name) {
          case 'sync':
            this.sync(message);
            break;
          case 'awareness':
            this.awareness(message);
            break;
          case 'content':
            message.respond({ headers: {}, body: encodeJson(this.content()) });
            break;
          case 'presence':
            message.respond({ headers: {}, body: this.presence.snapshot() });
            break;
          default: {
            const never: never = message.name;
            throw new Error(`unhandled command ${String(never)}`);
          }
        }
      } catch (err) {
        if (err instanceof StepDownError) throw err;
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
    const pendingBytes = this.pending.reduce((n, p) => n + (p.update?.length ?? 0), 0);
    if (this.compactor.approxDocumentBytes + pendingBytes + update.length > this.limits.maxDocumentBytes) {
      throw new ProtocolError('document-too-large', `document would exceed ${this.limits.maxDocumentBytes} bytes`);
    }
    const origin = readOpaqueHeader(command.headers, HEADERS.origin);
    this.changed = false;
    try {
      // Decoding first rejects garbage before it can touch the document.
      Y.decodeUpdate(update);
      Y.applyUpdate(this.doc, update, origin);
    } catch (err) {
      throw new ProtocolError('invalid-update', 'not a valid Yjs update', { cause: err });
    }
    // Structs waiting for missing dependencies change nothing yet but must be kept.
    const waiting = this.doc.store.pendingStructs !== null || this.doc.store.pendingDs !== null;
    this.pending.push({ command, update: this.changed || waiting ? update : null, origin });
  }

  /** Appends pending updates as one log entry, then publishes and acknowledges them. */
  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const updates = batch.flatMap((p) => (p.update === null ? [] : [p.update]));
    if (updates.length === 0) {
      // Duplicates (resends, retries): already durable, nothing to append or broadcast.
      for (const p of batch) p.command.respond({ headers: { [HEADERS.seq]: String(this.lastSeq) }, body: encodeJson({ seq: this.lastSeq }) });
      return;
    }
    const merged = updates.length === 1 ? updates[0]! : Y.mergeUpdates(updates);
    let seq: number;
    try {
      seq = await this.log.append(this.ctx.id, merged, this.lastSeq);
    } catch (err) {
      const fenced = err instanceof FencingError;
      for (const p of batch) {
        p.command.respond(errorReply(fenced ? 'not-owner' : 'unavailable', fenced ? 'document moved to another host; retry' : 'document log unavailable; retry'));
      }
      throw new StepDownError(fenced ? 'fenced out of the document log' : 'append to the document log failed', { cause: err });
    }
    this.lastSeq = seq;
    const origins = new Set(batch.map((p) => p.origin));
    const [only] = origins;
    const headers: Record<string, string> = { [HEADERS.seq]: String(seq) };
    // With one origin, its gateway can skip echoing the update back to that socket.
    if (origins.size === 1 && only !== undefined) headers[HEADERS.origin] = only;
    this.ctx.publish('update', merged, headers);
    const ack = encodeJson({ seq });
    for (const p of batch) p.command.respond({ headers: { [HEADERS.seq]: String(seq) }, body: ack });
    this.compactor.afterAppend(this.doc, seq, merged.length);
  }

  private sync(command: CommandMessage): void {
    let update: Uint8Array;
    try {
      update = command.body.length === 0 ? Y.encodeStateAsUpdate(this.doc) : Y.encodeStateAsUpdate(this.doc, command.body);
    } catch (err) {
      throw new ProtocolError('malformed-message', 'sync body is not a valid Yjs state vector', { cause: err });
    }
    const body = encodeSyncReply({ update, stateVector: Y.encodeStateVector(this.doc), awareness: this.presence.snapshot() });
    command.respond({ headers: { [HEADERS.seq]: String(this.lastSeq) }, body });
  }

  private awareness(command: CommandMessage): void {
    const entries = decodeAwarenessUpdate(command.body);
    const origin = readOpaqueHeader(command.headers, HEADERS.origin);
    const gateway = readOpaqueHeader(command.headers, HEADERS.gateway);
    this.presence.apply(command.body, entries, origin, gateway);
    this.ctx.publish('awareness', command.body, origin === undefined ? {} : { [HEADERS.origin]: origin });
    command.respond({ headers: {}, body: EMPTY });
  }

  private content(): DocContent {
    const { roots, text } = renderContent(this.doc);
    return { id: this.ctx.id, seq: this.lastSeq, roots, text };
  }

  async onPassivate(): Promise<void> {
    await this.flush();
    await this.compactor.flush(this.doc, this.lastSeq);
  }

  dispose(): void {
    this.presence.destroy();
    this.doc.destroy();
  }
}
