/**
 * The activities a job runs on its own host, beside its mailbox: writing an
 * artifact (exactly once, under a deterministic key) and writing text into a
 * live document (idempotently, see document-writer.ts). Each returns an
 * ActivityOutcome that goes back through the mailbox; a failure says
 * whether a retry can help.
 */
import { authorFor } from '../../protocol/attribution.ts';
import { artifactKey } from '../ports/index.ts';
import { clientIdForJob, writeTextIdempotently } from './document-writer.ts';
import type { ActivityOutcome, JobEffect } from './effects.ts';
import type { ArtifactStore, DocumentPort } from './ports.ts';

/** Characters per document update: small enough that editors see text arrive. */
export const DOCUMENT_CHUNK_CHARS = 240;

const encoder = new TextEncoder();

/** Reads an input object as text (at most `maxBytes`); a missing object is a terminal failure naming it. */
export async function readObject(store: ArtifactStore, effect: Extract<JobEffect, { type: 'read-object' }>, signal: AbortSignal): Promise<ActivityOutcome> {
  const read = await store.get(effect.key);
  if (read === null) {
    return { ok: false, error: { code: 'input-missing', message: `input object ${effect.key} is missing: it was deleted or never stored; upload it again` }, retryable: false };
  }
  const chunks: Buffer[] = [];
  let bytes = 0;
  try {
    for await (const chunk of read.body) {
      signal.throwIfAborted();
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      chunks.push(buf);
      bytes += buf.length;
      if (bytes >= effect.maxBytes) break;
    }
  } finally {
    read.body.destroy();
  }
  const all = Buffer.concat(chunks);
  const truncated = read.info.size > effect.maxBytes;
  const text = all.subarray(0, effect.maxBytes).toString('utf8');
  return { ok: true, output: { key: effect.key, bytes: read.info.size, contentType: read.info.contentType, truncated, text }, artifact: null };
}

/** Errors that no retry will fix: they say so with `public`/`retryable` flags or are key/size refusals. */
function isTerminal(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { retryable?: unknown; code?: unknown };
  if (e.retryable === false) return true;
  return e.code === 'invalid-object-key' || e.code === 'object-too-large' || e.code === 'invalid-update' || e.code === 'document-too-large' || e.code === 'update-too-large';
}

export function failureOutcome(err: unknown, fallbackCode: string): ActivityOutcome {
  const raw = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  const code = typeof raw === 'string' ? raw : fallbackCode;
  const message = err instanceof Error ? err.message : String(err);
  return { ok: false, error: { code: code.slice(0, 64), message: message.slice(0, 2_000) }, retryable: !isTerminal(err) };
}

export async function putArtifact(store: ArtifactStore, jobId: string, effect: Extract<JobEffect, { type: 'put-artifact' }>): Promise<ActivityOutcome> {
  const key = artifactKey(jobId, effect.step, effect.name);
  const result = await store.putIfAbsent(key, encoder.encode(effect.body), { contentType: effect.contentType });
  const artifact = { step: effect.step, name: effect.name, key, contentType: effect.contentType, bytes: result.size };
  return { ok: true, output: { ...artifact, existing: result.existing }, artifact };
}

export async function writeDocument(
  port: DocumentPort,
  jobId: string,
  effect: Extract<JobEffect, { type: 'write-document' }>,
  signal: AbortSignal,
): Promise<ActivityOutcome> {
  const result = await writeTextIdempotently(port, {
    docId: effect.docId,
    root: effect.root,
    rootType: effect.rootType,
    clientId: clientIdForJob(jobId),
    author: authorFor('job', jobId),
    offset: effect.offset,
    text: effect.text,
    chunkChars: DOCUMENT_CHUNK_CHARS,
    signal,
  });
  return {
    ok: true,
    output: { docId: effect.docId, root: effect.root, rootType: result.rootType, chars: effect.text.length, written: result.written, chunks: result.chunks },
    artifact: null,
  };
}
