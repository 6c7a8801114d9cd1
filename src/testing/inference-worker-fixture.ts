/**
 * Test fixture for the inference worker: a real nats-server with the
 * inference streams provisioned, the fake model server, in-process workers,
 * and a stand-in for the calling actor (a plain subscriber on
 * `actor.job.<id>.inference-result` that records each result and replies
 * success, plus one on its token event). Tests isolate by model name (each
 * model has its own consumers) and by job id.
 */
import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { parseActorId } from '../../protocol/ids.ts';
import {
  decodeInferenceResult,
  decodeTokenDelta,
  INFERENCE_PRIORITIES,
  INFERENCE_STREAM,
  inferenceConsumerName,
  type InferencePriority,
  type InferenceRequest,
  type InferenceResult,
  type TokenDelta,
} from '../../protocol/inference.ts';
import { commandSubject, eventSubject } from '../../protocol/subjects.ts';
import { createRootLogger, type Logger } from '../log.ts';
import { fromNatsHeaders } from '../nats/headers.ts';
import { ActorClient } from '../placement/actor-client.ts';
import { startFakeModelServer, startNatsServer, waitFor, type FakeModelServer, type NatsServerHandle } from './index.ts';
import { OpenAiModelClient } from '../inference/model-client.ts';
import { provisionInferenceQueue } from '../inference/provision.ts';
import { submitInference } from '../inference/submit.ts';
import { RequestMux } from '../nats/request-mux.ts';
import { InferenceWorker, type InferenceWorkerOptions } from '../inference/worker.ts';

export const RESULT_COMMAND = 'inference-result';
export const TOKEN_EVENT = 'tokens';

export interface InferenceFixture {
  readonly nats: NatsServerHandle;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly cancels: KV;
  readonly model: FakeModelServer;
  readonly log: Logger;
  /** Starts an in-process worker (stopped by `stop()` unless stopped before). */
  startWorker(opts: Partial<InferenceWorkerOptions> & { models: readonly string[] }): Promise<InferenceWorker>;
  /** A stand-in job actor recording results and token deltas. */
  caller(jobId?: string): Promise<TestCaller>;
  /** A request for `model` from `caller` with a fresh requestId. */
  request(model: string, caller: TestCaller, content: string, extra?: Partial<InferenceRequest>): InferenceRequest;
  submit(request: InferenceRequest, priority?: InferencePriority): Promise<void>;
  /** True when neither consumer of `model` holds a pending or unacknowledged message. */
  queueEmpty(model: string): Promise<boolean>;
  stop(): Promise<void>;
}

export interface TestCaller {
  readonly jobId: string;
  readonly results: InferenceResult[];
  readonly deltas: TokenDelta[];
  close(): void;
}

/** Settings that keep the tests quick: short AckWait, backoff and idle poll. */
export const FAST = {
  concurrency: 4,
  maxDeliver: 3,
  ackWaitMs: 2_000,
  callTimeoutMs: 15_000,
  backoff: { initialMs: 100, maxMs: 400 },
  idlePollMs: 100,
  drainTimeoutMs: 2_000,
} as const;

/** The caller's first result, once it has one. */
export async function firstResult(caller: TestCaller): Promise<InferenceResult> {
  return waitFor(() => caller.results[0], { what: 'the result' });
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** `beforeProvision` runs on the fresh server before the streams are provisioned (a stream made by an older Loom, say). */
export async function startInferenceFixture(opts: { beforeProvision?: (jsm: JetStreamManager) => Promise<void> } = {}): Promise<InferenceFixture> {
  const nats = await startNatsServer();
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const log = createRootLogger({ level: 'silent', instanceId: 'inference-test' });
  const jsm = await jetstreamManager(nc, { timeout: 5_000 });
  const js = jetstream(nc, { timeout: 5_000 });
  const submits = new RequestMux(nc);
  await opts.beforeProvision?.(jsm);
  const cancels = await provisionInferenceQueue(nc, jsm, log);
  const model = await startFakeModelServer();
  const workers: InferenceWorker[] = [];
  const callers: TestCaller[] = [];

  return {
    nats,
    nc,
    js,
    jsm,
    cancels,
    model,
    log,
    async startWorker(opts) {
      const worker = new InferenceWorker({
        nc,
        jsm,
        cancels,
        actors: new ActorClient(nc, { requestTimeoutMs: 1_000, deadlineMs: 3_000, log }),
        model: new OpenAiModelClient({ baseUrl: model.baseURL, apiKey: 'test', timeoutMs: FAST.callTimeoutMs }),
        ...FAST,
        log,
        ...opts,
      });
      await worker.start();
      workers.push(worker);
      return worker;
    },
    async caller(jobId = uniqueName('job')) {
      const id = parseActorId(jobId);
      const results: InferenceResult[] = [];
      const deltas: TokenDelta[] = [];
      const commands = nc.subscribe(commandSubject('job', id, RESULT_COMMAND));
      const events = nc.subscribe(eventSubject('job', id, TOKEN_EVENT));
      void (async () => {
        for await (const m of commands) {
          results.push(decodeInferenceResult({ headers: fromNatsHeaders(m.headers), body: m.data }));
          m.respond(new Uint8Array());
        }
      })();
      void (async () => {
        for await (const m of events) deltas.push(decodeTokenDelta({ headers: fromNatsHeaders(m.headers), body: m.data }));
      })();
      await nc.flush();
      const caller: TestCaller = {
        jobId,
        results,
        deltas,
        close() {
          commands.unsubscribe();
          events.unsubscribe();
        },
      };
      callers.push(caller);
      return caller;
    },
    request(modelName, caller, content, extra = {}) {
      return {
        requestId: `${caller.jobId}:${uniqueName('step')}`,
        model: modelName,
        messages: [{ role: 'user', content }],
        replyTo: { kind: 'job', id: caller.jobId, command: RESULT_COMMAND },
        tokensTo: { kind: 'job', id: caller.jobId, event: TOKEN_EVENT },
        meta: { step: 'test' },
        ...extra,
      };
    },
    async submit(request, priority = 'batch') {
      await submitInference(submits, request, priority);
    },
    async queueEmpty(modelName) {
      for (const priority of INFERENCE_PRIORITIES) {
        const info = await jsm.consumers.info(INFERENCE_STREAM, inferenceConsumerName(modelName, priority));
        if (info.num_pending > 0 || info.num_ack_pending > 0) return false;
      }
      return true;
    },
    async stop() {
      await Promise.allSettled(workers.map((w) => w.stop()));
      for (const c of callers) c.close();
      await nc.close();
      await model.close();
      await nats.dispose();
    },
  };
}
