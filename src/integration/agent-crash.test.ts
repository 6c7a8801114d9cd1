/**
 * Agent sessions survive their processes. Two actor hosts, a gateway and an
 * inference worker run as separate OS processes; the test drives sessions
 * over NATS like an internal service, and offers the tools itself as a NATS
 * micro-service (plain @nats-io/services, the documented metadata), counting
 * every call it receives:
 * - the host running a session is SIGKILLed during the turn's second model
 *   call, after a tool call completed: the turn completes on the other host,
 *   and the model server and the tool each saw every call exactly once;
 * - a turn waiting for approval survives a restart of every process (Loom,
 *   NATS and PostgreSQL), then runs the tool once when approved;
 * - a session whose host died while a tool ran (nothing in flight would wake
 *   it) is resumed by the supervisor, which re-runs the tool call that had not
 *   completed under the same call id.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import { Svcm } from '@nats-io/services';
import { agentSessionViewSchema, type AgentSessionView } from '../../protocol/agent.ts';
import { SERVICE_TOOL_HEADERS, SERVICE_TOOL_METADATA as K } from '../../protocol/agent-tools.ts';
import { parseActorId } from '../../protocol/ids.ts';
import { decodeJson, encodeJson, replyError } from '../../protocol/reply.ts';
import { OWNER_BUCKET, leaseKey } from '../../protocol/subjects.ts';
import { createRootLogger } from '../log.ts';
import { ActorClient } from '../placement/actor-client.ts';
import { waitFor } from '../testing/index.ts';
import { startJobsCluster, type JobsCluster } from './jobs-fixture.ts';

let cluster: JobsCluster;
let client: ActorClient;
/** Calls the test's tool service received, by tool and call id. */
const received = new Map<string, number>();

const schema = JSON.stringify({ type: 'object', properties: { query: { type: 'string' } }, required: ['query'], additionalProperties: false });

async function offerTools(): Promise<void> {
  const service = await new Svcm(cluster.nc).add({ name: 'crash-test-tools', version: '1.0.0', description: 'tools of the agent crash test' });
  const group = service.addGroup('crash-test-tools');
  for (const [name, needsApproval] of [['crash_lookup', 'false'], ['crash_publish', 'true'], ['crash_hold', 'false']] as const) {
    group.addEndpoint(name, {
      metadata: { [K.name]: name, [K.description]: `${name} for the crash test`, [K.schema]: schema, [K.needsApproval]: needsApproval, [K.timeoutMs]: '60000' },
      handler: (err, msg) => {
        if (err !== null) return;
        const key = `${name} ${msg.headers?.get(SERVICE_TOOL_HEADERS.callId) ?? '?'}`;
        const n = (received.get(key) ?? 0) + 1;
        received.set(key, n);
        // crash_hold never answers its first call of an id (its caller is about to die).
        if (name === 'crash_hold' && n === 1) return;
        msg.respond(JSON.stringify({ answer: `${name} answered ${msg.json<{ query: string }>().query}` }));
      },
    });
  }
}

before(async () => {
  cluster = await startJobsCluster({ layout: { hosts: 2, gateways: 1, workers: 1 } });
  client = new ActorClient(cluster.nc, { requestTimeoutMs: 5_000, deadlineMs: 30_000, log: createRootLogger({ level: 'silent', instanceId: 'agent-crash-test' }) });
  await offerTools();
});
after(async () => {
  await cluster?.stop();
});

async function command(id: string, name: string, body?: unknown): Promise<unknown> {
  const reply = await client.request('agent', parseActorId(id), name, body === undefined ? new Uint8Array(0) : encodeJson(body));
  const error = replyError(reply);
  if (error !== null) throw error;
  return reply.body.byteLength === 0 ? undefined : (JSON.parse(new TextDecoder().decode(reply.body)) as unknown);
}

async function view(id: string): Promise<AgentSessionView> {
  const reply = await client.request('agent', parseActorId(id), 'get', new Uint8Array(0));
  const error = replyError(reply);
  if (error !== null) throw error;
  return decodeJson(reply.body, agentSessionViewSchema, 'session view');
}

async function leaseHolder(id: string): Promise<string | null> {
  const kv = await new Kvm(cluster.nc).open(OWNER_BUCKET);
  const entry = await kv.get(leaseKey('agent', parseActorId(id)));
  if (entry === null || entry.operation !== 'PUT') return null;
  return (JSON.parse(new TextDecoder().decode(entry.value)) as { host: string }).host;
}

const newId = () => `agent_${randomBytes(6).toString('hex')}`;

/** The text of the transcript's last entry when it is the model's answer. */
function lastAnswer(v: AgentSessionView): string | null {
  const last = v.transcript.at(-1);
  return last?.role === 'assistant' ? last.content : null;
}

test('SIGKILL of the session’s host during the second model call: the turn completes on the other host; every model and tool call happened once', async () => {
  const id = newId();
  const question = `crash question ${id}`;
  let release: (() => void) | undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  cluster.model.script([
    { content: 'Looking it up.', toolCalls: [{ id: 'call-crash-1', name: 'crash_lookup', arguments: { query: 'tides' } }] },
    async () => {
      await held;
      return 'The moon pulls the sea.';
    },
  ]);
  await command(id, 'start', { ownerId: cluster.user.id, tools: ['crash_lookup'], maxSteps: 4 });
  await command(id, 'message', { content: question });
  const ofSession = () => cluster.model.calls.filter((c) => c.request.messages.some((m) => m.content === question));
  await waitFor(() => ofSession().length === 2 && ofSession()[1]?.outcome === 'in-flight', { what: 'the second model call in flight', timeoutMs: 30_000 });
  assert.equal(received.get('crash_lookup call-crash-1'), 1, 'the tool ran before the kill');

  const holder = await leaseHolder(id);
  const victim = cluster.hosts.find((h) => h.name === holder);
  assert.ok(victim !== undefined, `the lease names a host: ${holder}`);
  await victim.kill();
  release?.();

  const done = await waitFor(
    async () => {
      const v = await view(id);
      return v.currentTurn?.status === 'completed' ? v : undefined;
    },
    { what: 'the turn completed after the kill', timeoutMs: 60_000 },
  );
  const survivor = cluster.hosts.find((h) => h !== victim);
  assert.ok(survivor?.grep(/"msg":"agent session recovered"/).some((l) => l.includes(id)), 'the other host took the session over');
  assert.equal(lastAnswer(done), 'The moon pulls the sea.');
  assert.equal(ofSession().length, 2, 'the model saw each call once');
  assert.equal(received.get('crash_lookup call-crash-1'), 1, 'the tool saw its call once');
  assert.equal(done.usage.calls, 2);
  await victim.start();
});

test('a turn waiting for approval survives a restart of every process, then runs the tool once when approved', async () => {
  const id = newId();
  cluster.model.script([{ toolCalls: [{ id: 'call-publish-1', name: 'crash_publish', arguments: { query: 'post it' } }] }, 'Published.']);
  await command(id, 'start', { ownerId: cluster.user.id, tools: ['crash_publish'] });
  await command(id, 'message', { content: `publish ${id}` });
  await waitFor(async () => (await view(id)).status === 'waiting-approval', { what: 'waiting for approval', timeoutMs: 30_000 });

  const loom = [...cluster.gateways, ...cluster.workers, ...cluster.hosts];
  await Promise.all(loom.map((p) => p.stop()));
  await cluster.nats.restart();
  await cluster.postgres.restart();
  for (const h of cluster.hosts) await h.start();
  await Promise.all([...cluster.gateways, ...cluster.workers].map((p) => p.start()));

  const waiting = await waitFor(
    async () => {
      const v = await view(id);
      return v.status === 'waiting-approval' ? v : undefined;
    },
    { what: 'still waiting after the restart', timeoutMs: 30_000 },
  );
  assert.deepEqual(waiting.pendingApprovals.map((p) => p.callId), ['call-publish-1']);
  assert.equal(received.get('crash_publish call-publish-1'), undefined, 'nothing ran before approval');
  await command(id, 'approve', { callId: 'call-publish-1', approved: true });
  const done = await waitFor(
    async () => {
      const v = await view(id);
      return v.currentTurn?.status === 'completed' ? v : undefined;
    },
    { what: 'the turn completed after approval', timeoutMs: 30_000 },
  );
  assert.equal(received.get('crash_publish call-publish-1'), 1);
  assert.equal(lastAnswer(done), 'Published.');
});

test('a session whose host died while a tool ran is resumed by the supervisor and re-runs that call under its call id', async () => {
  const id = newId();
  cluster.model.script([{ toolCalls: [{ id: 'call-hold-1', name: 'crash_hold', arguments: { query: 'wait' } }] }, 'Held and done.']);
  await command(id, 'start', { ownerId: cluster.user.id, tools: ['crash_hold'] });
  await command(id, 'message', { content: `hold ${id}` });
  await waitFor(() => received.get('crash_hold call-hold-1') === 1, { what: 'the tool call received', timeoutMs: 30_000 });
  const holder = await leaseHolder(id);
  const victim = cluster.hosts.find((h) => h.name === holder);
  assert.ok(victim !== undefined, `the lease names a host: ${holder}`);
  await victim.kill();
  // Nothing asks for the session now: only the supervisor can wake it.
  await waitFor(() => received.get('crash_hold call-hold-1') === 2, { what: 'the call re-run after the supervisor resumed the session', timeoutMs: 60_000 });
  const survivor = cluster.hosts.find((h) => h !== victim);
  await waitFor(() => (survivor?.grep(/resumed agent actors whose host died/).length ?? 0) > 0, { what: 'the supervisor log line' });
  const done = await waitFor(
    async () => {
      const v = await view(id);
      return v.currentTurn?.status === 'completed' ? v : undefined;
    },
    { what: 'the turn completed', timeoutMs: 30_000 },
  );
  assert.equal(lastAnswer(done), 'Held and done.');
  await victim.start();
});
