/**
 * A worker for one service queue, in TypeScript: the loop PROTOCOL.md
 * ("Service activities") describes for any language. Pull a task
 * (interactive before batch), claim it, ack it, run the handler while
 * heartbeating, complete it. Loom's answers decide: a refused claim drops
 * the task, a refused heartbeat (or a message on activity.cancel.<queue>)
 * aborts the handler, and a completion is counted only when accepted.
 *
 * Up to `concurrency` tasks run at once (default 1): whenever a slot is
 * free the loop pulls at most that many ready tasks (no-wait pulls, so
 * nothing waits at this worker toward ack_wait), and starts each at once.
 * A slot is freed when the handler ends: the completion travels to Loom
 * while the slot already serves the next task (under load, waiting for
 * Loom's answer held slots far longer than the work itself).
 * A completion Loom cannot take yet (a retryable error such as
 * `mailbox-full`, or no answer at all while the actors hosts restart) is
 * sent again with backoff until Loom answers it, also while the worker
 * stops (for up to `completionDrainMs`: stop() waits for it), so a worker
 * and Loom restarting together lose no finished work (deliver-completion.ts);
 * Loom applies the first completion it takes, once.
 * A heartbeat that gets no answer is not sent again (the next one will do),
 * and is logged with the task's ids.
 * With nothing ready it sleeps until the queue rings (the stream publishes
 * each stored task's headers on activity.ring.<queue>.<priority>) or
 * `idlePollMs` passes (a nak'ed task is redelivered without a ring).
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  ACTIVITY_CLAIM_SUBJECT,
  ACTIVITY_COMPLETE_SUBJECT,
  ACTIVITY_HEARTBEAT_SUBJECT,
  ACTIVITY_PRIORITIES,
  ACTIVITY_RING_REPUBLISH,
  ACTIVITY_STREAM,
  ACTIVITY_VERSION,
  activityCancelSubject,
  activityRingSubject,
  activityTaskSubject,
  activityConsumerName,
  decodeActivityCancel,
  decodeActivityReply,
  decodeActivityTask,
  encodeActivity,
  type ActivityOutcomeMessage,
  type ActivityReply,
  type ActivityTask,
} from '../../protocol/activity.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { replyError } from '../../protocol/reply.ts';
import { fromNatsHeaders } from '../nats/headers.ts';
import type { Logger } from '../log.ts';
import { pullNoWait, type WorkMessage } from '../inference/no-wait-pull.ts';
import { apiPrefixOf } from '../nats/api-prefix.ts';
import { queueRingsAfterStore } from '../nats/republish.ts';
import { sharedRequestMux } from '../nats/request-mux.ts';
import { Slots } from '../inference/slots.ts';
import { completionFor, type Completion } from './completion.ts';
import { deliverCompletion } from './deliver-completion.ts';
import { PresenceBeacon } from './presence.ts';
import { ensureActivityConsumers } from './provision.ts';

/** Thrown by a handler to fail the attempt: `retryable` lets Loom retry it (per the step's policy), otherwise the step fails. */
export class ActivityFailure extends Error {
  override readonly name = 'ActivityFailure';
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

export interface ActivityContext {
  /** Aborted when Loom cancels the task or the attempt is no longer current. */
  readonly signal: AbortSignal;
  /** Sends a heartbeat now, with optional progress (the worker also sends them on its own). */
  heartbeat(progress?: unknown): Promise<void>;
}

export type ActivityHandler = (task: ActivityTask, ctx: ActivityContext) => Promise<unknown>;

export interface ActivityWorkerOptions {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly presence: KV;
  readonly queue: string;
  readonly workerId: string;
  readonly handler: ActivityHandler;
  readonly log: Logger;
  /** Tasks handled at once, 1..1024; default 1. */
  readonly concurrency?: number;
  /** Longest sleep between empty pulls when no task is published meanwhile; default 1_000 ms. */
  readonly idlePollMs?: number;
  /** Heartbeat period when the task sets no heartbeat timeout; default 5_000 ms. */
  readonly heartbeatMs?: number;
  /** How long a claim, heartbeat or completion waits for Loom's answer; default 10_000 ms (an unanswered completion is sent again). */
  readonly requestTimeoutMs?: number;
  /**
   * After stop(), how long completions Loom has not taken yet are still sent
   * again (Loom restarting while the worker shuts down); default 20_000 ms,
   * inside a usual 30 s termination grace. 0 gives them up at stop().
   */
  readonly completionDrainMs?: number;
}

/** How one task ended at this worker, for its owner to count. */
export type TaskEvent =
  | { readonly type: 'claimed'; readonly taskId: string }
  | { readonly type: 'refused'; readonly taskId: string; readonly reason: string }
  | { readonly type: 'completed'; readonly taskId: string; readonly accepted: boolean; readonly ok: boolean; readonly reason: string | null }
  | { readonly type: 'cancelled'; readonly taskId: string; readonly reason: string };

/** completionDrainMs when not given. */
const DEFAULT_COMPLETION_DRAIN_MS = 20_000;
/** Tasks asked for per pull: a pull takes no more than free slots, and no more than this. */
const MAX_PULL_BATCH = 16;
/**
 * After a ring that found nothing, one more look soon: on a stream without
 * the ring rule the task subject is heard before the task is stored, and on
 * a replicated stream a consumer's replica may store it a moment after the ring.
 */
const AFTER_RING_RETRY_MS = 10;

export class ActivityWorker {
  private readonly stop$ = new AbortController();
  /** Aborted completionDrainMs after stop(): until then completions are still sent again. */
  private readonly deliveries$ = new AbortController();
  private drainTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private cancelSub: Subscription | undefined;
  private readonly doorbells: Subscription[] = [];
  private rings = 0;
  /** The task stream rings once a task is stored (ACTIVITY_RING_REPUBLISH), so a ring means a pull finds it. */
  private ringsAfterStore = false;
  private wake: (() => void) | undefined;
  private beacon: PresenceBeacon | undefined;
  private readonly slots: Slots;
  private readonly tasks = new Set<Promise<void>>();
  private readonly running = new Map<string, AbortController>();
  private readonly listeners: Array<(e: TaskEvent) => void> = [];

  /** @throws RangeError when `concurrency` is not an integer in 1..1024. */
  constructor(private readonly opts: ActivityWorkerOptions) {
    const concurrency = opts.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1024) throw new RangeError(`concurrency must be an integer in 1..1024, got ${concurrency}`);
    this.slots = new Slots(concurrency);
  }

  onTask(listener: (e: TaskEvent) => void): void {
    this.listeners.push(listener);
  }

  async start(): Promise<void> {
    await ensureActivityConsumers(this.opts.jsm, this.opts.queue, this.opts.log);
    this.cancelSub = this.opts.nc.subscribe(activityCancelSubject(this.opts.queue), {
      callback: (err, msg) => {
        if (err !== null) return;
        try {
          const cancel = decodeActivityCancel(msg.data);
          const running = this.running.get(cancel.taskId);
          if (running !== undefined) {
            running.abort(new Error(cancel.reason));
            this.emit({ type: 'cancelled', taskId: cancel.taskId, reason: cancel.reason });
          }
        } catch (e) {
          this.opts.log.warn({ err: e }, 'malformed cancel ignored');
        }
      },
    });
    // A ring only means "pull now". The stream rings once a task is stored, headers only; a stream
    // made before that rule (nats-server 2.9 cannot add it) is heard on the task subjects themselves.
    this.ringsAfterStore = await queueRingsAfterStore(this.opts.jsm, ACTIVITY_STREAM, ACTIVITY_RING_REPUBLISH, this.opts.log);
    for (const priority of ACTIVITY_PRIORITIES) {
      const ring = () => {
        this.rings++;
        this.wake?.();
      };
      const subject = this.ringsAfterStore ? activityRingSubject(this.opts.queue, priority) : activityTaskSubject(this.opts.queue, priority);
      this.doorbells.push(this.opts.nc.subscribe(subject, { callback: ring }));
    }
    this.beacon = new PresenceBeacon(this.opts.presence, [{ kind: 'service', queue: this.opts.queue }], this.opts.workerId, this.opts.log);
    await this.beacon.start();
    this.loop = this.run();
  }

  /**
   * Stops pulling and waits for the tasks in hand to end, and for their
   * completions: one Loom cannot take yet is sent again for up to
   * completionDrainMs, then given up (the attempt times out at Loom and runs again).
   */
  async stop(): Promise<void> {
    this.stop$.abort();
    if (this.drainTimer === undefined && !this.deliveries$.signal.aborted) {
      const drainMs = this.opts.completionDrainMs ?? DEFAULT_COMPLETION_DRAIN_MS;
      if (drainMs <= 0) this.deliveries$.abort();
      else this.drainTimer = setTimeout(() => this.deliveries$.abort(), drainMs);
    }
    this.wake?.();
    for (const sub of this.doorbells) sub.unsubscribe();
    await this.loop;
    await Promise.allSettled([...this.tasks]);
    clearTimeout(this.drainTimer);
    this.cancelSub?.unsubscribe();
    await this.beacon?.stop();
  }

  private emit(e: TaskEvent): void {
    for (const l of this.listeners) l(e);
  }

  private async run(): Promise<void> {
    const apiPrefix = apiPrefixOf(this.opts.jsm.getOptions());
    const stop = this.stop$.signal;
    let quickRetry = false;
    while (!stop.aborted) {
      await this.slots.waitFree(stop);
      if (stop.aborted) break;
      const ringsAtPull = this.rings;
      const batch = Math.min(this.slots.free, MAX_PULL_BATCH);
      const pulled: WorkMessage[] = [];
      // Interactive first; what it leaves of the batch is asked of the batch consumer.
      for (const priority of ACTIVITY_PRIORITIES) {
        const consumer = activityConsumerName(this.opts.queue, priority);
        try {
          pulled.push(...(await pullNoWait(this.opts.nc, { apiPrefix, stream: ACTIVITY_STREAM, consumer }, batch - pulled.length, 5_000)));
        } catch (err) {
          this.opts.log.warn({ err, consumer }, 'pull failed');
        }
        if (pulled.length >= batch) break;
      }
      if (pulled.length === 0) {
        if (this.rings !== ringsAtPull) continue; // rang while pulling: look again now
        // Woken by a ring but found nothing: the stream may store the task a moment later, so look once more soon.
        if (quickRetry) {
          quickRetry = false;
          await this.sleep(AFTER_RING_RETRY_MS);
        } else {
          quickRetry = await this.sleep(this.opts.idlePollMs ?? 1_000);
        }
        continue;
      }
      quickRetry = false;
      for (const msg of pulled) {
        this.slots.take();
        let held = true;
        const release = () => {
          if (!held) return;
          held = false;
          this.slots.release();
        };
        const task = this.take(msg, release)
          .catch((err: unknown) => this.opts.log.error({ err }, 'task handling failed'))
          .finally(() => {
            release();
            this.tasks.delete(task);
          });
        this.tasks.add(task);
      }
      // Where the stream rings after storing, a short answer of both consumers means the queue is drained:
      // the next task rings, and a redelivery (which rings no bell) waits for the idle poll, as when nothing came.
      if (this.ringsAfterStore && pulled.length < batch && this.rings === ringsAtPull) quickRetry = await this.sleep(this.opts.idlePollMs ?? 1_000);
    }
  }

  /** Sleeps until `ms` pass, a task is published or stop(); true when a publish woke it. */
  private async sleep(ms: number): Promise<boolean> {
    if (this.stop$.signal.aborted) return false;
    const rings = this.rings;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wake = done;
    });
    this.wake = undefined;
    return this.rings !== rings;
  }

  /** Claims, runs and completes one pulled task; `release` frees its slot (once the handler ended, or when it never runs). */
  private async take(msg: WorkMessage, release: () => void): Promise<void> {
    let task: ActivityTask;
    try {
      task = decodeActivityTask(msg.data);
    } catch (err) {
      this.opts.log.error({ err }, 'malformed task dropped');
      msg.term();
      return;
    }
    let claim: ActivityReply;
    try {
      claim = await this.request(ACTIVITY_CLAIM_SUBJECT, encodeActivity({ ...this.ids(task) }));
    } catch (err) {
      this.opts.log.warn({ err, taskId: task.taskId }, 'claim not answered; the task goes back to the queue');
      msg.nak(1_000);
      return;
    }
    // Claimed or refused, the message leaves the queue: from here the job's clocks decide. The work does
    // not wait for the server to confirm the ack: were it lost, the redelivered task's claim is refused
    // (this attempt is claimed already) and dropped then.
    const acked = msg.ack(5_000).catch((err: unknown) => this.opts.log.warn({ err, taskId: task.taskId }, 'ack failed'));
    if (!claim.accepted) {
      this.emit({ type: 'refused', taskId: task.taskId, reason: claim.reason ?? '' });
      await acked;
      return;
    }
    this.emit({ type: 'claimed', taskId: task.taskId });
    await Promise.all([acked, this.work(task, release)]);
  }

  private async work(task: ActivityTask, release: () => void): Promise<void> {
    const abort = new AbortController();
    this.running.set(task.taskId, abort);
    const log = this.taskLog(task);
    // Best effort: a heartbeat Loom could not take is not sent again (the next one will do), but it is never silent.
    // The first of a run of lost ones is a warning, the rest debug (a long absence of Loom must not flood the log).
    let lostInARow = 0;
    const beat = async (progress?: unknown) => {
      try {
        const reply = await this.request(ACTIVITY_HEARTBEAT_SUBJECT, encodeActivity({ ...this.ids(task), ...(progress === undefined ? {} : { progress }) }));
        if (lostInARow > 0) log.info({ lost: lostInARow }, 'heartbeats taken again');
        lostInARow = 0;
        if (!reply.accepted) abort.abort(new Error(reply.reason ?? 'refused'));
      } catch (err) {
        lostInARow++;
        if (!(err instanceof ProtocolError && err.retryable)) log.error({ err }, 'heartbeat refused');
        else if (lostInARow === 1) log.warn({ err, code: err.code }, 'heartbeat not taken; the next one will do');
        else log.debug({ err, code: err.code, lost: lostInARow }, 'heartbeat not taken; the next one will do');
      }
    };
    const period = task.heartbeatTimeoutMs === null ? (this.opts.heartbeatMs ?? 5_000) : Math.max(50, Math.floor(task.heartbeatTimeoutMs / 3));
    const timer = setInterval(() => void beat(), period);
    let outcome: ActivityOutcomeMessage;
    try {
      const output = await this.opts.handler(task, { signal: abort.signal, heartbeat: beat });
      outcome = { ok: true, output: output ?? null };
    } catch (err) {
      outcome =
        err instanceof ActivityFailure
          ? { ok: false, error: { code: err.code, message: err.message }, retryable: err.retryable }
          : { ok: false, error: { code: 'worker-error', message: err instanceof Error ? err.message : String(err) }, retryable: true };
    } finally {
      clearInterval(timer);
      this.running.delete(task.taskId);
      release();
    }
    if (abort.signal.aborted) return;
    await this.complete(task, outcome, log);
  }

  /** Sends the completion until Loom answers it, refuses it for good, or the worker stops (deliver-completion.ts). */
  private async complete(task: ActivityTask, outcome: ActivityOutcomeMessage, log: Logger): Promise<void> {
    let done: Completion;
    try {
      done = completionFor(this.ids(task), outcome);
    } catch (err) {
      log.error({ err }, 'completion not delivered: it could not be encoded');
      return;
    }
    const delivery = await deliverCompletion(() => this.request(ACTIVITY_COMPLETE_SUBJECT, done.body), { signal: this.deliveries$.signal, log });
    switch (delivery.kind) {
      case 'answered':
        this.emit({ type: 'completed', taskId: task.taskId, accepted: delivery.reply.accepted, ok: done.message.outcome.ok, reason: delivery.reply.reason });
        return;
      case 'refused':
        log.error({ err: delivery.err, sends: delivery.sends }, 'completion not delivered: refused; the attempt times out at Loom and is retried');
        return;
      case 'stopped':
        log.error({ err: delivery.err, sends: delivery.sends, drainMs: this.opts.completionDrainMs ?? DEFAULT_COMPLETION_DRAIN_MS }, 'completion not delivered: the worker stopped and Loom could not take it within the drain; the attempt times out at Loom and is retried');
        return;
      default: {
        const unknown: never = delivery;
        throw new Error(`unknown delivery ${JSON.stringify(unknown)}`);
      }
    }
  }

  /** The task's logger: every line about it names job, step, attempt and task. */
  private taskLog(task: ActivityTask): Logger {
    return this.opts.log.child({ jobId: task.jobId, step: task.step, attempt: task.attempt, taskId: task.taskId });
  }

  private ids(task: ActivityTask) {
    return { v: ACTIVITY_VERSION, taskId: task.taskId, jobId: task.jobId, step: task.step, attempt: task.attempt, workerId: this.opts.workerId } as const;
  }

  /**
   * Over the connection's request mux (request-mux.ts): nats.js's request()
   * builds an Error with a stack for every request it completes, and a
   * worker makes two or more per task.
   * @throws ProtocolError with Loom's error code (its `retryable` says whether the same message may be sent again):
   * `unavailable` when no actors host is subscribed, `timeout` when none answered in time (both retryable);
   * Error when it could not be sent (the connection closed).
   */
  private async request(subject: string, body: Uint8Array): Promise<ActivityReply> {
    const timeoutMs = this.opts.requestTimeoutMs ?? 10_000;
    const outcome = await sharedRequestMux(this.opts.nc).request(subject, body, { timeoutMs });
    if (outcome.kind === 'no-responders') throw new ProtocolError('unavailable', `${subject}: no Loom actors host answers`);
    if (outcome.kind === 'timeout') throw new ProtocolError('timeout', `${subject}: no answer within ${timeoutMs} ms`);
    const reply = outcome.msg;
    const refused = replyError({ headers: fromNatsHeaders(reply.headers), body: reply.data });
    if (refused !== null) throw new ProtocolError(refused.code, `${subject}: ${refused.code}: ${refused.message}`, { cause: refused });
    return decodeActivityReply(reply.data);
  }
}
