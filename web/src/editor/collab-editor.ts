/**
 * The editor: TipTap bound to the document's `content` XML fragment by
 * TipTap's Collaboration extension (y-prosemirror's binding, through
 * @tiptap/y-tiptap), with its Yjs undo (only this editor's edits), and the
 * others' carets and selections with their names and colours by the
 * CollaborationCaret extension, from y-websocket presence (the awareness
 * `user` field). Jobs and agents write paragraphs into the same fragment,
 * so their text arrives here like any collaborator's.
 */
import { Editor } from '@tiptap/core';
import Collaboration from '@tiptap/extension-collaboration';
import CollaborationCaret from '@tiptap/extension-collaboration-caret';
import Document from '@tiptap/extension-document';
import Paragraph from '@tiptap/extension-paragraph';
import Text from '@tiptap/extension-text';
import type { CollabSession } from './collab-session.ts';

/** Who this person is to the others: shown on their caret and in the presence bar. */
export interface PresenceUser {
  readonly name: string;
  /** `#rrggbb`: the caret extension shows no other form. */
  readonly color: string;
}

const HEX_COLOUR = /^#[0-9a-fA-F]{6}$/;

/** Presence comes from other clients: only a plain colour reaches a style attribute. */
export function safeColour(color: unknown): string {
  return typeof color === 'string' && HEX_COLOUR.test(color) ? color : '#777777';
}

function caretElement(user: Record<string, unknown>): HTMLElement {
  const name = String(user['name'] ?? '').slice(0, 60);
  const color = safeColour(user['color']);
  const caret = document.createElement('span');
  caret.className = 'remote-caret';
  caret.style.borderColor = color;
  caret.dataset.name = name;
  const label = document.createElement('span');
  label.className = 'remote-caret-label';
  label.style.backgroundColor = color;
  label.textContent = name;
  caret.append(label);
  return caret;
}

/**
 * The editor of one open document. `onInvalidContent` hears of shared content
 * the schema cannot show (a `content` root written as Y.Text by an older
 * client, say): the binding then leaves it unchanged instead of rewriting it.
 */
export function createCollabEditor(opts: {
  element: HTMLElement;
  editable: boolean;
  session: CollabSession;
  user: PresenceUser;
  onInvalidContent: (error: Error) => void;
}): Editor {
  return new Editor({
    element: opts.element,
    editable: opts.editable,
    injectCSS: false,
    extensions: [
      Document,
      Paragraph,
      Text,
      Collaboration.configure({ fragment: opts.session.fragment, ySyncOptions: { onInvalidContent: opts.onInvalidContent } }),
      CollaborationCaret.configure({
        provider: opts.session.provider,
        user: { name: opts.user.name, color: opts.user.color },
        render: caretElement,
        selectionRender: (user) => ({ class: 'remote-selection', style: `background-color: ${safeColour(user['color'])}40` }),
      }),
    ],
  });
}
