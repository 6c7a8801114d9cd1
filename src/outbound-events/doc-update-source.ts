/**
 * `doc.updated` from the document log's change marks (LOOM_DOC_LOG,
 * `log.doc.<id>.changed`: the actor host stores one before the first update
 * of each window, src/nats/document-change-marks.ts), debounced per
 * document: a mark after a quiet spell opens a window of `debounceMs` (by
 * the marks' stored times), marks inside it join, and when it closes one
 * event carries the document's last log seq at that moment (never
 * content). A document edited without pause yields one event per window.
 * Reading marks, not updates, keeps the relay's cost per window instead of
 * per edit.
 *
 * Recipients: the document's owner and members (everyone who may read it);
 * a document without a registration (open access mode, never created
 * through the API) or without a log any more (deleted) has nobody to tell
 * and yields nothing. orderKey `doc:<id>`; id from (document, last seq), so
 * a window recorded again after a crash, or two windows that closed on the
 * same last update, are one event. The relay's cursor stays below every
 * open window's mark, so a crash re-reads the open windows.
 */
import { DOC_CHANGE_MARKS, DOC_LOG_STREAM, parseDocChangeMarkSubject } from '../../protocol/subjects.ts';
import { eventLinks, LOOM_EVENT_TYPES, orderKeys } from '../../protocol/outbound-event-types.ts';
import type { OutboundEvent } from '../../protocol/outbound-events.ts';
import type { DocId } from '../../protocol/ids.ts';
import type { Logger } from '../log.ts';
import { logEventId } from './event-id.ts';
import type { LogEntry, LogEventSource } from './log-relay.ts';

/** Who is told that a document changed. */
export interface DocAudience {
  /** The owner and members of a registered, undeleted document; empty otherwise. */
  recipients(docId: string): Promise<string[]>;
}

/** Where a document's log ends. */
export interface DocLogTail {
  /** The document's last update (its seq and when it was stored), or null when its log is empty. */
  last(docId: DocId): Promise<{ readonly seq: number; readonly storedAtMs: number } | null>;
}

interface Window {
  /** The mark that opened it (the relay's cursor stays below). */
  readonly markSeq: number;
  readonly openedAtMs: number;
}

export class DocUpdateSource implements LogEventSource {
  readonly name = 'doc-log';
  readonly stream = DOC_LOG_STREAM;
  readonly filterSubject = DOC_CHANGE_MARKS;
  readonly headersOnly = true;
  private readonly windows = new Map<DocId, Window>();

  constructor(
    private readonly audience: DocAudience,
    private readonly tail: DocLogTail,
    private readonly debounceMs: number,
    private readonly log: Logger,
  ) {}

  reset(): void {
    this.windows.clear();
  }

  async onEntry(entry: LogEntry): Promise<OutboundEvent[]> {
    let docId: DocId;
    try {
      docId = parseDocChangeMarkSubject(entry.subject);
    } catch (err) {
      this.log.error({ err, subject: entry.subject, seq: entry.seq }, 'document change mark subject unreadable; no outbound event for it');
      return [];
    }
    const open = this.windows.get(docId);
    if (open !== undefined && entry.storedAtMs < open.openedAtMs + this.debounceMs) return [];
    // Past the open window (replaying after a restart, or a window the timer has not closed yet): close it first.
    const closed = open === undefined ? [] : await this.close(docId);
    this.windows.set(docId, { markSeq: entry.seq, openedAtMs: entry.storedAtMs });
    return closed;
  }

  async due(nowMs: number): Promise<OutboundEvent[]> {
    const out: OutboundEvent[] = [];
    for (const [docId, window] of [...this.windows]) {
      if (window.openedAtMs + this.debounceMs <= nowMs) out.push(...(await this.close(docId)));
    }
    return out;
  }

  oldestHeldSeq(): number | undefined {
    let oldest: number | undefined;
    for (const w of this.windows.values()) if (oldest === undefined || w.markSeq < oldest) oldest = w.markSeq;
    return oldest;
  }

  private async close(docId: DocId): Promise<OutboundEvent[]> {
    // Recipients first: a document nobody owns (open access mode) costs no log read.
    const recipients = await this.audience.recipients(docId);
    const last = recipients.length === 0 ? null : await this.tail.last(docId);
    // Dropped only once its event (if any) is built: a failed read throws and the relay restarts below this window.
    this.windows.delete(docId);
    if (last === null || recipients.length === 0) {
      this.log.debug({ docId, seq: last?.seq }, 'document has no log or no owner to tell; no doc.updated');
      return [];
    }
    const type = LOOM_EVENT_TYPES.docUpdated;
    return [
      {
        id: logEventId('doc', docId, last.seq, type),
        type,
        timestamp: new Date(last.storedAtMs).toISOString(),
        ownerIds: recipients,
        orderKey: orderKeys.doc(docId),
        data: { docId, seq: last.seq, link: eventLinks.doc(docId) },
      },
    ];
  }
}
