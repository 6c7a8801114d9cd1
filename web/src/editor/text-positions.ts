/**
 * Plain text and ProseMirror documents of paragraphs, one per line: the
 * document text is the paragraphs' text joined with "\n". Offsets count
 * characters of that text (as Y.Text does); positions are ProseMirror's.
 */
import type { Node as PMNode, Schema } from '@tiptap/pm/model';

export function textOf(doc: PMNode): string {
  return doc.textBetween(0, doc.content.size, '\n');
}

/** The text offset of a document position. */
export function offsetAt(doc: PMNode, pos: number): number {
  return doc.textBetween(0, Math.max(0, Math.min(pos, doc.content.size)), '\n').length;
}

/** The document position of a text offset (the end when past it). */
export function posAt(doc: PMNode, offset: number): number {
  let remaining = offset;
  let pos = 0;
  for (let i = 0; i < doc.childCount; i++) {
    const block = doc.child(i);
    const length = block.content.size;
    if (remaining <= length) return pos + 1 + remaining;
    remaining -= length + 1;
    pos += block.nodeSize;
  }
  return Math.max(1, doc.content.size - 1);
}

export function docFromText(schema: Schema, text: string): PMNode {
  const paragraphs = text.split('\n').map((line) => schema.node('paragraph', null, line === '' ? [] : [schema.text(line)]));
  return schema.node('doc', null, paragraphs);
}

/**
 * The one edit that turns `before` into `after`: common prefix and suffix
 * removed. `caret` (the offset after the edit) places an insertion within a
 * run of equal characters where the person typed it.
 */
export function diffText(before: string, after: string, caret: number): { index: number; remove: number; insert: string } {
  const grown = Math.max(0, after.length - before.length);
  const maxPrefix = Math.max(0, Math.min(before.length, after.length, caret - grown));
  let prefix = 0;
  while (prefix < maxPrefix && before.charCodeAt(prefix) === after.charCodeAt(prefix)) prefix++;
  // Never split a surrogate pair: Yjs would store half a character.
  if (prefix > 0 && isHighSurrogate(before.charCodeAt(prefix - 1))) prefix--;
  let suffix = 0;
  while (suffix < before.length - prefix && suffix < after.length - prefix && before.charCodeAt(before.length - 1 - suffix) === after.charCodeAt(after.length - 1 - suffix)) suffix++;
  if (suffix > 0 && isLowSurrogate(before.charCodeAt(before.length - suffix))) suffix--;
  return { index: prefix, remove: before.length - prefix - suffix, insert: after.slice(prefix, after.length - suffix) };
}

const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;
const isLowSurrogate = (code: number): boolean => code >= 0xdc00 && code <= 0xdfff;
