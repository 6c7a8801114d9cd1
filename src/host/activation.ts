/**
 * One live actor on this host: its ownership entry, its command subscription,
 * its bounded mailbox and the loop that feeds the instance one batch at a time.
 * Ends by passivation (idle or shutdown: flush, then release the entry) or
 * by stepping down (ownership or fencing lost: drop everything, flush nothing).
 */
import type { NatsConnection, Msg, Subscription } from '@nats-io/transport-node';
import {
  type ActorDefinition,
  type ActorInstance,
  type CommandMessage,
  type MailboxMessage,
  type SignalMessage,
  StepDownError,
  type TimerMessage,
} from '../../actors/actor.ts';
import type { ActorId, ActorKind } from '../../protocol/ids.ts';
import type { HeaderMap } from '../../protocol/headers.ts';
import { errorReply, type WireMessage } from '../../protocol/reply.ts';
import { commandWildcard, parseCommandSubject } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';
import { observeMailboxBatch } from '../metrics/index.ts';
import { fromNatsHeaders, toNatsHeaders } from '../nats/headers.ts';
import type { ActorLease } from '../placement/ownership.ts';
import { sharedTicker, type SharedTicker, type TickerMember } from '../placement/shared-ticker.ts';
import { ActivationContext, type TimerSink } from './activation-context.ts';
import { traceBatch } from './batch-span.ts';
import { LocalCommand } from './local-command.ts';
import type { LocalActors } from './local-actors.ts';
import { Mailbox, type MailboxLimits } from './mailbox.ts';
import { fitReply } from './reply-limit.ts';

export type EndReason = 'passivated' | 'stepped-down';

export interface ActivationDeps {
  readonly nc: NatsConnection;
  readonly kind: ActorKind;
  readonly id: ActorId;
  readonly definition: ActorDefinition;
  /** The actor's ownership (src/placement/ownership.ts): released on passivation and step-down. */
  readonly lease: ActorLease;
  readonly idleMs: number;
  readonly mailbox: MailboxLimits;
  readonly log: Logger;
  readonly onEnded: (activation: Activation, reason: EndReason) => void;
  /** The in-process fast path (local-actors.ts): commands from this process's gateway, events to its rooms. */
  readonly local?: LocalActors | undefined;
}

/** Makes a reply fit one NATS message (reply-limit.ts); `command` names what it answers. */
type FitReply = (reply: WireMessage, command: string) => WireMessage;

/** A command whose reply is sent at most once, whoever answers first. */
class Command implements CommandMessage {
  readonly source = 'command';
  answered = false;
  constructor(
    private readonly msg: Msg,
    readonly name: string,
    readonly headers: HeaderMap,
    private readonly fit: FitReply,
    private readonly log: Logger,
  ) {}
  get body(): Uint8Array {
    return this.msg.data;
  }
  get expectsReply(): boolean {
    return Boolean(this.msg.reply);
  }
  /** Never throws: a reply that cannot be sent must not fail the rest of the actor's batch. */
  respond(reply: WireMessage): void {
    if (this.answered) return;
    this.answered = true;
    if (!this.msg.reply) return;
    try {
      this.send(this.fit(reply, this.name));
    } catch (err) {
      // Whatever else made the publish throw (the connection closing): say so in a reply small enough to go, if anything can.
      this.log.error({ err, command: this.name }, 'reply not sent');
      try {
        this.send(errorReply('internal', 'the reply could not be sent'));
      } catch (again) {
        this.log.debug({ err: again, command: this.name }, 'error reply not sent either');
      }
    }
  }
  private send(reply: WireMessage): void {
    const headers = toNatsHeaders(reply.headers);
    this.msg.respond(reply.body, headers ? { headers } : undefined);
  }
}

/** How often idle is checked: twice per idle period, between 50 ms and 1 s. */
function idleCheckEveryMs(idleMs: number): number {
  return Math.max(50, Math.min(1_000, Math.floor(idleMs / 2)));
}

export class Activation implements TickerMember, TimerSink {
  private readonly context: ActivationContext;
  private mailbox: Mailbox<MailboxMessage>;
  private sub: Subscription | undefined;
  private instance: ActorInstance | undefined;
  /** The drain in progress (absent while the mailbox is empty: an idle actor holds no pending loop). */
  private loop: Promise<void> | undefined;
  private draining = false;
  /** Set once the actor stepped down from inside a batch: nothing more is handed to it. */
  private halted = false;
  /** The host's idle-check ticker (one timer for every activation on the connection), while active. */
  private idleTicker: SharedTicker | undefined;
  private lastActivityAt = Date.now();
  private busy = false;
  private ending: Promise<void> | undefined;
  private unregisterLocal: (() => void) | undefined;
  /** Every reply, over NATS or in process, is held to the connection's max_payload (reply-limit.ts). */
  private readonly fitToPayload: FitReply = (reply, command) => {
    const maxPayload = this.deps.nc.info?.max_payload;
    if (maxPayload === undefined) return reply;
    return fitReply(reply, maxPayload, { kind: this.deps.kind, id: this.deps.id, command }, this.deps.log);
  };

  constructor(private readonly deps: ActivationDeps) {
    this.mailbox = new Mailbox(deps.mailbox, () => this.pump());
    this.context = new ActivationContext(deps, this);
  }

  get key(): string {
    return this.deps.lease.key;
  }

  /** Loads the actor's state, then starts taking commands. */
  async start(): Promise<void> {
    const { nc, log } = this.deps;
    this.instance = await this.deps.definition.activate(this.context);
    this.subscribe();
    // Replying "active" before the server knows the subscription would send
    // the caller's retry into "no responders" again.
    await nc.flush();
    this.idleTicker = sharedTicker(nc, idleCheckEveryMs(this.deps.idleMs));
    this.idleTicker.add(this);
    log.info({ leaseRevision: this.deps.lease.currentRevision }, 'actor activated');
  }

  private subscribe(): void {
    this.mailbox = new Mailbox(this.deps.mailbox, () => this.pump());
    this.unregisterLocal?.();
    this.unregisterLocal = this.deps.local?.register(this.deps.kind, this.deps.id, { deliver: (name, headers, body) => this.deliverLocal(name, headers, body) });
    this.sub = this.deps.nc.subscribe(commandWildcard(this.deps.kind, this.deps.id), {
      callback: (err, msg) => {
        if (err) {
          this.deps.log.error({ err }, 'command subscription failed');
          return;
        }
        this.enqueue(msg);
      },
    });
  }

  private enqueue(msg: Msg): void {
    let name: string;
    try {
      name = parseCommandSubject(msg.subject).name;
    } catch (err) {
      this.deps.log.debug({ err, subject: msg.subject }, 'bad command subject');
      if (msg.reply) {
        // The Loom-Error header is what marks a reply as an error; the body alone reads as success.
        const wire = errorReply('invalid-subject', (err as Error).message);
        const headers = toNatsHeaders(wire.headers);
        msg.respond(wire.body, headers ? { headers } : undefined);
      }
      return;
    }
    const command = new Command(msg, name, fromNatsHeaders(msg.headers), this.fitToPayload, this.deps.log);
    const outcome = this.mailbox.push(command, msg.data.length);
    if (outcome === 'full') {
      command.respond(errorReply('mailbox-full', `actor ${this.deps.kind}/${this.deps.id} is busy; retry later`));
    } else if (outcome === 'closed') {
      // The activation is ending (passivation or step-down): the next attempt reaches its next home.
      command.respond(errorReply('not-owner', `actor ${this.deps.kind}/${this.deps.id} is moving; retry`));
    }
  }

  /** A command from this process (the fast path): queued like one from NATS, answered as a value. */
  private deliverLocal(name: string, headers: HeaderMap, body: Uint8Array): Promise<WireMessage> | undefined {
    if (this.ending !== undefined) return undefined;
    const command = new LocalCommand(name, headers, body, (reply) => this.fitToPayload(reply, name));
    const outcome = this.mailbox.push(command, body.length);
    // Closed: the activation is ending; NATS reaches the actor's next home.
    if (outcome === 'closed') return undefined;
    if (outcome === 'full') command.respond(errorReply('mailbox-full', `actor ${this.deps.kind}/${this.deps.id} is busy; retry later`));
    return command.reply;
  }

  /** A timer the actor scheduled came due: queued in order with commands. */
  timerDue(message: TimerMessage): void {
    const outcome = this.mailbox.push(message, 0);
    if (outcome !== 'queued') this.deps.log.warn({ timer: message.name, outcome }, 'timer dropped');
  }

  /** Delivers a host signal through the mailbox, in order with commands. */
  signal(message: SignalMessage): void {
    const outcome = this.mailbox.push(message, 0);
    if (outcome !== 'queued') this.deps.log.warn({ signal: message.name, outcome }, 'signal dropped');
  }

  /** Called by the mailbox on every push: starts a drain unless one is running (it takes the new message too). */
  private pump(): void {
    // Before the instance exists nothing can be handed to it (subscribe() replaces this mailbox then).
    if (this.draining || this.halted || this.instance === undefined) return;
    this.draining = true;
    // Begun from a microtask, as the old waiting loop was woken: messages that arrive in one read make one batch.
    this.loop = Promise.resolve().then(() => this.drain());
  }

  /** Hands the instance everything queued, batch by batch, until the mailbox is empty. */
  private async drain(): Promise<void> {
    try {
      await this.drainBatches();
    } finally {
      this.draining = false;
      this.loop = undefined;
    }
    // A push between the last empty take and this point (from a microtask) found the drain still running.
    if (this.mailbox.size > 0) this.pump();
  }

  private async drainBatches(): Promise<void> {
    const instance = this.instance;
    if (instance === undefined) throw new Error('activation loop started before the instance');
    for (;;) {
      const batch = this.mailbox.takeAll();
      if (batch.length === 0) return;
      observeMailboxBatch(this.deps.kind, batch.length);
      this.busy = true;
      this.lastActivityAt = Date.now();
      try {
        await traceBatch(this.deps.kind, batch, instance);
      } catch (err) {
        if (err instanceof StepDownError) {
          this.halted = true;
          this.refuse(batch, 'not-owner', 'actor moved; retry');
          void this.stepDown(err.message);
          return;
        }
        this.deps.log.error({ err }, 'actor handler failed');
        this.refuse(batch, 'internal', 'internal error');
      } finally {
        this.busy = false;
        this.lastActivityAt = Date.now();
      }
      this.refuse(batch, 'internal', 'actor did not reply');
    }
  }

  private refuse(batch: readonly MailboxMessage[], code: 'not-owner' | 'internal', message: string): void {
    for (const m of batch) {
      if (m.source === 'command' && (m instanceof Command || m instanceof LocalCommand) && !m.answered) {
        if (code === 'internal') this.deps.log.error({ command: m.name }, 'command left unanswered');
        m.respond(errorReply(code, message));
      }
    }
  }

  /** The idle check, called by the host's ticker. */
  onTick(nowMs: number): void {
    // Pending timers mean the actor is waiting for itself (a backoff, a timeout): not idle.
    if (this.ending || this.busy || this.mailbox.size > 0 || this.context.waitingForTimer) return;
    if (nowMs - this.lastActivityAt < this.deps.idleMs) return;
    if (this.instance?.canPassivate?.() === false) return;
    void this.passivate('idle');
  }

  /** Flushes and leaves memory. If the flush fails the actor stays active and retries later. */
  passivate(reason: string): Promise<void> {
    this.ending ??= this.doPassivate(reason).finally(() => {
      this.ending = undefined;
    });
    return this.ending;
  }

  private async doPassivate(reason: string): Promise<void> {
    const log = this.deps.log;
    await this.closeIntake();
    try {
      await this.instance?.onPassivate();
    } catch (err) {
      if (reason !== 'shutdown') {
        log.error({ err, reason }, 'passivation flush failed; staying active to retry');
        this.lastActivityAt = Date.now();
        this.subscribe();
        return;
      }
      // Leaving anyway: the durable log still holds every acknowledged write.
      log.error({ err, reason }, 'flush failed at shutdown; recovery will replay the log');
    }
    this.finish();
    await this.deps.lease.release();
    log.info({ reason }, 'actor passivated');
    this.deps.onEnded(this, 'passivated');
  }

  /** Drops the activation without flushing: another owner's state wins. */
  stepDown(reason: string): Promise<void> {
    this.ending ??= this.doStepDown(reason);
    return this.ending;
  }

  private async doStepDown(reason: string): Promise<void> {
    this.deps.log.warn({ reason }, 'actor stepping down');
    this.mailbox.close();
    this.refuse(this.mailbox.takeAll(), 'not-owner', 'actor moved; retry');
    await this.sub?.drain().catch((err: unknown) => this.deps.log.debug({ err }, 'unsubscribe on step-down failed'));
    this.refuse(this.mailbox.takeAll(), 'not-owner', 'actor moved; retry');
    this.finish();
    // Give the entry up: one kept by an activation that no longer serves would
    // keep the actor unreachable. The delete is by our revision, so an entry
    // another host took over is left alone.
    await this.deps.lease.release();
    this.deps.onEnded(this, 'stepped-down');
  }

  /** Stops new commands, lets queued ones finish. */
  private async closeIntake(): Promise<void> {
    // drain() lets messages already routed to us arrive before the subscription ends.
    await this.sub?.drain().catch((err: unknown) => this.deps.log.warn({ err }, 'draining command subscription failed'));
    this.mailbox.close();
    // A drain may hand over to the next one (see drain()): wait for the last.
    while (this.loop !== undefined) await this.loop;
  }

  private finish(): void {
    this.unregisterLocal?.();
    this.unregisterLocal = undefined;
    this.idleTicker?.delete(this);
    this.idleTicker = undefined;
    this.context.end();
    this.instance?.dispose();
  }
}
