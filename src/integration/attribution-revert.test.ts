/**
 * Attribution and revert end to end, with real processes: a Loom process
 * with every role in members mode, the fake model server, a y-websocket
 * client typing while a job writes into the same document, and an internal
 * service deleting the person's text on the job's behalf over NATS (as an
 * agent's doc_edit would). Attribution names the person and the job;
 * reverting the job removes only its text, restores what it deleted, and
 * every client converges; restoring the snapshot the revert names undoes it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import * as Y from 'yjs';
import { HEADERS } from '../../protocol/headers.ts';
import { parseActorId } from '../../protocol/ids.ts';
import { ActorClient } from '../placement/actor-client.ts';
import { connectCollabClient, waitFor, type CollabClient } from '../testing/index.ts';
import { attributionSpans, startJobsCluster, type JobBody, type JobsCluster } from './jobs-fixture.ts';

let cluster: JobsCluster;
const clients: CollabClient[] = [];

before(async () => {
  cluster = await startJobsCluster({ env: { LOOM_DOC_ACCESS: 'members' } });
});
after(async () => {
  for (const c of clients) c.destroy();
  await cluster?.stop();
});

const spans = (docId: string) => attributionSpans(cluster, docId);

const ended = (j: JobBody) => ['succeeded', 'failed', 'cancelled', 'rejected'].includes(j.status);

test('a job writing while a person types: attribution names both; reverting the job removes only its text, restores what it deleted, and every client converges', async () => {
  const created = await cluster.api<{ id: string }>('POST', '/v1/docs', { body: { title: 'Attributed' } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const docId = created.body.id;
  const person = `user:${cluster.user.id}`;
  const editor = connectCollabClient(cluster.gateways[0]!.wsUrl, docId, { params: { token: cluster.user.token } });
  clients.push(editor);
  await editor.synced();
  const text = editor.doc.getText('t');
  text.insert(0, 'Notes from the editor.\n\nDelete me please.\n\n');

  cluster.model.configure({ firstTokenDelayMs: 100 });
  let job: JobBody;
  try {
    const r = await cluster.createJob({ kind: 'document.generate', input: { topic: 'Live', sections: 2, targetRoot: 't' }, targetDocId: docId });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    job = r.body.job;
    await waitFor(() => text.toString().includes('# Live'), { what: "the job's title in the editor", timeoutMs: 20_000 });
    text.insert(0, 'TOP ');
    const done = await cluster.waitForJob(job.id, ended, 'to end');
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    job = done;
  } finally {
    cluster.model.configure({ firstTokenDelayMs: 0 });
  }
  const markdown = (job.output as { markdown: string }).markdown.trimEnd();
  await waitFor(() => text.toString().includes(markdown), { what: "the job's whole text in the editor", timeoutMs: 20_000 });

  // An internal service edits on the job's behalf over NATS: it deletes the person's sentence.
  const service = new Y.Doc();
  Y.applyUpdate(service, Y.encodeStateAsUpdate(editor.doc));
  const before = Y.encodeStateVector(service);
  const at = service.getText('t').toString().indexOf('Delete me please.\n\n');
  service.getText('t').delete(at, 'Delete me please.\n\n'.length);
  const actors = new ActorClient(cluster.nc, { requestTimeoutMs: 5_000, deadlineMs: 20_000, log: pino({ level: 'silent' }) });
  await actors.request('doc', parseActorId(docId), 'update', Y.encodeStateAsUpdate(service, before), { [HEADERS.author]: `job:${job.id}` });
  await waitFor(() => !text.toString().includes('Delete me'), { what: 'the deletion in the editor', timeoutMs: 20_000 });
  text.insert(text.length, '\nSigned, the editor.');

  const jobAuthor = `job:${job.id}`;
  await waitFor(async () => (await spans(docId)).map((s) => s.text).join('') === text.toString(), { what: 'attribution to cover the editor text', timeoutMs: 20_000 });
  const attributed = await spans(docId);
  assert.deepEqual([...new Set(attributed.map((s) => s.author))].sort(), [jobAuthor, person].sort());
  assert.equal(attributed.filter((s) => s.author === jobAuthor).map((s) => s.text).join('').trim(), markdown, 'the job wrote exactly its text');
  assert.ok(attributed.some((s) => s.author === person && s.text.startsWith('TOP Notes from the editor.')));

  // Bad input: 400 naming the field; a stranger: 403; no credentials: 401.
  for (const body of [{ origin: `user:${cluster.user.id}` }, { origin: 'job:' }, { origin: 'robot:1' }, {}, { origin: jobAuthor, extra: true }]) {
    const r = await cluster.api<{ error: { code: string; field?: string } }>('POST', `/v1/docs/${encodeURIComponent(docId)}/revert`, { body });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.ok(r.body.error.field === 'origin' || r.body.error.field === 'extra', JSON.stringify(r.body));
  }
  assert.equal((await cluster.api('POST', `/v1/docs/${encodeURIComponent(docId)}/revert`, { body: { origin: jobAuthor }, token: cluster.stranger.token })).status, 403);
  assert.equal((await cluster.api('GET', `/v1/docs/${encodeURIComponent(docId)}/attribution`, { token: cluster.stranger.token })).status, 403);
  assert.equal((await fetch(`${cluster.gateways[0]!.httpUrl}/v1/docs/${encodeURIComponent(docId)}/attribution`)).status, 401);
  assert.equal((await cluster.api('GET', '/v1/docs/no-such-doc/attribution')).status, 404);

  const reverted = await cluster.api<{ changed: boolean; removed: number; restored: number; undoSeq: number | null }>('POST', `/v1/docs/${encodeURIComponent(docId)}/revert`, {
    body: { origin: jobAuthor },
  });
  assert.equal(reverted.status, 200, JSON.stringify(reverted.body));
  assert.equal(reverted.body.changed, true);
  assert.equal(reverted.body.restored, 'Delete me please.\n\n'.length);
  const expected = 'TOP Notes from the editor.\n\nDelete me please.\n\n\nSigned, the editor.';
  await waitFor(() => text.toString() === expected, { what: `the editor to converge on the reverted text (has ${JSON.stringify(text.toString())})`, timeoutMs: 20_000 });
  const late = connectCollabClient(cluster.gateways[0]!.wsUrl, docId, { params: { token: cluster.user.token } });
  clients.push(late);
  await late.synced();
  await waitFor(() => late.doc.getText('t').toString() === expected, { what: 'a late client to converge', timeoutMs: 20_000 });
  assert.deepEqual(await spans(docId), [{ text: expected, author: person }], "the restored sentence is the person's again");

  // The revert is undone by restoring the snapshot it names.
  assert.ok(reverted.body.undoSeq !== null);
  const undo = await cluster.api('POST', `/v1/docs/${encodeURIComponent(docId)}/snapshots/${reverted.body.undoSeq}/restore`);
  assert.equal(undo.status, 200, JSON.stringify(undo.body));
  await waitFor(() => text.toString().includes(markdown) && !text.toString().includes('Delete me'), { what: "the job's text back after the undo", timeoutMs: 20_000 });
  // The text a restore brings back is written anew, by whoever restored.
  assert.deepEqual([...new Set((await spans(docId)).map((s) => s.author))], [person]);

  const openapi = await cluster.api<{ paths: Record<string, unknown> }>('GET', '/openapi.json');
  assert.ok(openapi.body.paths['/v1/docs/{id}/attribution'] && openapi.body.paths['/v1/docs/{id}/revert'], 'both routes are in /openapi.json');
});
