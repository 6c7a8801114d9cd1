/**
 * Renders a document's top-level shared types as JSON. Roots created by
 * clients arrive untyped on the server, so each root's type is inferred from
 * its content, on a throwaway copy so the live document is never re-typed.
 */
import * as Y from 'yjs';
import type { DocRoot } from '../../protocol/doc.ts';
import { textToMarkdown, xmlToMarkdown } from './markdown.ts';
import { blocksText, TextBlockError, type TextRootType } from './text-blocks.ts';

export interface RenderedContent {
  readonly roots: Record<string, DocRoot>;
  /** Plain text when every root is text or xml (a text document), else null. */
  readonly text: string | null;
  /** Markdown under the same condition as `text` (see markdown.ts). */
  readonly markdown: string | null;
}

export type RootKind = DocRoot['type'];

/** The two fields of a root that reveal its type (untyped roots are plain AbstractTypes). */
export interface UntypedRoot {
  readonly _start: Y.Item | null;
  readonly _map: Map<string, Y.Item>;
}

/**
 * The type a root's content reveals (roots arrive untyped on the server):
 * strings, formats, embeds → text; nested XML types → xml; other list
 * content → array; map entries and no list content → map; null when
 * nothing reveals it (an empty root, or one whose content was collected).
 */
export function revealedKind(type: UntypedRoot): RootKind | null {
  for (let item: Y.Item | null = type._start; item !== null; item = item.right) {
    const content = item.content;
    if (content instanceof Y.ContentString || content instanceof Y.ContentFormat || content instanceof Y.ContentEmbed) return 'text';
    if (content instanceof Y.ContentType) {
      return content.type instanceof Y.XmlElement || content.type instanceof Y.XmlText || content.type instanceof Y.XmlHook ? 'xml' : 'array';
    }
    if (content instanceof Y.ContentDeleted) continue;
    return 'array';
  }
  return type._map.size > 0 ? 'map' : null;
}

/** The type a root's content implies (see revealedKind); text when nothing reveals it. */
export function inferKind(type: UntypedRoot): RootKind {
  return revealedKind(type) ?? 'text';
}

/**
 * How a writer (a job's document write, an agent's doc_edit) treats root
 * `name` of a synced copy: as `wanted` when given, else as what its content
 * reveals, else (a new or empty root) as Y.Text, so y-websocket clients
 * with Y.Text roots keep working. Loom's web app binds TipTap to an XML
 * root and asks for `xml`.
 * @throws TextBlockError `root-type` when the root holds a map or an array, or another type than `wanted`.
 */
export function textRootType(doc: Y.Doc, name: string, wanted: TextRootType | undefined): TextRootType {
  const existing = doc.share.get(name);
  const kind = existing === undefined ? null : revealedKind(existing);
  if (kind === 'map' || kind === 'array') throw new TextBlockError('root-type', `root ${JSON.stringify(name)} holds a ${kind}, not text`);
  if (wanted !== undefined && kind !== null && kind !== wanted) {
    throw new TextBlockError('root-type', `root ${JSON.stringify(name)} holds ${kind === 'xml' ? 'rich text (XML)' : 'plain text (Y.Text)'}, not ${wanted === 'xml' ? 'XML' : 'Y.Text'}`);
  }
  return wanted ?? kind ?? 'text';
}

export function renderContent(live: Y.Doc): RenderedContent {
  const copy = new Y.Doc();
  try {
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(live));
    const roots: Record<string, DocRoot> = {};
    const texts: string[] = [];
    const markdowns: string[] = [];
    let textual = true;
    for (const [name, type] of live.share) {
      const kind = inferKind(type);
      switch (kind) {
        case 'text': {
          const t = copy.getText(name);
          roots[name] = { type: kind, value: t.toString() };
          texts.push(t.toString());
          markdowns.push(textToMarkdown(t));
          break;
        }
        case 'xml': {
          const f = copy.getXmlFragment(name);
          roots[name] = { type: kind, value: f.toJSON() };
          texts.push(blocksText(f));
          markdowns.push(xmlToMarkdown(f));
          break;
        }
        case 'map':
          roots[name] = { type: kind, value: copy.getMap(name).toJSON() };
          textual = false;
          break;
        case 'array':
          roots[name] = { type: kind, value: copy.getArray(name).toJSON() };
          textual = false;
          break;
        default: {
          const never: never = kind;
          throw new Error(`unhandled root kind ${String(never)}`);
        }
      }
    }
    const isText = textual && texts.length > 0;
    return { roots, text: isText ? texts.join('\n') : null, markdown: isText ? markdowns.filter((m) => m !== '').join('\n\n') : null };
  } finally {
    copy.destroy();
  }
}
