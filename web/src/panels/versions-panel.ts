/** The document's stored versions (snapshots), each restorable as a new version. */
import { describeError, type Api } from '../api.ts';
import { fill, h, notify } from '../dom.ts';

interface Snapshot {
  readonly seq: number;
  readonly bytes: number;
  readonly createdAt: string;
}

export function versionsPanel(opts: { api: Api; docId: string; canEdit: boolean }): HTMLElement {
  const { api, docId } = opts;
  const path = `/v1/docs/${encodeURIComponent(docId)}`;
  const list = h('ul', { class: 'versions' });
  const load = async () => {
    try {
      const { snapshots } = await api.request<{ snapshots: Snapshot[] }>('GET', `${path}/snapshots`);
      fill(
        list,
        ...(snapshots.length === 0
          ? [h('li', { class: 'muted' }, 'No stored versions yet: Loom stores one as edits accumulate and when a document goes idle.')]
          : snapshots.map((s) =>
              h(
                'li',
                {},
                `${new Date(s.createdAt).toLocaleString()} · v${s.seq}`,
                opts.canEdit && h('button', { class: 'small', onclick: () => void restore(s.seq) }, 'Restore'),
              ),
            )),
      );
    } catch (err) {
      fill(list, h('li', { class: 'form-error' }, describeError(err)));
    }
  };
  const restore = async (seq: number) => {
    if (!confirm('Restore this version? Everyone will see the document change; this is saved as a new version.')) return;
    try {
      const r = await api.request<{ changed: boolean }>('POST', `${path}/snapshots/${seq}/restore`);
      notify(r.changed ? 'Version restored.' : 'The document already matches that version.', 'info');
      await load();
    } catch (err) {
      notify(describeError(err));
    }
  };
  void load();
  return h('section', { class: 'panel', 'data-panel': 'versions' }, h('h2', {}, 'Versions ', h('button', { class: 'small', onclick: () => void load() }, 'Refresh')), list);
}
