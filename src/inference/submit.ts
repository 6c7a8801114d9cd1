/**
 * The caller's side of the inference work queue: what a job or agent engine
 * calls to queue a request and to cancel one. The result comes back later as
 * the `replyTo.command` command (decodeInferenceResult), tokens as
 * `tokensTo.event` events (decodeTokenDelta).
 */
import type { KV } from '@nats-io/kv';
import { ProtocolError } from '../../protocol/errors.ts';
import {
  cancelKey,
  encodeInferenceRequest,
  inferenceRequestSubject,
  MSG_ID_HEADER,
  type InferencePriority,
  type InferenceRequest,
} from '../../protocol/inference.ts';
import { encodeJson } from '../../protocol/reply.ts';
import { toNatsHeaders } from '../nats/headers.ts';
import { publishToStream } from '../nats/jetstream-publish.ts';
import type { RequestMux } from '../nats/request-mux.ts';
import { withTraceHeaders } from '../tracing/index.ts';

const DEFAULT_TIMEOUT_MS = 5_000;

/** What the queue said: its sequence, and whether the requestId was already queued (de-duplicated). */
export interface Submitted {
  readonly seq: number;
  readonly duplicate: boolean;
}

/**
 * Queues a request on `inference.request.<model-token>.<priority>` with
 * `Nats-Msg-Id: <requestId>`: a re-submission of the same requestId within
 * two minutes is dropped (`duplicate: true`), so a caller that crashed
 * between publishing and recording it can simply publish again. Use a new
 * requestId for a new attempt of a step.
 *
 * The publish goes over a RequestMux (publishToStream), not js.publish: every
 * agent step queues one request, and nats.js's request path builds an Error
 * with a stack for each one it completes.
 *
 * @throws ProtocolError `malformed-message` when the request breaks the schema;
 *   `unavailable` (retryable) when JetStream did not accept it in time or the queue is full.
 * @example
 *   await submitInference(mux, { requestId: `${jobId}:${step}:${attempt}`, model, messages,
 *     replyTo: { kind: 'job', id: jobId, command: 'inference-result' } }, 'batch');
 */
export async function submitInference(mux: RequestMux, request: InferenceRequest, priority: InferencePriority, opts: { timeoutMs?: number } = {}): Promise<Submitted> {
  const wire = encodeInferenceRequest(request);
  const subject = inferenceRequestSubject(request.model, priority);
  // publishToStream sets Nats-Msg-Id itself from `msgId`.
  // The submitting actor's span travels with the request to the worker that serves it.
  const headers = withTraceHeaders(toNatsHeaders(Object.fromEntries(Object.entries(wire.headers).filter(([k]) => k !== MSG_ID_HEADER))));
  try {
    const ack = await publishToStream(mux, subject, wire.body, {
      msgId: request.requestId,
      timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      ...(headers ? { headers } : {}),
    });
    return { seq: ack.seq, duplicate: ack.duplicate };
  } catch (err) {
    throw new ProtocolError('unavailable', `queueing inference request ${request.requestId} failed: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Marks a request cancelled. A worker that has not started it `term`s it and
 * reports `cancelled`; one that is streaming it aborts the call and does the
 * same. Marks expire after an hour. Idempotent.
 *
 * @throws ProtocolError `unavailable` when the bucket did not accept the mark in time.
 */
export async function cancelInference(kv: KV, requestId: string): Promise<void> {
  const key = cancelKey(requestId);
  try {
    await kv.put(key, encodeJson({ requestId, cancelledAt: new Date().toISOString() }));
  } catch (err) {
    throw new ProtocolError('unavailable', `cancelling inference request ${requestId} failed: ${(err as Error).message}`, { cause: err });
  }
}
