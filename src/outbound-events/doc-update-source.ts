/**
 * `doc.updated` from the document log (LOOM_DOC_LOG, one entry per applied
 * update), debounced per document: the first update after a quiet spell
 * opens a window of `debounceMs` (by the entries' stored times), every
 * update inside it joins, and when it closes one event carries the window's
 * last log seq (never content). A document edited without pause yields one
 * event per window.
 *
 * Recipients: the document's owner and members (everyone who may read it);
 * a document without a registration (open access mode, never created
 * through the API) has nobody to tell and yields nothing. orderKey
 * `doc:<id>`; id from (document, the window's last seq), so a window
 * recorded again after a crash is a duplicate with the same id. The relay's
 * cursor stays below every open window's first entry, so a crash re-reads
 * the open windows; a window that straddled the cursor may then close on an
 * earlier last seq than it would have (an extra event, never a lost one).
 */
import { parseDocLogSubject } from '../../protocol/subjects.ts';
import { DOC_LOG_STREAM } from '../../protocol/subjects.ts';
import { eventLinks, LOOM_EVENT_TYPES, orderKeys } from '../../protocol/outbound-event-types.ts';
import type { OutboundEvent } from '../../protocol/outbound-events.ts';
import type { Logger } from '../log.ts';
import { logEventId } from './event-id.ts';
import type { LogEntry, LogEventSource } from './log-relay.ts';

/** Who is told that a document changed. */
export interface DocAudience {
  /** The owner and members of a registered, undeleted document; empty otherwise. */
  recipients(docId: string): Promise<string[]>;
}

interface Window {
  readonly firstSeq: number;
  readonly openedAtMs: number;
  lastSeq: number;
  lastAtMs: number;
}

export class DocUpdateSource implements LogEventSource {
  readonly name = 'doc-log';
  readonly stream = DOC_LOG_STREAM;
  readonly headersOnly = true;
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly audience: DocAudience,
    private readonly debounceMs: number,
    private readonly log: Logger,
  ) {}

  reset(): void {
    this.windows.clear();
  }

  async onEntry(entry: LogEntry): Promise<OutboundEvent[]> {
    let docId: string;
    try {
      docId = parseDocLogSubject(entry.subject);
    } catch (err) {
      this.log.error({ err, subject: entry.subject, seq: entry.seq }, 'document log subject unreadable; no outbound event for it');
      return [];
    }
    const open = this.windows.get(docId);
    if (open !== undefined && entry.storedAtMs < open.openedAtMs + this.debounceMs) {
      open.lastSeq = entry.seq;
      open.lastAtMs = entry.storedAtMs;
      return [];
    }
    // Past the open window (replaying after a restart, or a window the timer has not closed yet): close it first.
    const closed = open === undefined ? [] : await this.close(docId, open);
    this.windows.set(docId, { firstSeq: entry.seq, openedAtMs: entry.storedAtMs, lastSeq: entry.seq, lastAtMs: entry.storedAtMs });
    return closed;
  }

  async due(nowMs: number): Promise<OutboundEvent[]> {
    const out: OutboundEvent[] = [];
    for (const [docId, window] of [...this.windows]) {
      if (window.openedAtMs + this.debounceMs <= nowMs) out.push(...(await this.close(docId, window)));
    }
    return out;
  }

  oldestHeldSeq(): number | undefined {
    let oldest: number | undefined;
    for (const w of this.windows.values()) if (oldest === undefined || w.firstSeq < oldest) oldest = w.firstSeq;
    return oldest;
  }

  private async close(docId: string, window: Window): Promise<OutboundEvent[]> {
    const recipients = await this.audience.recipients(docId);
    // Dropped only once its event (if any) is built: a failed lookup throws and the relay restarts below this window.
    this.windows.delete(docId);
    if (recipients.length === 0) {
      this.log.debug({ docId, seq: window.lastSeq }, 'document has no owner to tell; no doc.updated');
      return [];
    }
    const type = LOOM_EVENT_TYPES.docUpdated;
    return [
      {
        id: logEventId('doc', docId, window.lastSeq, type),
        type,
        timestamp: new Date(window.lastAtMs).toISOString(),
        ownerIds: recipients,
        orderKey: orderKeys.doc(docId),
        data: { docId, seq: window.lastSeq, link: eventLinks.doc(docId) },
      },
    ];
  }
}
