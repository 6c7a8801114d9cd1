/**
 * Serves one work-queue message: decode, honour cancellation, stream the
 * model call (deltas out as events), deliver the outcome to the caller, and
 * only then settle the message (STYLE.md §4):
 *
 *   success, delivered            → ack      (a crash before this redelivers; the caller dedups by requestId)
 *   terminal failure, delivered   → term     (4xx but 408/429, content filter, cancelled, invalid request)
 *   retryable failure             → nak(backoff by delivery count)
 *   retryable on the last attempt → dead letter, tell the caller, ack
 *   caller unreachable            → nak(backoff): the outcome is delivered on a later delivery
 *   malformed message             → term + error log (nobody to tell)
 *
 * Attempts are deliveries 1..maxAttempts. The consumer allows one delivery
 * more (max_deliver = maxAttempts + 1): that spare one happens only when the
 * last attempt ended without an outcome (worker killed, AckWait expired), and
 * it dead-letters without calling the model, because nats-server 2.9 would
 * otherwise leave the message in the stream for good.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import {
  decodeInferenceRequest,
  deadLetterSubject,
  encodeDeadLetter,
  parseInferenceRequestSubject,
  MSG_ID_HEADER,
  type InferenceErrorCode,
  type InferencePriority,
  type InferenceRequest,
  type InferenceResult,
} from '../../protocol/inference.ts';
import type { Logger } from '../log.ts';
import { observeInferenceOutcome, observeInferenceUsage } from '../metrics/index.ts';
import { toNatsHeaders } from '../nats/headers.ts';
import { inSpan, SpanKind, traceContextOf } from '../tracing/index.ts';
import type { CancelWatch } from './cancel-watch.ts';
import { backoffDelayMs, classifyCallError, ModelOutputError, type AbortReason, type BackoffPolicy, type Failure } from './failure.ts';
import type { ModelClient, ModelEvent } from './model-client.ts';
import type { WorkMessage } from './no-wait-pull.ts';
import type { Delivery, ResultSink } from './result-sink.ts';
import { checkToolCalls } from './tool-call-assembler.ts';

export interface ServePolicy {
  /** Deliveries that call the model; the last retryable failure dead-letters. */
  readonly maxAttempts: number;
  readonly ackWaitMs: number;
  readonly callTimeoutMs: number;
  readonly backoff: BackoffPolicy;
  /** Bound on JetStream round trips (confirmed ack, dead-letter publish). */
  readonly jetStreamTimeoutMs: number;
}

export interface ServeContext {
  readonly js: JetStreamClient;
  readonly sink: ResultSink;
  readonly model: ModelClient;
  readonly cancels: CancelWatch;
  /** Models this worker serves. */
  readonly served: ReadonlySet<string>;
  readonly policy: ServePolicy;
  /** Aborted when the worker gives up waiting for in-flight calls at shutdown. */
  readonly shutdown: AbortSignal;
  readonly log: Logger;
}

export type ServeOutcome = 'succeeded' | 'failed' | 'retrying' | 'dead-lettered' | 'cancelled' | 'malformed' | 'undelivered';

interface Served {
  readonly msg: WorkMessage;
  readonly request: InferenceRequest;
  readonly priority: InferencePriority;
  readonly attempt: number;
  readonly log: Logger;
}

/** Serves `msg` to its end; never throws (every path settles the message). */
export async function serveRequest(msg: WorkMessage, ctx: ServeContext): Promise<ServeOutcome> {
  // In-progress acks keep a long call (or a slow delivery) from being redelivered.
  const heartbeat = setInterval(() => msg.working(), Math.max(50, Math.floor(ctx.policy.ackWaitMs / 3)));
  try {
    // A child of the span that queued the request (the job or agent actor's batch).
    const outcome = await inSpan('inference serve', { kind: SpanKind.CONSUMER, parent: traceContextOf(msg.headers), attributes: { 'loom.inference.attempt': msg.deliveryCount } }, () => serve(msg, ctx));
    observeInferenceOutcome(msg.subject, outcome);
    return outcome;
  } catch (err) {
    ctx.log.error({ err, subject: msg.subject, seq: msg.streamSequence }, 'serving an inference request failed unexpectedly; retrying later');
    try {
      msg.nak(backoffDelayMs(msg.deliveryCount, ctx.policy.backoff));
    } catch (nakErr) {
      // Connection closed: AckWait expiry redelivers it anyway.
      ctx.log.warn({ err: nakErr }, 'nak failed; the request comes back after AckWait');
    }
    observeInferenceOutcome(msg.subject, 'retrying');
    return 'retrying';
  } finally {
    clearInterval(heartbeat);
  }
}

async function serve(msg: WorkMessage, ctx: ServeContext): Promise<ServeOutcome> {
  let priority: InferencePriority;
  let subjectModel: string;
  let request: InferenceRequest;
  try {
    ({ model: subjectModel, priority } = parseInferenceRequestSubject(msg.subject));
    request = decodeInferenceRequest({ headers: msg.headers, body: msg.data });
  } catch (err) {
    ctx.log.error({ err, subject: msg.subject, seq: msg.streamSequence, bytes: msg.data.byteLength }, 'malformed inference request; terminated');
    msg.term();
    return 'malformed';
  }
  const attempt = msg.deliveryCount;
  // Made when first needed: a call that goes well logs nothing at info, and a child logger per request cost ~1% of the worker.
  let child: Logger | undefined;
  const s: Served = {
    msg,
    request,
    priority,
    attempt,
    get log() {
      child ??= ctx.log.child({ requestId: request.requestId, model: request.model, priority, attempt });
      return child;
    },
  };

  if (request.model !== subjectModel || !ctx.served.has(request.model)) {
    s.log.error({ subjectModel }, 'inference request for a model this queue does not serve; terminated');
    return finishTerminal(s, ctx, 'invalid-request', `model ${JSON.stringify(request.model)} does not match the queue of ${JSON.stringify(subjectModel)}`);
  }
  if (attempt > ctx.policy.maxAttempts) {
    return deadLetter(s, ctx, { code: 'attempt-lost', message: `the last of ${ctx.policy.maxAttempts} attempts ended without an outcome (worker lost or AckWait expired)` });
  }

  const ac = new AbortController();
  let aborted: AbortReason | undefined;
  const abort = (reason: AbortReason) => {
    if (aborted !== undefined) return;
    aborted = reason;
    ac.abort(new Error(`inference call aborted: ${reason}`));
  };
  const unregister = ctx.cancels.register(request.requestId, () => abort('cancelled'));
  const onShutdown = () => abort('shutdown');
  ctx.shutdown.addEventListener('abort', onShutdown, { once: true });
  try {
    try {
      if (await ctx.cancels.isCancelled(request.requestId)) abort('cancelled');
    } catch (err) {
      // The watch still delivers a later cancel; a failed read must not stop the call.
      s.log.warn({ err }, 'reading the cancel bucket failed; going on');
    }
    if (aborted === 'cancelled') {
      s.log.info('cancelled before the call');
      return finishTerminal(s, ctx, 'cancelled', 'cancelled by the caller before the call');
    }
    const timer = setTimeout(() => abort('timeout'), ctx.policy.callTimeoutMs);
    let result: InferenceResult | undefined;
    let failure: Failure | undefined;
    try {
      result = await callModel(s, ctx, ac.signal);
    } catch (err) {
      failure = classifyCallError(err, aborted);
    } finally {
      clearTimeout(timer);
    }
    // A cancel that lands after the answer is complete changes nothing: it is delivered.
    if (result !== undefined) return await finishSuccess(s, ctx, result);
    if (failure === undefined) throw new Error('model call ended with neither a result nor a failure');
    if (failure.terminal) {
      s.log.warn({ code: failure.code, reason: failure.message }, 'inference request failed terminally');
      return finishTerminal(s, ctx, failure.code, failure.message);
    }
    if (attempt >= ctx.policy.maxAttempts && failure.code !== 'shutdown') {
      return deadLetter(s, ctx, { code: failure.code, message: failure.message });
    }
    const delayMs = failure.code === 'shutdown' ? 0 : backoffDelayMs(attempt, ctx.policy.backoff);
    s.log.warn({ code: failure.code, reason: failure.message, delayMs }, 'inference call failed; redelivering');
    msg.nak(delayMs);
    return 'retrying';
  } finally {
    unregister();
    ctx.shutdown.removeEventListener('abort', onShutdown);
  }
}

async function callModel(s: Served, ctx: ServeContext, signal: AbortSignal): Promise<InferenceResult> {
  const { request, attempt } = s;
  const meta = request.meta ?? {};
  const started = performance.now();
  let firstTokenAt: number | undefined;
  let index = 0;
  const parts: string[] = [];
  let done: Extract<ModelEvent, { type: 'done' }> | undefined;
  const call = {
    model: request.model,
    messages: request.messages,
    ...(request.maxTokens !== undefined ? { maxTokens: request.maxTokens } : {}),
    ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
    ...(request.responseFormat !== undefined ? { responseFormat: request.responseFormat } : {}),
    ...(request.tools !== undefined ? { tools: request.tools } : {}),
    ...(request.toolChoice !== undefined ? { toolChoice: request.toolChoice } : {}),
  };
  for await (const event of ctx.model.stream(call, signal)) {
    if (event.type === 'delta') {
      firstTokenAt ??= performance.now();
      parts.push(event.text);
      ctx.sink.publishDelta(request, { requestId: request.requestId, index: index++, delta: event.text, attempt, meta });
    } else {
      done = event;
    }
  }
  if (done === undefined) throw new Error('model stream ended without a final chunk');
  if (done.finishReason === 'content_filter') throw new ModelOutputError('content-refused', 'the model server refused the content (finish_reason content_filter)');
  const toolCalls = checkToolCalls(done.toolCalls, request.requestId);
  const durationMs = Math.round(performance.now() - started);
  return {
    requestId: request.requestId,
    ok: true,
    text: parts.join(''),
    toolCalls,
    finishReason: done.finishReason,
    usage: {
      model: request.model,
      promptTokens: done.usage?.promptTokens ?? 0,
      // Without a usage chunk, each content delta counts as one token (vLLM sends one per token).
      completionTokens: done.usage?.completionTokens ?? index,
      timeToFirstTokenMs: firstTokenAt === undefined ? durationMs : Math.round(firstTokenAt - started),
      durationMs,
    },
    attempt,
    meta,
  };
}

async function finishSuccess(s: Served, ctx: ServeContext, result: InferenceResult): Promise<ServeOutcome> {
  const delivery = await ctx.sink.deliver(s.request, result, () => s.log);
  if (delivery !== 'delivered') return settleUndelivered(s, ctx, delivery);
  await confirmAck(s, ctx);
  if (result.ok) {
    observeInferenceUsage(result.usage);
    // Per-request detail: usage is in the metrics and in the caller's log.
    if (ctx.log.isLevelEnabled('debug')) s.log.debug({ usage: result.usage, finishReason: result.finishReason }, 'inference request served');
  }
  return 'succeeded';
}

async function finishTerminal(s: Served, ctx: ServeContext, code: InferenceErrorCode, message: string): Promise<ServeOutcome> {
  const result: InferenceResult = { requestId: s.request.requestId, ok: false, error: { code, message, terminal: true }, attempt: s.attempt, meta: s.request.meta ?? {} };
  const delivery = await ctx.sink.deliver(s.request, result, () => s.log);
  if (delivery === 'unreachable') return settleUndelivered(s, ctx, delivery);
  s.msg.term();
  return code === 'cancelled' ? 'cancelled' : 'failed';
}

function settleUndelivered(s: Served, ctx: ServeContext, delivery: Exclude<Delivery, 'delivered'>): ServeOutcome {
  if (delivery === 'refused') {
    s.msg.term();
  } else {
    s.msg.nak(backoffDelayMs(s.attempt, ctx.policy.backoff));
  }
  return 'undelivered';
}

/** Records the request in LOOM_INFERENCE_DLQ, tells the caller, and removes it from the work queue. */
async function deadLetter(s: Served, ctx: ServeContext, cause: { code: string; message: string }): Promise<ServeOutcome> {
  const { request, msg, log } = s;
  const wire = encodeDeadLetter({ request, priority: s.priority, cause, attempts: msg.deliveryCount, deadLetteredAt: new Date().toISOString() });
  const headers = toNatsHeaders(Object.fromEntries(Object.entries(wire.headers).filter(([k]) => k !== MSG_ID_HEADER)));
  try {
    await ctx.js.publish(deadLetterSubject(request.model), wire.body, {
      msgID: wire.headers[MSG_ID_HEADER] ?? `dead:${request.requestId}`,
      timeout: ctx.policy.jetStreamTimeoutMs,
      ...(headers ? { headers } : {}),
    });
  } catch (err) {
    // Left in the queue: the next delivery (if the consumer allows one) tries again.
    log.error({ err, seq: msg.streamSequence }, 'dead-lettering failed; the request stays in the work queue');
    msg.nak(backoffDelayMs(s.attempt, ctx.policy.backoff));
    return 'retrying';
  }
  log.error({ cause }, 'inference request dead-lettered');
  const result: InferenceResult = {
    requestId: request.requestId,
    ok: false,
    error: { code: 'dead-lettered', message: cause.message, terminal: true },
    attempt: s.attempt,
    meta: request.meta ?? {},
  };
  const delivery = await ctx.sink.deliver(request, result, () => log);
  // The dead letter is the durable record: the work item is done either way.
  if (delivery !== 'delivered') log.error({ delivery }, 'caller not told of the dead letter; the DLQ record holds the cause');
  await confirmAck(s, ctx);
  return 'dead-lettered';
}

async function confirmAck(s: Served, ctx: ServeContext): Promise<void> {
  try {
    await s.msg.ack(ctx.policy.jetStreamTimeoutMs);
  } catch (err) {
    // Unconfirmed: if it was lost, the request is served again and the caller dedups by requestId.
    s.log.warn({ err }, 'ack not confirmed');
  }
}
