/**
 * A job host as its own OS process, for the service-activity tests: an actor
 * host running the job actor with the built-in pipelines plus the test
 * pipelines (service-test-pipeline.ts), and the activity service answering workers. It is what
 * the actors role runs, minus documents and agents, so a test can SIGKILL
 * it mid-task. Settings come from the environment: NATS_URL, DATABASE_URL
 * (migrated by the test), HOST_ID, DATA_DIR, LEASE_TTL_MS.
 *
 *   node --import tsx src/testing/activity-host.ts
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jobActorDefinition, pipelineCatalog } from '../../actors/job/index.ts';
import { startActivities } from '../activities/index.ts';
import { ActorHost } from '../host/actor-host.ts';
import { ActorDocumentPort, NatsInferenceQueue } from '../jobs/index.ts';
import { createRootLogger } from '../log.ts';
import { JetStreamJobLog } from '../nats/jetstream-job-log.ts';
import { provisionNats } from '../nats/provision.ts';
import { ActorClient } from '../placement/actor-client.ts';
import { openDatabase, PostgresJobProjection } from '../storage/index.ts';
import { FsObjectStore } from '../storage/objects/fs-object-store.ts';
import { GatewayUrlSigner } from '../storage/objects/gateway-url-signer.ts';
import { modelTestPipeline, serviceTestPipeline } from './service-test-pipeline.ts';

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is required`);
  return value;
}

const hostId = required('HOST_ID');
const leaseTtlMs = Number(process.env.LEASE_TTL_MS ?? '1500');
const log = createRootLogger({ level: 'info', instanceId: hostId });
const nc = await connect({ servers: required('NATS_URL'), maxReconnectAttempts: -1, reconnectTimeWait: 100 });
const provisioned = await provisionNats(nc, { leaseTtlMs, logger: log });
const database = await openDatabase({ url: required('DATABASE_URL'), logger: log });
const client = new ActorClient(nc, { requestTimeoutMs: 2_000, deadlineMs: 15_000, log });
const activities = startActivities({ nc, nats: provisioned, client, timeoutMs: 5_000, maxInFlight: 256, maxClaimsInFlight: 128, log });
const artifacts = new FsObjectStore({ root: path.join(required('DATA_DIR'), 'objects'), signer: new GatewayUrlSigner(randomBytes(32), () => 'http://127.0.0.1') });
const host = new ActorHost({
  nc,
  leases: provisioned.leases,
  owners: provisioned.owners,
  jsm: provisioned.jsm,
  hostId,
  definitions: [
    jobActorDefinition({
      log: new JetStreamJobLog(nc, provisioned.jsm, { timeoutMs: 5_000, logger: log }),
      inference: new NatsInferenceQueue(nc, provisioned.inferenceCancels, { timeoutMs: 5_000 }),
      services: activities.services,
      presence: activities.presence,
      artifacts,
      documents: new ActorDocumentPort(client),
      projection: new PostgresJobProjection(database.db),
      clock: { now: () => Date.now(), random: () => Math.random() },
      pipelines: pipelineCatalog([serviceTestPipeline, modelTestPipeline]),
      prices: {},
      defaults: {
        model: 'test-model',
        policy: { maxAttempts: 3, stepTimeoutMs: 60_000, maxParallelSteps: 4, retryBaseMs: 50, retryMaxMs: 200 },
      },
      createProjectionTimeoutMs: 5_000,
    }),
  ],
  leaseTtlMs,
  idleMs: 60_000,
  mailbox: { maxMessages: 1_000, maxBytes: 8 * 1024 * 1024 },
  log,
});
host.start();
log.info({ hostId }, 'activity host ready');

process.once('SIGTERM', () => {
  void (async () => {
    await activities.stop();
    await host.stop();
    await database.close();
    await nc.drain();
    process.exit(0);
  })();
});
