/**
 * What every activity-worker process of the suite and the benchmarks opens
 * first (src/testing/activity-worker.ts, platform-workers/, load-tests/jobs):
 * a logger, the NATS connection from NATS_URL (reconnecting for good, as a
 * platform's worker would) and the worker-presence bucket.
 */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { natsCredentials } from '../nats/connection.ts';
import { WORKER_PRESENCE_BUCKET } from '../../protocol/activity.ts';
import { createRootLogger, type Logger } from '../log.ts';

export interface WorkerProcessConnection {
  readonly log: Logger;
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly presence: KV;
}

export async function connectWorkerProcess(workerId: string): Promise<WorkerProcessConnection> {
  const log = createRootLogger({ level: 'warn', instanceId: workerId });
  // Credentials in the URL (nats://worker:<password>@…) become the connection's user, as Loom's own processes do.
  const { servers, auth } = natsCredentials(process.env.NATS_URL ?? '');
  const nc = await connect({ servers, ...auth, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const jsm = await jetstreamManager(nc);
  const presence = await new Kvm(nc).open(WORKER_PRESENCE_BUCKET);
  return { log, nc, jsm, presence };
}
