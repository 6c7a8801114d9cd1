/** The shadow replica updates are tried on (issue 12, item 4): the live doc stays clean, and offenders cost one copy at most. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import { pino } from 'pino';
import { ProtocolError } from '../../protocol/errors.ts';
import { POISONED_PREFIX_TEXT, POISONED_UPDATE } from '../../src/testing/poisoned-update.fixture.ts';
import { UpdateScreen } from './update-screen.ts';

function editBy(clientId: number, text: string): Uint8Array {
  const d = new Y.Doc();
  d.clientID = clientId;
  d.getText('t').insert(0, text);
  return Y.encodeStateAsUpdate(d);
}

function screened(screen: UpdateScreen, live: Y.Doc, update: Uint8Array, origin: string): void {
  screen.check(update, Y.decodeUpdate(update), origin);
  screen.applyLive(() => Y.applyUpdate(live, update));
}

test('a poisoned update never reaches the live doc; clients it did not name are tried on the shadow as it is, a client it named on a fresh copy', () => {
  const live = new Y.Doc();
  const screen = new UpdateScreen(live, pino({ level: 'silent' }));
  screened(screen, live, editBy(10, 'hello '), 'good');
  assert.equal(screen.copies, 1, 'the shadow is copied on first use');
  assert.throws(() => screened(screen, live, POISONED_UPDATE, 'bad'), (err: unknown) => err instanceof ProtocolError && err.code === 'invalid-update');
  assert.ok(!live.getText('t').toString().includes(POISONED_PREFIX_TEXT));
  screened(screen, live, editBy(11, 'world '), 'good');
  assert.equal(screen.copies, 1, 'no copy for an update that names no tainted client');
  // The same poison from other connections is refused by its digest: no try, no copy.
  for (const origin of ['bad-2', 'bad-3']) assert.throws(() => screened(screen, live, POISONED_UPDATE, origin), /failed to integrate before/);
  assert.equal(screen.copies, 1);
  // Client 0 is the poisoned update's author: its next (valid) update is tried on a clean copy and applies as on the live doc.
  screened(screen, live, editBy(0, 'zero '), 'other');
  assert.equal(screen.copies, 2);
  assert.ok(live.getText('t').toString().includes('zero'));
  // Restores and reverts reach the shadow through the live doc's update event.
  const restore = new Y.Doc();
  restore.clientID = 12;
  Y.applyUpdate(restore, Y.encodeStateAsUpdate(live));
  restore.getText('t').insert(0, 'restored ');
  Y.applyUpdate(live, Y.encodeStateAsUpdate(restore, Y.encodeStateVector(live)));
  const onTop = new Y.Doc();
  onTop.clientID = 13;
  Y.applyUpdate(onTop, Y.encodeStateAsUpdate(live));
  onTop.getText('t').insert(0, '!');
  screened(screen, live, Y.encodeStateAsUpdate(onTop, Y.encodeStateVector(live)), 'good');
  assert.equal(screen.copies, 2, 'the shadow followed the restore, so an edit on top of it needs no copy');
  assert.ok(live.getText('t').toString().startsWith('!restored '));
  screen.dispose();
  live.destroy();
});
