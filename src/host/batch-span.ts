/**
 * The span of one mailbox batch: a child of the first command that carries a
 * trace context (a gateway's request, an inference result), linked to the
 * others, so the effects the actor performs (log appends, inference
 * requests, replies) continue that trace. Batches no traced message started
 * (timers, host signals) get no span, and with tracing off the batch only runs.
 */
import type { ActorInstance, MailboxMessage } from '../../actors/actor.ts';
import type { ActorKind } from '../../protocol/ids.ts';
import { inSpan, linkTo, SpanKind, traceContextOf, tracingEnabled } from '../tracing/index.ts';

/** Runs `instance.handle(batch)`, in a span when tracing is on (no closure is made when it is off). */
export function traceBatch(kind: ActorKind, batch: readonly MailboxMessage[], instance: ActorInstance): Promise<void> {
  if (!tracingEnabled()) return instance.handle(batch);
  const traced = batch.flatMap((m) => {
    if (m.source !== 'command') return [];
    const ctx = traceContextOf(m.headers);
    const link = linkTo(ctx);
    return link === undefined ? [] : [{ ctx, link, name: m.name }];
  });
  const first = traced[0];
  if (first === undefined) return instance.handle(batch);
  return inSpan(
    `actor ${kind} ${first.name}`,
    {
      kind: SpanKind.CONSUMER,
      parent: first.ctx,
      attributes: { 'loom.actor.kind': kind, 'loom.batch.size': batch.length },
      links: traced.slice(1).map((t) => t.link),
    },
    () => instance.handle(batch),
  );
}
