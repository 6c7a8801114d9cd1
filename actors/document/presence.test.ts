/**
 * Presence as the document actor keeps it: ownership per connection, echoes
 * versus forgeries, limits, and clean-up in any order (issue 12, items 2, 3
 * and 10). Pure: no NATS, a hand-driven clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type AwarenessEntry, decodeAwarenessUpdate, encodeAwarenessUpdate } from '../../protocol/awareness.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { DEFAULT_PRESENCE_LIMITS, type PresenceLimits } from './limits.ts';
import { Presence, PRESENCE_TIMEOUT_MS } from './presence.ts';

function entries(...states: [clientId: number, clock: number, state: object | null][]): AwarenessEntry[] {
  return decodeAwarenessUpdate(encodeAwarenessUpdate(states.map(([clientId, clock, state]) => ({ clientId, clock, state: state === null ? null : JSON.stringify(state) }))));
}

function setup(limits: Partial<PresenceLimits> = {}) {
  let now = 1_000_000;
  const timeouts: Uint8Array[] = [];
  const presence = new Presence((removal) => timeouts.push(removal), { ...DEFAULT_PRESENCE_LIMITS, ...limits }, () => now);
  const present = () => new Map(decodeAwarenessUpdate(presence.snapshot().length === 0 ? encodeAwarenessUpdate([]) : presence.snapshot()).map((e) => [e.clientId, e.state]));
  return { presence, timeouts, present, advance: (ms: number) => (now += ms) };
}

function assertCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => err instanceof ProtocolError && err.code === code);
}

test('a state first set at clock 0 is removed with its connection, in any order of disconnects, removals and gateway loss (issue 12, item 10)', () => {
  const { presence, present } = setup();
  // Clock 0 is what y-protocols' Awareness ignored while the owner map kept it: the old drop then threw on its missing meta.
  presence.apply(entries([7, 0, { name: 'a' }]), 'conn-a', 'gw-1');
  presence.apply(entries([8, 0, { name: 'b' }]), 'conn-b', 'gw-1');
  presence.apply(entries([9, 3, { name: 'c' }]), 'conn-c', 'gw-2');
  const removal = presence.dropOrigin('conn-a');
  assert.deepEqual(decodeAwarenessUpdate(removal!).map((e) => [e.clientId, e.clock, e.removed]), [[7, 0, true]]);
  assert.equal(presence.dropOrigin('conn-a'), null, 'a second disconnect finds nothing');
  presence.apply(entries([8, 1, null]), 'conn-b', 'gw-1');
  assert.equal(presence.dropGateway('gw-1'), null, 'conn-b removed itself already');
  assert.equal(presence.dropOrigin('conn-b'), null);
  assert.ok(presence.dropGateway('gw-2') !== null);
  assert.equal(presence.dropOrigin('conn-c'), null, 'its gateway took it already');
  assert.equal(present().size, 0);
  presence.destroy();
});

test('stale states time out and are published as removals; later disconnects of their owners find nothing', () => {
  const { presence, timeouts, present, advance } = setup();
  presence.apply(entries([1, 0, { a: 1 }]), 'conn-a', 'gw-1');
  advance(PRESENCE_TIMEOUT_MS / 2);
  presence.apply(entries([2, 5, { b: 1 }]), 'conn-b', 'gw-1');
  advance(PRESENCE_TIMEOUT_MS / 2 + 1);
  assert.deepEqual([...present().keys()], [2], 'client 1 stopped renewing');
  assert.deepEqual(timeouts.map((t) => decodeAwarenessUpdate(t).map((e) => [e.clientId, e.removed])), [[[1, true]]]);
  assert.equal(presence.dropOrigin('conn-a'), null);
  assert.ok(presence.dropGateway('gw-1') !== null, 'conn-b is still removed with its gateway');
  presence.destroy();
});

test('only the connection that introduced a client id may change or remove it; echoes are dropped silently, forgeries counted (issue 12, item 3)', () => {
  const { presence, present } = setup();
  assert.ok(presence.apply(entries([1, 4, { who: 'alice' }]), 'conn-a', 'gw-1').update !== null);
  // y-websocket echoes what it received, with the same clock: a relay.
  const echo = presence.apply(entries([1, 4, { who: 'alice' }]), 'conn-b', 'gw-1');
  assert.deepEqual([echo.update, echo.forged, echo.relayed], [null, 0, 1]);
  // A higher clock for someone else's id: forged, set or removed.
  const forged = presence.apply(entries([1, 9, { who: 'mallory' }], [2, 0, { who: 'bob' }]), 'conn-b', 'gw-1');
  assert.equal(forged.forged, 1);
  assert.deepEqual(decodeAwarenessUpdate(forged.update!).map((e) => e.clientId), [2], "conn-b's own id passes, alone");
  assert.equal(presence.apply(entries([1, 10, null]), 'conn-b', 'gw-1').forged, 1);
  assert.equal(presence.forgedTotal, 2);
  assert.equal(present().get(1), '{"who":"alice"}', "alice's presence is hers");
  // The owner changes and removes it; an echo of the removal is dropped too.
  assert.ok(presence.apply(entries([1, 5, { who: 'alice', x: 1 }]), 'conn-a', 'gw-1').update !== null);
  assert.ok(presence.apply(entries([1, 6, null]), 'conn-a', 'gw-1').update !== null);
  assert.deepEqual(presence.apply(entries([1, 6, null]), 'conn-b', 'gw-1').relayed, 1);
  // A late echo of the removed state does not bring it back; its owner reconnecting with a newer clock does.
  assert.equal(presence.apply(entries([1, 5, { who: 'alice', x: 1 }]), 'conn-b', 'gw-1').update, null);
  assert.ok(!present().has(1));
  assert.ok(presence.apply(entries([1, 7, { who: 'alice' }]), 'conn-a2', 'gw-2').update !== null);
  assert.equal(presence.dropOrigin('conn-a'), null, 'the old connection owns nothing now');
  assert.ok(present().has(1));
  presence.destroy();
});

test('a state over the size limit is refused whole, and nothing of the message is applied (issue 12, item 2)', () => {
  const { presence, present } = setup({ maxStateBytes: 100 });
  assertCode(() => presence.apply(entries([1, 1, { ok: true }], [2, 1, { blob: 'x'.repeat(200) }]), 'conn-a', 'gw-1'), 'presence-too-large');
  assert.equal(present().size, 0);
  assert.ok(presence.apply(entries([1, 1, { ok: true }]), 'conn-a', 'gw-1').update !== null);
});

test("the document's presence is capped: the connection that would pass the cap is refused, the others keep theirs", () => {
  const { presence, present } = setup({ maxStateBytes: 1_000, maxDocumentBytes: 2_500 });
  presence.apply(entries([1, 1, { s: 'a'.repeat(900) }]), 'conn-a', 'gw-1');
  presence.apply(entries([2, 1, { s: 'b'.repeat(900) }]), 'conn-b', 'gw-1');
  assertCode(() => presence.apply(entries([3, 1, { s: 'c'.repeat(900) }]), 'conn-c', 'gw-1'), 'presence-too-large');
  assert.deepEqual([...present().keys()], [1, 2]);
  assert.ok(presence.snapshot().length <= 2_500, 'a snapshot stays within the cap');
  // Shrinking one's own state is always allowed.
  presence.apply(entries([1, 2, { s: 'small' }]), 'conn-a', 'gw-1');
  presence.apply(entries([3, 1, { s: 'c'.repeat(900) }]), 'conn-c', 'gw-1');
  assert.equal(present().size, 3);
});

test('one connection changing presence faster than its rate is refused; echoes do not count, and other connections are unaffected', () => {
  const { presence, advance } = setup({ ratePerSec: 10, rateBurst: 5 });
  presence.apply(entries([2, 1, { b: 1 }]), 'conn-b', 'gw-1');
  for (let clock = 1; clock <= 5; clock++) presence.apply(entries([1, clock, { n: clock }]), 'conn-a', 'gw-1');
  assertCode(() => presence.apply(entries([1, 6, { n: 6 }]), 'conn-a', 'gw-1'), 'rate-limited');
  for (let i = 0; i < 50; i++) presence.apply(entries([2, 1, { b: 1 }]), 'conn-a', 'gw-1');
  assert.ok(presence.apply(entries([2, 2, { b: 2 }]), 'conn-b', 'gw-1').update !== null);
  advance(200);
  assert.ok(presence.apply(entries([1, 6, { n: 6 }]), 'conn-a', 'gw-1').update !== null, 'tokens come back with time');
});
