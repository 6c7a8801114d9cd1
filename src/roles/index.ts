/**
 * Starts the configured roles on shared infrastructure (one NATS connection,
 * one database) and returns one `stop` that drains them in the right order:
 * sockets first (clients reconnect elsewhere), then actors (flush snapshots,
 * release leases), then connections.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Config } from '../config.ts';
import { createApp } from '../http/app.ts';
import { startHttpServer, type HttpServer } from '../http/server.ts';
import { startInferenceRole } from '../inference/index.ts';
import type { Logger } from '../log.ts';
import { JetStreamJobLog } from '../nats/jetstream-job-log.ts';
import { JetStreamAgentLog } from '../nats/jetstream-agent-log.ts';
import type { Provisioned } from '../nats/provision.ts';
import type { Database } from '../storage/index.ts';
import { openObjectStore } from '../storage/index.ts';
import { waitingForWorkerWarning, WorkerPresenceWatch } from '../activities/index.ts';
import { LocalActors } from '../host/local-actors.ts';
import { startActorsRole } from './actors-role.ts';
import { agentSessionsRouter } from './agent-session-routes.ts';
import { apiRoutes } from './api-routes.ts';
import { startGatewayRole, type GatewayRole } from './gateway-role.ts';
import { startWebhooksRole, webhooksRouter } from './webhooks-role.ts';
import { startObservability } from './observability.ts';

export interface RunningRoles {
  readonly http: HttpServer;
  stop(): Promise<void>;
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
  // First, so the roles' first requests are already measured and traced.
  const observability = await startObservability({ config, jsm: opts.nats.jsm, log });

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
  // Gateways read agent-session logs (owner checks, event replay); session actors append through their own adapter.
  const agentLog = new JetStreamAgentLog(nc, opts.nats.jsm, { timeoutMs: config.gateway.requestTimeoutMs, logger: log.child({ component: 'agent-log' }) });

  // With the actors role: commands from this process to its own actors skip NATS, and with the gateway role events to its sockets too (src/host/local-actors.ts).
  const local = config.localFastPath && config.roles.includes('actors') ? new LocalActors({ events: config.roles.includes('gateway') }) : undefined;

  if (config.roles.includes('actors')) {
    const actors = startActorsRole({ config, nc, nats: opts.nats, database: opts.database, artifacts: objects.store, jobLog, maxPayload, local, log });
    stops.unshift(() => actors.stop());
  }

  if (config.roles.includes('inference')) {
    // Stops first (unshift): in-flight calls finish and deliver while actors still run.
    const inference = await startInferenceRole({ config, nc, jsm: opts.nats.jsm, cancels: opts.nats.inferenceCancels, presence: opts.nats.workerPresence, workerId: config.instanceId, local, log: log.child({ role: 'inference' }) });
    stops.unshift(() => inference.stop());
  }

  // The webhook dispatcher stops after the gateway (which may wake it) and before actors.
  const dispatcher = config.roles.includes('webhooks') ? await startWebhooksRole({ config, nc, nats: opts.nats, database: opts.database, log }) : undefined;
  if (dispatcher !== undefined) stops.unshift(() => dispatcher.stop());

  let gateway: GatewayRole | undefined;
  if (config.roles.includes('gateway')) {
    const started = await startGatewayRole({ config, nc, database: opts.database, objects: objects.store, jobLog, agentLog, maxPayload, local, log });
    gateway = started;
    // Stops first (unshift): sockets close before inference and actors drain.
    stops.unshift(() => started.stop());
  }

  const database = opts.database;
  // Which workers are alive, for the waiting-for-worker warning of /readyz.
  const workerPresence = new WorkerPresenceWatch(opts.nats.workerPresence, log.child({ component: 'worker-presence' }));
  await workerPresence.start();
  stops.push(async () => workerPresence.stop());
  const app = createApp({
    log: log.child({ component: 'http' }),
    routes: [
      ...observability.routes,
      ...apiRoutes({ config, nc, gateway, database, objects, jobLog, log }),
      ...(gateway === undefined || database === undefined ? [] : [{ path: '/v1/agent-sessions', router: agentSessionsRouter({ config, nc, gateway, database, agentLog, log }) }]),
      ...(gateway === undefined || database === undefined ? [] : [{ path: '/v1/webhooks', router: webhooksRouter({ config, gateway, database, dispatcher }) }]),
    ],
    maxBodyBytes: config.http.maxBodyBytes,
    trustProxy: config.http.trustProxy,
    apiRateLimit: gateway?.auth.limiters.api,
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
    readinessWarnings: [{ name: 'waiting-for-worker', warn: () => waitingForWorkerWarning(opts.nats.jsm, workerPresence) }],
  });
  const http = await startHttpServer({ app, host: config.http.host, port: config.http.port, upgrades: gateway?.upgrades ?? [], log });
  boundPort = http.port;

  return {
    http,
    async stop() {
      // The HTTP server closes after sockets got their going-away close frames.
      for (const stop of stops) await stop();
      await http.close();
      await observability.stop();
    },
  };
}
