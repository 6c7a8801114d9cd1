/**
 * Plain text in a ProseMirror-style XML root (TipTap's Collaboration
 * extension, y-prosemirror): the root is a Y.XmlFragment of block elements,
 * a paragraph is `Y.XmlElement('paragraph')` holding a `Y.XmlText`. Its
 * plain text is the top-level blocks' text joined by "\n" (an element's
 * text is its descendants' text, concatenated), which is what a document's
 * `text` and `doc_read` show, and what offsets in `doc_edit` count.
 *
 * Writing text there is what a typist does: characters go into a block's
 * XmlText, and each "\n" starts a new paragraph. Edits are made on the
 * caller's Y.Doc with its current client id; the caller sends the update.
 */
import * as Y from 'yjs';

/** How a writer treats a root: Y.Text, or a Y.XmlFragment of paragraphs. */
export type TextRootType = 'text' | 'xml';

/** The element name new blocks get (ProseMirror's and TipTap's paragraph node). */
export const PARAGRAPH = 'paragraph';

/** An edit that the blocks cannot take (a position inside a list or past the end, a root of another type). */
export class TextBlockError extends Error {
  override readonly name = 'TextBlockError';
  /** The same edit fails the same way on a retry. */
  readonly retryable = false;
  constructor(
    readonly code: 'out-of-range' | 'not-a-textblock' | 'root-type',
    message: string,
  ) {
    super(message);
  }
}

type Block = Y.XmlElement | Y.XmlText;
type DeltaOp = { insert?: unknown; attributes?: Record<string, unknown> };

function deltaOf(text: Y.XmlText): DeltaOp[] {
  return text.toDelta() as DeltaOp[];
}

/** The plain text of one XML node: an XmlText's strings, an element's descendants concatenated. */
export function nodeText(node: Y.XmlElement | Y.XmlText | Y.XmlHook): string {
  if (node instanceof Y.XmlText) return deltaOf(node).map((op) => (typeof op.insert === 'string' ? op.insert : '')).join('');
  if (node instanceof Y.XmlElement) return node.toArray().map(nodeText).join('');
  return '';
}

function blocksOf(fragment: Y.XmlFragment): Block[] {
  return fragment.toArray().filter((n): n is Block => n instanceof Y.XmlElement || n instanceof Y.XmlText);
}

/** The fragment's plain text: its blocks' text joined by "\n". */
export function blocksText(fragment: Y.XmlFragment): string {
  return blocksOf(fragment).map(nodeText).join('\n');
}

/** The XmlText runs of a block that holds only text (a paragraph, a heading), or null for a block with inner elements. */
function textRuns(block: Block): Y.XmlText[] | null {
  if (block instanceof Y.XmlText) return [block];
  const children = block.toArray();
  return children.every((c) => c instanceof Y.XmlText) ? (children as Y.XmlText[]) : null;
}

function runsOf(block: Block, what: string): Y.XmlText[] {
  const runs = textRuns(block);
  if (runs === null) {
    const name = block instanceof Y.XmlElement ? block.nodeName : 'text';
    throw new TextBlockError('not-a-textblock', `${what} falls inside a ${name} block that holds other elements; only paragraphs of text can be edited there`);
  }
  return runs;
}

/** The Yjs index in `text` of a plain-text offset (embeds count in Yjs, not in the text). */
function yIndex(text: Y.XmlText, offset: number): number {
  let remaining = offset;
  let index = 0;
  for (const op of deltaOf(text)) {
    if (typeof op.insert !== 'string') {
      index += 1;
      continue;
    }
    if (remaining <= op.insert.length) return index + remaining;
    index += op.insert.length;
    remaining -= op.insert.length;
  }
  return index;
}

/** The run holding text offset `at` of a block and the Yjs index there; creates a run in an empty element. */
function runAt(block: Block, at: number, what: string): { run: Y.XmlText; index: number } {
  const runs = runsOf(block, what);
  let before = 0;
  for (const run of runs) {
    const length = nodeText(run).length;
    if (at <= before + length) return { run, index: yIndex(run, at - before) };
    before += length;
  }
  const last = runs[runs.length - 1];
  if (last !== undefined) return { run: last, index: last.length };
  const run = new Y.XmlText();
  (block as Y.XmlElement).insert(0, [run]);
  return { run, index: 0 };
}

function deleteIn(block: Block, from: number, length: number, what: string): void {
  if (length <= 0) return;
  let before = 0;
  for (const run of runsOf(block, what)) {
    const runLength = nodeText(run).length;
    const start = Math.max(from, before);
    const end = Math.min(from + length, before + runLength);
    if (start < end) {
      const a = yIndex(run, start - before);
      run.delete(a, yIndex(run, end - before) - a);
    }
    before += runLength;
  }
}

/** The block's content from text offset `from` on, as a delta with its formatting. */
function deltaFrom(block: Block, from: number, what: string): DeltaOp[] {
  const out: DeltaOp[] = [];
  let before = 0;
  for (const run of runsOf(block, what)) {
    for (const op of deltaOf(run)) {
      if (typeof op.insert !== 'string') {
        if (before >= from) out.push(op);
        continue;
      }
      const skip = Math.max(0, from - before);
      if (skip < op.insert.length) out.push({ ...op, insert: op.insert.slice(skip) });
      before += op.insert.length;
    }
  }
  return out;
}

function appendDelta(run: Y.XmlText, delta: readonly DeltaOp[]): void {
  for (const op of delta) {
    if (typeof op.insert === 'string') run.insert(run.length, op.insert, op.attributes ?? {});
    else if (op.insert !== undefined) run.insertEmbed(run.length, op.insert as object, op.attributes ?? {});
  }
}

/**
 * A new, empty paragraph: an element holding one XmlText. Both items get
 * the doc's client id when the element is inserted, and text written into
 * the XmlText afterwards is separate items (job writes count them per client).
 */
export function newParagraph(): { element: Y.XmlElement; run: Y.XmlText } {
  const element = new Y.XmlElement(PARAGRAPH);
  const run = new Y.XmlText();
  element.insert(0, [run]);
  return { element, run };
}

/** Inserts one paragraph per line at `index` of the fragment; returns their XmlTexts. */
function insertParagraphs(fragment: Y.XmlFragment, index: number, lines: readonly string[]): Y.XmlText[] {
  const added = lines.map(() => newParagraph());
  fragment.insert(index, added.map((p) => p.element));
  added.forEach((p, i) => {
    const line = lines[i] ?? '';
    if (line !== '') p.run.insert(0, line);
  });
  return added.map((p) => p.run);
}

/** Which block a text offset falls in, and where in it; null past the end. */
function locate(blocks: readonly Block[], offset: number): { block: number; at: number } | null {
  let start = 0;
  for (let i = 0; i < blocks.length; i++) {
    const length = nodeText(blocks[i]!).length;
    if (offset <= start + length) return { block: i, at: offset - start };
    start += length + 1;
  }
  return null;
}

/**
 * Replaces `remove` characters of the fragment's plain text at `index` with
 * `insert`, as a typist would: text goes into the paragraph there, each
 * "\n" ends it and starts a new one (what followed the position moves into
 * the last new paragraph), a removal across blocks joins them.
 * @throws TextBlockError `out-of-range` past the end of the text, `not-a-textblock` where the position is inside a block of elements (a list).
 */
export function editBlocks(fragment: Y.XmlFragment, index: number, remove: number, insert: string): void {
  const blocks = blocksOf(fragment);
  const lines = insert.split('\n');
  if (blocks.length === 0) {
    if (index > 0 || remove > 0) throw new TextBlockError('out-of-range', `offset ${index + remove} is past the end of the text (0 characters)`);
    if (insert !== '') insertParagraphs(fragment, 0, lines);
    return;
  }
  const length = blocksText(fragment).length;
  const start = locate(blocks, index);
  const end = locate(blocks, index + remove);
  if (start === null || end === null) throw new TextBlockError('out-of-range', `offset ${index + remove} is past the end of the text (${length} characters)`);
  const block = blocks[start.block]!;
  const what = `offset ${index}`;
  runsOf(block, what);
  if (start.block === end.block) deleteIn(block, start.at, end.at - start.at, what);
  else {
    const last = blocks[end.block]!;
    const tail = deltaFrom(last, end.at, `offset ${index + remove}`);
    deleteIn(block, start.at, nodeText(block).length - start.at, what);
    const first = fragment.toArray().indexOf(blocks[start.block + 1]!);
    fragment.delete(first, end.block - start.block);
    if (tail.length > 0) appendDelta(runAt(block, nodeText(block).length, what).run, tail);
  }
  if (lines.length === 1) {
    if (insert !== '') {
      const { run, index: at } = runAt(block, start.at, what);
      run.insert(at, insert);
    }
    return;
  }
  const position = fragment.toArray().indexOf(block);
  if (start.at === 0 && lines[lines.length - 1] === '') {
    // Text ending in a line break at a block's start: new paragraphs before it, nothing of the block moves.
    insertParagraphs(fragment, position, lines.slice(0, -1));
    return;
  }
  // Split the block where the text goes: what followed moves to the end of the last new line.
  const tail = deltaFrom(block, start.at, what);
  deleteIn(block, start.at, nodeText(block).length - start.at, what);
  if (lines[0] !== '') {
    const { run, index: at } = runAt(block, start.at, what);
    run.insert(at, lines[0]!);
  }
  const added = insertParagraphs(fragment, position + 1, lines.slice(1));
  appendDelta(added[added.length - 1]!, tail);
}

/**
 * Adds `text` at the end of the fragment's plain text: into the last
 * paragraph, or into new paragraphs after a last block that is not one (a list).
 */
export function appendBlocks(fragment: Y.XmlFragment, text: string): void {
  const blocks = blocksOf(fragment);
  const last = blocks[blocks.length - 1];
  if (last === undefined || textRuns(last) !== null) editBlocks(fragment, blocksText(fragment).length, 0, text);
  else if (text !== '') insertParagraphs(fragment, fragment.length, text.split('\n'));
}
