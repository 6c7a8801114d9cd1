/**
 * The ServiceQueue port of the job actor on JetStream: a task becomes one
 * message on `activity.task.<queue>.<priority>` whose Nats-Msg-Id is the
 * task id (a republish after a host restart is dropped by the stream), and
 * a cancel is a core-NATS fan-out on `activity.cancel.<queue>`. Tasks are
 * published on a request mux (src/nats/jetstream-publish.ts), not with
 * js.publish, whose request builds an Error per task.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ServiceQueue, ServiceTask } from '../../actors/job/index.ts';
import {
  ACTIVITY_LIMITS,
  ACTIVITY_VERSION,
  activityCancelSubject,
  activityTaskSubject,
  encodeActivity,
  parseQueueName,
  type ActivityTask,
} from '../../protocol/activity.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import type { Logger } from '../log.ts';
import { publishToStream } from '../nats/jetstream-publish.ts';
import { RequestMux } from '../nats/request-mux.ts';
import { ensureActivityConsumers } from './provision.ts';

export class NatsServiceQueue implements ServiceQueue {
  /** Queues whose consumers exist (or are being made), so workers that start later find their tasks. */
  private readonly provisioned = new Map<string, Promise<void>>();
  private readonly mux: RequestMux;

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly opts: { readonly timeoutMs: number; readonly log: Logger },
  ) {
    this.mux = new RequestMux(nc);
  }

  /** @throws ProtocolError `invalid-input` for a bad queue name or an input too large; `unavailable` when JetStream does not take it. */
  async publish(task: ServiceTask, now: number): Promise<void> {
    const queue = parseQueueName(task.queue);
    const message: ActivityTask = {
      v: ACTIVITY_VERSION,
      taskId: task.taskId,
      jobId: task.meta.jobId,
      step: task.meta.step,
      attempt: task.meta.attempt,
      queue,
      input: task.input ?? null,
      startToCloseMs: task.startToCloseMs,
      heartbeatTimeoutMs: task.heartbeatTimeoutMs,
      enqueuedAt: now,
    };
    const body = encodeActivity(message);
    if (body.byteLength > ACTIVITY_LIMITS.maxInputBytes + 4 * 1024) {
      throw new ProtocolError('invalid-input', `task ${task.taskId}: input of ${body.byteLength} bytes, more than ${ACTIVITY_LIMITS.maxInputBytes}`);
    }
    await this.consumersOf(queue);
    try {
      await publishToStream(this.mux, activityTaskSubject(queue, task.priority), body, { msgId: task.taskId, timeoutMs: this.opts.timeoutMs });
    } catch (err) {
      throw new ProtocolError('unavailable', `queueing task ${task.taskId} on ${queue} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async cancel(queue: string, taskId: string, reason: string): Promise<void> {
    this.nc.publish(activityCancelSubject(queue), encodeActivity({ v: ACTIVITY_VERSION, taskId, reason: reason.slice(0, 500) }));
    await this.nc.flush();
  }

  private consumersOf(queue: string): Promise<void> {
    let ready = this.provisioned.get(queue);
    if (ready === undefined) {
      ready = ensureActivityConsumers(this.jsm, queue, this.opts.log).catch((err: unknown) => {
        this.provisioned.delete(queue);
        throw new ProtocolError('unavailable', `creating the consumers of queue ${queue} failed: ${(err as Error).message}`, { cause: err });
      });
      this.provisioned.set(queue, ready);
    }
    return ready;
  }
}
