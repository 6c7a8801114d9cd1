/** DocLogTail on JetStream: the last message of the document's log subject (a direct get from the stream). */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { DocId } from '../../protocol/ids.ts';
import { DOC_LOG_STREAM, docLogSubject } from '../../protocol/subjects.ts';
import type { DocLogTail } from './doc-update-source.ts';

export class JetStreamDocLogTail implements DocLogTail {
  constructor(private readonly jsm: JetStreamManager) {}

  async last(docId: DocId): Promise<{ seq: number; storedAtMs: number } | null> {
    const msg = await this.jsm.streams.getMessage(DOC_LOG_STREAM, { last_by_subj: docLogSubject(docId) });
    return msg === null ? null : { seq: msg.seq, storedAtMs: msg.time.getTime() };
  }
}
