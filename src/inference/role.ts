/**
 * Starts the `inference` role: an InferenceWorker for LOOM_INFERENCE_MODELS
 * calling the model server at OPENAI_BASE_URL, delivering results through an
 * activation-aware ActorClient.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { PresenceBeacon } from '../activities/presence.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { ActorClient, type LocalCommandPort } from '../placement/actor-client.ts';
import { OpenAiModelClient } from './model-client.ts';
import { InferenceWorker } from './worker.ts';

export interface InferenceRole {
  stop(): Promise<void>;
}

export async function startInferenceRole(opts: {
  config: Pick<Config, 'inference' | 'gateway'>;
  nc: NatsConnection;
  jsm: JetStreamManager;
  cancels: KV;
  /** The worker presence bucket: this node announces its models there, so jobs waiting on a model nobody serves say so. */
  presence: KV;
  /** This node's id in the presence keys (LOOM_INSTANCE_ID). */
  workerId: string;
  /** Actors in this process (the actors role runs here too): results reach them without NATS. */
  local?: LocalCommandPort | undefined;
  log: Logger;
}): Promise<InferenceRole> {
  const { inference, gateway } = opts.config;
  const log = opts.log;
  const model = new OpenAiModelClient({ baseUrl: inference.baseUrl, apiKey: inference.apiKey, timeoutMs: inference.callTimeoutMs, connections: inference.concurrency });
  const worker = new InferenceWorker({
    nc: opts.nc,
    jsm: opts.jsm,
    cancels: opts.cancels,
    actors: new ActorClient(opts.nc, { requestTimeoutMs: gateway.requestTimeoutMs, deadlineMs: gateway.activationDeadlineMs, local: opts.local, log }),
    model,
    models: inference.models,
    concurrency: inference.concurrency,
    maxDeliver: inference.maxDeliver,
    ackWaitMs: inference.ackWaitMs,
    callTimeoutMs: inference.callTimeoutMs,
    log,
  });
  await worker.start();
  const beacon = new PresenceBeacon(opts.presence, inference.models.map((model) => ({ kind: 'inference' as const, queue: model })), presenceWorkerId(opts.workerId), log);
  await beacon.start();
  return {
    async stop() {
      await beacon.stop();
      await worker.stop();
      await model.close();
    },
  };
}

/** Instance ids may hold characters presence keys do not allow; those become '-'. */
function presenceWorkerId(instanceId: string): string {
  return instanceId.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64) || 'inference';
}
