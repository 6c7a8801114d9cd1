/**
 * An agent session as a visible, revertible collaborator, end to end with
 * real processes (every role in one Loom process, members mode, real NATS
 * and PostgreSQL, the fake model server answering with tool calls through
 * the inference queue): a turn calls doc_search, then doc_edit (beside a
 * call whose arguments fail the tool's schema), then answers, while a
 * person types in the same document through y-websocket. Both edits
 * survive, attribution names both, reverting the session removes only its
 * text, and every client converges.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connectCollabClient, waitFor, type CollabClient, type FakeChatRequest } from '../testing/index.ts';
import { attributionSpans, startJobsCluster, TEST_MODEL, type JobsCluster } from './jobs-fixture.ts';

let cluster: JobsCluster;
const clients: CollabClient[] = [];

before(async () => {
  cluster = await startJobsCluster({ env: { LOOM_DOC_ACCESS: 'members' } });
});
after(async () => {
  for (const c of clients) c.destroy();
  await cluster?.stop();
});

interface ToolEntry {
  readonly role: string;
  readonly name?: string;
  readonly result?: { ok: boolean; code?: string; content?: string };
}

const spans = (docId: string) => attributionSpans(cluster, docId);

/** The content of the tool message answering `callId` in what the model was sent. */
const toolResult = (r: FakeChatRequest, callId: string) => r.messages.find((m) => m.role === 'tool' && m.toolCallId === callId)?.content;

test('a turn searches, edits the live document beside a person, and answers; attribution names both; revert removes only the agent', async () => {
  const created = await cluster.api<{ id: string }>('POST', '/v1/docs', { body: { title: 'Tide notes' } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const docId = created.body.id;
  const person = `user:${cluster.user.id}`;
  const editor = connectCollabClient(cluster.gateways[0]!.wsUrl, docId, { params: { token: cluster.user.token } });
  clients.push(editor);
  await editor.synced();
  const text = editor.doc.getText('t');
  text.insert(0, 'Notes by the editor.\n');

  const started = await cluster.api<{ session: { id: string } }>('POST', '/v1/agent-sessions', {
    body: { instructions: 'You keep tide notes.', tools: ['doc_search', 'doc_edit'], docId, maxSteps: 5 },
  });
  assert.equal(started.status, 201, JSON.stringify(started.body));
  const sessionId = started.body.session.id;
  const agent = `agent:${sessionId}`;
  const agentText = '\nAgent: the gauge at Brest rose 7.2 m.';

  const seen: FakeChatRequest[] = [];
  cluster.model.script(
    [
      (r) => {
        seen.push(r);
        return { content: 'Let me look.', toolCalls: [{ id: 'call_search', name: 'doc_search', arguments: { query: 'tide' } }] };
      },
      (r) => {
        seen.push(r);
        // The person types while the agent is between its calls.
        text.insert(0, 'TOP ');
        return {
          toolCalls: [
            { id: 'call_bad', name: 'doc_edit', arguments: { op: 'teleport', text: 5 } },
            { id: 'call_edit', name: 'doc_edit', arguments: { op: 'append', text: agentText, root: 't' } },
          ],
        };
      },
      (r) => {
        seen.push(r);
        text.insert(text.length, '\nSigned, the editor.');
        return 'I added the reading to your notes.';
      },
    ],
    { model: TEST_MODEL },
  );
  const sent = await cluster.api<{ turnId: string }>('POST', `/v1/agent-sessions/${sessionId}/messages`, { body: { content: 'Add the Brest gauge reading.' } });
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  const view = await waitFor(
    async () => {
      const r = await cluster.api<{ status: string; currentTurn: { status: string } | null; transcript: ToolEntry[] }>('GET', `/v1/agent-sessions/${sessionId}`);
      return r.body.currentTurn?.status !== undefined && r.body.currentTurn.status !== 'running' ? r.body : null;
    },
    { what: 'the turn to end', timeoutMs: 30_000, intervalMs: 100 },
  );
  assert.equal(view.currentTurn?.status, 'completed', JSON.stringify(view));

  // The model was offered both tools, saw the search result, then the schema error and the edit's success.
  assert.equal(seen.length, 3);
  assert.deepEqual(seen[0]?.toolNames.slice().sort(), ['doc_edit', 'doc_search']);
  assert.ok(toolResult(seen[1]!, 'call_search') !== undefined, 'the search result went back to the model');
  assert.match(toolResult(seen[2]!, 'call_bad') ?? '', /invalid-arguments|op|text/);
  assert.ok(toolResult(seen[2]!, 'call_edit') !== undefined);
  const tools = view.transcript.filter((t) => t.role === 'tool');
  assert.deepEqual(
    tools.map((t) => [t.name, t.result?.ok, t.result?.code ?? null]),
    [
      ['doc_search', true, null],
      ['doc_edit', false, 'invalid-arguments'],
      ['doc_edit', true, null],
    ],
  );

  // Both edits survive in the person's editor.
  await waitFor(() => text.toString().includes(agentText), { what: "the agent's text in the editor", timeoutMs: 20_000 });
  const final = text.toString();
  assert.ok(final.startsWith('TOP Notes by the editor.\n'), final);
  assert.ok(final.includes('\nSigned, the editor.'), final);

  // Attribution names the person and the agent, and the agent wrote exactly its text.
  await waitFor(async () => (await spans(docId)).map((s) => s.text).join('') === text.toString(), { what: 'attribution to cover the text', timeoutMs: 20_000 });
  const attributed = await spans(docId);
  assert.deepEqual([...new Set(attributed.map((s) => s.author))].sort(), [agent, person].sort());
  assert.equal(attributed.filter((s) => s.author === agent).map((s) => s.text).join(''), agentText);

  // Reverting the session removes its text only; the editor and a late client converge.
  const reverted = await cluster.api<{ changed: boolean }>('POST', `/v1/docs/${encodeURIComponent(docId)}/revert`, { body: { origin: agent } });
  assert.equal(reverted.status, 200, JSON.stringify(reverted.body));
  assert.equal(reverted.body.changed, true);
  const expected = final.replace(agentText, '');
  await waitFor(() => text.toString() === expected, { what: `the editor to converge (has ${JSON.stringify(text.toString())})`, timeoutMs: 20_000 });
  const late = connectCollabClient(cluster.gateways[0]!.wsUrl, docId, { params: { token: cluster.user.token } });
  clients.push(late);
  await late.synced();
  await waitFor(() => late.doc.getText('t').toString() === expected, { what: 'a late client to converge', timeoutMs: 20_000 });
  assert.deepEqual(await spans(docId), [{ text: expected, author: person }]);
});

test("an agent cannot edit a document its owner may not: doc_edit on another user's document is a tool error the model sees", async () => {
  const theirs = await cluster.api<{ id: string }>('POST', '/v1/docs', { body: { title: 'Private' }, token: cluster.stranger.token });
  assert.equal(theirs.status, 201);
  const started = await cluster.api<{ session: { id: string } }>('POST', '/v1/agent-sessions', { body: { tools: ['doc_edit'] } });
  assert.equal(started.status, 201);
  // Attaching the session to it is refused outright, as the documents API refuses a non-member.
  const attached = await cluster.api('POST', '/v1/agent-sessions', { body: { docId: theirs.body.id } });
  assert.equal(attached.status, 403, JSON.stringify(attached.body));
  const seen: FakeChatRequest[] = [];
  cluster.model.script(
    [
      { toolCalls: [{ id: 'call_x', name: 'doc_edit', arguments: { docId: theirs.body.id, op: 'append', text: 'sneaky' } }] },
      (r) => {
        seen.push(r);
        return 'I could not.';
      },
    ],
    { model: TEST_MODEL },
  );
  const id = started.body.session.id;
  assert.equal((await cluster.api('POST', `/v1/agent-sessions/${id}/messages`, { body: { content: 'write there' } })).status, 202);
  await waitFor(() => seen[0], { what: 'the second model call', timeoutMs: 30_000 });
  assert.match(toolResult(seen[0]!, 'call_x') ?? '', /not-found|forbidden/);
  const doc = await cluster.api<{ content?: unknown }>('GET', `/v1/docs/${encodeURIComponent(theirs.body.id)}?format=text`, { token: cluster.stranger.token });
  assert.ok(!JSON.stringify(doc.body).includes('sneaky'));
});
