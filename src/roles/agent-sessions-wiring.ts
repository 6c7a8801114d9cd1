/**
 * The agent-session actor kind as an actors host runs it: its JetStream
 * log, the inference queue at `interactive` priority, the tool runner of
 * src/agents/ (built-in tools and NATS service tools), the PostgreSQL
 * projection, and the supervisor that resumes sessions whose host died
 * mid-turn.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { agentActorDefinition, type ToolRunner } from '../../actors/agent/index.ts';
import type { ActorDefinition } from '../../actors/actor.ts';
import { createAgentToolRunner, type AgentToolLimits } from '../agents/index.ts';
import type { Config } from '../config.ts';
import { JobSupervisor, NatsInferenceQueue } from '../jobs/index.ts';
import type { Logger } from '../log.ts';
import { JetStreamAgentLog } from '../nats/jetstream-agent-log.ts';
import type { JetStreamJobLog } from '../nats/jetstream-job-log.ts';
import type { Provisioned } from '../nats/provision.ts';
import type { ActorClient } from '../placement/actor-client.ts';
import { OwnerDirectory } from '../placement/ownership.ts';
import { PostgresAgentProjection, type Database, type ObjectStore } from '../storage/index.ts';
import { capToPayload } from './payload-limits.ts';

export interface AgentSessionsWiring {
  readonly definition: ActorDefinition;
  /** Resumes sessions with a turn in flight whose host died. */
  readonly supervisor: JobSupervisor;
}

export function wireAgentSessions(opts: {
  config: Config;
  nc: NatsConnection;
  nats: Provisioned;
  database: Database;
  objects: ObjectStore;
  jobLog: JetStreamJobLog;
  /** The host's client for document and job actors (tools reach them through it). */
  client: ActorClient;
  /** The NATS server's max_payload: a tool result travels in one log entry. */
  maxPayload: number;
  log: Logger;
  /** Replaces the built-in runner (tests). */
  tools?: ToolRunner;
}): AgentSessionsWiring {
  const { config, nc } = opts;
  const timeoutMs = config.gateway.requestTimeoutMs;
  const projection = new PostgresAgentProjection(opts.database.db, opts.log.child({ component: 'agent-projection' }));
  const tools =
    opts.tools ??
    createAgentToolRunner({
      nc,
      client: opts.client,
      database: opts.database,
      objects: opts.objects,
      jobLog: opts.jobLog,
      docAccess: config.docAccess,
      uploadMaxBytes: config.objects.uploadMaxBytes,
      limits: agentToolLimits(config, opts.maxPayload, opts.log),
      log: opts.log,
    });
  const definition = agentActorDefinition({
    log: new JetStreamAgentLog(nc, opts.nats.jsm, { timeoutMs, logger: opts.log.child({ component: 'agent-log' }) }),
    inference: new NatsInferenceQueue(nc, opts.nats.inferenceCancels, { timeoutMs, kind: 'agent' }),
    tools,
    projection,
    clock: { now: () => Date.now() },
    prices: config.jobs.modelPrices,
    defaults: {
      model: config.jobs.defaultModel,
      modelCallTimeoutMs: config.agents.modelCallTimeoutMs,
      maxParallelTools: config.agents.maxParallelTools,
      startWaitMs: timeoutMs,
    },
  });
  const supervisor = new JobSupervisor({
    kind: 'agent',
    jobs: projection,
    owners: new OwnerDirectory(opts.nats, config.actors.leaseTtlMs),
    client: opts.client,
    intervalMs: config.jobs.supervisorIntervalMs,
    log: opts.log.child({ component: 'agent-supervisor' }),
  });
  return { definition, supervisor };
}

/**
 * The tool runner's limits from config. A tool result is recorded in one
 * session log entry (its tool-call-completed event), which NATS refuses past
 * max_payload, so LOOM_AGENT_TOOL_MAX_RESULT_BYTES (up to 4 MiB) is capped
 * to what one message holds, with a warning, as the document limits are.
 */
export function agentToolLimits(config: Config, maxPayload: number, log: Logger): AgentToolLimits {
  return {
    ...config.agentTools,
    maxResultBytes: capToPayload('LOOM_AGENT_TOOL_MAX_RESULT_BYTES', config.agentTools.maxResultBytes, maxPayload, log),
    jobMaxInputBytes: config.jobs.maxInputBytes,
  };
}
