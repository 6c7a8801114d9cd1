/**
 * The inference role: pulls requests for the models this node serves and
 * runs at most `concurrency` model calls at once (per node, across all its
 * models: one GPU server behind one OPENAI_BASE_URL).
 *
 * Scheduling: whenever a slot is free, the loop asks the interactive
 * consumers (models in rotation) for up to `free` ready messages with a
 * no-wait pull, and only when all are empty the batch consumers; so queued
 * interactive work always goes first, and nothing is pulled that cannot be
 * started at once (no prefetched message ages toward AckWait). With nothing
 * ready the loop sleeps until one of its queues rings (the stream publishes
 * each stored request's headers on inference.ring.<model-token>.<priority>)
 * or until `idlePollMs` passes (redeliveries after a nak delay or an AckWait
 * expiry ring no bell).
 *
 * A queue that answered with fewer messages than asked is drained: it is not
 * asked again until its doorbell rings, a quick second look after a ring
 * that found nothing (on a stream without the ring rule the request subject
 * is heard before the request is stored; on a replicated one a consumer's
 * replica may store it a moment after the ring), or `idlePollMs` passes.
 * So a busy worker makes about one pull per request, not one more per queue
 * that finds nothing.
 */
import { jetstream, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { INFERENCE_PRIORITIES, INFERENCE_RING_REPUBLISH, INFERENCE_STREAM, inferenceRequestSubject, inferenceRingSubject, type InferencePriority } from '../../protocol/inference.ts';
import type { Logger } from '../log.ts';
import type { ActorClient } from '../placement/actor-client.ts';
import { CancelWatch } from './cancel-watch.ts';
import { DrainedQueues } from './drained-queues.ts';
import type { BackoffPolicy } from './failure.ts';
import type { ModelClient } from './model-client.ts';
import { apiPrefixOf } from '../nats/api-prefix.ts';
import { queueRingsAfterStore } from '../nats/republish.ts';
import { pullNoWait, type WorkMessage } from './no-wait-pull.ts';
import { ensureInferenceConsumer } from './provision.ts';
import { ResultSink } from './result-sink.ts';
import { serveRequest, type ServeContext } from './serve-request.ts';
import { Slots } from './slots.ts';

export interface InferenceWorkerOptions {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  /** The cancel bucket (provisionInferenceQueue). */
  readonly cancels: KV;
  /** Delivers results to the calling actors. */
  readonly actors: ActorClient;
  readonly model: ModelClient;
  /** LOOM_INFERENCE_MODELS. */
  readonly models: readonly string[];
  /** LOOM_INFERENCE_CONCURRENCY: calls in flight on this node, all models together. */
  readonly concurrency: number;
  /** LOOM_INFERENCE_MAX_DELIVER: attempts that call the model before dead-lettering. */
  readonly maxDeliver: number;
  readonly ackWaitMs: number;
  readonly callTimeoutMs: number;
  /** Nak delays; default 1 s doubling to 60 s, with jitter. */
  readonly backoff?: BackoffPolicy;
  /** Sleep when idle and no doorbell rang; default 1_000. */
  readonly idlePollMs?: number;
  /** How long stop() waits for in-flight calls before aborting them (they are nak'ed for another worker); default 20_000. */
  readonly drainTimeoutMs?: number;
  readonly log: Logger;
}

/** Messages asked for per pull; small, so a pull never takes more than it can start. */
const MAX_PULL_BATCH = 4;
const JS_TIMEOUT_MS = 5_000;
/** After a ring that found nothing, the second look (see the header). */
const AFTER_RING_RETRY_MS = 20;
const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 1_000, maxMs: 60_000 };

interface Queue {
  readonly model: string;
  readonly priority: InferencePriority;
  readonly consumer: string;
}

export class InferenceWorker {
  readonly #opts: InferenceWorkerOptions;
  readonly #log: Logger;
  readonly #slots: Slots;
  readonly #apiPrefix: string;
  readonly #stop = new AbortController();
  readonly #shutdown = new AbortController();
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #doorbells: Subscription[] = [];
  #queues: Queue[] = [];
  #cancelWatch: CancelWatch | undefined;
  #loop: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #rings = 0;
  /** The stream rings once a request is stored (INFERENCE_RING_REPUBLISH), so a ring means a pull finds it. */
  #ringsAfterStore = false;
  #wake: (() => void) | undefined;
  #rotation = 0;
  readonly #drained = new DrainedQueues<Queue>();
  /** When the drained marks were last forgotten (performance.now()). */
  #marksSince = 0;

  constructor(opts: InferenceWorkerOptions) {
    if (opts.models.length === 0) throw new RangeError('an inference worker needs at least one model');
    this.#opts = opts;
    this.#log = opts.log;
    this.#slots = new Slots(opts.concurrency);
    this.#apiPrefix = apiPrefixOf(opts.jsm.getOptions());
  }

  /** Calls in flight now. */
  get inFlight(): number {
    return this.#slots.inUse;
  }

  /** Creates the consumers, opens the cancel watch and starts pulling. */
  async start(): Promise<void> {
    const o = this.#opts;
    const settings = { ackWaitMs: o.ackWaitMs, maxDeliver: o.maxDeliver + 1, maxAckPending: 10_000 };
    const queues: Queue[] = [];
    for (const priority of INFERENCE_PRIORITIES) {
      for (const model of o.models) {
        queues.push({ model, priority, consumer: await ensureInferenceConsumer(o.jsm, model, priority, settings, this.#log) });
      }
    }
    this.#queues = queues;
    this.#cancelWatch = new CancelWatch(o.cancels, this.#log);
    await this.#cancelWatch.start();
    // The stream rings once a request is stored, headers only; a stream made before that rule
    // (nats-server 2.9 cannot add it) is heard on the request subjects themselves, bodies and all.
    this.#ringsAfterStore = await queueRingsAfterStore(o.jsm, INFERENCE_STREAM, INFERENCE_RING_REPUBLISH, this.#log);
    for (const queue of queues) {
      const sub = o.nc.subscribe(this.#ringsAfterStore ? inferenceRingSubject(queue.model, queue.priority) : inferenceRequestSubject(queue.model, queue.priority));
      this.#doorbells.push(sub);
      void this.#listen(sub, queue);
    }
    const js = jetstream(o.nc, { timeout: JS_TIMEOUT_MS });
    this.#loop = this.#run(this.#serveContext(js, this.#cancelWatch));
    this.#log.info({ models: o.models, concurrency: o.concurrency, maxDeliver: o.maxDeliver, ackWaitMs: o.ackWaitMs }, 'inference worker started');
  }

  /**
   * Stops pulling, lets in-flight calls finish for up to `drainTimeoutMs`,
   * then aborts the rest (nak'ed at once, so another worker picks them up).
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#drain();
    return this.#stopping;
  }

  async #drain(): Promise<void> {
    this.#stop.abort();
    this.#wake?.();
    for (const sub of this.#doorbells) sub.unsubscribe();
    await this.#loop;
    if (!(await this.#slots.waitIdle(this.#opts.drainTimeoutMs ?? 20_000))) {
      this.#log.warn({ inFlight: this.#slots.inUse }, 'aborting in-flight inference calls');
      this.#shutdown.abort();
    }
    await Promise.allSettled([...this.#inFlight]);
    await this.#cancelWatch?.stop();
    this.#log.info('inference worker stopped');
  }

  #serveContext(js: JetStreamClient, cancels: CancelWatch): ServeContext {
    const o = this.#opts;
    return {
      js,
      sink: new ResultSink(o.nc, o.actors),
      model: o.model,
      cancels,
      served: new Set(o.models),
      policy: {
        maxAttempts: o.maxDeliver,
        ackWaitMs: o.ackWaitMs,
        callTimeoutMs: o.callTimeoutMs,
        backoff: o.backoff ?? DEFAULT_BACKOFF,
        jetStreamTimeoutMs: JS_TIMEOUT_MS,
      },
      shutdown: this.#shutdown.signal,
      log: this.#log,
    };
  }

  async #run(ctx: ServeContext): Promise<void> {
    const stop = this.#stop.signal;
    let failures = 0;
    let quickRetry = false;
    while (!stop.aborted) {
      await this.#slots.waitFree(stop);
      if (stop.aborted) break;
      const ringsAtPull = this.#rings;
      let pulled: WorkMessage[];
      try {
        pulled = await this.#pull(this.#slots.free);
        failures = 0;
      } catch (err) {
        // NATS down, consumer deleted, a malformed ack subject: back off and try again.
        failures += 1;
        this.#log.warn({ err, failures }, 'pulling inference work failed');
        await this.#sleep(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)));
        continue;
      }
      if (pulled.length === 0) {
        if (this.#rings !== ringsAtPull) continue; // rang while pulling: look again now
        if (quickRetry) {
          // Woken by a ring that found nothing (or, without the ring rule, just served a short pull):
          // the request may be stored, or reach a consumer's replica, a moment later, so look once more soon.
          quickRetry = false;
          if (!(await this.#sleep(AFTER_RING_RETRY_MS))) this.#forgetDrained();
        } else {
          quickRetry = await this.#sleep(this.#opts.idlePollMs ?? 1_000);
          if (!quickRetry) this.#forgetDrained(); // idle poll: redeliveries ring no bell
        }
        continue;
      }
      // Served something: should the next round find every queue drained, it takes one quick look before
      // the long sleep, unless rings come after the store (then the next request rings for itself).
      quickRetry = !this.#ringsAfterStore;
      for (const msg of pulled) {
        this.#slots.take();
        const served = serveRequest(msg, ctx).finally(() => {
          this.#slots.release();
          this.#inFlight.delete(served);
        });
        this.#inFlight.add(served);
      }
    }
  }

  /**
   * Up to `free` ready messages, interactive queues (models in rotation) before
   * batch ones: a queue that answers short is drained at that moment, so the
   * rest is asked of the next queue. Queues known drained are skipped.
   */
  async #pull(free: number): Promise<WorkMessage[]> {
    const want = Math.min(free, MAX_PULL_BATCH);
    const perPriority = this.#opts.models.length;
    this.#rotation = (this.#rotation + 1) % perPriority;
    // Bounds how long a redelivery (which rings no bell) waits while others keep ringing.
    if (performance.now() - this.#marksSince >= (this.#opts.idlePollMs ?? 1_000)) this.#forgetDrained();
    const out: WorkMessage[] = [];
    for (let p = 0; p < INFERENCE_PRIORITIES.length; p++) {
      for (let i = 0; i < perPriority; i++) {
        const queue = this.#queues[p * perPriority + ((i + this.#rotation) % perPriority)];
        if (queue === undefined || !this.#drained.worthAsking(queue)) continue;
        const ask = want - out.length;
        const ringsBefore = this.#drained.ringsOf(queue);
        const msgs = await pullNoWait(this.#opts.nc, { apiPrefix: this.#apiPrefix, stream: INFERENCE_STREAM, consumer: queue.consumer }, ask, JS_TIMEOUT_MS);
        out.push(...msgs);
        this.#drained.answered(queue, ask, msgs.length, ringsBefore);
        if (out.length >= want) return out;
      }
    }
    return out;
  }

  #forgetDrained(): void {
    this.#drained.forget();
    this.#marksSince = performance.now();
  }

  /** Sleeps until `ms` pass, a doorbell rings or stop(); true when a ring woke it. */
  async #sleep(ms: number): Promise<boolean> {
    if (this.#stop.signal.aborted) return false;
    const rings = this.#rings;
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      this.#wake = done;
      function done() {
        clearTimeout(t);
        resolve();
      }
    });
    this.#wake = undefined;
    return this.#rings !== rings;
  }

  async #listen(sub: Subscription, queue: Queue): Promise<void> {
    try {
      // The body is not read: a publish on a request subject only means "pull now".
      for await (const _ of sub) {
        this.#drained.rang(queue);
        this.#rings += 1;
        this.#wake?.();
      }
    } catch (err) {
      // Without the doorbell the idle poll still finds new work, only later.
      this.#log.warn({ err, subject: sub.getSubject() }, 'inference doorbell subscription ended');
    }
  }
}