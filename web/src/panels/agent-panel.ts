/**
 * A chat with an agent session attached to this document (PROTOCOL.md §14):
 * the agent reads and edits the document with the owner's rights. The
 * transcript is refetched as the session's events arrive over /ws.
 */
import { describeError, type Api } from '../api.ts';
import type { AppSocket } from '../app-socket.ts';
import { fill, h, notify } from '../dom.ts';

type Entry =
  | { role: 'user' | 'summary'; content: string }
  | { role: 'assistant'; content: string; toolCalls: Array<{ name: string }> }
  | { role: 'tool'; name: string };

interface SessionView {
  readonly id: string;
  readonly status: string;
  readonly transcript: readonly Entry[];
}

export function agentPanel(opts: { api: Api; socket: AppSocket; docId: string; canEdit: boolean; onRevert: (origin: string) => void }): HTMLElement {
  const { api, socket, docId } = opts;
  let sessionId: string | undefined;
  const log = h('ol', { class: 'chat' });
  const status = h('span', { class: 'status', hidden: true });
  const revertButton = h('button', { type: 'button', class: 'small', hidden: true, onclick: () => sessionId !== undefined && opts.onRevert(`agent:${sessionId}`) }, "Revert agent's edits");
  const message = h('input', { name: 'message', maxlength: '4000', placeholder: 'Ask the agent to edit this document…' });
  let timer: ReturnType<typeof setTimeout> | undefined;

  const render = (s: SessionView) => {
    status.textContent = s.status;
    status.hidden = false;
    revertButton.hidden = false;
    fill(
      log,
      ...s.transcript.map((e) => {
        switch (e.role) {
          case 'user':
            return h('li', { class: 'chat-user' }, e.content);
          case 'assistant':
            return h('li', { class: 'chat-assistant' }, e.content || e.toolCalls.map((c) => `→ ${c.name}`).join(', '));
          case 'tool':
            return h('li', { class: 'chat-tool muted' }, `tool ${e.name} ran`);
          case 'summary':
            return h('li', { class: 'chat-tool muted' }, `(earlier turns summarised)`);
        }
      }),
    );
  };
  const refresh = async () => {
    timer = undefined;
    if (sessionId === undefined) return;
    try {
      render(await api.request<SessionView>('GET', `/v1/agent-sessions/${encodeURIComponent(sessionId)}`));
    } catch (err) {
      notify(describeError(err));
    }
  };
  const send = async () => {
    const content = message.value.trim();
    if (content === '') return;
    try {
      if (sessionId === undefined) {
        const { session } = await api.request<{ session: SessionView }>('POST', '/v1/agent-sessions', { docId, idempotencyKey: crypto.randomUUID() });
        sessionId = session.id;
        socket.subscribe(`agent:${session.id}`, () => (timer ??= setTimeout(() => void refresh(), 300)));
      }
      await api.request('POST', `/v1/agent-sessions/${encodeURIComponent(sessionId)}/messages`, { content });
      message.value = '';
      await refresh();
    } catch (err) {
      notify(describeError(err));
    }
  };
  return h(
    'section',
    { class: 'panel', 'data-panel': 'agent' },
    h('h2', {}, 'Agent ', status),
    log,
    opts.canEdit
      ? h(
          'form',
          { class: 'row', onsubmit: (ev) => (ev.preventDefault(), void send()) },
          message,
          h('button', { type: 'submit' }, 'Send'),
          revertButton,
        )
      : h('p', { class: 'muted' }, 'Viewers cannot run agents on this document.'),
  );
}
