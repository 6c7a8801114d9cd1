/**
 * inference/: the inference work queue. Callers (job and agent engines) use
 * `submitInference` and `cancelInference`; the `inference` role runs an
 * `InferenceWorker` through `startInferenceRole`. The wire contract lives in
 * protocol/inference.ts and PROTOCOL.md ("Inference").
 */
export { submitInference, cancelInference } from './submit.ts';
export type { Submitted } from './submit.ts';
export { provisionInferenceQueue, ensureInferenceConsumer } from './provision.ts';
export type { ConsumerSettings } from './provision.ts';
export { InferenceWorker } from './worker.ts';
export type { InferenceWorkerOptions } from './worker.ts';
export { OpenAiModelClient } from './model-client.ts';
export type { ModelCall, ModelClient, ModelEvent, OpenAiModelClientOptions } from './model-client.ts';
export { startInferenceRole } from './role.ts';
export type { InferenceRole } from './role.ts';
export { backoffDelayMs, classifyCallError } from './failure.ts';
export type { BackoffPolicy, Failure } from './failure.ts';
