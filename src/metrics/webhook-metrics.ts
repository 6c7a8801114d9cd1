/**
 * Webhook deliveries by outcome, for the webhook dispatcher (src/webhooks/)
 * to call once per delivery attempt's end. Outcomes are its own small set of
 * words (e.g. delivered, retrying, dead-lettered); the cap keeps a mistake
 * from growing the series without bound.
 */
import { Counter } from 'prom-client';
import { BoundedLabel } from './bounded-label.ts';
import { registry } from './registry.ts';

const deliveries = new Counter({
  name: 'loom_webhook_deliveries_total',
  help: 'Webhook delivery attempts by outcome',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

const outcomes = new BoundedLabel(20);

export function observeWebhookDelivery(outcome: string): void {
  deliveries.labels(outcomes.of(outcome)).inc();
}
