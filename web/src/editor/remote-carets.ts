/**
 * Shows the other people's carets and selections, with their names and
 * colours, from y-websocket presence (awareness). Each client publishes its
 * selection as Yjs relative positions in the Y.Text, so a caret stays on its
 * character while others type before it.
 */
import { Extension } from '@tiptap/core';
import { Plugin, PluginKey } from '@tiptap/pm/state';
import { Decoration, DecorationSet } from '@tiptap/pm/view';
import type { Awareness } from 'y-protocols/awareness';
import * as Y from 'yjs';
import { posAt } from './text-positions.ts';

/** What each client publishes in its presence state. */
export interface PresenceState {
  user?: { name: string; color: string };
  cursor?: { anchor: unknown; head: unknown } | null;
}

export interface RemoteCaretsOptions {
  ytext: Y.Text | null;
  awareness: Awareness | null;
}

const SAFE_COLOUR = /^(#[0-9a-fA-F]{3,8}|hsl\(\d{1,3} \d{1,3}% \d{1,3}%\))$/;
const caretsKey = new PluginKey('loom-remote-carets');
const REDRAW = 'loom-carets-redraw';

/** Publishes the local selection (text offsets) as relative positions. */
export function publishSelection(awareness: Awareness, ytext: Y.Text, anchor: number, head: number): void {
  awareness.setLocalStateField('cursor', {
    anchor: Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(ytext, anchor)),
    head: Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(ytext, head)),
  });
}

function indexOf(json: unknown, ytext: Y.Text): number | null {
  if (typeof json !== 'object' || json === null) return null;
  const abs = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(json), ytext.doc as Y.Doc);
  return abs !== null && abs.type === ytext ? abs.index : null;
}

function caretElement(name: string, color: string): HTMLElement {
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

export const RemoteCarets = Extension.create<RemoteCaretsOptions>({
  name: 'loomRemoteCarets',

  addOptions() {
    return { ytext: null, awareness: null };
  },

  addProseMirrorPlugins() {
    const { ytext, awareness } = this.options;
    if (ytext === null || awareness === null) throw new Error('RemoteCarets needs a ytext and an awareness');
    return [
      new Plugin({
        key: caretsKey,
        props: {
          decorations(state) {
            const decorations: Decoration[] = [];
            const max = state.doc.content.size;
            for (const [clientId, raw] of awareness.getStates()) {
              if (clientId === awareness.clientID) continue;
              const presence = raw as PresenceState;
              if (presence.cursor == null || presence.user === undefined) continue;
              const anchor = indexOf(presence.cursor.anchor, ytext);
              const head = indexOf(presence.cursor.head, ytext);
              if (anchor === null || head === null) continue;
              const headPos = Math.min(posAt(state.doc, head), max);
              const anchorPos = Math.min(posAt(state.doc, anchor), max);
              // Presence comes from other clients: only a plain colour reaches a style attribute.
              const color = SAFE_COLOUR.test(presence.user.color) ? presence.user.color : '#777777';
              const name = String(presence.user.name).slice(0, 60);
              decorations.push(Decoration.widget(headPos, () => caretElement(name, color), { key: `caret-${clientId}-${name}-${color}`, side: 10 }));
              if (anchorPos !== headPos) {
                decorations.push(
                  Decoration.inline(Math.min(anchorPos, headPos), Math.max(anchorPos, headPos), { class: 'remote-selection', style: `background-color: color-mix(in srgb, ${color} 25%, transparent)` }),
                );
              }
            }
            return DecorationSet.create(state.doc, decorations);
          },
        },
        view: (view) => {
          const redraw = () => view.dispatch(view.state.tr.setMeta(REDRAW, true).setMeta('addToHistory', false));
          awareness.on('change', redraw);
          return { destroy: () => awareness.off('change', redraw) };
        },
      }),
    ];
  },
});
