/** Who has access, and sharing by email with a role (owners). */
import { describeError, type Api } from '../api.ts';
import { fill, h, notify } from '../dom.ts';

interface Member {
  readonly userId: string;
  readonly email?: string;
  readonly role: string;
}

export function sharePanel(opts: { api: Api; docId: string; isOwner: boolean }): HTMLElement {
  const { api, docId } = opts;
  const path = `/v1/docs/${encodeURIComponent(docId)}/members`;
  const list = h('ul', { class: 'members' });
  const email = h('input', { type: 'email', name: 'share-email', required: true, placeholder: 'colleague@example.com' });
  const role = h('select', { name: 'share-role' }, h('option', { value: 'editor' }, 'can edit'), h('option', { value: 'viewer' }, 'can view'), h('option', { value: 'owner' }, 'owner'));
  const load = async () => {
    try {
      const { members } = await api.request<{ members: Member[] }>('GET', path);
      fill(
        list,
        ...members.map((m) =>
          h(
            'li',
            {},
            m.userId === api.user?.id ? 'you' : (m.email ?? m.userId.slice(0, 8)),
            ' ',
            h('span', { class: `role role-${m.role}` }, m.role),
            opts.isOwner && m.userId !== api.user?.id && h('button', { class: 'small', onclick: () => void remove(m.userId) }, 'Remove'),
          ),
        ),
      );
    } catch (err) {
      fill(list, h('li', { class: 'form-error' }, describeError(err)));
    }
  };
  const remove = async (userId: string) => {
    try {
      await api.request('DELETE', `${path}/${encodeURIComponent(userId)}`);
      await load();
    } catch (err) {
      notify(describeError(err));
    }
  };
  const share = async () => {
    try {
      await api.request('POST', path, { email: email.value.trim(), role: role.value });
      email.value = '';
      await load();
    } catch (err) {
      notify(describeError(err));
    }
  };
  void load();
  return h(
    'section',
    { class: 'panel', 'data-panel': 'share' },
    h('h2', {}, 'Sharing'),
    list,
    opts.isOwner && h('form', { class: 'row', onsubmit: (ev) => (ev.preventDefault(), void share()) }, email, role, h('button', { type: 'submit' }, 'Share')),
  );
}
