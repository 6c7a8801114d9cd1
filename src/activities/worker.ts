/**
 * A worker for one service queue, in TypeScript: the loop PROTOCOL.md
 * ("Service activities") describes for any language. Pull a task
 * (interactive before batch), claim it, ack it, run the handler while
 * heartbeating, complete it. Loom's answers decide: a refused claim drops
 * the task, a refused heartbeat (or a message on activity.cancel.<queue>)
 * aborts the handler, and a completion is counted only when accepted.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  ACTIVITY_CLAIM_SUBJECT,
  ACTIVITY_COMPLETE_SUBJECT,
  ACTIVITY_HEARTBEAT_SUBJECT,
  ACTIVITY_PRIORITIES,
  ACTIVITY_STREAM,
  ACTIVITY_VERSION,
  activityCancelSubject,
  activityConsumerName,
  decodeActivityCancel,
  decodeActivityReply,
  decodeActivityTask,
  encodeActivity,
  type ActivityOutcomeMessage,
  type ActivityReply,
  type ActivityTask,
} from '../../protocol/activity.ts';
import { HEADERS } from '../../protocol/headers.ts';
import type { Logger } from '../log.ts';
import { apiPrefixOf, pullNoWait, type WorkMessage } from '../inference/no-wait-pull.ts';
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
  /** Sleep between empty pulls; default 100 ms. */
  readonly idlePollMs?: number;
  /** Heartbeat period when the task sets no heartbeat timeout; default 5_000 ms. */
  readonly heartbeatMs?: number;
  readonly requestTimeoutMs?: number;
}

/** How one task ended at this worker, for its owner to count. */
export type TaskEvent =
  | { readonly type: 'claimed'; readonly taskId: string }
  | { readonly type: 'refused'; readonly taskId: string; readonly reason: string }
  | { readonly type: 'completed'; readonly taskId: string; readonly accepted: boolean; readonly ok: boolean; readonly reason: string | null }
  | { readonly type: 'cancelled'; readonly taskId: string; readonly reason: string };

export class ActivityWorker {
  private stopped = false;
  private loop: Promise<void> | undefined;
  private cancelSub: Subscription | undefined;
  private beacon: PresenceBeacon | undefined;
  private readonly running = new Map<string, AbortController>();
  private readonly listeners: Array<(e: TaskEvent) => void> = [];

  constructor(private readonly opts: ActivityWorkerOptions) {}

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
    this.beacon = new PresenceBeacon(this.opts.presence, [{ kind: 'service', queue: this.opts.queue }], this.opts.workerId, this.opts.log);
    await this.beacon.start();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    this.cancelSub?.unsubscribe();
    await this.beacon?.stop();
  }

  private emit(e: TaskEvent): void {
    for (const l of this.listeners) l(e);
  }

  private async run(): Promise<void> {
    const apiPrefix = apiPrefixOf(this.opts.jsm.getOptions());
    while (!this.stopped) {
      let msg: WorkMessage | undefined;
      for (const priority of ACTIVITY_PRIORITIES) {
        const consumer = activityConsumerName(this.opts.queue, priority);
        try {
          [msg] = await pullNoWait(this.opts.nc, { apiPrefix, stream: ACTIVITY_STREAM, consumer }, 1, 5_000);
        } catch (err) {
          this.opts.log.warn({ err, consumer }, 'pull failed');
        }
        if (msg !== undefined) break;
      }
      if (msg === undefined) {
        await new Promise((r) => setTimeout(r, this.opts.idlePollMs ?? 100));
        continue;
      }
      await this.take(msg);
    }
  }

  private async take(msg: WorkMessage): Promise<void> {
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
      claim = await this.request(ACTIVITY_CLAIM_SUBJECT, { ...this.ids(task) });
    } catch (err) {
      this.opts.log.warn({ err, taskId: task.taskId }, 'claim not answered; the task goes back to the queue');
      msg.nak(1_000);
      return;
    }
    // Claimed or refused, the message leaves the queue: from here the job's clocks decide.
    await msg.ack(5_000).catch((err: unknown) => this.opts.log.warn({ err, taskId: task.taskId }, 'ack failed'));
    if (!claim.accepted) {
      this.emit({ type: 'refused', taskId: task.taskId, reason: claim.reason ?? '' });
      return;
    }
    this.emit({ type: 'claimed', taskId: task.taskId });
    await this.work(task);
  }

  private async work(task: ActivityTask): Promise<void> {
    const abort = new AbortController();
    this.running.set(task.taskId, abort);
    const beat = async (progress?: unknown) => {
      try {
        const reply = await this.request(ACTIVITY_HEARTBEAT_SUBJECT, { ...this.ids(task), ...(progress === undefined ? {} : { progress }) });
        if (!reply.accepted) abort.abort(new Error(reply.reason ?? 'refused'));
      } catch (err) {
        this.opts.log.warn({ err, taskId: task.taskId }, 'heartbeat not answered');
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
    }
    if (abort.signal.aborted) return;
    try {
      const reply = await this.request(ACTIVITY_COMPLETE_SUBJECT, { ...this.ids(task), outcome });
      this.emit({ type: 'completed', taskId: task.taskId, accepted: reply.accepted, ok: outcome.ok, reason: reply.reason });
    } catch (err) {
      this.opts.log.error({ err, taskId: task.taskId }, 'completion not delivered');
    }
  }

  private ids(task: ActivityTask) {
    return { v: ACTIVITY_VERSION, taskId: task.taskId, jobId: task.jobId, step: task.step, attempt: task.attempt, workerId: this.opts.workerId } as const;
  }

  /** @throws Error when Loom answers with an error or not at all. */
  private async request(subject: string, message: Parameters<typeof encodeActivity>[0]): Promise<ActivityReply> {
    const reply = await this.opts.nc.request(subject, encodeActivity(message), { timeout: this.opts.requestTimeoutMs ?? 10_000 });
    const code = reply.headers?.get(HEADERS.error);
    if (code !== undefined && code !== '') throw new Error(`${subject}: ${code}: ${new TextDecoder().decode(reply.data)}`);
    return decodeActivityReply(reply.data);
  }
}
