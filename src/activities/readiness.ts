/**
 * The readiness warning of waiting-for-worker: queues holding tasks (service
 * activities) or requests (inference) while no worker of theirs is alive.
 * Work-queue streams drop a message once it is acked, so a subject's message
 * count is what still waits for a worker.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { ACTIVITY_STREAM, parseActivityTaskSubject } from '../../protocol/activity.ts';
import { INFERENCE_STREAM, parseInferenceRequestSubject } from '../../protocol/inference.ts';
import type { WorkerPresence } from '../../actors/job/index.ts';

export interface QueueWithoutWorker {
  readonly activity: 'service' | 'inference';
  readonly queue: string;
  /** Tasks or requests waiting in it. */
  readonly waiting: number;
}

async function waitingBySubject(jsm: JetStreamManager, stream: string): Promise<Record<string, number>> {
  const info = await jsm.streams.info(stream, { subjects_filter: '>' });
  return info.state.subjects ?? {};
}

/** @throws when JetStream does not answer (the caller reports that as the failure it is). */
export async function queuesWithoutWorkers(jsm: JetStreamManager, presence: WorkerPresence): Promise<QueueWithoutWorker[]> {
  const waiting = new Map<string, QueueWithoutWorker>();
  const add = (activity: 'service' | 'inference', queue: string, n: number) => {
    if (n <= 0 || presence.isLive(activity, queue)) return;
    const key = `${activity}.${queue}`;
    waiting.set(key, { activity, queue, waiting: (waiting.get(key)?.waiting ?? 0) + n });
  };
  for (const [subject, n] of Object.entries(await waitingBySubject(jsm, ACTIVITY_STREAM))) add('service', parseActivityTaskSubject(subject).queue, n);
  for (const [subject, n] of Object.entries(await waitingBySubject(jsm, INFERENCE_STREAM))) add('inference', parseInferenceRequestSubject(subject).model, n);
  return [...waiting.values()];
}

/**
 * The `/readyz` warning text: each queue with waiting work and no live
 * worker, or null when there is none. A warning, not a failure: Loom itself
 * is ready; the work waits for workers someone else runs.
 */
export async function waitingForWorkerWarning(jsm: JetStreamManager, presence: WorkerPresence): Promise<string | null> {
  const queues = await queuesWithoutWorkers(jsm, presence);
  if (queues.length === 0) return null;
  return queues.map((q) => `${q.activity} queue ${q.queue}: ${q.waiting} waiting, no live worker`).join('; ');
}
