import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import type { TimerMessage } from '../../actors/actor.ts';
import { parseActorId } from '../../protocol/ids.ts';
import { waitFor } from '../testing/index.ts';
import { ActivationContext } from './activation-context.ts';
import { LocalActors } from './local-actors.ts';

const published: string[] = [];
/** Only `publish` is used when no in-process gateway is attached. */
const nc = { publish: (subject: string) => void published.push(subject) } as unknown as NatsConnection;

function context(due: TimerMessage[] = []): ActivationContext {
  return new ActivationContext({ nc, kind: 'doc', id: parseActorId('ctx-test'), log: pino({ level: 'silent' }) }, { timerDue: (m) => void due.push(m) });
}

test('events are published on the actor\'s event subject', () => {
  published.length = 0;
  context().publish('head', new Uint8Array(0));
  assert.deepEqual(published, ['event.doc.ctx-test.head']);
});

test('publishLocal hands an event to listeners in this process and never to NATS; without them it does nothing', () => {
  published.length = 0;
  const id = parseActorId('ctx-test');
  const local = new LocalActors({ events: true });
  const heard: Array<[string, string | undefined]> = [];
  local.listen('doc', id, (event, _body, headers) => void heard.push([event, headers['Loom-Seq']]));
  const ctx = new ActivationContext({ nc, kind: 'doc', id, log: pino({ level: 'silent' }), local }, { timerDue: () => undefined });
  ctx.publishLocal('update', Uint8Array.of(1), { 'Loom-Seq': '7' });
  assert.deepEqual(heard, [['update', '7']]);
  assert.deepEqual(published, [], 'the log stream carries it on NATS, not the actor');
  context().publishLocal('update', Uint8Array.of(1));
  new ActivationContext({ nc, kind: 'doc', id, log: pino({ level: 'silent' }), local: new LocalActors({ events: false }) }, { timerDue: () => undefined }).publishLocal('update', Uint8Array.of(1));
  assert.deepEqual(published, []);
});

test('a scheduled timer reaches the activation once due, and counts as waiting until then', async () => {
  const due: TimerMessage[] = [];
  const ctx = context(due);
  assert.equal(ctx.waitingForTimer, false);
  ctx.schedule(1, 'retry', { n: 1 });
  assert.equal(ctx.waitingForTimer, true);
  await waitFor(() => due.length === 1, { what: 'the timer delivered' });
  assert.deepEqual(due, [{ source: 'timer', name: 'retry', payload: { n: 1 } }]);
  assert.equal(ctx.waitingForTimer, false);
});

test('ending drops pending timers and aborts the signal, whether it was asked for before or after', () => {
  const due: TimerMessage[] = [];
  const early = context(due);
  const signal = early.signal;
  early.schedule(60_000, 'never');
  early.end();
  assert.equal(signal.aborted, true);
  assert.equal(early.waitingForTimer, false);
  const late = context();
  late.end();
  assert.equal(late.signal.aborted, true);
});
