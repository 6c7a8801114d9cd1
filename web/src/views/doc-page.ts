/**
 * One document: the editor (TipTap bound to the document's Y.Text through
 * y-websocket), who is here, the connection state, and the panels for AI
 * jobs, an agent, versions and sharing. Viewers get a read-only editor.
 */
import { Editor } from '@tiptap/core';
import Document from '@tiptap/extension-document';
import Paragraph from '@tiptap/extension-paragraph';
import Text from '@tiptap/extension-text';
import { describeError, type Api } from '../api.ts';
import type { AppSocket } from '../app-socket.ts';
import { colourFor, fill, h, notify } from '../dom.ts';
import { CollabSession, type CollabStatus } from '../editor/collab-session.ts';
import { publishSelection, RemoteCarets, type PresenceState } from '../editor/remote-carets.ts';
import { BINDING_ORIGIN, YTextBinding } from '../editor/ytext-binding.ts';
import { agentPanel } from '../panels/agent-panel.ts';
import { jobsPanel } from '../panels/jobs-panel.ts';
import { sharePanel } from '../panels/share-panel.ts';
import { versionsPanel } from '../panels/versions-panel.ts';
import type { DocSummary } from './doc-list.ts';

/** The origin of the app's own edits (not the typist's: the editor applies them like remote ones, undo skips them). */
const APP_ORIGIN = { name: 'loom-app' } as const;

/** Appends line breaks so the text ends with an empty line, unless it is empty. */
function endWithBlankLine(session: CollabSession): void {
  const text = session.ytext.toString();
  const missing = text === '' ? '' : text.endsWith('\n\n') ? '' : text.endsWith('\n') ? '\n' : '\n\n';
  if (missing !== '') session.doc.transact(() => session.ytext.insert(session.ytext.length, missing), APP_ORIGIN);
}

const STATE_LABELS: Record<CollabStatus['state'], string> = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
  closed: 'Disconnected',
};

/** Builds the page; the returned `destroy` closes the document's connection. */
export async function docPage(api: Api, socket: AppSocket, docId: string): Promise<{ element: HTMLElement; destroy: () => void }> {
  const user = api.user;
  if (user === undefined) throw new Error('signed out');
  const doc = await api.request<DocSummary>('GET', `/v1/docs/${encodeURIComponent(docId)}/metadata`);
  const canEdit = doc.role !== 'viewer';
  const connection = h('span', { class: 'connection', 'data-state': 'connecting' }, STATE_LABELS.connecting);
  const presence = h('ul', { class: 'presence', 'aria-label': 'People here' });
  const editorHost = h('div', { class: 'editor', 'data-role': doc.role });

  const showStatus = (status: CollabStatus) => {
    connection.dataset.state = status.state;
    connection.dataset.pending = String(status.pendingEdits);
    connection.textContent = STATE_LABELS[status.state] + (status.pendingEdits ? ' · offline edits pending' : '');
    if (status.closedReason !== undefined) notify(status.closedReason);
  };
  const session = new CollabSession({ docId, userId: user.id, token: api.token(), editorOrigin: BINDING_ORIGIN, onStatus: showStatus });
  const name = user.email;
  const me = { name, color: colourFor(user.email) };
  session.provider.awareness.setLocalStateField('user', me);

  const renderPresence = () => {
    const people = [...session.provider.awareness.getStates().entries()]
      .map(([clientId, state]) => ({ clientId, user: (state as PresenceState).user }))
      .filter((p): p is { clientId: number; user: { name: string; color: string } } => p.user !== undefined);
    fill(
      presence,
      ...people.map((p) =>
        h('li', { title: p.user.name, 'data-name': p.user.name }, h('span', { class: 'avatar', style: `background-color: ${/^hsl\(\d+ \d+% \d+%\)$/.test(p.user.color) ? p.user.color : '#777'}` }, p.user.name.slice(0, 1).toUpperCase()), p.clientId === session.doc.clientID ? `${p.user.name} (you)` : p.user.name),
      ),
    );
  };
  session.provider.awareness.on('change', renderPresence);
  renderPresence();

  const editor = new Editor({
    element: editorHost,
    editable: canEdit,
    injectCSS: false,
    extensions: [
      Document,
      Paragraph,
      Text,
      YTextBinding.configure({
        ytext: session.ytext,
        undoManager: session.undoManager,
        onSelection: (anchor, head) => publishSelection(session.provider.awareness, session.ytext, anchor, head),
      }),
      RemoteCarets.configure({ ytext: session.ytext, awareness: session.provider.awareness }),
    ],
  });
  const onToken = (token: string) => session.setToken(token);
  const previousOnToken = api.onToken;
  api.onToken = (token) => {
    previousOnToken(token);
    onToken(token);
  };

  const revert = async (origin: string) => {
    try {
      const r = await api.request<{ changed: boolean; removed: number; restored: number }>('POST', `/v1/docs/${encodeURIComponent(docId)}/revert`, { origin });
      notify(r.changed ? `Reverted: ${r.removed} characters removed, ${r.restored} restored.` : 'Nothing to revert.', 'info');
    } catch (err) {
      notify(describeError(err));
    }
  };

  const element = h(
    'div',
    { class: 'doc-page' },
    h(
      'div',
      { class: 'doc-main' },
      h('div', { class: 'doc-header' }, h('a', { href: '#/' }, '← Documents'), h('h1', {}, doc.title), h('span', { class: `role role-${doc.role}` }, doc.role), connection),
      presence,
      !canEdit && h('p', { class: 'muted' }, 'You can read this document; its owner has not given you editing rights.'),
      editorHost,
    ),
    h(
      'aside',
      { class: 'doc-side' },
      jobsPanel({ api, socket, docId, canEdit, onRevert: (origin) => void revert(origin), beforeJob: () => endWithBlankLine(session) }),
      agentPanel({ api, socket, docId, canEdit, onRevert: (origin) => void revert(origin) }),
      versionsPanel({ api, docId, canEdit }),
      sharePanel({ api, docId, isOwner: doc.role === 'owner' }),
    ),
  );
  return {
    element,
    destroy: () => {
      api.onToken = previousOnToken;
      editor.destroy();
      session.destroy();
    },
  };
}
