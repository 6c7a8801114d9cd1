/**
 * The job actor's InferenceQueue port on the inference work queue
 * (src/inference/submit.ts): results come back as the job's
 * `inference-result` command, token deltas as its `token` event.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { InferenceCall, InferenceQueue } from '../../actors/job/index.ts';
import { JOB_INFERENCE_RESULT_COMMAND, JOB_TOKEN_EVENT } from '../../protocol/job.ts';
import { cancelInference, submitInference } from '../inference/index.ts';

export class NatsInferenceQueue implements InferenceQueue {
  constructor(
    private readonly js: JetStreamClient,
    private readonly cancels: KV,
    private readonly opts: { timeoutMs: number },
  ) {}

  async submit(jobId: string, call: InferenceCall): Promise<void> {
    await submitInference(
      this.js,
      {
        requestId: call.requestId,
        model: call.model,
        messages: call.messages,
        ...(call.maxTokens === undefined ? {} : { maxTokens: call.maxTokens }),
        ...(call.temperature === undefined ? {} : { temperature: call.temperature }),
        ...(call.responseFormat === undefined ? {} : { responseFormat: call.responseFormat }),
        replyTo: { kind: 'job', id: jobId, command: JOB_INFERENCE_RESULT_COMMAND },
        tokensTo: { kind: 'job', id: jobId, event: JOB_TOKEN_EVENT },
        meta: call.meta,
      },
      call.priority,
      { timeoutMs: this.opts.timeoutMs },
    );
  }

  cancel(requestId: string): Promise<void> {
    return cancelInference(this.cancels, requestId);
  }
}
