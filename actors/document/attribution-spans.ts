/**
 * Renders a document's text roots as attributed spans: the live items in
 * document order, each string cut where its clocks change author, adjacent
 * runs of one author joined. Text roots and XML roots (ProseMirror-style)
 * are rendered the way content.ts renders their text, so the spans of a
 * root concatenate to that root's text; map and array roots are left out.
 */
import * as Y from 'yjs';
import type { AttributedRoot, AttributionSpan } from '../../protocol/doc.ts';
import type { Attribution } from './attribution.ts';
import { inferKind } from './content.ts';

class SpanWriter {
  readonly spans: AttributionSpan[] = [];

  push(text: string, author: string): void {
    if (text === '') return;
    const last = this.spans[this.spans.length - 1];
    if (last !== undefined && last.author === author) this.spans[this.spans.length - 1] = { text: last.text + text, author };
    else this.spans.push({ text, author });
  }
}

/** The strings of a text type (a root or an XmlText), attributed. */
function writeText(first: Y.Item | null, attribution: Attribution, out: SpanWriter): void {
  for (let item = first; item !== null; item = item.right) {
    if (item.deleted || !(item.content instanceof Y.ContentString)) continue;
    const str = item.content.str;
    let at = 0;
    for (const segment of attribution.segments(item.id.client, item.id.clock, item.length)) {
      out.push(str.slice(at, at + segment.len), segment.author);
      at += segment.len;
    }
  }
}

/** Text nodes of an XML node in order; at the top level, blocks are separated by a newline owned by the block's author. */
function writeXml(first: Y.Item | null, attribution: Attribution, out: SpanWriter, topLevel: boolean): void {
  let blocks = 0;
  for (let item = first; item !== null; item = item.right) {
    if (item.deleted || !(item.content instanceof Y.ContentType)) continue;
    const type = item.content.type;
    if (!(type instanceof Y.XmlText) && !(type instanceof Y.XmlElement)) continue;
    if (topLevel && blocks++ > 0) out.push('\n', attribution.segments(item.id.client, item.id.clock, 1)[0]!.author);
    if (type instanceof Y.XmlText) writeText(type._start, attribution, out);
    else writeXml(type._start, attribution, out, false);
  }
}

/** Every text or XML root of the document as attributed spans. */
export function attributedRoots(doc: Y.Doc, attribution: Attribution): Record<string, AttributedRoot> {
  const roots: Record<string, AttributedRoot> = {};
  for (const [name, type] of doc.share) {
    const kind = inferKind(type);
    if (kind !== 'text' && kind !== 'xml') continue;
    const out = new SpanWriter();
    if (kind === 'text') writeText(type._start, attribution, out);
    else writeXml(type._start, attribution, out, true);
    roots[name] = { type: kind, spans: out.spans };
  }
  return roots;
}
