/**
 * Hosts actors on this process. Answers activation requests (queue group),
 * wins the actor's ownership entry before activating (valid while this
 * host's liveness key lives: src/placement/ownership.ts), keeps the registry
 * of live activations, routes host signals to them and passivates them all
 * on shutdown, then gives its liveness up.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { ActorDefinition, SignalMessage } from '../../actors/actor.ts';
import { activateRequestSchema, type ActivateReply } from '../../protocol/activation.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { type ActorKind, parseActorId, type ActorId } from '../../protocol/ids.ts';
import { decodeJson, encodeJson, errorReply } from '../../protocol/reply.ts';
import { ACTIVATION_QUEUE, activationSubject, leaseKey } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';
import { observeActivation, observeActorEnded, observeLeaseLost } from '../metrics/index.ts';
import { toNatsHeaders } from '../nats/headers.ts';
import { HostLiveness } from '../placement/host-liveness.ts';
import { OwnerDirectory } from '../placement/ownership.ts';
import { Activation } from './activation.ts';
import type { LocalActors } from './local-actors.ts';
import type { MailboxLimits } from './mailbox.ts';

export interface ActorHostOptions {
  readonly nc: NatsConnection;
  /** The lease bucket (its TTL is the liveness key's). */
  readonly leases: KV;
  /** The ownership bucket (OWNER_BUCKET). */
  readonly owners: KV;
  readonly jsm: JetStreamManager;
  readonly hostId: string;
  readonly definitions: readonly ActorDefinition[];
  readonly leaseTtlMs: number;
  readonly idleMs: number;
  readonly mailbox: MailboxLimits;
  readonly log: Logger;
  /** Set when a gateway runs in this process too: the in-process fast path (local-actors.ts). */
  readonly local?: LocalActors | undefined;
}

export class ActorHost {
  private readonly active = new Map<string, Activation>();
  private readonly activating = new Map<string, Promise<ActivateReply>>();
  private readonly subs: Subscription[] = [];
  private stopping = false;
  private readonly liveness: HostLiveness;
  private readonly directory: OwnerDirectory;

  constructor(private readonly opts: ActorHostOptions) {
    this.liveness = new HostLiveness({ kv: opts.leases, hostId: opts.hostId, ttlMs: opts.leaseTtlMs, log: opts.log });
    this.directory = new OwnerDirectory(opts, opts.leaseTtlMs);
  }

  /** Number of live activations (for metrics and tests). */
  get size(): number {
    return this.active.size;
  }

  start(): void {
    for (const definition of this.opts.definitions) {
      const sub = this.opts.nc.subscribe(activationSubject(definition.kind), {
        queue: ACTIVATION_QUEUE,
        callback: (err, msg) => {
          if (err) {
            this.opts.log.error({ err, kind: definition.kind }, 'activation subscription failed');
            return;
          }
          // Activation is async I/O; it runs beside the callback, and every failure is answered.
          void this.onActivateRequest(definition, msg);
        },
      });
      this.subs.push(sub);
    }
    this.opts.log.info({ kinds: this.opts.definitions.map((d) => d.kind) }, 'actor host started');
  }

  private async onActivateRequest(definition: ActorDefinition, msg: Msg): Promise<void> {
    const reply = (body: Uint8Array, headers?: Record<string, string>) => {
      const h = toNatsHeaders(headers);
      msg.respond(body, h ? { headers: h } : undefined);
    };
    try {
      const { id: rawId } = decodeJson(msg.data, activateRequestSchema, 'activate request');
      const id = parseActorId(rawId);
      const result = await this.ensureActive(definition, id);
      reply(encodeJson(result));
    } catch (err) {
      const e = err instanceof ProtocolError ? err : undefined;
      if (e === undefined) this.opts.log.error({ err, kind: definition.kind }, 'activation failed');
      const wire = errorReply(e?.code ?? 'unavailable', e?.message ?? 'activation failed; retry');
      reply(wire.body, { ...wire.headers });
    }
  }

  /** Activates (kind, id) here unless it is live here or elsewhere. */
  ensureActive(definition: ActorDefinition, id: ActorId): Promise<ActivateReply> {
    if (this.stopping) return Promise.reject(new ProtocolError('unavailable', 'host is shutting down'));
    const key = leaseKey(definition.kind, id);
    if (this.active.has(key)) return Promise.resolve({ status: 'active' });
    let pending = this.activating.get(key);
    if (pending === undefined) {
      pending = this.activate(definition, id, key).finally(() => this.activating.delete(key));
      this.activating.set(key, pending);
    }
    return pending;
  }

  private async activate(definition: ActorDefinition, id: ActorId, key: string): Promise<ActivateReply> {
    const kind: ActorKind = definition.kind;
    const log = this.opts.log.child({ kind, id, host: this.opts.hostId });
    const startedAt = performance.now();
    let activation: Activation | undefined;
    const lease = await this.directory.acquire(key, this.liveness, {
      log,
      onLost: (reason) => {
        log.warn({ reason }, 'lease lost');
        observeLeaseLost(kind);
        void activation?.stepDown(reason);
      },
    });
    if ('heldBy' in lease) {
      observeActivation(kind, 'elsewhere', startedAt);
      return { status: 'elsewhere', host: lease.heldBy };
    }
    activation = new Activation({
      nc: this.opts.nc,
      kind,
      id,
      definition,
      lease,
      idleMs: this.opts.idleMs,
      mailbox: this.opts.mailbox,
      local: this.opts.local,
      log,
      onEnded: (a) => {
        if (this.active.get(a.key) === a) this.active.delete(a.key);
        observeActorEnded(kind);
      },
    });
    try {
      await activation.start();
    } catch (err) {
      observeActivation(kind, 'failed', startedAt);
      await lease.release();
      throw new Error(`activating ${kind}/${id} failed`, { cause: err });
    }
    observeActivation(kind, 'activated', startedAt);
    this.active.set(key, activation);
    return { status: 'active' };
  }

  /** Delivers a signal to every live actor of a kind. */
  broadcast(kind: ActorKind, signal: SignalMessage): void {
    for (const activation of this.active.values()) {
      if (activation.key.startsWith(`${kind}.`)) activation.signal(signal);
    }
  }

  /** Stops taking activations and passivates every live actor (flush + lease release). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.subs.map((s) => s.drain().catch((err: unknown) => this.opts.log.warn({ err }, 'draining activation subscription failed'))));
    await Promise.allSettled([...this.activating.values()]);
    const all = [...this.active.values()];
    this.opts.log.info({ actors: all.length }, 'passivating all actors');
    await Promise.all(all.map((a) => a.passivate('shutdown')));
    // Last: an entry whose release failed becomes free now, not only after the TTL.
    await this.liveness.release();
  }
}
