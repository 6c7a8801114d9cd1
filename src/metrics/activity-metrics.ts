/**
 * The activity service's refusals (src/activities/activity-service.ts):
 * worker messages answered `mailbox-full` because the host was already
 * forwarding LOOM_ACTIVITY_MAX_IN_FLIGHT of them, by command (claim,
 * heartbeat, complete: a fixed set of three).
 */
import { Counter } from 'prom-client';
import { registry } from './registry.ts';

const refused = new Counter({
  name: 'loom_activity_messages_refused_total',
  help: 'Worker messages the activity service refused (mailbox-full, retryable) because it was forwarding LOOM_ACTIVITY_MAX_IN_FLIGHT already, by command',
  labelNames: ['command'] as const,
  registers: [registry],
});

export function observeActivityRefused(command: 'activity-claim' | 'activity-heartbeat' | 'activity-complete'): void {
  refused.labels(command).inc();
}
