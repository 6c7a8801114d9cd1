/**
 * actors-role.ts: the actor host with the document, job and agent-session actors, the
 * gateway-liveness listener, the supervisor that resumes orphaned jobs, and
 * the retention purge (src/privacy/), and the outbound event relays
 * (src/outbound-events/).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { documentActorDefinition } from '../../actors/document/index.ts';
import { jobActorDefinition, pipelineCatalog } from '../../actors/job/index.ts';
import type { Config } from '../config.ts';
import { startActivities } from '../activities/index.ts';
import { ActorHost } from '../host/actor-host.ts';
import type { LocalActors } from '../host/local-actors.ts';
import { GatewayLiveness } from '../host/gateway-liveness.ts';
import { ActorDocumentPort, JobSupervisor, NatsInferenceQueue } from '../jobs/index.ts';
import type { Logger } from '../log.ts';
import { MeteredDocumentLog, MeteredJobLog, MeteredSnapshotStore } from '../metrics/index.ts';
import { JetStreamAgentLog } from '../nats/jetstream-agent-log.ts';
import { JetStreamDocumentLog } from '../nats/jetstream-document-log.ts';
import { onReconnect } from '../nats/reconnects.ts';
import type { JetStreamJobLog } from '../nats/jetstream-job-log.ts';
import type { Provisioned } from '../nats/provision.ts';
import { ActorClient } from '../placement/actor-client.ts';
import { OwnerDirectory } from '../placement/ownership.ts';
import type { Database, ObjectStore } from '../storage/index.ts';
import { PostgresDocumentRegistry, PostgresJobProjection, PostgresSnapshotStore } from '../storage/index.ts';
import { RetentionPurge } from '../privacy/index.ts';
import { startOutboundEventSources } from '../outbound-events/index.ts';
import { wireAgentSessions } from './agent-sessions-wiring.ts';
import { capToPayload, PAYLOAD_HEADROOM_BYTES } from './payload-limits.ts';

/** A started role; stop() drains it. */
export interface RoleHandle {
  stop(): Promise<void>;
}

/** @throws {Error} when there is no database (actors keep snapshots and job projections in it). */
export function startActorsRole(opts: {
  config: Config;
  nc: NatsConnection;
  nats: Provisioned;
  database: Database | undefined;
  /** The process's object store, handed to the job engine as its ArtifactStore. */
  artifacts: ObjectStore;
  jobLog: JetStreamJobLog;
  maxPayload: number;
  /** The in-process fast path (unless LOOM_LOCAL_FAST_PATH=false): the host's own commands to its actors skip NATS. */
  local?: LocalActors | undefined;
  log: Logger;
}): RoleHandle {
  const { config, nc, maxPayload } = opts;
  if (opts.database === undefined) throw new Error('the actors role needs a database');
  const hostLog = opts.log.child({ role: 'actors' });
  // Workers' claims and completions, agent tools and job steps reach actors active on this host without NATS.
  const hostClient = new ActorClient(nc, { requestTimeoutMs: config.gateway.requestTimeoutMs, deadlineMs: config.gateway.activationDeadlineMs, local: opts.local, log: hostLog });
  const jobProjection = new PostgresJobProjection(opts.database.db);
  // Service activities: the job actors' task queue and worker presence, and the service that answers workers.
  const activities = startActivities({ nc, nats: opts.nats, client: hostClient, timeoutMs: config.gateway.requestTimeoutMs, maxInFlight: config.jobs.activityMaxInFlight, maxClaimsInFlight: config.jobs.activityMaxClaimsInFlight, log: hostLog });
  const agents = wireAgentSessions({ config, nc, nats: opts.nats, database: opts.database, objects: opts.artifacts, jobLog: opts.jobLog, client: hostClient, maxPayload, log: hostLog });
  const host = new ActorHost({
    nc,
    leases: opts.nats.leases,
    owners: opts.nats.owners,
    jsm: opts.nats.jsm,
    hostId: config.instanceId,
    definitions: [
      documentActorDefinition({
        // Metered: append latency, snapshots and compactions (src/metrics).
        log: new MeteredDocumentLog(new JetStreamDocumentLog(nc, opts.nats.jsm, { timeoutMs: config.gateway.requestTimeoutMs, logger: hostLog, docDebounceMs: config.outboundEvents.docDebounceMs, announcesUpdates: opts.nats.docLogAnnouncesUpdates })),
        snapshots: new MeteredSnapshotStore(
          new PostgresSnapshotStore(opts.database.db, {
            onIndexError: (err, docId) => hostLog.warn({ err, docId }, 'a snapshot could not be indexed for search; it was saved'),
          }),
        ),
        // Deleted documents activate empty and answer not-found (the registry's tombstones).
        directory: new PostgresDocumentRegistry(opts.database.db),
        // In members mode only ids registered with POST /v1/docs take updates (issue 12, item 8).
        requireRegistration: config.docAccess === 'members',
        limits: {
          ...config.documents,
          maxUpdateBytes: capToPayload('LOOM_DOC_MAX_UPDATE_BYTES', config.documents.maxUpdateBytes, maxPayload, hostLog),
          maxAppendBytes: maxPayload - PAYLOAD_HEADROOM_BYTES,
        },
      }),
      jobActorDefinition({
        // Metered: jobs and steps by status, step durations (src/metrics).
        log: new MeteredJobLog(opts.jobLog, hostLog.child({ component: 'job-metrics' })),
        inference: new NatsInferenceQueue(nc, opts.nats.inferenceCancels, { timeoutMs: config.gateway.requestTimeoutMs }),
        services: activities.services,
        presence: activities.presence,
        artifacts: opts.artifacts,
        documents: new ActorDocumentPort(hostClient),
        projection: jobProjection,
        clock: { now: () => Date.now(), random: () => Math.random() },
        pipelines: pipelineCatalog(),
        prices: config.jobs.modelPrices,
        defaults: {
          model: config.jobs.defaultModel,
          policy: {
            maxAttempts: config.jobs.stepMaxAttempts,
            stepTimeoutMs: config.jobs.stepTimeoutMs,
            maxParallelSteps: config.jobs.maxParallelSteps,
            retryBaseMs: config.jobs.retryBaseMs,
            retryMaxMs: config.jobs.retryMaxMs,
          },
        },
        createProjectionTimeoutMs: config.gateway.requestTimeoutMs,
        stuckAfterMs: config.jobs.stuckAfterMs,
        // Views leave their largest outputs out rather than outgrow one message (the `output` command serves them).
        maxReplyBytes: maxPayload - PAYLOAD_HEADROOM_BYTES,
      }),
      agents.definition,
    ],
    leaseTtlMs: config.actors.leaseTtlMs,
    idleMs: config.actors.idleMs,
    mailbox: { maxMessages: config.actors.mailboxMaxMessages, maxBytes: config.actors.mailboxMaxBytes },
    local: opts.local,
    log: hostLog,
  });
  const liveness = new GatewayLiveness(nc, hostLog, (gatewayId) => host.broadcast('doc', { source: 'signal', name: 'gateway-gone', gatewayId }));
  host.start();
  liveness.start();
  // Events this host published into a NATS server that died may be lost: documents say where their logs stand.
  onReconnect(nc, hostLog, () => host.broadcast('doc', { source: 'signal', name: 'events-may-be-lost' }));
  // Resumes jobs whose host died (their work was in flight, so nothing else would wake them).
  const supervisor = new JobSupervisor({
    jobs: jobProjection,
    owners: new OwnerDirectory(opts.nats, config.actors.leaseTtlMs),
    client: hostClient,
    intervalMs: config.jobs.supervisorIntervalMs,
    log: hostLog.child({ component: 'job-supervisor' }),
  });
  supervisor.start();
  agents.supervisor.start();
  // Purges jobs, artifacts and audit entries past their retention age (nothing when every age is 0).
  const retention = new RetentionPurge({
    db: opts.database.db,
    jobLog: opts.jobLog,
    objects: opts.artifacts,
    retention: config.privacy.retention,
    leases: opts.nats.leases,
    host: config.instanceId,
    leaseTtlMs: config.actors.leaseTtlMs,
    log: hostLog.child({ component: 'retention' }),
  });
  retention.start();
  // Outbound events (issue 9): relays from the job, agent and document logs and the PostgreSQL outbox, one process at a time each.
  const outbound = startOutboundEventSources({
    nc,
    jsm: opts.nats.jsm,
    db: opts.database.db,
    jobLog: opts.jobLog,
    agentLog: new JetStreamAgentLog(nc, opts.nats.jsm, { timeoutMs: config.gateway.requestTimeoutMs, logger: hostLog.child({ component: 'agent-log' }) }),
    leases: opts.nats.leases,
    host: config.instanceId,
    leaseTtlMs: config.actors.leaseTtlMs,
    docDebounceMs: config.outboundEvents.docDebounceMs,
    streamReplicas: config.webhooks.streamReplicas,
    publishTimeoutMs: config.gateway.requestTimeoutMs,
    log: hostLog,
  });
  return {
    async stop() {
      await outbound.stop();
      await retention.stop();
      await supervisor.stop();
      await agents.supervisor.stop();
      liveness.stop();
      await activities.stop();
      await host.stop();
    },
  };
}
