/**
 * Test fixture for agent sessions in one process: a real nats-server, PGlite,
 * the fake model server behind a real inference worker, an actor host
 * running the agent actor, and a ToolRunner of test tools that count their
 * calls (the tools themselves are the outside world here: src/agents/ has
 * its own tests). Hosts can be stopped and started again, as after a
 * restart of every process; everything durable survives in JetStream and
 * the database.
 */
import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { agentActorDefinition } from '../../actors/agent/index.ts';
import type { ToolDescriptor, ToolResult, ToolRunner } from '../../actors/agent/tool.ts';
import { parseActorId } from '../../protocol/ids.ts';
import { decodeJson, encodeJson, replyError } from '../../protocol/reply.ts';
import { agentSessionViewSchema, type AgentSessionView } from '../../protocol/agent.ts';
import { ActorHost } from '../host/actor-host.ts';
import { OpenAiModelClient } from '../inference/model-client.ts';
import { InferenceWorker } from '../inference/worker.ts';
import { NatsInferenceQueue } from '../jobs/index.ts';
import { createRootLogger, type Logger } from '../log.ts';
import { JetStreamAgentLog } from '../nats/jetstream-agent-log.ts';
import { provisionNats, type Provisioned } from '../nats/provision.ts';
import { ActorClient } from '../placement/actor-client.ts';
import { openDatabase, PostgresAgentProjection, type Database } from '../storage/index.ts';
import { startFakeModelServer, type FakeModelServer } from './fake-model-server.ts';
import { startNatsServer, type NatsServerHandle } from './nats-server.ts';

export const AGENT_TEST_MODEL = 'agent-test-model';

/** A test tool: what it answers, and whether it waits for a person. */
export interface TestTool {
  readonly needsApproval?: boolean;
  /** Runs the call (default: answers `ran <name> <args>`). Sees the abort signal. */
  readonly run?: (args: unknown, signal: AbortSignal) => Promise<ToolResult>;
}

/** Counts calls per tool name; `aborted` counts calls whose signal fired. */
export class CountingToolRunner implements ToolRunner {
  readonly calls = new Map<string, number>();
  readonly aborted = new Map<string, number>();
  constructor(private readonly tools: Readonly<Record<string, TestTool>>) {}

  async list(names: readonly string[] | undefined): Promise<readonly ToolDescriptor[]> {
    const all = Object.entries(this.tools).map(([name, t]) => ({
      name,
      description: `test tool ${name}`,
      parameters: { type: 'object', properties: { q: { type: 'string' } } },
      timeoutMs: 10_000,
      needsApproval: t.needsApproval ?? false,
      source: 'builtin' as const,
    }));
    return names === undefined ? all : all.filter((t) => names.includes(t.name));
  }

  async call(name: string, args: unknown, ctx: { signal: AbortSignal }): Promise<ToolResult> {
    this.calls.set(name, (this.calls.get(name) ?? 0) + 1);
    ctx.signal.addEventListener('abort', () => this.aborted.set(name, (this.aborted.get(name) ?? 0) + 1), { once: true });
    const tool = this.tools[name];
    if (tool === undefined) return { ok: false, code: 'unknown-tool', error: name };
    return tool.run === undefined ? { ok: true, content: `ran ${name} ${JSON.stringify(args)}` } : tool.run(args, ctx.signal);
  }

  count(name: string): number {
    return this.calls.get(name) ?? 0;
  }
}

export interface AgentHostFixture {
  readonly nats: NatsServerHandle;
  readonly nc: NatsConnection;
  readonly provisioned: Provisioned;
  readonly database: Database;
  readonly model: FakeModelServer;
  readonly tools: CountingToolRunner;
  readonly client: ActorClient;
  readonly log: Logger;
  /** Starts the actor host and the inference worker (again, after `stopProcesses`). */
  startProcesses(): Promise<void>;
  /** Stops them as a shutdown would (passivation, drained worker). */
  stopProcesses(): Promise<void>;
  /** Sends a command; a reply error becomes the ProtocolError it carries. */
  command(id: string, name: string, body?: unknown): Promise<unknown>;
  view(id: string): Promise<AgentSessionView>;
  newId(): string;
  stop(): Promise<void>;
}

export async function startAgentHostFixture(opts: {
  tools: Readonly<Record<string, TestTool>>;
  leaseTtlMs?: number;
  modelCallTimeoutMs?: number;
  /** A PostgreSQL database for the projection (default: PGlite in memory). */
  databaseUrl?: string;
}): Promise<AgentHostFixture> {
  const nats = await startNatsServer();
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const log = createRootLogger({ level: 'silent', instanceId: 'agent-test' });
  const provisioned = await provisionNats(nc, { leaseTtlMs: opts.leaseTtlMs ?? 3_000, logger: log });
  const database = await openDatabase({ logger: log, url: opts.databaseUrl });
  await database.migrate();
  const model = await startFakeModelServer();
  const tools = new CountingToolRunner(opts.tools);
  const client = new ActorClient(nc, { requestTimeoutMs: 3_000, deadlineMs: 10_000, log });
  let running: { host: ActorHost; worker: InferenceWorker } | undefined;

  const fixture: AgentHostFixture = {
    nats,
    nc,
    provisioned,
    database,
    model,
    tools,
    client,
    log,
    async startProcesses() {
      const host = new ActorHost({
        nc,
        leases: provisioned.leases,
        owners: provisioned.owners,
        jsm: provisioned.jsm,
        hostId: `host-${randomBytes(3).toString('hex')}`,
        definitions: [
          agentActorDefinition({
            log: new JetStreamAgentLog(nc, provisioned.jsm, { timeoutMs: 5_000, logger: log }),
            inference: new NatsInferenceQueue(nc, provisioned.inferenceCancels, { timeoutMs: 5_000, kind: 'agent' }),
            tools,
            projection: new PostgresAgentProjection(database.db, log),
            clock: { now: () => Date.now() },
            prices: {},
            defaults: { model: AGENT_TEST_MODEL, modelCallTimeoutMs: opts.modelCallTimeoutMs ?? 60_000, maxParallelTools: 4, startWaitMs: 5_000 },
          }),
        ],
        leaseTtlMs: opts.leaseTtlMs ?? 3_000,
        idleMs: 60_000,
        mailbox: { maxMessages: 1_000, maxBytes: 8 * 1024 * 1024 },
        log,
      });
      host.start();
      const worker = new InferenceWorker({
        nc,
        jsm: provisioned.jsm,
        cancels: provisioned.inferenceCancels,
        actors: new ActorClient(nc, { requestTimeoutMs: 2_000, deadlineMs: 10_000, log }),
        model: new OpenAiModelClient({ baseUrl: model.baseURL, apiKey: 'test', timeoutMs: 15_000 }),
        models: [AGENT_TEST_MODEL],
        concurrency: 4,
        maxDeliver: 3,
        ackWaitMs: 5_000,
        callTimeoutMs: 15_000,
        backoff: { initialMs: 100, maxMs: 400 },
        idlePollMs: 100,
        drainTimeoutMs: 2_000,
        log,
      });
      await worker.start();
      running = { host, worker };
    },
    async stopProcesses() {
      const r = running;
      running = undefined;
      if (r === undefined) return;
      await r.worker.stop();
      await r.host.stop();
    },
    async command(id, name, body) {
      const reply = await client.request('agent', parseActorId(id), name, body === undefined ? new Uint8Array(0) : encodeJson(body));
      const error = replyError(reply);
      if (error !== null) throw error;
      return reply.body.byteLength === 0 ? undefined : (JSON.parse(new TextDecoder().decode(reply.body)) as unknown);
    },
    async view(id) {
      const reply = await client.request('agent', parseActorId(id), 'get', new Uint8Array(0));
      const error = replyError(reply);
      if (error !== null) throw error;
      return decodeJson(reply.body, agentSessionViewSchema, 'session view');
    },
    newId() {
      return `agent_${randomBytes(6).toString('hex')}`;
    },
    async stop() {
      await fixture.stopProcesses();
      await nc.close();
      await model.close();
      await database.close();
      await nats.dispose();
    },
  };
  await fixture.startProcesses();
  return fixture;
}
