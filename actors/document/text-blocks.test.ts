/**
 * Plain-text edits of a ProseMirror-style XML root: what doc_edit does to a
 * TipTap document, checked as the blocks' text and their structure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import { renderContent } from './content.ts';
import { appendBlocks, blocksText, editBlocks, TextBlockError } from './text-blocks.ts';

function fragmentOf(...paragraphs: string[]): Y.XmlFragment {
  const fragment = new Y.Doc().getXmlFragment('pm');
  if (paragraphs.length > 0) editBlocks(fragment, 0, 0, paragraphs.join('\n'));
  return fragment;
}

/** Each block as `name:text`, so structure shows. */
function shape(fragment: Y.XmlFragment): string[] {
  return fragment.toArray().map((b) => `${b instanceof Y.XmlElement ? b.nodeName : 'text'}:${b instanceof Y.XmlElement ? b.toArray().map(String).join('') : String(b)}`);
}

test('edits count the paragraphs\' text joined by line breaks; a line break written starts a paragraph', () => {
  const f = fragmentOf('Hello world', 'Second');
  assert.deepEqual(shape(f), ['paragraph:Hello world', 'paragraph:Second']);
  editBlocks(f, 5, 0, ',');
  editBlocks(f, 'Hello, world'.length, 0, '!\nNew line');
  assert.deepEqual(shape(f), ['paragraph:Hello, world!', 'paragraph:New line', 'paragraph:Second']);
  // Splitting inside a paragraph moves what followed into the last new one.
  editBlocks(f, 'Hello,'.length, 0, '\n\n');
  assert.equal(blocksText(f), 'Hello,\n\n world!\nNew line\nSecond');
  // Text ending with a line break at a paragraph's start goes before it, moving nothing.
  editBlocks(f, 0, 0, 'Intro\n');
  assert.deepEqual(shape(f).slice(0, 2), ['paragraph:Intro', 'paragraph:Hello,']);
  // A removal across paragraphs joins them.
  const from = blocksText(f).indexOf('world');
  editBlocks(f, from, blocksText(f).indexOf('Second') - from, '');
  assert.equal(blocksText(f), 'Intro\nHello,\n\n Second');
});

test('formatting of moved text is kept; the text renders unescaped in content', () => {
  const doc = new Y.Doc();
  const f = doc.getXmlFragment('pm');
  editBlocks(f, 0, 0, 'a <b> c');
  ((f.get(0) as Y.XmlElement).get(0) as Y.XmlText).format(4, 3, { bold: true });
  editBlocks(f, 2, 0, '\n');
  const moved = (f.get(1) as Y.XmlElement).get(0) as Y.XmlText;
  assert.deepEqual(moved.toDelta(), [{ insert: '<b' }, { insert: '> c', attributes: { bold: true } }]);
  assert.equal(renderContent(doc).text, 'a \n<b> c');
});

test('positions past the end or inside a list are refused; append goes after a list', () => {
  const f = fragmentOf('One');
  const list = new Y.XmlElement('bulletList');
  const item = new Y.XmlElement('listItem');
  item.insert(0, [new Y.XmlElement('paragraph')]);
  list.insert(0, [item]);
  f.push([list]);
  assert.throws(() => editBlocks(f, 9, 0, 'x'), (err: unknown) => err instanceof TextBlockError && err.code === 'out-of-range');
  assert.throws(() => editBlocks(f, 4, 0, 'x'), (err: unknown) => err instanceof TextBlockError && err.code === 'not-a-textblock');
  appendBlocks(f, 'After');
  assert.deepEqual(shape(f).map((s) => s.split(':')[0]), ['paragraph', 'bulletList', 'paragraph']);
  assert.equal(blocksText(f), 'One\n\nAfter');
  const empty = fragmentOf();
  appendBlocks(empty, 'x\ny');
  assert.deepEqual(shape(empty), ['paragraph:x', 'paragraph:y']);
});
