import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import { renderContent } from './content.ts';

function el(name: string, children: Array<Y.XmlElement | Y.XmlText>, attrs: Record<string, string | number> = {}): Y.XmlElement {
  const e = new Y.XmlElement(name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v as string);
  e.insert(0, children);
  return e;
}

function text(...runs: Array<[string, Record<string, unknown>?]>): Y.XmlText {
  const t = new Y.XmlText();
  let at = 0;
  for (const [s, attrs] of runs) {
    t.insert(at, s, attrs);
    at += s.length;
  }
  return t;
}

/** Renders through the server's path: untyped roots from an update. */
function markdownOf(build: (doc: Y.Doc) => void): string | null {
  const client = new Y.Doc();
  build(client);
  const server = new Y.Doc();
  Y.applyUpdate(server, Y.encodeStateAsUpdate(client));
  return renderContent(server).markdown;
}

test('prosemirror blocks and marks become markdown', () => {
  const md = markdownOf((d) =>
    d.getXmlFragment('default').insert(0, [
      el('heading', [text(['Title'])], { level: 2 }),
      el('paragraph', [text(['plain, ']), text(['bold', { bold: {} }]), text([' and ']), text(['italic ', { em: {} }]), text(['end'])]),
      el('bullet_list', [
        el('list_item', [el('paragraph', [text(['one'])])]),
        el('list_item', [el('paragraph', [text(['two'])]), el('bullet_list', [el('list_item', [el('paragraph', [text(['nested'])])])])]),
      ]),
      el('orderedList', [el('listItem', [el('paragraph', [text(['first'])])]), el('listItem', [el('paragraph', [text(['second'])])])]),
      el('blockquote', [el('paragraph', [text(['quoted'])])]),
      el('codeBlock', [text(['let x = 1;'])], { language: 'ts' }),
      el('paragraph', [text(['a*b ', { strong: {} }]), text(['link', { link: { href: 'https://x.test' } }])]),
    ]),
  );
  assert.equal(
    md,
    [
      '## Title',
      'plain, **bold** and *italic* end',
      '- one\n- two\n  - nested',
      '1. first\n2. second',
      '> quoted',
      '```ts\nlet x = 1;\n```',
      '**a\\*b** [link](https://x.test)',
    ].join('\n\n'),
  );
});

test('plain text roots are exported as they are; rich text gets its marks and quill lines', () => {
  assert.equal(markdownOf((d) => d.getText('code').insert(0, '# already *markdown*\n')), '# already *markdown*\n');
  const rich = markdownOf((d) => {
    const t = d.getText('quill');
    t.insert(0, 'Head');
    t.insert(4, '\n', { header: 1 });
    t.insert(5, 'item');
    t.insert(9, '\n', { list: 'bullet' });
    t.insert(10, 'bold', { bold: true });
  });
  assert.equal(rich, '# Head\n- item\n**bold**');
});

test('documents with maps or arrays have no markdown', () => {
  assert.equal(markdownOf((d) => d.getMap('m').set('a', 1)), null);
});

test('marks keep surrounding whitespace outside, and code blocks drop tags, in linear time on long runs', () => {
  const md = markdownOf((d) =>
    d.getXmlFragment('default').insert(0, [
      el('paragraph', [text(['  spaced \n', { bold: {} }]), text(['   ', { em: {} }]), text(['x'])]),
      el('codeBlock', [text(['a <b>bold</b> c < d <e'])]),
    ]),
  );
  assert.equal(md, '  **spaced** \n   x\n\n```\na bold c < d <e\n```');
  // Runs that the former regular expressions took quadratic time over (40,000 spaces: seconds; a 1 MB document: hours).
  const spaces = ' '.repeat(200_000);
  const long = markdownOf((d) => d.getXmlFragment('default').insert(0, [el('paragraph', [text([`${spaces}x${spaces}y${spaces}`, { bold: {} }])]), el('codeBlock', [text(['<'.repeat(200_000)])])]));
  assert.ok(long?.startsWith(`${spaces}**x${spaces}y**${spaces}`));
  assert.ok(long?.endsWith(`\`\`\`\n${'<'.repeat(200_000)}\n\`\`\``));
});
