/**
 * gateway-role.ts: accounts and auth, the document service, and the two
 * WebSocket endpoints (/collab/<docId> and the multiplexed /ws), which share
 * connection limits and close sockets whose credential is revoked anywhere.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { createAuth, type Auth } from '../auth/index.ts';
import { createSharedRateLimiter, provisionRateLimitBucket } from '../limits/index.ts';
import type { Config } from '../config.ts';
import { DocumentService, natsAccessEvents } from '../documents/index.ts';
import { openAccess } from '../gateway/access.ts';
import { CollabGateway } from '../gateway/collab-gateway.ts';
import { ConnectionQuota } from '../gateway/connection-quota.ts';
import { JobSocketGateway } from '../gateway/job-socket.ts';
import { MemberAccessPolicy } from '../gateway/member-access-policy.ts';
import { RevocationNotices } from '../gateway/revocation-notices.ts';
import { storedCredentialStatus } from '../gateway/socket-credential.ts';
import type { UpgradeHandler } from '../http/server.ts';
import type { Logger } from '../log.ts';
import { JobOwners } from '../jobs/index.ts';
import type { JetStreamJobLog } from '../nats/jetstream-job-log.ts';
import { AgentSessionOwners, type AgentLogReader } from '../agent-sessions/index.ts';
import type { LocalActors } from '../host/local-actors.ts';
import { ActorClient } from '../placement/actor-client.ts';
import type { Database, ObjectStore } from '../storage/index.ts';
import { PostgresDocumentRegistry, PostgresSnapshotStore } from '../storage/index.ts';
import { capToPayload } from './payload-limits.ts';

/** Max updates a socket may have in flight before it stops being read. */
const MAX_IN_FLIGHT_PER_SOCKET = 64;

export interface GatewayRole {
  readonly auth: Auth;
  readonly client: ActorClient;
  readonly documents: DocumentService;
  /** The WebSocket endpoints, for the HTTP server's upgrade handling. */
  readonly upgrades: UpgradeHandler[];
  /** Closes every socket with "going away": /ws first, then /collab. */
  stop(): Promise<void>;
}

/** @throws {Error} when there is no database (accounts live in it). */
export async function startGatewayRole(opts: {
  config: Config;
  nc: NatsConnection;
  database: Database | undefined;
  objects: ObjectStore;
  jobLog: JetStreamJobLog;
  agentLog: AgentLogReader;
  maxPayload: number;
  /** Set when the actors role runs in this process too (the in-process fast path). */
  local?: LocalActors | undefined;
  log: Logger;
}): Promise<GatewayRole> {
  const { config, nc, jobLog, maxPayload } = opts;
  const gwLog = opts.log.child({ role: 'gateway' });
  if (opts.database === undefined) throw new Error('the gateway role needs a database (accounts)');
  // Revocations are published once the notices exist (below); none can happen before the role serves requests.
  let notices: RevocationNotices | undefined;
  // API and login limits hold across gateways: their buckets live in NATS KV, not in this process.
  const rateLimitBuckets = await provisionRateLimitBucket(nc, { replicas: config.nats.replicas, log: gwLog });
  const auth = await createAuth({
    db: opts.database.db,
    config,
    log: gwLog,
    onRevoked: (notice) => notices?.publish(notice),
    sharedLimiter: (name, limit) => createSharedRateLimiter({ name, ...limit, kv: rateLimitBuckets, log: gwLog }),
  });
  const credentials = storedCredentialStatus(auth);
  // auth.authenticateToken refuses tokens of signed-out sessions, so such a token opens no socket either.
  const authenticateSocketToken = auth.authenticateToken;
  const quota = new ConnectionQuota({
    maxPerUser: config.gateway.maxConnectionsPerUser,
    maxPerIp: config.gateway.maxConnectionsPerIp,
    trustProxy: config.http.trustProxy,
  });
  const client = new ActorClient(nc, { requestTimeoutMs: config.gateway.requestTimeoutMs, deadlineMs: config.gateway.activationDeadlineMs, local: opts.local, log: gwLog });
  const registry = new PostgresDocumentRegistry(opts.database.db);
  const documents = new DocumentService({
    registry,
    actors: client,
    snapshots: new PostgresSnapshotStore(opts.database.db),
    objects: opts.objects,
    accessEvents: natsAccessEvents(nc),
    audit: auth.audit,
    users: { findByEmail: (email) => auth.accounts.findByEmail(email) },
    access: config.docAccess,
    log: gwLog.child({ component: 'documents' }),
  });
  const gateway = new CollabGateway({
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
        ? new MemberAccessPolicy({ authenticateToken: authenticateSocketToken, registry, allowedOrigins: auth.allowedOrigins })
        : openAccess,
    messageLimiter: auth.limiters.wsMessages,
    quota,
    local: opts.local,
    log: gwLog,
  });
  gateway.start();
  // The multiplexed application socket at /ws: job and agent-session events and token streams.
  const jobSocket = new JobSocketGateway({
    gatewayId: config.instanceId,
    jobOwners: new JobOwners(jobLog),
    feed: { nc, log: jobLog, logger: gwLog.child({ component: 'job-events' }), flushTimeoutMs: config.gateway.requestTimeoutMs },
    agents: { log: opts.agentLog, owners: new AgentSessionOwners(opts.agentLog), feed: { nc, logger: gwLog.child({ component: 'agent-events' }), flushTimeoutMs: config.gateway.requestTimeoutMs } },
    authenticateToken: authenticateSocketToken,
    allowedOrigins: auth.allowedOrigins,
    heartbeatMs: config.gateway.heartbeatMs,
    maxBufferedBytes: config.gateway.maxBufferedBytes,
    messageLimiter: auth.limiters.wsMessages,
    quota,
    log: gwLog.child({ component: 'job-socket' }),
  });
  jobSocket.start();
  notices = new RevocationNotices({
    nc,
    status: credentials,
    sockets: () => [...gateway.sockets(), ...jobSocket.sockets()],
    // HTTP requests reuse a session found live for a moment; another gateway's logout ends that here at once.
    onNotice: (notice) => auth.forgetRevoked(notice),
    log: gwLog.child({ component: 'revocation' }),
  });
  await notices.start();
  return {
    auth,
    client,
    documents,
    upgrades: [gateway, jobSocket],
    async stop() {
      await notices?.stop();
      await jobSocket.stop();
      await gateway.stop();
    },
  };
}
