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
  /**
   * The owner and members of each registered, undeleted document among
   * `docIds` (asked together: windows close in bursts); a document with
   * nobody to tell is absent or empty.
   */
  recipientsOf(docIds: readonly string[]): Promise<ReadonlyMap<string, readonly string[]>>;
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
  /**
   * Windows a later mark found past their end: closed at the next tick with
   * every other window due then, so the audience is asked once per tick,
   * not once per document (the host's next mark arrives as a window ends).
   */
  private readonly ended = new Map<DocId, Window>();

  constructor(
    private readonly audience: DocAudience,
    private readonly tail: DocLogTail,
    private readonly debounceMs: number,
    private readonly log: Logger,
  ) {}

  reset(): void {
    this.windows.clear();
    this.ended.clear();
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
    // Past the open window (replaying after a restart, or a window the timer has not closed yet): it ends, and closes at the next tick.
    if (open !== undefined) {
      // Two ended windows of one document (a replay) close as one: the older mark holds the cursor.
      const before = this.ended.get(docId);
      if (before === undefined || open.markSeq < before.markSeq) this.ended.set(docId, open);
    }
    this.windows.set(docId, { markSeq: entry.seq, openedAtMs: entry.storedAtMs });
    return [];
  }

  async due(nowMs: number): Promise<OutboundEvent[]> {
    const closing = new Set(this.ended.keys());
    for (const [docId, window] of this.windows) if (window.openedAtMs + this.debounceMs <= nowMs) closing.add(docId);
    if (closing.size === 0) return [];
    // One audience query for every window closing now.
    const audience = await this.audience.recipientsOf([...closing]);
    const out: OutboundEvent[] = [];
    for (const docId of closing) {
      out.push(...(await this.close(docId, audience.get(docId) ?? [])));
      // Dropped only once its event (if any) is built: a failed read throws and the relay restarts below these windows.
      this.ended.delete(docId);
      const open = this.windows.get(docId);
      if (open !== undefined && open.openedAtMs + this.debounceMs <= nowMs) this.windows.delete(docId);
    }
    return out;
  }

  oldestHeldSeq(): number | undefined {
    let oldest: number | undefined;
    for (const w of [...this.windows.values(), ...this.ended.values()]) if (oldest === undefined || w.markSeq < oldest) oldest = w.markSeq;
    return oldest;
  }

  /** `recipients`: the document's audience, read before: a document nobody owns (open access mode) costs no log read. */
  private async close(docId: DocId, recipients: readonly string[]): Promise<OutboundEvent[]> {
    const last = recipients.length === 0 ? null : await this.tail.last(docId);
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
        ownerIds: [...recipients],
        orderKey: orderKeys.doc(docId),
        data: { docId, seq: last.seq, link: eventLinks.doc(docId) },
      },
    ];
  }
}
