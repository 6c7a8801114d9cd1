/** When the actor host writes a document's change mark (a pure unit: the write and the clock are the test's). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseActorId } from '../../protocol/ids.ts';
import { DocumentChangeMarks } from './document-change-marks.ts';

const notes = parseActorId('notes');
const other = parseActorId('other');

function setUp(debounceMs: number) {
  const clock = { now: 0 };
  const written: string[] = [];
  let fail = false;
  const marks = new DocumentChangeMarks(
    async (id) => {
      written.push(id);
      if (fail) throw new Error('stream unavailable');
    },
    debounceMs,
    () => clock.now,
  );
  return { clock, written, marks, failNext: (on: boolean) => (fail = on) };
}

test('one mark per half window while a document keeps changing, one per document', async () => {
  const { clock, written, marks } = setUp(1_000);
  await marks.beforeUpdate(notes);
  for (const at of [1, 200, 499]) {
    clock.now = at;
    assert.equal(marks.beforeUpdate(notes), undefined, `no mark at ${at} ms`);
  }
  await marks.beforeUpdate(other);
  clock.now = 500;
  await marks.beforeUpdate(notes);
  assert.deepEqual(written, ['notes', 'other', 'notes']);
});

test('updates that arrive while the mark is being written wait for that one mark', async () => {
  const { written, marks } = setUp(1_000);
  const first = marks.beforeUpdate(notes);
  const second = marks.beforeUpdate(notes);
  assert.ok(first !== undefined && first === second);
  await first;
  assert.deepEqual(written, ['notes']);
});

test('a mark that fails to store fails the update, and the next update tries again', async () => {
  const { written, marks, failNext } = setUp(1_000);
  failNext(true);
  await assert.rejects(marks.beforeUpdate(notes) ?? Promise.resolve(), /stream unavailable/);
  failNext(false);
  await marks.beforeUpdate(notes);
  assert.deepEqual(written, ['notes', 'notes']);
});

test('a zero window marks before every update; a forgotten document is marked again', async () => {
  const zero = setUp(0);
  await zero.marks.beforeUpdate(notes);
  await zero.marks.beforeUpdate(notes);
  assert.deepEqual(zero.written, ['notes', 'notes']);
  const { written, marks } = setUp(1_000);
  await marks.beforeUpdate(notes);
  marks.forget(notes);
  await marks.beforeUpdate(notes);
  assert.deepEqual(written, ['notes', 'notes']);
});

test('documents whose mark expired are forgotten once many are remembered', async () => {
  const { clock, marks } = setUp(1_000);
  for (let i = 0; i < 1_024; i++) await marks.beforeUpdate(parseActorId(`doc-${i}`));
  assert.equal(marks.size, 1_024);
  clock.now = 600;
  await marks.beforeUpdate(notes);
  assert.equal(marks.size, 1, 'only the fresh mark is left');
});
