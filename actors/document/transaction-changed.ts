/**
 * Whether a Yjs transaction changed the document: it inserted or deleted
 * something. The same test Yjs makes before emitting its `update` event;
 * listening to `afterTransaction` with this test instead of to `update`
 * spares Yjs encoding every transaction as an update nobody reads (about
 * 4 % of a loaded process's CPU; see load-tests/README.md).
 */
import type * as Y from 'yjs';

export function transactionChanged(tr: Y.Transaction): boolean {
  if (tr.deleteSet.clients.size > 0) return true;
  for (const [client, clock] of tr.afterState) if (tr.beforeState.get(client) !== clock) return true;
  return false;
}
