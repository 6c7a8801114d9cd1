/**
 * Starts the configured roles on shared infrastructure (one NATS connection,
 * one database) and returns one `stop` that drains them in the right order:
 * sockets first (clients reconnect elsewhere), then actors (flush snapshots,
 * release leases), then connections.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { documentActorDefinition } from '../actors/document/index.ts';
import { jobActorDefinition, pipelineCatalog } from '../actors/job/index.ts';
import { jetstream } from '@nats-io/jetstream';
import type { Config } from './config.ts';
import { DocumentService, natsAccessEvents } from './documents/index.ts';
import { openAccess } from './gateway/access.ts';
import { CollabGateway } from './gateway/collab-gateway.ts';
import { JobSocketGateway } from './gateway/job-socket.ts';
import { MemberAccessPolicy } from './gateway/member-access-policy.ts';
import { ActorHost } from './host/actor-host.ts';
import { GatewayLiveness } from './host/gateway-liveness.ts';
import { createAuth, type Auth, type Principal } from './auth/index.ts';
import { createApp } from './http/app.ts';
import { apiKeysRoutes } from './http/routes/api-keys.ts';
import { auditRoutes, defaultOwnershipChecks } from './http/routes/audit.ts';
import { authRoutes } from './http/routes/auth.ts';
import { docsRoutes } from './http/routes/docs.ts';
import { jobsRoutes } from './http/routes/jobs.ts';
import { ActorDocumentPort, jobOwner, JobSupervisor, NatsInferenceQueue } from './jobs/index.ts';
import { ProtocolError } from '../protocol/errors.ts';
import { parseActorId } from '../protocol/ids.ts';
import { JetStreamJobLog } from './nats/jetstream-job-log.ts';
import { objectsRoutes } from './http/routes/objects.ts';
import { uploadsRoutes } from './http/routes/uploads.ts';
import type { Router } from './http/router.ts';
import { startHttpServer, type HttpServer, type UpgradeHandler } from './http/server.ts';
import { startInferenceRole } from './inference/index.ts';
import type { Logger } from './log.ts';
import { JetStreamDocumentLog } from './nats/jetstream-document-log.ts';
import type { Provisioned } from './nats/provision.ts';
import { ActorClient } from './placement/actor-client.ts';
import type { Database } from './storage/index.ts';
import { PostgresDocumentRegistry, PostgresJobProjection, PostgresSnapshotStore } from './storage/index.ts';
import { downloadUrl, OBJECTS_ROUTE_PATH, openObjectStore } from './storage/index.ts';
import { UploadService } from './uploads/index.ts';

export interface RunningRoles {
  readonly http: HttpServer;
  stop(): Promise<void>;
}

/** Max updates a socket may have in flight before it stops being read. */
const MAX_IN_FLIGHT_PER_SOCKET = 64;
/** Room left in a NATS message for headers and framing. */
const PAYLOAD_HEADROOM_BYTES = 16 * 1024;

/**
 * Limits that must fit in one NATS message are capped by the server's
 * max_payload, with a warning, rather than failing at the first big frame.
 */
function capToPayload(name: string, configured: number, maxPayload: number, log: Logger): number {
  const cap = maxPayload - PAYLOAD_HEADROOM_BYTES;
  if (configured <= cap) return configured;
  log.warn({ setting: name, configured, cap, maxPayload }, 'limit exceeds the nats server max_payload; capping it');
  return cap;
}

export async function startRoles(opts: {
  config: Config;
  nc: NatsConnection;
  nats: Provisioned;
  database: Database | undefined;
  log: Logger;
}): Promise<RunningRoles> {
  const { config, nc, log } = opts;
  const stops: Array<() => Promise<void>> = [];
  const maxPayload = nc.info?.max_payload ?? 1024 * 1024;

  // One object store for every role in this process (S3, or the filesystem
  // under dataDir): the gateway serves uploads and signed URLs from it, and
  // the actors role hands `objects.store` to the job engine as its ArtifactStore.
  let boundPort: number | undefined;
  const objects = await openObjectStore({
    config: config.objects,
    dataDir: config.dataDir,
    publicBaseUrl: () => config.objects.publicUrl ?? `http://127.0.0.1:${boundPort ?? config.http.port}`,
  });

  // One reader/writer of job logs per process: job actors append, gateways replay events for clients.
  const jobLog = new JetStreamJobLog(nc, opts.nats.jsm, { timeoutMs: config.gateway.requestTimeoutMs, logger: log.child({ component: 'job-log' }) });

  let host: ActorHost | undefined;
  if (config.roles.includes('actors')) {
    if (opts.database === undefined) throw new Error('the actors role needs a database');
    const hostLog = log.child({ role: 'actors' });
    const hostClient = new ActorClient(nc, { requestTimeoutMs: config.gateway.requestTimeoutMs, deadlineMs: config.gateway.activationDeadlineMs, log: hostLog });
    const jobProjection = new PostgresJobProjection(opts.database.db);
    host = new ActorHost({
      nc,
      leases: opts.nats.leases,
      hostId: config.instanceId,
      definitions: [
        documentActorDefinition({
          log: new JetStreamDocumentLog(nc, opts.nats.jsm, { timeoutMs: config.gateway.requestTimeoutMs, logger: hostLog }),
          snapshots: new PostgresSnapshotStore(opts.database.db),
          // Deleted documents activate empty and answer not-found (the registry's tombstones).
          directory: new PostgresDocumentRegistry(opts.database.db),
          limits: {
            ...config.documents,
            maxUpdateBytes: capToPayload('LOOM_DOC_MAX_UPDATE_BYTES', config.documents.maxUpdateBytes, maxPayload, hostLog),
            maxAppendBytes: maxPayload - PAYLOAD_HEADROOM_BYTES,
          },
        }),
        jobActorDefinition({
          log: jobLog,
          inference: new NatsInferenceQueue(jetstream(nc), opts.nats.inferenceCancels, { timeoutMs: config.gateway.requestTimeoutMs }),
          artifacts: objects.store,
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
        }),
      ],
      leaseTtlMs: config.actors.leaseTtlMs,
      idleMs: config.actors.idleMs,
      mailbox: { maxMessages: config.actors.mailboxMaxMessages, maxBytes: config.actors.mailboxMaxBytes },
      log: hostLog,
    });
    const hostRef = host;
    const liveness = new GatewayLiveness(nc, hostLog, (gatewayId) => hostRef.broadcast('doc', { name: 'gateway-gone', gatewayId }));
    host.start();
    liveness.start();
    // Resumes jobs whose host died (their work was in flight, so nothing else would wake them).
    const supervisor = new JobSupervisor({
      jobs: jobProjection,
      leases: opts.nats.leases,
      client: hostClient,
      intervalMs: config.jobs.supervisorIntervalMs,
      log: hostLog.child({ component: 'job-supervisor' }),
    });
    supervisor.start();
    stops.unshift(async () => {
      await supervisor.stop();
      liveness.stop();
      await hostRef.stop();
    });
  }

  if (config.roles.includes('inference')) {
    // Stops first (unshift): in-flight calls finish and deliver while actors still run.
    const inference = await startInferenceRole({ config, nc, jsm: opts.nats.jsm, cancels: opts.nats.inferenceCancels, log: log.child({ role: 'inference' }) });
    stops.unshift(() => inference.stop());
  }

  const upgrades: UpgradeHandler[] = [];
  let gateway: CollabGateway | undefined;
  let client: ActorClient | undefined;
  let auth: Auth | undefined;
  let documents: DocumentService | undefined;
  if (config.roles.includes('gateway')) {
    const gwLog = log.child({ role: 'gateway' });
    if (opts.database === undefined) throw new Error('the gateway role needs a database (accounts)');
    auth = await createAuth({ db: opts.database.db, config, log: gwLog });
    client = new ActorClient(nc, { requestTimeoutMs: config.gateway.requestTimeoutMs, deadlineMs: config.gateway.activationDeadlineMs, log: gwLog });
    const registry = new PostgresDocumentRegistry(opts.database.db);
    documents = new DocumentService({
      registry,
      actors: client,
      snapshots: new PostgresSnapshotStore(opts.database.db),
      objects: objects.store,
      accessEvents: natsAccessEvents(nc),
      audit: auth.audit,
      access: config.docAccess,
      log: gwLog.child({ component: 'documents' }),
    });
    gateway = new CollabGateway({
      nc,
      client,
      gatewayId: config.instanceId,
      limits: {
        maxFrameBytes: capToPayload('LOOM_WS_MAX_FRAME_BYTES', config.gateway.maxFrameBytes, maxPayload, gwLog),
        maxBufferedBytes: config.gateway.maxBufferedBytes,
        heartbeatMs: config.gateway.heartbeatMs,
        maxInFlight: MAX_IN_FLIGHT_PER_SOCKET,
      },
      // `members`: tokens and roles (LOOM_DOC_ACCESS); `open`: anyone edits.
      access:
        config.docAccess === 'members'
          ? new MemberAccessPolicy({ authenticateToken: auth.authenticateToken, registry, allowedOrigins: auth.allowedOrigins })
          : openAccess,
      messageLimiter: auth.limiters.wsMessages,
      log: gwLog,
    });
    gateway.start();
    const gatewayRef = gateway;
    stops.unshift(() => gatewayRef.stop());
    // The multiplexed application socket at /ws: job events and token streams.
    const jobSocket = new JobSocketGateway({
      gatewayId: config.instanceId,
      jobLog,
      feed: { nc, log: jobLog, logger: gwLog.child({ component: 'job-events' }), flushTimeoutMs: config.gateway.requestTimeoutMs },
      authenticateToken: auth.authenticateToken,
      allowedOrigins: auth.allowedOrigins,
      heartbeatMs: config.gateway.heartbeatMs,
      maxBufferedBytes: config.gateway.maxBufferedBytes,
      messageLimiter: auth.limiters.wsMessages,
      log: gwLog.child({ component: 'job-socket' }),
    });
    jobSocket.start();
    upgrades.push(jobSocket);
    stops.unshift(() => jobSocket.stop());
  }

  const database = opts.database;
  const routes: Array<{ path: string; router: Router }> = [];
  if (documents !== undefined && auth !== undefined) routes.push({ path: '/v1/docs', router: docsRoutes({ service: documents, authenticate: auth.middleware }) });
  if (auth !== undefined) {
    routes.push(
      { path: '/v1/auth', router: authRoutes(auth) },
      { path: '/v1/api-keys', router: apiKeysRoutes(auth) },
      // The documents and jobs modules add their `doc` and `job` ownership checks here.
      {
        path: '/v1/audit',
        router: auditRoutes(auth, {
          ...defaultOwnershipChecks(auth),
          ...(documents === undefined ? {} : { doc: documents.ownership.bind(documents) }),
          // A job's audit trail is its owner's; the owner is read from the job's log.
          job: async (principal, targetId) => {
            let owner: string | null;
            try {
              owner = await jobOwner(jobLog, parseActorId(targetId));
            } catch (err) {
              if (err instanceof ProtocolError) return 'not-found';
              throw err;
            }
            return owner === principal.userId ? 'owner' : 'not-found';
          },
        }),
      },
    );
    if (database !== undefined) {
      const uploads = new UploadService({ db: database.db, store: objects.store, maxBytes: config.objects.uploadMaxBytes });
      routes.push({ path: '/v1/uploads', router: uploadsRoutes({ uploads, auth: auth.middleware }) });
    }
    if (client !== undefined) {
      const docService = documents;
      routes.push({
        path: '/v1/jobs',
        router: jobsRoutes({
          client,
          jobLog,
          feed: { nc, log: jobLog, logger: log.child({ component: 'job-events' }), flushTimeoutMs: config.gateway.requestTimeoutMs },
          getPrincipal: (c) => c.get('principal'),
          // A job writes into a document only for someone who may edit it (any member in `open` access mode).
          canEditDocument: async (principal, docId) => {
            if (config.docAccess === 'open' || docService === undefined) return true;
            await docService.authorize(principal, docId, 'editor', 'docs:write');
            return true;
          },
          downloadUrl: async (key) => (await downloadUrl(objects.store, key)).url,
          ...(database === undefined
            ? {}
            : (() => {
                const uploads = new UploadService({ db: database.db, store: objects.store, maxBytes: config.objects.uploadMaxBytes });
                return { resolveUpload: (ref: string, principal: Principal) => uploads.resolveUploadInput(ref, principal) };
              })()),
          maxInputBytes: config.jobs.maxInputBytes,
          audit: auth.audit,
          middleware: auth.middleware,
          logger: log.child({ component: 'jobs' }),
        }),
      });
    }
    // Signed gateway URLs exist only for the filesystem store; their signature is the authorisation.
    if (objects.signer !== undefined) routes.push({ path: OBJECTS_ROUTE_PATH, router: objectsRoutes({ store: objects.store, signer: objects.signer }) });
  }
  const app = createApp({
    log: log.child({ component: 'http' }),
    routes,
    maxBodyBytes: config.http.maxBodyBytes,
    trustProxy: config.http.trustProxy,
    apiRateLimit: auth?.limiters.api,
    readinessChecks: [
      {
        name: 'nats',
        check: async () => {
          if (nc.isClosed()) throw new Error('nats connection closed');
          await nc.flush();
        },
      },
      ...(database === undefined ? [] : [{ name: 'database', check: () => database.ping() }]),
      { name: 'objects', check: () => objects.store.ping() },
    ],
  });
  const http = await startHttpServer({ app, host: config.http.host, port: config.http.port, upgrades: gateway ? [gateway, ...upgrades] : [], log });
  boundPort = http.port;

  return {
    http,
    async stop() {
      // The HTTP server closes after sockets got their going-away close frames.
      for (const stop of stops) await stop();
      await http.close();
    },
  };
}
