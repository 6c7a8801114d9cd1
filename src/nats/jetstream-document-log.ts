/**
 * DocumentLog on JetStream: one subject per document in one stream. Appends
 * carry Nats-Expected-Last-Subject-Sequence, which is the fencing check: a
 * stale owner's append fails once anyone else has written. Sequences are the
 * stream's, so they only grow. The JetStream mechanics live in
 * fenced-subject-log.ts, shared with the job log. An entry's attribution
 * rides in its headers: Loom-Author, or Loom-Attribution (a base64 record)
 * for entries one author does not describe. Before the first update of each
 * window a change mark goes to the same stream (document-change-marks.ts),
 * for the doc.updated relay; marks are purged with the log they announce.
 * Where the stream republishes its updates (DOC_UPDATE_REPUBLISH), each
 * stored entry reaches subscribers as the document's update event, with its
 * headers (so Loom-Origin rides in the entry) and JetStream's sequences.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../log.ts';
import { FencedSubjectLog, type SubjectLogTarget } from './fenced-subject-log.ts';
import { type AppendMeta, type DocumentLog, FencingError, type LogEntry } from '../../actors/document/ports.ts';
import { HEADERS } from '../../protocol/headers.ts';
import type { DocId } from '../../protocol/ids.ts';
import { DOC_LOG_STREAM, docChangeMarkSubject, docLogSubject } from '../../protocol/subjects.ts';
import { DocumentChangeMarks } from './document-change-marks.ts';

/** Header of a log entry carrying an explicit attribution record (log-internal; readers of the log are document actors). */
const ATTRIBUTION_HEADER = 'Loom-Attribution';
const EMPTY = new Uint8Array(0);

export class JetStreamDocumentLog implements DocumentLog {
  private readonly log: FencedSubjectLog;
  private readonly marks: DocumentChangeMarks;
  readonly announcesUpdates: boolean;

  /**
   * `docDebounceMs`: the doc.updated window (LOOM_WEBHOOK_DOC_DEBOUNCE_MS) the change marks serve.
   * `announcesUpdates`: the stream republishes its updates as events (provisionNats says).
   */
  constructor(
    nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    opts: { timeoutMs: number; logger: Logger; docDebounceMs: number; announcesUpdates?: boolean },
  ) {
    this.announcesUpdates = opts.announcesUpdates === true;
    this.log = new FencedSubjectLog(nc, jsm, { stream: DOC_LOG_STREAM, timeoutMs: opts.timeoutMs, logger: opts.logger });
    this.marks = new DocumentChangeMarks(async (id) => {
      // Unfenced: a stale owner's mark only opens a window early.
      await this.log.append(markTarget(id), EMPTY, undefined, (cause) => cause);
    }, opts.docDebounceMs);
  }

  async append(id: DocId, update: Uint8Array, expectedLastSeq: number, meta?: AppendMeta): Promise<number> {
    const extra: Record<string, string> = {};
    if (meta?.attribution !== undefined) extra[ATTRIBUTION_HEADER] = Buffer.from(meta.attribution).toString('base64');
    else if (meta?.author !== undefined) extra[HEADERS.author] = meta.author;
    // The republished event carries the entry's headers: the origin lets its gateway skip the sender.
    if (this.announcesUpdates && meta?.origin !== undefined) extra[HEADERS.origin] = meta.origin;
    // The mark is sent first on the same connection, so the stream stores it
    // first; both are awaited together, sparing the window's first update a round trip.
    const marked = this.marks.beforeUpdate(id);
    const appended = this.log.append(target(id), update, expectedLastSeq, (cause) => new FencingError(id, expectedLastSeq, { cause }), extra);
    if (marked === undefined) return appended;
    const [mark, seq] = await Promise.allSettled([marked, appended]);
    if (seq.status === 'rejected') throw seq.reason;
    // Stored but unmarked (rare: the mark alone failed): mark again before anyone is told, or fail like an append.
    if (mark.status === 'rejected') await this.marks.beforeUpdate(id);
    return seq.value;
  }

  async lastSeq(id: DocId): Promise<number> {
    return (await this.log.last(docLogSubject(id)))?.seq ?? 0;
  }

  async *readAfter(id: DocId, afterSeq: number): AsyncIterable<LogEntry> {
    for await (const m of this.log.readAfter(target(id), afterSeq)) {
      const record = m.headers[ATTRIBUTION_HEADER];
      yield { seq: m.seq, update: m.data, author: m.headers[HEADERS.author], attribution: record === undefined ? undefined : new Uint8Array(Buffer.from(record, 'base64')) };
    }
  }

  async truncateBefore(id: DocId, seq: number): Promise<void> {
    // Nothing precedes seq 1, and nats-server reads a purge up to seq 1 as
    // "no bound": it would drop the whole subject, entry 1 included.
    if (seq <= 1) return;
    await this.jsm.streams.purge(DOC_LOG_STREAM, { filter: docLogSubject(id), seq });
    // The newest mark is all the relay needs (it reads the last update when a window closes).
    await this.jsm.streams.purge(DOC_LOG_STREAM, { filter: docChangeMarkSubject(id), keep: 1 });
  }

  async remove(id: DocId): Promise<void> {
    await this.jsm.streams.purge(DOC_LOG_STREAM, { filter: docLogSubject(id) });
    await this.jsm.streams.purge(DOC_LOG_STREAM, { filter: docChangeMarkSubject(id) });
    this.marks.forget(id);
  }
}

function target(id: DocId): SubjectLogTarget {
  return { subject: docLogSubject(id), label: `document ${id}`, bindings: { docId: id } };
}

function markTarget(id: DocId): SubjectLogTarget {
  return { subject: docChangeMarkSubject(id), label: `document ${id} (change mark)`, bindings: { docId: id } };
}
