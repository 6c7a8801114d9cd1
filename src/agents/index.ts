/**
 * agents/: the tools agent sessions call (the ToolRunner of
 * actors/agent/tool.ts). `createAgentToolRunner` builds the runner an actors
 * host gives its agent actors: the built-in tools (doc_read, doc_search,
 * doc_edit, job_start, upload_read), each limited by the session owner's
 * rights, plus the tools internal services announce as NATS micro-services
 * (protocol/agent-tools.ts).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { ToolRunner } from '../../actors/agent/tool.ts';
import { DocumentService, natsAccessEvents } from '../documents/index.ts';
import { ActorDocumentPort, type JobEventFeedDeps } from '../jobs/index.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { JetStreamJobLog } from '../nats/jetstream-job-log.ts';
import type { ActorClient } from '../placement/actor-client.ts';
import { PostgresDocumentRegistry, PostgresSnapshotStore, searchDocuments, type Database, type ObjectStore } from '../storage/index.ts';
import { UploadService } from '../uploads/index.ts';
import { docEditTool } from './builtins/doc-edit.ts';
import { docReadTool } from './builtins/doc-read.ts';
import { docSearchTool } from './builtins/doc-search.ts';
import { jobStartTool } from './builtins/job-start.ts';
import { uploadReadTool } from './builtins/upload-read.ts';
import type { RunnableTool } from './runnable-tool.ts';
import { SchemaValidator } from './schema-validator.ts';
import { ServiceToolDirectory } from './service-tools.ts';
import { AgentToolRunner } from './tool-runner.ts';

export { AgentToolRunner, type AgentToolRunnerOptions, type ServiceToolSource } from './tool-runner.ts';
export { clientIdForEdit } from './builtins/doc-edit.ts';
export { ServiceToolDirectory, type ServiceToolDirectoryOptions } from './service-tools.ts';
export { SchemaValidator } from './schema-validator.ts';
export { ToolFailure } from './tool-failure.ts';
export type { RunnableTool, ToolInvocation } from './runnable-tool.ts';

/** Limits of the agent tools: Config.agentTools (LOOM_AGENT_TOOL_* and friends) plus the job input cap. */
export type AgentToolLimits = Config['agentTools'] & {
  /** Largest job input, as JSON bytes (LOOM_JOB_MAX_INPUT_BYTES). */
  readonly jobMaxInputBytes: number;
};

/** The settings' defaults, for hosts and tests that pass none. */
export const DEFAULT_AGENT_TOOL_LIMITS: AgentToolLimits = {
  builtinTimeoutMs: 30_000,
  jobTimeoutMs: 120_000,
  serviceTimeoutMs: 30_000,
  maxResultBytes: 32 * 1024,
  uploadReadMaxBytes: 64 * 1024,
  docEditMaxChars: 20_000,
  serviceCacheMs: 10_000,
  serviceDiscoveryWaitMs: 1_000,
  jobMaxInputBytes: 256 * 1024,
};

export interface AgentToolRunnerDeps {
  readonly nc: NatsConnection;
  /** The host's client for document and job actors. */
  readonly client: ActorClient;
  readonly database: Database;
  /** Where uploads are stored (the process's object store). */
  readonly objects: ObjectStore;
  readonly jobLog: JetStreamJobLog;
  /** Config.docAccess: in `open` mode anyone reads and edits documents, as on the collaboration endpoints. */
  readonly docAccess: 'members' | 'open';
  /** Largest upload a client may declare (Config.objects.uploadMaxBytes). */
  readonly uploadMaxBytes: number;
  readonly limits?: Partial<AgentToolLimits>;
  readonly log: Logger;
}

/** The runner with every built-in tool and service-tool discovery on `nc`. */
export function createAgentToolRunner(deps: AgentToolRunnerDeps): ToolRunner {
  const limits = { ...DEFAULT_AGENT_TOOL_LIMITS, ...deps.limits };
  const log = deps.log.child({ component: 'agent-tools' });
  const documents = new DocumentService({
    registry: new PostgresDocumentRegistry(deps.database.db),
    actors: deps.client,
    snapshots: new PostgresSnapshotStore(deps.database.db),
    accessEvents: natsAccessEvents(deps.nc),
    access: deps.docAccess,
    log,
  });
  const uploads = new UploadService({ db: deps.database.db, store: deps.objects, maxBytes: deps.uploadMaxBytes });
  const feed: JobEventFeedDeps = { nc: deps.nc, log: deps.jobLog, logger: log, flushTimeoutMs: limits.builtinTimeoutMs };
  const builtins: RunnableTool[] = [
    docReadTool(documents, limits.builtinTimeoutMs),
    docSearchTool((userId, query, limit) => searchDocuments(deps.database.db, userId, query, limit), limits.builtinTimeoutMs),
    docEditTool({
      documents,
      writer: new ActorDocumentPort(deps.client),
      access: deps.docAccess,
      maxTextChars: limits.docEditMaxChars,
      timeoutMs: limits.builtinTimeoutMs,
    }),
    jobStartTool({
      client: deps.client,
      feed,
      documents,
      access: deps.docAccess,
      resolveUpload: (ref, principal) => uploads.resolveUploadInput(ref, principal),
      maxInputBytes: limits.jobMaxInputBytes,
      timeoutMs: limits.jobTimeoutMs,
    }),
    uploadReadTool({
      resolve: (ref, principal) => uploads.resolveUploadInput(ref, principal),
      open: (key) => deps.objects.get(key),
      maxBytes: limits.uploadReadMaxBytes,
      timeoutMs: limits.builtinTimeoutMs,
    }),
  ];
  const validator = new SchemaValidator();
  for (const tool of builtins) validator.prepare(tool.descriptor.parameters);
  const services = new ServiceToolDirectory({
    nc: deps.nc,
    validator,
    reservedNames: new Set(builtins.map((t) => t.descriptor.name)),
    defaultTimeoutMs: limits.serviceTimeoutMs,
    cacheTtlMs: limits.serviceCacheMs,
    minRefreshMs: Math.min(1_000, limits.serviceCacheMs),
    discoveryWaitMs: limits.serviceDiscoveryWaitMs,
    log,
  });
  return new AgentToolRunner({ builtins, services, validator, maxResultBytes: limits.maxResultBytes, log });
}
