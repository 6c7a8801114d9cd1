/** My documents and those shared with me: create, open, rename, delete. */
import { describeError, type Api } from '../api.ts';
import { fill, h, notify } from '../dom.ts';

export interface DocSummary {
  readonly id: string;
  readonly title: string;
  readonly role: 'owner' | 'editor' | 'viewer';
  readonly updatedAt: string;
}

export function docListView(api: Api): HTMLElement {
  const list = h('ul', { class: 'doc-list' }, h('li', { class: 'muted' }, 'Loading…'));
  const title = h('input', { name: 'title', required: true, maxlength: '200', placeholder: 'New document title' });
  const load = async () => {
    try {
      const { documents } = await api.request<{ documents: DocSummary[] }>('GET', '/v1/docs?scope=all&limit=100');
      fill(list, ...(documents.length === 0 ? [h('li', { class: 'muted' }, 'No documents yet: create one above.')] : documents.map(row)));
    } catch (err) {
      fill(list, h('li', { class: 'form-error' }, describeError(err)));
    }
  };
  const act = async (work: () => Promise<unknown>) => {
    try {
      await work();
      await load();
    } catch (err) {
      notify(describeError(err));
    }
  };
  const row = (doc: DocSummary) =>
    h(
      'li',
      { 'data-doc-id': doc.id },
      h('a', { href: `#/doc/${encodeURIComponent(doc.id)}`, class: 'doc-title' }, doc.title),
      h('span', { class: `role role-${doc.role}` }, doc.role),
      h('span', { class: 'muted' }, new Date(doc.updatedAt).toLocaleString()),
      doc.role !== 'viewer' &&
        h('button', {
          onclick: () => {
            const next = prompt('New title', doc.title);
            if (next !== null && next.trim() !== '') void act(() => api.request('PATCH', `/v1/docs/${encodeURIComponent(doc.id)}`, { title: next.trim() }));
          },
        }, 'Rename'),
      doc.role === 'owner' &&
        h('button', {
          class: 'danger',
          onclick: () => {
            if (confirm(`Delete "${doc.title}" for everyone?`)) void act(() => api.request('DELETE', `/v1/docs/${encodeURIComponent(doc.id)}`));
          },
        }, 'Delete'),
    );
  const create = h(
    'form',
    {
      class: 'row',
      onsubmit: (ev) => {
        ev.preventDefault();
        void act(async () => {
          const doc = await api.request<DocSummary>('POST', '/v1/docs', { title: title.value.trim() });
          location.hash = `#/doc/${encodeURIComponent(doc.id)}`;
        });
      },
    },
    title,
    h('button', { type: 'submit', class: 'primary' }, 'Create'),
  );
  void load();
  return h('section', { class: 'card' }, h('h1', {}, 'Documents ', h('button', { class: 'small', onclick: () => void load() }, 'Refresh')), create, list);
}
