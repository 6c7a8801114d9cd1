/**
 * The editor's text model: paragraphs joined by "\n", offsets as Y.Text
 * counts them, and the one-edit diff that turns a local change into a
 * Y.Text edit. Run by `npm test` (node:test), outside the browser.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getSchema } from '@tiptap/core';
import Document from '@tiptap/extension-document';
import Paragraph from '@tiptap/extension-paragraph';
import Text from '@tiptap/extension-text';
import { diffText, docFromText, offsetAt, posAt, textOf } from './text-positions.ts';

const schema = getSchema([Document, Paragraph, Text]);

function apply(before: string, edit: { index: number; remove: number; insert: string }): string {
  return before.slice(0, edit.index) + edit.insert + before.slice(edit.index + edit.remove);
}

describe('text and paragraphs', () => {
  for (const text of ['', 'one line', 'a\nb', '\n', 'first\n\nthird\n', '😀 emoji\nline']) {
    it(`round-trips ${JSON.stringify(text)} and maps every offset to a position and back`, () => {
      const doc = docFromText(schema, text);
      assert.equal(textOf(doc), text);
      assert.equal(doc.childCount, text.split('\n').length);
      for (let offset = 0; offset <= text.length; offset++) assert.equal(offsetAt(doc, posAt(doc, offset)), offset, `offset ${offset}`);
    });
  }

  it('puts offsets past the end at the end of the last paragraph', () => {
    const doc = docFromText(schema, 'ab\ncd');
    assert.equal(posAt(doc, 99), doc.content.size - 1);
  });
});

describe('diffText', () => {
  const cases: Array<[string, string, number]> = [
    ['hello', 'hello world', 11],
    ['hello world', 'hello', 5],
    ['abc', 'aXc', 2],
    ['aaa', 'aaaa', 2],
    ['line one\nline two', 'line one\n\nline two', 9],
    ['', 'new', 3],
    ['gone', '', 0],
    ['a😀b', 'a😃b', 3],
  ];
  for (const [before, after, caret] of cases) {
    it(`turns ${JSON.stringify(before)} into ${JSON.stringify(after)} with one edit`, () => {
      assert.equal(apply(before, diffText(before, after, caret)), after);
    });
  }

  it('places a character typed into a run of equal ones where the caret is', () => {
    // Typing "a" at offset 1 of "aaa" (caret after it at 2): the edit is at 1, not at the end.
    assert.deepEqual(diffText('aaa', 'aaaa', 2), { index: 1, remove: 0, insert: 'a' });
  });

  it('never splits a surrogate pair', () => {
    const edit = diffText('a😀b', 'a😃b', 3);
    assert.equal(edit.index, 1);
    assert.equal(edit.insert, '😃');
  });
});
