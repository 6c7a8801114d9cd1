/**
 * Which Y.Text root of a document an edit goes into. Roots arrive untyped
 * from a sync (the server never saw the client's getText/getXmlFragment), so
 * their kind is read from their content, and only a text root, or a root
 * that does not exist yet, is edited: writing plain text into a rich-text
 * (XML) or map root would re-type it and break the editors bound to it.
 */
import type * as Y from 'yjs';
import { inferKind, type UntypedRoot } from '../../../actors/document/index.ts';
import { ToolFailure } from '../tool-failure.ts';

/** The root jobs write into too when a document has none yet. */
export const DEFAULT_TEXT_ROOT = 'content';

/**
 * The root named, else the document's only root when it is text, else `content`.
 * @throws ToolFailure `failed` when that root holds something other than text.
 */
export function pickTextRoot(doc: Y.Doc, named: string | undefined): string {
  let root = named;
  if (root === undefined) {
    const names = [...doc.share.keys()];
    root = names.length === 1 && names[0] !== undefined ? names[0] : DEFAULT_TEXT_ROOT;
  }
  const existing = doc.share.get(root);
  if (existing !== undefined) {
    const kind = inferKind(existing as unknown as UntypedRoot);
    if (kind !== 'text') {
      throw new ToolFailure('failed', `root ${JSON.stringify(root)} holds ${kind === 'xml' ? 'rich text (XML)' : `a ${kind}`}; doc_edit writes plain text roots only`);
    }
  }
  return root;
}
