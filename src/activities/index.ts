/** activities/: service activities (protocol/activity.ts): the task queue, the worker-facing service, worker presence. */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../log.ts';
import type { Provisioned } from '../nats/provision.ts';
import type { ActorClient } from '../placement/actor-client.ts';
import { ActivityService } from './activity-service.ts';
import { WorkerPresenceWatch } from './presence.ts';
import { NatsServiceQueue } from './service-queue.ts';

export { ActivityService, type ActivityServiceOptions } from './activity-service.ts';
export { ensureActivityConsumers, provisionActivities, ACTIVITY_ACK_WAIT_MS } from './provision.ts';
export { PresenceBeacon, WorkerPresenceWatch } from './presence.ts';
export { NatsServiceQueue } from './service-queue.ts';
export { queuesWithoutWorkers, waitingForWorkerWarning, type QueueWithoutWorker } from './readiness.ts';

/** What an actor host runs for service activities: the job actors' queue and presence ports, and the service answering workers. */
export interface ActivitiesRuntime {
  readonly services: NatsServiceQueue;
  readonly presence: WorkerPresenceWatch;
  stop(): Promise<void>;
}

/** `maxInFlight`: worker messages forwarded at once (LOOM_ACTIVITY_MAX_IN_FLIGHT); `maxClaimsInFlight`: of them, claims (LOOM_ACTIVITY_MAX_CLAIMS_IN_FLIGHT). */
export function startActivities(opts: {
  nc: NatsConnection;
  nats: Provisioned;
  client: ActorClient;
  timeoutMs: number;
  maxInFlight: number;
  maxClaimsInFlight: number;
  log: Logger;
}): ActivitiesRuntime {
  const log = opts.log.child({ component: 'activities' });
  const services = new NatsServiceQueue(opts.nc, opts.nats.jsm, { timeoutMs: opts.timeoutMs, log });
  const presence = new WorkerPresenceWatch(opts.nats.workerPresence, log);
  presence.start().catch((err: unknown) => log.error({ err }, 'worker presence watch did not start; jobs will show waiting-for-worker'));
  const service = new ActivityService(opts.nc, opts.client, log, { maxInFlight: opts.maxInFlight, maxClaimsInFlight: opts.maxClaimsInFlight });
  service.start();
  return {
    services,
    presence,
    async stop() {
      await service.stop();
      presence.stop();
    },
  };
}
