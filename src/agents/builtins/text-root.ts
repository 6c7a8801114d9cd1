/**
 * Which root of a document an edit goes into, and as what. Roots arrive
 * untyped from a sync (the server never saw the client's getText or
 * getXmlFragment), so their type is read from their content: a Y.Text root
 * is edited as text, an XML root (TipTap, ProseMirror) as paragraphs, a
 * root that does not exist yet as `rootType` says, else as Y.Text. Map and
 * array roots are refused: writing text into them would re-type them and
 * break the editors bound to them.
 */
import type * as Y from 'yjs';
import { TextBlockError, textRootType, type TextRootType } from '../../../actors/document/index.ts';
import { ToolFailure } from '../tool-failure.ts';

/** The root jobs write into too when a document has none yet. */
export const DEFAULT_TEXT_ROOT = 'content';

/**
 * The root named, else the document's only root, else `content`; and how to edit it.
 * @throws ToolFailure `failed` when that root holds a map, an array, or another type than `rootType`.
 */
export function pickTextRoot(doc: Y.Doc, named: string | undefined, rootType?: TextRootType): { root: string; type: TextRootType } {
  let root = named;
  if (root === undefined) {
    const names = [...doc.share.keys()];
    root = names.length === 1 && names[0] !== undefined ? names[0] : DEFAULT_TEXT_ROOT;
  }
  try {
    return { root, type: textRootType(doc, root, rootType) };
  } catch (err) {
    if (err instanceof TextBlockError) throw new ToolFailure('failed', `${err.message}; doc_edit writes text and paragraph roots only`, { cause: err });
    throw err;
  }
}
