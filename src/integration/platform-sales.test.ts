/**
 * Platform 3, sales discovery, end to end on real processes: the example
 * registered over HTTP, an uploaded document read by the job, the PRD's
 * titled Markdown sections written into a live document, roadmap and
 * presentation checked against their schemas (an invalid answer is retried),
 * and prd.generated, assets.created and discovery.completed on the outbound
 * event stream, for the job's owner.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connectCollabClient, waitFor, waitForOutboundEvents, type CollabClient } from '../testing/index.ts';
import { platformAnswer, platformTaskOf } from '../testing/platform-workers/platform-answers.ts';
import { startJobsCluster, type JobsCluster } from './jobs-fixture.ts';

const definition: unknown = JSON.parse(readFileSync(fileURLToPath(new URL('../../examples/pipelines/sales-discovery.json', import.meta.url)), 'utf8'));
const promptOf = (messages: ReadonlyArray<{ role: string; content: string }>) => ({ system: messages.find((m) => m.role === 'system')?.content ?? '', user: messages.find((m) => m.role === 'user')?.content ?? '' });

let cluster: JobsCluster;
const clients: CollabClient[] = [];

before(async () => {
  cluster = await startJobsCluster();
  let roadmaps = 0;
  cluster.model.configure({
    respond: (r) => {
      const p = promptOf(r.messages);
      // The first roadmap breaks its schema (a phase of zero weeks): that attempt fails and the step is retried.
      if (platformTaskOf(p.system) === 'sales.discovery/roadmap' && roadmaps++ === 0) return JSON.stringify({ phases: [{ name: 'Build', weeks: 0, tasks: ['x'] }] });
      return platformAnswer(p);
    },
  });
  const put = await cluster.api('PUT', '/v1/pipelines/sales.discovery', { body: definition });
  assert.equal(put.status, 201, JSON.stringify(put.body));
});
after(async () => {
  for (const c of clients) c.destroy();
  await cluster?.stop();
});

test('sales discovery: document read, PRD written live into the document, roadmap retried until it fits its schema, slides, three events for the owner', async () => {
  const notes = Buffer.from('Checkout must take one click.');
  const upload = await cluster.api<{ uploadId: string; put: { url: string; method: string; headers: Record<string, string> } }>('POST', '/v1/uploads', {
    body: { filename: 'brief.txt', contentType: 'text/plain', size: notes.length },
  });
  assert.equal(upload.status, 201, JSON.stringify(upload.body));
  assert.ok((await fetch(upload.body.put.url, { method: upload.body.put.method, headers: upload.body.put.headers, body: notes })).ok);

  const room = `prd-${Date.now()}`;
  const editor = connectCollabClient(cluster.gateways[0]!.wsUrl, room);
  clients.push(editor);
  await editor.synced();
  const created = await cluster.createJob({
    kind: 'sales.discovery',
    targetDocId: room,
    input: { client: 'Acme', transcript: [{ speaker: 'Ana', text: 'We lose orders at checkout.', confidence: 0.92 }], sources: [{ uploadId: upload.body.uploadId }], notes: 'Budget is fixed.', slideCount: 4 },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.job.id;
  const done = await cluster.waitForJob(id, (j) => ['succeeded', 'failed'].includes(j.status), 'to finish', 120_000);
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));

  const prdPrompt = cluster.model.calls.map((c) => promptOf(c.request.messages)).find((p) => platformTaskOf(p.system) === 'sales.discovery/prd');
  assert.match(prdPrompt?.user ?? '', /Ana: We lose orders at checkout\.\n--- brief\.txt ---\nCheckout must take one click\.\nNotes: Budget is fixed\./);

  const roadmap = done.steps.find((s) => s.id === 'roadmap');
  assert.equal(roadmap?.attempt, 2, 'the answer that broke the schema was a failed attempt');
  const out = done.output as { roadmap: { phases: Array<{ weeks: number }> }; presentation: { slides: Array<{ layout: string }> }; docId: string };
  assert.ok(out.roadmap.phases.every((p) => p.weeks >= 1));
  assert.deepEqual(out.presentation.slides.map((s) => s.layout), ['title', 'title-bullets', 'title-bullets', 'closing']);
  assert.equal(out.docId, room);

  const text = editor.doc.getText('content');
  await waitFor(() => text.toString().includes('## Open questions'), { what: 'the PRD in the live document', timeoutMs: 20_000 });
  assert.ok(text.toString().startsWith('# PRD: Acme\n\n## Problem\n\n'), text.toString().slice(0, 60));

  const events = await waitForOutboundEvents(
    cluster.nc,
    (all) => {
      const mine = all.filter((e) => e.event.orderKey === `job:${id}` && ['prd.generated', 'assets.created', 'discovery.completed'].includes(e.event.type));
      return mine.length === 3 ? mine : null;
    },
    'the three platform events',
  );
  assert.deepEqual(events.map((e) => e.event.type).sort(), ['assets.created', 'discovery.completed', 'prd.generated']);
  for (const e of events) assert.deepEqual(e.event.ownerIds, [cluster.user.id]);
  const completed = events.find((e) => e.event.type === 'discovery.completed')!.event.data as { step: string; event: unknown };
  assert.equal(completed.step, 'discovery-completed');
  assert.deepEqual(completed.event, { jobId: id, client: 'Acme' });
});
