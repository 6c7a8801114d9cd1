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
 *
 * An XML root (TipTap and other ProseMirror editors) gets the same text as
 * paragraphs (see actors/document/text-blocks.ts): characters go into the
 * job's current paragraph, each "\n" starts a new paragraph after it. The
 * count then spans two clients of the job: characters are items of the
 * job's client id, and each line break is two items (the paragraph and its
 * XmlText) of a second id, so characters written = chars clock + breaks
 * clock / 2. The paragraph the job starts in (the document's last one when
 * it is empty, else a new one at the end) comes from a third id that no
 * count reads. Each chunk is one update, so the counts never disagree.
 * A person's text typed after the job's in the same paragraph stays there,
 * above the job's next paragraphs.
 */
import * as Y from 'yjs';
import { newParagraph, nodeText, PARAGRAPH, textRootType, type TextRootType } from '../document/index.ts';
import type { DocumentPort } from './ports.ts';

export interface WriteTextOptions {
  readonly docId: string;
  readonly root: string;
  /** `text` (Y.Text) or `xml` (paragraphs); absent: by the root's content, Y.Text for a new root (see textRootType). */
  readonly rootType?: TextRootType | undefined;
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
  /** How the root was written. */
  readonly rootType: TextRootType;
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
    const rootType = textRootType(doc, opts.root, opts.rootType);
    const result = rootType === 'xml' ? await writeParagraphs(port, doc, opts) : await writeYText(port, doc, opts);
    return { ...result, rootType };
  } finally {
    doc.destroy();
  }
}

function incompleteError(opts: WriteTextOptions, written: number): Error {
  return new Error(`document ${opts.docId} holds ${written} characters of this job, expected at least ${opts.offset}: an earlier write is incomplete`);
}

/**
 * Writes what the document lacks of `opts.text`, one update per chunk;
 * `place` makes a chunk's edit in `doc`, given the characters written before it.
 */
async function writeChunks(port: DocumentPort, doc: Y.Doc, opts: WriteTextOptions, written: number, place: (chunk: string, written: number) => void): Promise<{ written: number; chunks: number }> {
  if (written < opts.offset) throw incompleteError(opts, written);
  let pos = written - opts.offset;
  let wrote = 0;
  let chunks = 0;
  while (pos < opts.text.length) {
    opts.signal.throwIfAborted();
    if (chunks > 0) {
      // Catch up with edits made since the last chunk, so the insert lands where editors see the job's text end.
      Y.applyUpdate(doc, await port.sync(opts.docId, Y.encodeStateVector(doc), opts.signal));
    }
    const end = chunkEnd(opts.text, pos, opts.chunkChars);
    const chunk = opts.text.slice(pos, end);
    const before = Y.encodeStateVector(doc);
    doc.transact(() => place(chunk, written + wrote));
    await port.update(opts.docId, Y.encodeStateAsUpdate(doc, before), opts.signal, opts.author);
    wrote += chunk.length;
    pos = end;
    chunks++;
  }
  return { written: wrote, chunks };
}

function writeYText(port: DocumentPort, doc: Y.Doc, opts: WriteTextOptions): Promise<{ written: number; chunks: number }> {
  const ytext = doc.getText(opts.root);
  return writeChunks(port, doc, opts, Y.getState(doc.store, opts.clientId), (chunk, written) => {
    // Applying an update that holds the job's own items makes Yjs pick a fresh client id
    // (it assumes a clash); the job is that id's only writer, so it takes it back.
    doc.clientID = opts.clientId;
    ytext.insert(insertionIndex(doc, ytext, opts.clientId, written), chunk);
  });
}

/** Right after the job's last character (wherever editors moved it), or at the end for the job's first write. */
function insertionIndex(doc: Y.Doc, ytext: Y.Text, clientId: number, written: number): number {
  if (written === 0) return ytext.length;
  const rel = Y.createRelativePositionFromJSON({ item: { client: clientId, clock: written - 1 }, assoc: -1 });
  const abs = Y.createAbsolutePositionFromRelativePosition(rel, doc);
  return abs === null || abs.type !== ytext ? ytext.length : abs.index;
}

/** The job's three Yjs clients in an XML root: characters, line breaks (two items each), and the paragraph it starts in. */
function xmlClients(clientId: number): { chars: number; breaks: number; start: number } {
  return { chars: clientId, breaks: clientIdForJob(`${clientId}:breaks`), start: clientIdForJob(`${clientId}:start`) };
}

/** Characters the job has written into the document (see the header). */
function writtenInXml(doc: Y.Doc, ids: ReturnType<typeof xmlClients>): number {
  return Y.getState(doc.store, ids.chars) + Math.floor(Y.getState(doc.store, ids.breaks) / 2);
}

/** The last struct of a client, when it is a live item. */
function lastItem(doc: Y.Doc, client: number): Y.Item | null {
  const structs = doc.store.clients.get(client);
  const last = structs?.[structs.length - 1];
  return last instanceof Y.Item && !last.deleted ? last : null;
}

/** A live XmlText whose paragraph is a live block of `fragment`, with that block. */
function liveRun(type: unknown, fragment: Y.XmlFragment): { run: Y.XmlText; block: Y.XmlElement | Y.XmlText } | null {
  if (!(type instanceof Y.XmlText) || type._item?.deleted !== false) return null;
  if (type.parent === fragment) return { run: type, block: type };
  const block = type.parent;
  if (block instanceof Y.XmlElement && block.parent === fragment && block._item?.deleted === false) return { run: type, block };
  return null;
}

interface Cursor {
  run: Y.XmlText;
  block: Y.XmlElement | Y.XmlText;
  index: number;
}

/**
 * Where the job's next character goes: right after its last character, or
 * at the start of its last line break's paragraph when that came later;
 * null when the job wrote nothing yet or a person deleted where it was.
 */
function xmlCursor(doc: Y.Doc, fragment: Y.XmlFragment, ids: ReturnType<typeof xmlClients>): Cursor | null {
  const lastBreak = lastItem(doc, ids.breaks);
  const breakRun = lastBreak !== null && lastBreak.content instanceof Y.ContentType ? liveRun(lastBreak.content.type, fragment) : null;
  const chars = Y.getState(doc.store, ids.chars);
  if (chars > 0) {
    const rel = Y.createRelativePositionFromJSON({ item: { client: ids.chars, clock: chars - 1 }, assoc: -1 });
    const abs = Y.createAbsolutePositionFromRelativePosition(rel, doc);
    const charRun = abs === null ? null : liveRun(abs.type, fragment);
    // Characters after the last break are in its paragraph; characters elsewhere came before it.
    if (abs !== null && charRun !== null && (breakRun === null || charRun.run === breakRun.run)) return { ...charRun, index: abs.index };
  }
  return breakRun === null ? null : { ...breakRun, index: 0 };
}

/** The paragraph the job starts in: the document's last block when it is an empty paragraph, else a new one at the end. */
function startParagraph(doc: Y.Doc, fragment: Y.XmlFragment, ids: ReturnType<typeof xmlClients>): Cursor {
  doc.clientID = ids.start;
  const blocks = fragment.toArray();
  const last = blocks[blocks.length - 1];
  if (last instanceof Y.XmlElement && last.nodeName === PARAGRAPH && last.length === 0) {
    const run = new Y.XmlText();
    last.insert(0, [run]);
    return { run, block: last, index: 0 };
  }
  if (last instanceof Y.XmlElement && last.nodeName === PARAGRAPH && nodeText(last) === '' && last.toArray().every((c) => c instanceof Y.XmlText)) {
    const run = last.get(0) as Y.XmlText;
    return { run, block: last, index: run.length };
  }
  const p = newParagraph();
  fragment.insert(fragment.length, [p.element]);
  return { run: p.run, block: p.element, index: 0 };
}

function writeParagraphs(port: DocumentPort, doc: Y.Doc, opts: WriteTextOptions): Promise<{ written: number; chunks: number }> {
  const fragment = doc.getXmlFragment(opts.root);
  const ids = xmlClients(opts.clientId);
  return writeChunks(port, doc, opts, writtenInXml(doc, ids), (chunk) => {
    let at = xmlCursor(doc, fragment, ids) ?? startParagraph(doc, fragment, ids);
    chunk.split('\n').forEach((line, i) => {
      if (i > 0) {
        // A line break: a new paragraph right after the job's current one.
        doc.clientID = ids.breaks;
        const p = newParagraph();
        fragment.insert(fragment.toArray().indexOf(at.block) + 1, [p.element]);
        at = { run: p.run, block: p.element, index: 0 };
      }
      if (line === '') return;
      doc.clientID = ids.chars;
      at.run.insert(at.index, line);
      at.index += line.length;
    });
  });
}
