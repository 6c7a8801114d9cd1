/**
 * Starts the configured roles on shared infrastructure (one NATS connection,
 * one database) and returns one `stop` that drains them in the right order:
 * sockets first (clients reconnect elsewhere), then actors (flush snapshots,
 * release leases), then connections.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { documentActorDefinition } from '../actors/document/index.ts';
import type { Config } from './config.ts';
import { openAccess } from './gateway/access.ts';
import { CollabGateway } from './gateway/collab-gateway.ts';
import { ActorHost } from './host/actor-host.ts';
import { GatewayLiveness } from './host/gateway-liveness.ts';
import { createApp } from './http/app.ts';
import { docsRoutes } from './http/routes/docs.ts';
import { startHttpServer, type HttpServer } from './http/server.ts';
import type { Logger } from './log.ts';
import { JetStreamDocumentLog } from './nats/jetstream-document-log.ts';
import type { Provisioned } from './nats/provision.ts';
import { ActorClient } from './placement/actor-client.ts';
import type { Database } from './storage/index.ts';
import { PostgresSnapshotStore } from './storage/index.ts';

export interface RunningRoles {
  readonly http: HttpServer;
  stop(): Promise<void>;
}

/** Max updates a socket may have in flight before it stops being read. */
const MAX_IN_FLIGHT_PER_SOCKET = 64;

export async function startRoles(opts: {
  config: Config;
  nc: NatsConnection;
  nats: Provisioned;
  database: Database | undefined;
  log: Logger;
}): Promise<RunningRoles> {
  const { config, nc, log } = opts;
  const stops: Array<() => Promise<void>> = [];

  let host: ActorHost | undefined;
  if (config.roles.includes('actors')) {
    if (opts.database === undefined) throw new Error('the actors role needs a database');
    const hostLog = log.child({ role: 'actors' });
    host = new ActorHost({
      nc,
      leases: opts.nats.leases,
      hostId: config.instanceId,
      definitions: [
        documentActorDefinition({
          log: new JetStreamDocumentLog(nc, opts.nats.jsm, { timeoutMs: config.gateway.requestTimeoutMs, logger: hostLog }),
          snapshots: new PostgresSnapshotStore(opts.database.db),
          limits: config.documents,
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
    stops.unshift(async () => {
      liveness.stop();
      await hostRef.stop();
    });
  }

  let gateway: CollabGateway | undefined;
  let client: ActorClient | undefined;
  if (config.roles.includes('gateway')) {
    const gwLog = log.child({ role: 'gateway' });
    client = new ActorClient(nc, { requestTimeoutMs: config.gateway.requestTimeoutMs, deadlineMs: config.gateway.activationDeadlineMs, log: gwLog });
    gateway = new CollabGateway({
      nc,
      client,
      gatewayId: config.instanceId,
      limits: {
        maxFrameBytes: config.gateway.maxFrameBytes,
        maxBufferedBytes: config.gateway.maxBufferedBytes,
        heartbeatMs: config.gateway.heartbeatMs,
        maxInFlight: MAX_IN_FLIGHT_PER_SOCKET,
      },
      access: openAccess,
      log: gwLog,
    });
    gateway.start();
    const gatewayRef = gateway;
    stops.unshift(() => gatewayRef.stop());
  }

  const database = opts.database;
  const app = createApp({
    log: log.child({ component: 'http' }),
    routes: client === undefined ? [] : [{ path: '/v1/docs', router: docsRoutes({ client }) }],
    readinessChecks: [
      {
        name: 'nats',
        check: async () => {
          if (nc.isClosed()) throw new Error('nats connection closed');
          await nc.flush();
        },
      },
      ...(database === undefined ? [] : [{ name: 'database', check: () => database.ping() }]),
    ],
  });
  const http = await startHttpServer({ app, host: config.http.host, port: config.http.port, upgrades: gateway ? [gateway] : [], log });

  return {
    http,
    async stop() {
      // The HTTP server closes after sockets got their going-away close frames.
      for (const stop of stops) await stop();
      await http.close();
    },
  };
}
