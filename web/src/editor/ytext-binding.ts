/**
 * Binds a TipTap editor of plain paragraphs to a Y.Text root, both ways.
 *
 * Why not TipTap's Collaboration extension: it binds a Y.XmlFragment, while
 * everything in Loom that writes into a document beside people (jobs'
 * `document-write` steps, agents' `doc_edit`, revert, attribution) works on
 * Y.Text roots. Binding the editor to the same Y.Text lets a job type into
 * the editor as one more collaborator.
 *
 * Local edits become one Y.Text edit each (diffText, with origin
 * BINDING_ORIGIN); remote edits arrive as Y.Text deltas and become
 * ProseMirror steps, so the local selection is mapped through them. Undo
 * and redo go through a Y.UndoManager that only tracks this editor's edits.
 */
import { Extension } from '@tiptap/core';
import { Plugin, PluginKey, type Transaction } from '@tiptap/pm/state';
import * as Y from 'yjs';
import { diffText, docFromText, offsetAt, posAt, textOf } from './text-positions.ts';

/** The origin of Y.Text edits made by this editor. */
export const BINDING_ORIGIN = { name: 'loom-editor' } as const;
/** Marks ProseMirror transactions that carry remote edits. */
export const REMOTE_META = 'loom-remote';

export interface YTextBindingOptions {
  ytext: Y.Text | null;
  undoManager: Y.UndoManager | null;
  /** Called with the local selection as text offsets, after each local change while focused. */
  onSelection: (anchor: number, head: number) => void;
}

const bindingKey = new PluginKey('loom-ytext-binding');

function applyDelta(tr: Transaction, delta: Y.YTextEvent['delta']): void {
  let offset = 0;
  for (const op of delta) {
    if (op.retain !== undefined) offset += op.retain;
    else if (op.delete !== undefined) tr.delete(posAt(tr.doc, offset), posAt(tr.doc, offset + op.delete));
    else if (typeof op.insert === 'string') {
      const lines = op.insert.split('\n');
      let pos = posAt(tr.doc, offset);
      lines.forEach((line, i) => {
        if (line !== '') tr.insertText(line, pos);
        pos += line.length;
        if (i < lines.length - 1) {
          tr.split(pos);
          pos += 2;
        }
      });
      offset += op.insert.length;
    }
  }
}

export const YTextBinding = Extension.create<YTextBindingOptions>({
  name: 'loomYTextBinding',

  addOptions() {
    return { ytext: null, undoManager: null, onSelection: () => {} };
  },

  addKeyboardShortcuts() {
    const undo = () => (this.options.undoManager?.undo(), true);
    const redo = () => (this.options.undoManager?.redo(), true);
    return { 'Mod-z': undo, 'Mod-y': redo, 'Shift-Mod-z': redo };
  },

  addProseMirrorPlugins() {
    const { ytext, onSelection } = this.options;
    if (ytext === null) throw new Error('YTextBinding needs a ytext');
    return [
      new Plugin({
        key: bindingKey,
        view: (view) => {
          let applyingRemote = false;
          const replaceAll = () => {
            const tr = view.state.tr.replaceWith(0, view.state.doc.content.size, docFromText(view.state.schema, ytext.toString()).content);
            tr.setMeta(REMOTE_META, true).setMeta('addToHistory', false);
            view.dispatch(tr);
          };
          const onYText = (event: Y.YTextEvent, transaction: Y.Transaction) => {
            if (transaction.origin === BINDING_ORIGIN) return;
            applyingRemote = true;
            try {
              const tr = view.state.tr;
              applyDelta(tr, event.delta);
              tr.setMeta(REMOTE_META, true).setMeta('addToHistory', false);
              view.dispatch(tr);
              // A mismatch would be a bug in applyDelta: converge rather than drift.
              if (textOf(view.state.doc) !== ytext.toString()) replaceAll();
            } finally {
              applyingRemote = false;
            }
          };
          applyingRemote = true;
          try {
            replaceAll();
          } finally {
            applyingRemote = false;
          }
          ytext.observe(onYText);
          return {
            update: (view, prevState) => {
              if (applyingRemote) return;
              const { selection, doc } = view.state;
              if (!doc.eq(prevState.doc)) {
                const before = ytext.toString();
                const edit = diffText(before, textOf(doc), offsetAt(doc, selection.head));
                if (edit.remove > 0 || edit.insert !== '') {
                  ytext.doc?.transact(() => {
                    if (edit.remove > 0) ytext.delete(edit.index, edit.remove);
                    if (edit.insert !== '') ytext.insert(edit.index, edit.insert);
                  }, BINDING_ORIGIN);
                }
              }
              if (view.hasFocus() && (!doc.eq(prevState.doc) || !selection.eq(prevState.selection))) {
                onSelection(offsetAt(doc, selection.anchor), offsetAt(doc, selection.head));
              }
            },
            destroy: () => ytext.unobserve(onYText),
          };
        },
      }),
    ];
  },
});
