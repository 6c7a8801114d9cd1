/**
 * Document persistence metrics, taken by wrapping the document actor's ports
 * (the actor itself stays free of metrics): update append latency to the
 * JetStream log, snapshots written and their latency, and compactions (the
 * log truncated behind a snapshot) and their latency. Labels carry outcomes
 * only, never document ids.
 */
import { Counter, Histogram } from 'prom-client';
import type { DocumentLog, LogEntry, Snapshot, SnapshotStore } from '../../actors/document/index.ts';
import type { DocId } from '../../protocol/ids.ts';
import { FAST_SECONDS, registry } from './registry.ts';

const appendDuration = new Histogram({
  name: 'loom_doc_append_duration_seconds',
  help: 'Latency of appending one document update to its durable log, by outcome (ok, error: fenced or unavailable)',
  labelNames: ['outcome'] as const,
  buckets: FAST_SECONDS,
  registers: [registry],
});
const snapshots = new Counter({
  name: 'loom_doc_snapshots_total',
  help: 'Document snapshots written, by outcome',
  labelNames: ['outcome'] as const,
  registers: [registry],
});
const snapshotDuration = new Histogram({
  name: 'loom_doc_snapshot_duration_seconds',
  help: 'Latency of writing one document snapshot',
  buckets: FAST_SECONDS,
  registers: [registry],
});
const compactions = new Counter({
  name: 'loom_doc_compactions_total',
  help: 'Document logs truncated behind a snapshot, by outcome',
  labelNames: ['outcome'] as const,
  registers: [registry],
});
const compactionDuration = new Histogram({
  name: 'loom_doc_compaction_duration_seconds',
  help: 'Latency of truncating one document log behind its snapshot',
  buckets: FAST_SECONDS,
  registers: [registry],
});

type AppendMeta = Parameters<DocumentLog['append']>[3];

const appendOk = appendDuration.labels('ok');
const appendError = appendDuration.labels('error');

/** Times `run`, then observes it as ok or error (and rethrows). */
async function timed<T>(run: () => Promise<T>, done: (ok: boolean, seconds: number) => void): Promise<T> {
  const started = performance.now();
  try {
    const value = await run();
    done(true, (performance.now() - started) / 1_000);
    return value;
  } catch (err) {
    done(false, (performance.now() - started) / 1_000);
    throw err;
  }
}

/** The same log, with appends and truncations measured. */
export class MeteredDocumentLog implements DocumentLog {
  readonly announcesUpdates: boolean;

  constructor(private readonly inner: DocumentLog) {
    this.announcesUpdates = inner.announcesUpdates === true;
  }

  // Once per update: written out (no closures) so the hot path only adds a clock read and an observe.
  async append(id: DocId, update: Uint8Array, expectedLastSeq: number, meta?: AppendMeta): Promise<number> {
    const started = performance.now();
    try {
      const seq = await this.inner.append(id, update, expectedLastSeq, meta);
      appendOk.observe((performance.now() - started) / 1_000);
      return seq;
    } catch (err) {
      appendError.observe((performance.now() - started) / 1_000);
      throw err;
    }
  }

  readAfter(id: DocId, afterSeq: number): AsyncIterable<LogEntry> {
    return this.inner.readAfter(id, afterSeq);
  }

  lastSeq(id: DocId): Promise<number> {
    return this.inner.lastSeq(id);
  }

  truncateBefore(id: DocId, seq: number): Promise<void> {
    return timed(
      () => this.inner.truncateBefore(id, seq),
      (ok, s) => {
        compactions.labels(ok ? 'ok' : 'error').inc();
        if (ok) compactionDuration.observe(s);
      },
    );
  }

  remove(id: DocId): Promise<void> {
    return this.inner.remove(id);
  }
}

/** The same store, with snapshot writes counted and measured. */
export class MeteredSnapshotStore implements SnapshotStore {
  constructor(private readonly inner: SnapshotStore) {}

  latest(id: DocId): Promise<Snapshot | null> {
    return this.inner.latest(id);
  }

  get(id: DocId, seq: number): Promise<Snapshot | null> {
    return this.inner.get(id, seq);
  }

  save(id: DocId, snapshot: Snapshot): Promise<void> {
    return timed(
      () => this.inner.save(id, snapshot),
      (ok, s) => {
        snapshots.labels(ok ? 'ok' : 'error').inc();
        if (ok) snapshotDuration.observe(s);
      },
    );
  }

  remove(id: DocId): Promise<void> {
    return this.inner.remove(id);
  }
}
