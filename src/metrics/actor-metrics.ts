/**
 * Actor host metrics by actor kind (doc, job, agent; a fixed set): live
 * activations, activations and their latency (lease, state load,
 * subscription), lease losses, and the mailbox depth each time an actor
 * takes its next batch.
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import { FAST_SECONDS, registry } from './registry.ts';

const active = new Gauge({
  name: 'loom_actors_active',
  help: 'Actors live on this host, by kind',
  labelNames: ['kind'] as const,
  registers: [registry],
});
const activations = new Counter({
  name: 'loom_actor_activations_total',
  help: "Activation attempts on this host, by kind and outcome (activated, elsewhere: another host holds the lease, failed)",
  labelNames: ['kind', 'outcome'] as const,
  registers: [registry],
});
const activationDuration = new Histogram({
  name: 'loom_actor_activation_duration_seconds',
  help: 'Time to win the lease, load the state and subscribe, for actors activated here, by kind',
  labelNames: ['kind'] as const,
  buckets: FAST_SECONDS,
  registers: [registry],
});
const leaseLosses = new Counter({
  name: 'loom_actor_lease_losses_total',
  help: 'Leases a live actor lost (it stepped down), by kind',
  labelNames: ['kind'] as const,
  registers: [registry],
});
const mailboxDepth = new Histogram({
  name: 'loom_actor_mailbox_depth',
  help: 'Messages waiting in an actor mailbox when the actor took them as its next batch, by kind',
  labelNames: ['kind'] as const,
  buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1_000],
  registers: [registry],
});

export type ActivationOutcome = 'activated' | 'elsewhere' | 'failed';

/** One activation attempt that began at `startedAt` (performance.now()). */
export function observeActivation(kind: string, outcome: ActivationOutcome, startedAt: number): void {
  activations.labels(kind, outcome).inc();
  if (outcome === 'activated') {
    activationDuration.labels(kind).observe((performance.now() - startedAt) / 1_000);
    active.labels(kind).inc();
  }
}

/** A live actor ended (passivated or stepped down). */
export function observeActorEnded(kind: string): void {
  active.labels(kind).dec();
}

export function observeLeaseLost(kind: string): void {
  leaseLosses.labels(kind).inc();
}

export function observeMailboxBatch(kind: string, size: number): void {
  mailboxDepth.labels(kind).observe(size);
}
