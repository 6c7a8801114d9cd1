/**
 * The NATS users and permissions of deploy/nats/auth/accounts.conf: the file
 * passes `nats-server -t`, and on a real nats-server started by the harness
 * with it, Loom runs with one user per role (an actor host as `actors`, a
 * gateway as `gateway`, an inference worker as `inference`, a webhook
 * dispatcher as `webhooks`, a service worker as `worker`: a job with a model
 * step and a service step and an agent session's turn run to the end, an outbound event reaches the
 * dispatcher's intake, an agent tool is discovered and called, nobody is
 * refused anything) while each user is held to its subjects: an internal
 * service may request `actor.doc.*.update` but not publish to `log.doc.>` or
 * `event.doc.>`; a gateway cannot write or purge the log; an inference
 * worker reaches its queue and nothing of documents; nobody connects without
 * a password.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import * as Y from 'yjs';
import { updateAckSchema } from '../protocol/doc.ts';
import { parseActorId } from '../protocol/ids.ts';
import { INFERENCE_STREAM } from '../protocol/inference.ts';
import { decodeJson } from '../protocol/reply.ts';
import { OUTBOUND_EVENTS_STREAM, outboundEventSubject } from '../protocol/outbound-events.ts';
import { commandSubject, DOC_LOG_STREAM, docLogSubject, eventSubject } from '../protocol/subjects.ts';
import { eq } from 'drizzle-orm';
import { createRootLogger } from '../src/log.ts';
import { openDatabase, recordOutboxEvent, type Database } from '../src/storage/index.ts';
import { webhookIntake } from '../src/storage/postgres/webhooks-schema.ts';
import { Svcm } from '@nats-io/services';
import { startFakeModelServer, type FakeModelServer } from '../src/testing/fake-model-server.ts';
import { platformWorkerFleet, type PlatformWorkerFleet } from '../src/testing/platform-workers/platform-worker-fleet.ts';
import { SchemaValidator } from '../src/agents/schema-validator.ts';
import { ServiceToolDirectory } from '../src/agents/service-tools.ts';
import {
  connectCollabClient,
  startLoomProcess,
  startNatsServer,
  startPostgresServer,
  waitFor,
  type CollabClient,
  type LoomProcess,
  type NatsServerHandle,
  type PostgresServerHandle,
} from '../src/testing/index.ts';
import { REPO_ROOT } from './manifests.ts';

const ACCOUNTS_CONF = path.join(REPO_ROOT, 'deploy', 'nats', 'auth', 'accounts.conf');
const PASSWORDS: Readonly<Record<string, string>> = {
  gateway: 'gateway-secret-1',
  actors: 'actors-secret-1',
  inference: 'inference-secret-1',
  service: 'service-secret-1',
  worker: 'worker-secret-1',
  webhooks: 'webhooks-secret-1',
  tools: 'tools-secret-1',
};
/** The server-side variables the file reads, as a deployment sets them from a Secret. */
const PASSWORD_ENV = Object.fromEntries(Object.entries(PASSWORDS).map(([user, pw]) => [`LOOM_NATS_${user.toUpperCase()}_PASSWORD`, pw]));
const TIMEOUT_MS = 3_000;
const AUTH_MODEL = 'auth-model';

const probe = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
const skip = probe.error !== undefined ? 'no nats-server on PATH' : false;

/** Rejects unless the request is refused by the server's permissions. */
async function assertDenied(attempt: Promise<unknown>, what: string): Promise<void> {
  await assert.rejects(attempt, (err: Error) => /Permissions Violation/i.test(`${err.message} ${String(err.cause ?? '')}`), what);
}

function textUpdate(text: string): Uint8Array {
  const d = new Y.Doc();
  d.getText('t').insert(0, text);
  const u = Y.encodeStateAsUpdate(d);
  d.destroy();
  return u;
}

describe('deploy/nats/auth/accounts.conf', { skip }, () => {
  it('passes `nats-server -t` with the passwords in the environment', () => {
    const run = spawnSync('nats-server', ['-t', '-c', ACCOUNTS_CONF], { encoding: 'utf8', env: { ...process.env, ...PASSWORD_ENV } });
    assert.equal(run.status, 0, `nats-server -t: ${run.stderr || run.stdout}`);
  });

  describe('on a real server, with Loom running one user per role', () => {
    let dir: string;
    let nats: NatsServerHandle;
    let pg: PostgresServerHandle;
    let host: LoomProcess;
    let gateway: LoomProcess;
    let webhooks: LoomProcess;
    let inference: LoomProcess;
    let model: FakeModelServer;
    let fleet: PlatformWorkerFleet;
    let db: Database;
    const conns: NatsConnection[] = [];
    const clients: CollabClient[] = [];
    const as = async (user: string): Promise<NatsConnection> => {
      const nc = await connect({ servers: nats.url, user, pass: PASSWORDS[user] ?? '' });
      conns.push(nc);
      return nc;
    };
    const urlFor = (user: string) => `nats://${user}:${PASSWORDS[user] ?? ''}@127.0.0.1:${nats.port}`;

    before(async () => {
      // The harness passes one file; variables defined at its top stand in for the environment.
      dir = mkdtempSync(path.join(os.tmpdir(), 'loom-nats-auth-'));
      const conf = path.join(dir, 'server.conf');
      const vars = Object.entries(PASSWORD_ENV).map(([k, v]) => `${k}: "${v}"`).join('\n');
      writeFileSync(conf, `${vars}\n${readFileSync(ACCOUNTS_CONF, 'utf8')}`);
      [nats, pg, model] = await Promise.all([startNatsServer({ configFile: conf }), startPostgresServer(), startFakeModelServer({ respond: () => 'Good mornings start here.' })]);
      const databaseUrl = await pg.createDatabase();
      const env = { LOOM_DEFAULT_MODEL: AUTH_MODEL, LOOM_INFERENCE_MODELS: AUTH_MODEL, OPENAI_BASE_URL: model.baseURL, OPENAI_API_KEY: 'test' };
      host = await startLoomProcess({ name: 'auth-host', roles: ['actors'], natsUrl: urlFor('actors'), databaseUrl, env });
      gateway = await startLoomProcess({ name: 'auth-gw', roles: ['gateway'], natsUrl: urlFor('gateway'), databaseUrl, env: { ...env, LOOM_DOC_ACCESS: 'open' } });
      webhooks = await startLoomProcess({ name: 'auth-webhooks', roles: ['webhooks'], natsUrl: urlFor('webhooks'), databaseUrl, env });
      inference = await startLoomProcess({ name: 'auth-inference', roles: ['inference'], natsUrl: urlFor('inference'), databaseUrl, env });
      fleet = platformWorkerFleet(urlFor('worker'));
      await fleet.start('auth-tts-worker', ['tts']);
      db = await openDatabase({ url: databaseUrl, logger: createRootLogger({ level: 'silent', instanceId: 'nats-auth-test' }) });
    });
    after(async () => {
      for (const c of clients) c.destroy();
      for (const nc of conns) await nc.close();
      await db?.close();
      await fleet?.stop();
      await Promise.allSettled([inference?.stop(), webhooks?.stop(), gateway?.stop(), host?.stop()]);
      await model?.close();
      await nats?.dispose();
      await pg?.dispose();
      rmSync(dir, { recursive: true, force: true });
    });

    it('lets Loom work and an internal service edit through the actor, but not write the log or forge events', async () => {
      const room = `auth-${Date.now()}`;
      const id = parseActorId(room);
      const editor = connectCollabClient(gateway.wsUrl, room);
      clients.push(editor);
      await editor.synced();
      editor.doc.getText('t').insert(0, 'from the editor;');

      const service = await as('service');
      const reply = await service.request(commandSubject('doc', id, 'update'), textUpdate('from the service;'), { timeout: TIMEOUT_MS });
      assert.equal(reply.headers?.get('Loom-Error') ?? '', '', reply.string());
      decodeJson(reply.data, updateAckSchema, 'update ack');
      const both = (text: string) => text.includes('from the service;') && text.includes('from the editor;') && text.length === 33;
      await waitFor(() => both(editor.doc.getText('t').toString()), {
        what: 'the service edit reached the editor',
      });

      const jsm = await jetstreamManager(await as('actors'));
      const lastSeq = async () => (await jsm.streams.getMessage(DOC_LOG_STREAM, { last_by_subj: docLogSubject(id) }))?.seq ?? 0;
      const before = await lastSeq();
      assert.ok(before > 0, 'the log holds the edits');

      await assertDenied(service.request(docLogSubject(id), textUpdate('forged;'), { timeout: TIMEOUT_MS }), 'service writes the log');
      await assertDenied(jetstream(service).publish(docLogSubject(id), textUpdate('forged;'), { timeout: TIMEOUT_MS }), 'service writes the log through JetStream');
      await assertDenied(service.request(eventSubject('doc', id, 'update'), textUpdate('forged event;'), { timeout: TIMEOUT_MS }), 'service forges an event');
      await assertDenied(service.request('$JS.API.STREAM.INFO.LOOM_DOC_LOG', new Uint8Array(0), { timeout: TIMEOUT_MS }), 'service reads JetStream');

      const gw = await as('gateway');
      await assertDenied(jetstream(gw).publish(docLogSubject(id), textUpdate('forged;'), { timeout: TIMEOUT_MS }), 'gateway writes the log');
      await assertDenied(jetstreamManager(gw).then((m) => m.streams.purge(DOC_LOG_STREAM, { filter: docLogSubject(id) })), 'gateway purges the log');
      // The start-time replica reconcile (R1 -> R3) is a stream update: granted on Loom's named streams.
      const gwJsm = await jetstreamManager(gw);
      const replicas = (await gwJsm.streams.info(DOC_LOG_STREAM)).config.num_replicas;
      assert.equal((await gwJsm.streams.update(DOC_LOG_STREAM, { num_replicas: replicas })).config.num_replicas, replicas, 'gateway reconciles replicas');
      await assertDenied(service.request(`$JS.API.STREAM.UPDATE.${DOC_LOG_STREAM}`, new Uint8Array(0), { timeout: TIMEOUT_MS }), 'service updates a stream');

      const inference = await as('inference');
      await assertDenied(inference.request(docLogSubject(id), textUpdate('forged;'), { timeout: TIMEOUT_MS }), 'inference writes the log');
      await assertDenied(inference.request(commandSubject('doc', id, 'content'), new Uint8Array(0), { timeout: TIMEOUT_MS }), 'inference reads a document');
      const queue = await jetstreamManager(inference);
      assert.equal((await queue.streams.info(INFERENCE_STREAM)).config.name, INFERENCE_STREAM, 'inference reaches its queue');
      const queueReplicas = (await queue.streams.info(INFERENCE_STREAM)).config.num_replicas;
      assert.equal((await queue.streams.update(INFERENCE_STREAM, { num_replicas: queueReplicas })).config.num_replicas, queueReplicas, 'inference reconciles replicas');

      assert.equal(await lastSeq(), before, 'nothing forged reached the log');
      const content = await fetch(`${gateway.httpUrl}/v1/docs/${room}?format=text`).then((r) => r.text());
      assert.ok(both(content), content);
      assert.ok(!editor.doc.getText('t').toString().includes('forged'));
      // Loom itself never hit a rule: every subject its roles use is allowed.
      for (const p of [host, gateway]) assert.deepEqual(p.grep(/Permissions Violation|Authorization Violation/i), [], `${p.name} was refused something`);
    });

    it('carries an outbound event from the actors’ outbox relay to the webhook intake, and holds the dispatcher to its subjects', async () => {
      const event = await recordOutboxEvent(db.db, { type: 'auth.checked', ownerIds: ['user-auth-test'], orderKey: 'auth:1', data: { n: 1 }, at: new Date() });
      const intakeCursor = async () => (await db.db.select({ lastSeq: webhookIntake.lastSeq }).from(webhookIntake).where(eq(webhookIntake.stream, OUTBOUND_EVENTS_STREAM)))[0]?.lastSeq ?? 0;
      await waitFor(async () => (await intakeCursor()) >= 1, { what: `the webhook intake to read ${event.id}`, timeoutMs: 20_000 });
      const stored = await (await jetstreamManager(await as('actors'))).streams.getMessage(OUTBOUND_EVENTS_STREAM, { seq: 1 });
      assert.equal(stored?.json<{ id: string }>().id, event.id, 'the relay recorded the outbox event');

      const dispatcher = await as('webhooks');
      await assertDenied(dispatcher.request(outboundEventSubject('auth.forged'), new Uint8Array(0), { timeout: TIMEOUT_MS }), 'webhooks forges an outbound event');
      await assertDenied(dispatcher.request(commandSubject('doc', parseActorId('auth-any'), 'content'), new Uint8Array(0), { timeout: TIMEOUT_MS }), 'webhooks reads a document');
      await assertDenied(dispatcher.request('$KV.loom_leases.host.someone', new Uint8Array(0), { timeout: TIMEOUT_MS }), 'webhooks writes another lease');
      await assertDenied(jetstreamManager(dispatcher).then((m) => m.streams.purge(OUTBOUND_EVENTS_STREAM)), 'webhooks purges the outbound events');
      for (const p of [host, gateway, webhooks]) assert.deepEqual(p.grep(/Permissions Violation|Authorization Violation/i), [], `${p.name} was refused something`);
    });

    it('lets an actor host discover and call an agent tool of a NATS micro-service under tool.>, and holds the service to its subjects', async () => {
      const log = createRootLogger({ level: 'silent', instanceId: 'nats-auth-test' });
      const toolConn = await as('tools');
      const service = await new Svcm(toolConn).add({ name: 'authcheck', version: '1.0.0' });
      service.addEndpoint('echo', {
        subject: 'tool.authcheck.echo',
        metadata: { 'loom.tool.name': 'auth_echo', 'loom.tool.description': 'Echoes its arguments', 'loom.tool.schema': JSON.stringify({ type: 'object' }) },
        handler: (err, msg) => {
          if (err === null) msg.respond(`echo ${msg.string()}`);
        },
      });
      try {
        // The directory Loom's actor hosts use, on the actors user's connection.
        const actors = await as('actors');
        const directory = new ServiceToolDirectory({ nc: actors, validator: new SchemaValidator(), reservedNames: new Set(), defaultTimeoutMs: TIMEOUT_MS, cacheTtlMs: 10_000, minRefreshMs: 0, discoveryWaitMs: 1_000, log });
        const tool = await directory.find('auth_echo', AbortSignal.timeout(5_000));
        assert.ok(tool !== null, 'discovered through $SRV.INFO');
        assert.equal(await tool.run({ a: 1 }, { sessionId: 's-auth', ownerId: 'u-auth', callId: 'c-auth', signal: AbortSignal.timeout(TIMEOUT_MS), log }), 'echo {"a":1}');
        await assertDenied(actors.request('weather.forecast', new Uint8Array(0), { timeout: TIMEOUT_MS }), 'actors calls a service outside tool.>');

        const room = parseActorId(`auth-tools-${Date.now()}`);
        await assertDenied(toolConn.request(docLogSubject(room), textUpdate('forged;'), { timeout: TIMEOUT_MS }), 'tools writes a log');
        await assertDenied(toolConn.request(commandSubject('doc', room, 'content'), new Uint8Array(0), { timeout: TIMEOUT_MS }), 'tools reads a document');
        await assertDenied(toolConn.request('$JS.API.STREAM.INFO.LOOM_DOC_LOG', new Uint8Array(0), { timeout: TIMEOUT_MS }), 'tools reads JetStream');
        await assertDenied(toolConn.request('sys.activate.doc', new Uint8Array(0), { timeout: TIMEOUT_MS }), 'tools activates an actor');
      } finally {
        await service.stop();
      }
    });

    it('runs a job with a model step and a service step, and an agent session’s turn, end to end, every process as its own user, none refused anything', async () => {
      const api = async <T>(method: string, p: string, body?: unknown, token?: string): Promise<{ status: number; body: T }> => {
        const res = await fetch(`${gateway.httpUrl}${p}`, {
          method,
          headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return { status: res.status, body: (await res.json()) as T };
      };
      const registered = await api<{ tokens: { accessToken: string } }>('POST', '/v1/auth/register', { email: `auth-${Date.now()}@test.example`, password: 'correct horse battery staple' });
      assert.equal(registered.status, 201, JSON.stringify(registered.body));
      const token = registered.body.tokens.accessToken;
      const definition = {
        kind: 'auth.voice',
        description: 'A model call, then a service task, under NATS users.',
        input: { type: 'object', required: ['topic'], properties: { topic: { type: 'string' } } },
        steps: [
          { id: 'write', type: 'llm', prompt: { system: 'Write one line.', user: 'Topic: {{input.topic}}' } },
          { id: 'voice', type: 'service', after: ['write'], queue: 'tts', input: { jobId: '{{job.id}}', index: 1, text: '{{steps.write.output}}', language: 'en', voice: 'alloy' } },
        ],
      };
      const put = await api('PUT', '/v1/pipelines/auth.voice', definition, token);
      assert.equal(put.status, 201, JSON.stringify(put.body));
      const created = await api<{ job: { id: string } }>('POST', '/v1/jobs', { kind: 'auth.voice', input: { topic: 'mornings' } }, token);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.job.id;
      let job: { status: string; steps: Array<{ id: string; output?: { characters?: number } }>; error?: unknown } | undefined;
      await waitFor(
        async () => {
          job = (await api<NonNullable<typeof job>>('GET', `/v1/jobs/${id}`, undefined, token)).body;
          return job.status !== 'queued' && job.status !== 'running';
        },
        { what: 'the job to end', timeoutMs: 30_000 },
      );
      assert.equal(job?.status, 'succeeded', JSON.stringify(job?.error));
      assert.equal(job?.steps.find((s) => s.id === 'voice')?.output?.characters, 'Good mornings start here.'.length, 'the worker voiced the model output');

      // An agent session's turn: the gateway starts it, the actors host runs it, the inference worker answers.
      const session = await api<{ session: { id: string } }>('POST', '/v1/agent-sessions', {}, token);
      assert.equal(session.status, 201, JSON.stringify(session.body));
      const sid = session.body.session.id;
      const sent = await api('POST', `/v1/agent-sessions/${sid}/messages`, { content: 'Say good morning.' }, token);
      assert.equal(sent.status, 202, JSON.stringify(sent.body));
      let view: { status: string; currentTurn: { status: string } | null; transcript: Array<{ role: string; content?: string }> } | undefined;
      await waitFor(
        async () => {
          view = (await api<NonNullable<typeof view>>('GET', `/v1/agent-sessions/${sid}`, undefined, token)).body;
          return view.currentTurn !== null && view.currentTurn.status !== 'running';
        },
        { what: 'the agent turn to end', timeoutMs: 30_000 },
      );
      assert.equal(view?.currentTurn?.status, 'completed', JSON.stringify(view));
      assert.equal(view?.transcript.at(-1)?.content, 'Good mornings start here.');

      for (const p of [host, gateway, webhooks, inference]) assert.deepEqual(p.grep(/Permissions Violation|Authorization Violation|doorbell subscription ended/i), [], `${p.name} was refused something`);
      for (const w of fleet.workers) assert.deepEqual(w.output().filter((l) => /Permissions Violation|Authorization Violation/i.test(l)), [], `${w.name} was refused something`);
    });

    it('lets idle workers hear their doorbells: the rings of stored inference requests and service tasks, and on older streams the subjects themselves', async () => {
      for (const [user, subject] of [
        ['inference', 'inference.ring.some-model.interactive'],
        ['inference', 'inference.request.some-model.interactive'],
        ['worker', 'activity.ring.some-queue.interactive'],
        ['worker', 'activity.task.some-queue.interactive'],
      ] as const) {
        const nc = await as(user);
        const refused: string[] = [];
        const sub = nc.subscribe(subject, {
          callback: (err) => {
            if (err !== null) refused.push(err.message);
          },
        });
        await nc.flush();
        // A refused subscription is reported asynchronously, after the server has read it.
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.deepEqual(refused, [], `${user} subscribes to ${subject}`);
        sub.unsubscribe();
      }
    });

    it('refuses connections without the right password', async () => {
      await assert.rejects(connect({ servers: nats.url, reconnect: false }), /Authorization Violation/i);
      await assert.rejects(connect({ servers: nats.url, user: 'service', pass: 'wrong', reconnect: false }), /Authorization Violation/i);
    });
  });
});
