/**
 * One document: the editor (TipTap bound to the document through
 * y-websocket and TipTap's collaboration extensions), who is here, the
 * connection state, and the panels for AI jobs, an agent, versions and
 * sharing. Viewers get a read-only editor.
 */
import * as Y from 'yjs';
import { describeError, type Api } from '../api.ts';
import type { AppSocket } from '../app-socket.ts';
import { colourFor, fill, h, notify } from '../dom.ts';
import { createCollabEditor, safeColour } from '../editor/collab-editor.ts';
import { CollabSession, type CollabStatus } from '../editor/collab-session.ts';
import { agentPanel } from '../panels/agent-panel.ts';
import { jobsPanel } from '../panels/jobs-panel.ts';
import { sharePanel } from '../panels/share-panel.ts';
import { versionsPanel } from '../panels/versions-panel.ts';
import type { DocSummary } from './doc-list.ts';

/** The origin of the app's own edits (not the typist's: the editor applies them like remote ones, undo skips them). */
const APP_ORIGIN = { name: 'loom-app' } as const;

/** What each client publishes in its presence state (CollaborationCaret's `user` field). */
interface PresenceState {
  user?: { name?: unknown; color?: unknown };
}

/** Is the block an empty paragraph (one a job starts writing in)? */
function isEmptyParagraph(block: Y.XmlElement | Y.XmlText | undefined): boolean {
  return block instanceof Y.XmlElement && block.nodeName === 'paragraph' && block.toArray().every((c) => c instanceof Y.XmlText && c.length === 0);
}

/**
 * Before a job writes: the document ends with a blank line and then an empty
 * paragraph, which the job starts writing in, unless the document is empty.
 * Also makes the fragment hold paragraphs before a job or agent first writes,
 * so they write paragraphs (writers go by what a root holds).
 */
function prepareForJob(session: CollabSession): void {
  const blocks = session.fragment.toArray().filter((b): b is Y.XmlElement | Y.XmlText => b instanceof Y.XmlElement || b instanceof Y.XmlText);
  const empty = blocks.length === 0 || (blocks.length === 1 && isEmptyParagraph(blocks[0]));
  const trailing = isEmptyParagraph(blocks[blocks.length - 1]) ? (isEmptyParagraph(blocks[blocks.length - 2]) ? 2 : 1) : 0;
  const missing = empty ? 1 - blocks.length : 2 - trailing;
  if (missing > 0) session.doc.transact(() => session.fragment.push(Array.from({ length: missing }, () => new Y.XmlElement('paragraph'))), APP_ORIGIN);
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
  const session = new CollabSession({ docId, userId: user.id, token: api.token(), onStatus: showStatus });
  const me = { name: user.email, color: colourFor(user.email) };
  session.provider.awareness.setLocalStateField('user', me);
  if (canEdit) {
    // A new document's fragment holds nothing until someone types: give it its first paragraph, so agents see an XML root.
    const onSynced = (synced: boolean) => {
      if (!synced) return;
      session.provider.off('sync', onSynced);
      if (session.fragment.length === 0) prepareForJob(session);
    };
    session.provider.on('sync', onSynced);
  }

  const renderPresence = () => {
    const people = [...session.provider.awareness.getStates().entries()]
      .map(([clientId, state]) => ({ clientId, user: (state as PresenceState).user }))
      .filter((p) => p.user !== undefined && typeof p.user.name === 'string')
      .map((p) => ({ clientId: p.clientId, user: { name: String(p.user?.name).slice(0, 60), color: safeColour(p.user?.color) } }));
    fill(
      presence,
      ...people.map((p) =>
        h('li', { title: p.user.name, 'data-name': p.user.name }, h('span', { class: 'avatar', style: `background-color: ${p.user.color}` }, p.user.name.slice(0, 1).toUpperCase()), p.clientId === session.doc.clientID ? `${p.user.name} (you)` : p.user.name),
      ),
    );
  };
  session.provider.awareness.on('change', renderPresence);
  renderPresence();

  const editor = createCollabEditor({
    element: editorHost,
    editable: canEdit,
    session,
    user: me,
    onInvalidContent: () => notify('This document holds content the editor cannot show (plain text from another editor, or unknown elements); it is left as it is.'),
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
      jobsPanel({ api, socket, docId, canEdit, onRevert: (origin) => void revert(origin), beforeJob: () => prepareForJob(session) }),
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
