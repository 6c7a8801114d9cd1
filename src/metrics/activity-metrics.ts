/**
 * The activity service's refusals (src/activities/activity-service.ts):
 * worker messages answered `mailbox-full` because the host was at a bound,
 * by command (claim, heartbeat, complete) and by the bound that refused it
 * (`all`: LOOM_ACTIVITY_MAX_IN_FLIGHT; `claims`: LOOM_ACTIVITY_MAX_CLAIMS_IN_FLIGHT;
 * `heartbeat-reserve`: the last tenth of LOOM_ACTIVITY_MAX_IN_FLIGHT, kept for heartbeats).
 * Both label sets are fixed, so the series are at most nine.
 */
import { Counter } from 'prom-client';
import { registry } from './registry.ts';

/** Which of the activity service's bounds refused a message. */
export type ActivityBound = 'all' | 'claims' | 'heartbeat-reserve';

const refused = new Counter({
  name: 'loom_activity_messages_refused_total',
  help: 'Worker messages the activity service refused (mailbox-full, retryable) at a bound, by command and bound (all: LOOM_ACTIVITY_MAX_IN_FLIGHT, claims: LOOM_ACTIVITY_MAX_CLAIMS_IN_FLIGHT, heartbeat-reserve: the last tenth of LOOM_ACTIVITY_MAX_IN_FLIGHT, kept for heartbeats)',
  labelNames: ['command', 'bound'] as const,
  registers: [registry],
});

export function observeActivityRefused(command: 'activity-claim' | 'activity-heartbeat' | 'activity-complete', bound: ActivityBound): void {
  refused.labels(command, bound).inc();
}
