/**
 * Writes a job's text into a live collaborative document as one Yjs client
 * of its own, in small updates through the document actor, so editors watch
 * the text arrive and can type beside it (CRDT merge keeps both).
 *
 * Idempotent by construction: the job writes with a Yjs client id derived
 * from its job id and only ever inserts, so that client's clock in the
 * document's state vector counts exactly the characters the job has written
 * so far. A write step knows its `offset` (characters written by earlier
 * write steps); on a re-run after a crash it skips what the clock says is
 * already there and continues right after the job's last character. No
 * character is ever written twice, whatever editors did meanwhile.
 */
import * as Y from 'yjs';
import type { DocumentPort } from './ports.ts';

export interface WriteTextOptions {
  readonly docId: string;
  readonly root: string;
  /** The job's Yjs client id (see clientIdForJob). */
  readonly clientId: number;
  /** Who the text is attributed to (Loom-Author, e.g. `job:<id>`). */
  readonly author: string;
  /** Characters the job wrote into this document before this text. */
  readonly offset: number;
  readonly text: string;
  /** Largest update, in characters; chunks end at line breaks or spaces where possible. */
  readonly chunkChars: number;
  readonly signal: AbortSignal;
}

export interface WriteTextResult {
  /** Characters this call wrote (0 when a previous run had written everything). */
  readonly written: number;
  readonly chunks: number;
}

/** A 32-bit Yjs client id from the job id (FNV-1a), never 0. */
export function clientIdForJob(jobId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < jobId.length; i++) {
    h ^= jobId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h === 0 ? 1 : h;
}

/** Where the next chunk ends: a line break, else a space, else the limit (never inside a surrogate pair). */
export function chunkEnd(text: string, from: number, max: number): number {
  if (text.length - from <= max) return text.length;
  const window = text.slice(from, from + max);
  const nl = window.lastIndexOf('\n');
  if (nl > 0) return from + nl + 1;
  const sp = window.lastIndexOf(' ');
  if (sp > 0) return from + sp + 1;
  let end = from + max;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return end;
}

/**
 * Writes `text` (or what of it is missing) into the document.
 * @throws Error when the document holds more of the job's writing than this step expects before it (an earlier write step is incomplete), or when the port fails.
 */
export async function writeTextIdempotently(port: DocumentPort, opts: WriteTextOptions): Promise<WriteTextResult> {
  const doc = new Y.Doc({ gc: false });
  doc.clientID = opts.clientId;
  try {
    Y.applyUpdate(doc, await port.sync(opts.docId, new Uint8Array(0), opts.signal));
    const ytext = doc.getText(opts.root);
    let written = Y.getState(doc.store, opts.clientId);
    if (written < opts.offset) {
      throw new Error(`document ${opts.docId} holds ${written} characters of this job, expected at least ${opts.offset}: an earlier write is incomplete`);
    }
    let pos = written - opts.offset;
    let wrote = 0;
    let chunks = 0;
    while (pos < opts.text.length) {
      opts.signal.throwIfAborted();
      if (chunks > 0) {
        // Catch up with edits made since the last chunk, so the insert lands where editors see the job's text end.
        Y.applyUpdate(doc, await port.sync(opts.docId, Y.encodeStateVector(doc), opts.signal));
      }
      // Applying an update that holds the job's own items makes Yjs pick a fresh client id
      // (it assumes a clash); the job is that id's only writer, so it takes it back.
      doc.clientID = opts.clientId;
      const end = chunkEnd(opts.text, pos, opts.chunkChars);
      const chunk = opts.text.slice(pos, end);
      const index = insertionIndex(doc, ytext, opts.clientId, written);
      const before = Y.encodeStateVector(doc);
      ytext.insert(index, chunk);
      await port.update(opts.docId, Y.encodeStateAsUpdate(doc, before), opts.signal, opts.author);
      written += chunk.length;
      wrote += chunk.length;
      pos = end;
      chunks++;
    }
    return { written: wrote, chunks };
  } finally {
    doc.destroy();
  }
}

/** Right after the job's last character (wherever editors moved it), or at the end for the job's first write. */
function insertionIndex(doc: Y.Doc, ytext: Y.Text, clientId: number, written: number): number {
  if (written === 0) return ytext.length;
  const rel = Y.createRelativePositionFromJSON({ item: { client: clientId, clock: written - 1 }, assoc: -1 });
  const abs = Y.createAbsolutePositionFromRelativePosition(rel, doc);
  return abs === null || abs.type !== ytext ? ytext.length : abs.index;
}
