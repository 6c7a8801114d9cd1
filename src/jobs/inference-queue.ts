/**
 * The InferenceQueue port of job and agent-session actors on the inference
 * work queue (src/inference/submit.ts): results come back as the actor's
 * `inference-result` command, token deltas as its `token` event. Jobs
 * choose their priority; agent sessions are people waiting, so they always
 * ask at `interactive`.
 */
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { AgentInferenceQueue, AgentModelCall } from '../../actors/agent/index.ts';
import type { InferenceCall, InferenceQueue } from '../../actors/job/index.ts';
import { AGENT_INFERENCE_RESULT_COMMAND, AGENT_TOKEN_EVENT } from '../../protocol/agent.ts';
import type { CallerKind } from '../../protocol/inference.ts';
import { JOB_INFERENCE_RESULT_COMMAND, JOB_TOKEN_EVENT } from '../../protocol/job.ts';
import { cancelInference, submitInference } from '../inference/index.ts';
import { RequestMux } from '../nats/request-mux.ts';

const ROUTES: Record<CallerKind, { command: string; event: string }> = {
  job: { command: JOB_INFERENCE_RESULT_COMMAND, event: JOB_TOKEN_EVENT },
  agent: { command: AGENT_INFERENCE_RESULT_COMMAND, event: AGENT_TOKEN_EVENT },
};

export class NatsInferenceQueue implements InferenceQueue, AgentInferenceQueue {
  /** One inbox subscription for every submit's stream ack (see submitInference). */
  private readonly mux: RequestMux;

  constructor(
    nc: NatsConnection,
    private readonly cancels: KV,
    private readonly opts: { timeoutMs: number; kind?: CallerKind },
  ) {
    this.mux = new RequestMux(nc);
  }

  async submit(actorId: string, call: InferenceCall | AgentModelCall): Promise<void> {
    const kind = this.opts.kind ?? 'job';
    const route = ROUTES[kind];
    const job = 'priority' in call ? call : undefined;
    await submitInference(
      this.mux,
      {
        requestId: call.requestId,
        model: call.model,
        messages: call.messages,
        ...(job?.maxTokens === undefined ? {} : { maxTokens: job.maxTokens }),
        ...(job?.temperature === undefined ? {} : { temperature: job.temperature }),
        ...(job?.responseFormat === undefined ? {} : { responseFormat: job.responseFormat }),
        ...('tools' in call && call.tools !== undefined ? { tools: call.tools } : {}),
        replyTo: { kind, id: actorId, command: route.command },
        tokensTo: { kind, id: actorId, event: route.event },
        meta: call.meta,
      },
      job?.priority ?? 'interactive',
      { timeoutMs: this.opts.timeoutMs },
    );
  }

  cancel(requestId: string): Promise<void> {
    return cancelInference(this.cancels, requestId);
  }
}
