/**
 * Markdown export of text documents. Editors built on ProseMirror (through
 * y-prosemirror, TipTap included) store their document as an XML fragment:
 * block elements named after the schema's nodes, text in XmlText whose
 * formatting attributes are the marks. Both naming styles are understood
 * (prosemirror-schema-basic `bullet_list`, TipTap `bulletList`). Text roots
 * (CodeMirror, Monaco, Quill) render as their text, with inline marks and
 * Quill's line attributes (header, list) when present. Unknown elements
 * render their children, so no text is ever dropped.
 */
import * as Y from 'yjs';

type Attrs = Readonly<Record<string, unknown>>;
interface DeltaOp {
  readonly insert?: unknown;
  readonly attributes?: Attrs;
}

const BULLET_LISTS = new Set(['bullet_list', 'bulletList', 'taskList', 'task_list']);
const ORDERED_LISTS = new Set(['ordered_list', 'orderedList']);
const LIST_ITEMS = new Set(['list_item', 'listItem', 'taskItem', 'task_item']);
const CODE_BLOCKS = new Set(['code_block', 'codeBlock']);
const RULES = new Set(['horizontal_rule', 'horizontalRule']);
const HARD_BREAKS = new Set(['hard_break', 'hardBreak']);

/** Escapes the characters that would otherwise turn text into markup. */
function escapeText(text: string): string {
  return text.replace(/([\\`*_[\]])/g, '\\$1');
}

/**
 * Wraps text in a mark's delimiters, keeping surrounding spaces outside (`** x**` is not bold).
 * By trim, not a regular expression: `^(\s*)([\s\S]*?)(\s*)$` backtracks quadratically in runs of whitespace.
 */
function wrap(text: string, open: string, close = open): string {
  const core = text.trim();
  if (core === '') return text;
  const start = text.length - text.trimStart().length;
  return `${text.slice(0, start)}${open}${core}${close}${text.slice(start + core.length)}`;
}

/** Text without `<…>` tags; a `<` with no `>` after it stays. Linear (the `/<[^>]*>/g` it replaces is quadratic in unclosed `<`). */
function withoutTags(text: string): string {
  let out = '';
  let at = 0;
  for (;;) {
    const lt = text.indexOf('<', at);
    const gt = lt < 0 ? -1 : text.indexOf('>', lt + 1);
    if (gt < 0) return out + text.slice(at);
    out += text.slice(at, lt);
    at = gt + 1;
  }
}

function hrefOf(link: unknown): string | undefined {
  if (typeof link === 'string') return link;
  if (link !== null && typeof link === 'object' && typeof (link as { href?: unknown }).href === 'string') return (link as { href: string }).href;
  return undefined;
}

/** One run of text with its marks as Markdown. */
function inline(text: string, attrs: Attrs | undefined): string {
  if (attrs === undefined) return escapeText(text);
  if (attrs.code !== undefined) {
    const fence = text.includes('`') ? '``' : '`';
    return wrap(text, fence);
  }
  let out = escapeText(text);
  if (attrs.strike !== undefined || attrs.strikethrough !== undefined || attrs.s !== undefined) out = wrap(out, '~~');
  if (attrs.italic !== undefined || attrs.em !== undefined) out = wrap(out, '*');
  if (attrs.bold !== undefined || attrs.strong !== undefined) out = wrap(out, '**');
  const href = hrefOf(attrs.link);
  if (href !== undefined) out = `[${out}](${href})`;
  return out;
}

function deltaInline(delta: readonly DeltaOp[]): string {
  return delta.map((op) => (typeof op.insert === 'string' ? inline(op.insert, op.attributes) : '')).join('');
}

/** Inline content of an element: its text runs, hard breaks and images. */
function inlineOf(node: Y.XmlElement | Y.XmlFragment): string {
  const parts: string[] = [];
  for (const child of node.toArray()) {
    if (child instanceof Y.XmlText) parts.push(deltaInline(child.toDelta() as DeltaOp[]));
    else if (child instanceof Y.XmlElement) {
      if (HARD_BREAKS.has(child.nodeName)) parts.push('  \n');
      else if (child.nodeName === 'image') parts.push(`![${escapeText(String(child.getAttribute('alt') ?? ''))}](${String(child.getAttribute('src') ?? '')})`);
      else parts.push(inlineOf(child));
    }
  }
  return parts.join('');
}

function indent(text: string, prefix: string, first = prefix): string {
  return text
    .split('\n')
    .map((line, i) => (line === '' ? '' : (i === 0 ? first : prefix) + line))
    .join('\n');
}

function headingLevel(el: Y.XmlElement): number {
  const level = Number(el.getAttribute('level') ?? 1);
  return Number.isInteger(level) ? Math.min(6, Math.max(1, level)) : 1;
}

/** Renders the items of a list, each item's blocks indented under its marker. */
function list(el: Y.XmlElement, ordered: boolean): string {
  const start = Number(el.getAttribute('order') ?? el.getAttribute('start') ?? 1);
  let n = Number.isInteger(start) ? start : 1;
  const items: string[] = [];
  for (const child of el.toArray()) {
    if (!(child instanceof Y.XmlElement)) continue;
    const body = LIST_ITEMS.has(child.nodeName) ? blocks(child, true) : block(child);
    // Task items (TipTap taskItem) carry `checked`; y-prosemirror may store it as a boolean or a string.
    const checked: unknown = child.getAttribute('checked');
    const marker = (ordered ? `${n++}. ` : '- ') + (checked === undefined ? '' : checked === true || checked === 'true' ? '[x] ' : '[ ] ');
    items.push(indent(body, ' '.repeat(marker.length), marker));
  }
  return items.join('\n');
}

/** One block element as Markdown (no trailing blank line). */
function block(el: Y.XmlElement | Y.XmlText): string {
  if (el instanceof Y.XmlText) return deltaInline(el.toDelta() as DeltaOp[]);
  const name = el.nodeName;
  if (name === 'paragraph' || name === 'p') return inlineOf(el);
  if (name === 'heading') return `${'#'.repeat(headingLevel(el))} ${inlineOf(el)}`;
  if (BULLET_LISTS.has(name)) return list(el, false);
  if (ORDERED_LISTS.has(name)) return list(el, true);
  if (name === 'blockquote') return indent(blocks(el), '> ').replace(/^$/gm, '>');
  if (CODE_BLOCKS.has(name)) {
    const code = el.toArray().map((c) => (c instanceof Y.XmlText ? withoutTags(c.toString()) : '')).join('');
    const language = el.getAttribute('language');
    return `\`\`\`${typeof language === 'string' ? language : ''}\n${code}\n\`\`\``;
  }
  if (RULES.has(name)) return '---';
  if (HARD_BREAKS.has(name)) return '';
  if (name === 'image') return `![${escapeText(String(el.getAttribute('alt') ?? ''))}](${String(el.getAttribute('src') ?? '')})`;
  // Unknown containers: if they hold blocks render them, else their inline content.
  return el.toArray().some((c) => c instanceof Y.XmlElement && !HARD_BREAKS.has(c.nodeName)) ? blocks(el) : inlineOf(el);
}

/** Child blocks separated by blank lines (tight: single newlines, for list items). */
function blocks(node: Y.XmlElement | Y.XmlFragment, tight = false): string {
  const out: string[] = [];
  for (const child of node.toArray()) {
    if (child instanceof Y.XmlElement || child instanceof Y.XmlText) {
      const text = block(child);
      if (text !== '') out.push(text);
    }
  }
  return out.join(tight ? '\n' : '\n\n');
}

/** Markdown of a prosemirror-style XML fragment. */
export function xmlToMarkdown(fragment: Y.XmlFragment): string {
  return blocks(fragment);
}

/**
 * Markdown of a text root. Unformatted text (a code or Markdown source from
 * CodeMirror or Monaco) is returned as it is. Rich text gets its marks; Quill
 * keeps block formatting as attributes of the newline that ends a line
 * (`header: 2`, `list: 'bullet' | 'ordered'`).
 */
export function textToMarkdown(text: Y.Text): string {
  const delta = text.toDelta() as DeltaOp[];
  if (delta.every((op) => op.attributes === undefined)) return text.toString();
  const lines: string[] = [];
  let line = '';
  for (const op of delta) {
    if (typeof op.insert !== 'string') continue;
    const pieces = op.insert.split('\n');
    for (const [i, piece] of pieces.entries()) {
      if (i > 0) {
        lines.push(lineWithBlockAttrs(line, op.attributes));
        line = '';
      }
      line += inline(piece, blockFree(op.attributes));
    }
  }
  if (line !== '') lines.push(line);
  return lines.join('\n');
}

/** Inline marks only: Quill's block attributes sit on newlines, never on text. */
function blockFree(attrs: Attrs | undefined): Attrs | undefined {
  if (attrs === undefined) return undefined;
  const { header: _header, list: _list, ...rest } = attrs;
  return Object.keys(rest).length === 0 ? undefined : rest;
}

function lineWithBlockAttrs(line: string, attrs: Attrs | undefined): string {
  const header = Number(attrs?.header);
  if (Number.isInteger(header) && header >= 1) return `${'#'.repeat(Math.min(6, header))} ${line}`;
  if (attrs?.list === 'bullet') return `- ${line}`;
  if (attrs?.list === 'ordered') return `1. ${line}`;
  return line;
}
