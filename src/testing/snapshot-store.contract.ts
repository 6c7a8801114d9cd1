/**
 * The behaviour every SnapshotStore adapter must show, as one node:test suite
 * that each adapter's test file runs against its own storage (rivetkit's
 * driver-suite pattern). Every test works on fresh random document ids, so
 * the suite can share one database with other suites. The only thing an
 * adapter provides beyond the port is `listSeqs`, to observe pruning.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Snapshot, SnapshotStore } from '../../actors/document/ports.ts';
import { parseActorId, type DocId } from '../../protocol/ids.ts';

/** An opened adapter under test. */
export interface SnapshotStoreFixture {
  readonly store: SnapshotStore;
  /** Seqs of the snapshots the adapter still holds for `id`, in any order. */
  listSeqs(id: DocId): Promise<number[]>;
  close(): Promise<void>;
}

/** Snapshots an adapter must keep per document; older ones must be gone after a save. */
export const KEPT_SNAPSHOTS = 3;

/**
 * Registers the SnapshotStore contract as a `describe` block named after the adapter.
 * `open` runs once before the block's tests, `close` once after them.
 */
export function snapshotStoreContract(name: string, open: () => Promise<SnapshotStoreFixture>): void {
  describe(`SnapshotStore contract: ${name}`, () => {
    let fixture: SnapshotStoreFixture | undefined;
    const f = (): SnapshotStoreFixture => {
      if (!fixture) throw new Error('fixture did not open');
      return fixture;
    };
    before(async () => {
      fixture = await open();
    });
    after(async () => {
      await fixture?.close();
    });

    it('returns null for a document that has no snapshot', async () => {
      assert.equal(await f().store.latest(freshId()), null);
    });

    it('returns the saved bytes exactly, for a 2 MiB random state', async () => {
      const id = freshId();
      const state = new Uint8Array(randomBytes(2 * 1024 * 1024));
      await f().store.save(id, { seq: 7, state });
      assertSnapshot(await f().store.latest(id), { seq: 7, state });
    });

    it('returns tiny and empty states exactly', async () => {
      // [0, 0] is what Y.encodeStateAsUpdate gives for an empty Y.Doc.
      for (const state of [new Uint8Array([0, 0]), new Uint8Array(0)]) {
        const id = freshId();
        await f().store.save(id, { seq: 1, state });
        assertSnapshot(await f().store.latest(id), { seq: 1, state });
      }
    });

    it('keeps the attribution record beside the state, and reads none where none was saved', async () => {
      const id = freshId();
      const attribution = new Uint8Array([1, 1, 7, 0xff, 0]);
      await f().store.save(id, { seq: 3, state: bytesFor(3), attribution });
      await f().store.save(id, { seq: 2, state: bytesFor(2) });
      assert.deepEqual(Buffer.from((await f().store.latest(id))?.attribution ?? []), Buffer.from(attribution));
      assert.deepEqual(Buffer.from((await f().store.get(id, 3))?.attribution ?? []), Buffer.from(attribution));
      assert.equal((await f().store.get(id, 2))?.attribution, undefined);
    });

    it('returns the snapshot with the highest seq, whatever order they were saved in', async () => {
      const id = freshId();
      for (const seq of [5, 2, 9]) await f().store.save(id, { seq, state: bytesFor(seq) });
      assertSnapshot(await f().store.latest(id), { seq: 9, state: bytesFor(9) });
    });

    it('reads a kept snapshot by its seq, and null for a seq it does not hold', async () => {
      const id = freshId();
      for (const seq of [4, 8]) await f().store.save(id, { seq, state: bytesFor(seq) });
      assertSnapshot(await f().store.get(id, 4), { seq: 4, state: bytesFor(4) });
      assert.equal(await f().store.get(id, 5), null);
      assert.equal(await f().store.get(freshId(), 4), null);
    });

    it('treats saving the same document and seq twice as harmless', async () => {
      const id = freshId();
      await f().store.save(id, { seq: 3, state: bytesFor(3) });
      await f().store.save(id, { seq: 3, state: bytesFor(3) });
      assertSnapshot(await f().store.latest(id), { seq: 3, state: bytesFor(3) });
      assert.deepEqual(await f().listSeqs(id), [3]);
    });

    it(`keeps only the newest ${KEPT_SNAPSHOTS} snapshots of a document`, async () => {
      const id = freshId();
      for (let seq = 1; seq <= 6; seq++) await f().store.save(id, { seq: seq * 10, state: bytesFor(seq) });
      assert.deepEqual(sorted(await f().listSeqs(id)), [40, 50, 60]);
      assertSnapshot(await f().store.latest(id), { seq: 60, state: bytesFor(6) });
    });

    it("removes only that document's snapshots", async () => {
      const gone = freshId();
      const kept = freshId();
      await f().store.save(gone, { seq: 1, state: bytesFor(1) });
      await f().store.save(gone, { seq: 2, state: bytesFor(2) });
      await f().store.save(kept, { seq: 1, state: bytesFor(11) });
      await f().store.remove(gone);
      assert.equal(await f().store.latest(gone), null);
      assert.deepEqual(await f().listSeqs(gone), []);
      assertSnapshot(await f().store.latest(kept), { seq: 1, state: bytesFor(11) });
      await f().store.remove(freshId()); // removing a document without snapshots is fine
    });

    it('keeps ids with slashes, colons, dots, quotes, LIKE wildcards and unicode apart', async () => {
      const suffix = randomUUID();
      const spellings = ['a/b:c.d', 'a/b:c.e', "it's %_ \\", 'ünïcødé 文档 🚀', 'A/B:C.D'];
      const ids = spellings.map((s) => parseActorId(`${s} ${suffix}`));
      for (const [i, id] of ids.entries()) await f().store.save(id, { seq: i + 1, state: bytesFor(i) });
      for (const [i, id] of ids.entries()) assertSnapshot(await f().store.latest(id), { seq: i + 1, state: bytesFor(i) });
    });
  });
}

function freshId(): DocId {
  return parseActorId(`contract-${randomUUID()}`);
}

/** Distinct small states per n, so a mixed-up row shows. */
function bytesFor(n: number): Uint8Array {
  return new Uint8Array([n & 0xff, 0xfe, 0x00, (n * 7) & 0xff, 0x5c]);
}

function sorted(seqs: number[]): number[] {
  return [...seqs].sort((a, b) => a - b);
}

function assertSnapshot(actual: Snapshot | null, expected: Snapshot): void {
  assert.ok(actual, `expected snapshot seq ${expected.seq}, got null`);
  assert.equal(actual.seq, expected.seq);
  assert.ok(actual.state instanceof Uint8Array, 'state must be a Uint8Array');
  assert.equal(actual.state.byteLength, expected.state.byteLength, 'state length');
  // Buffer.equals compares bytes in native code; deepEqual on 2 MiB is slow and prototype-sensitive.
  const a = Buffer.from(actual.state.buffer, actual.state.byteOffset, actual.state.byteLength);
  const e = Buffer.from(expected.state.buffer, expected.state.byteOffset, expected.state.byteLength);
  assert.ok(a.equals(e), 'state bytes differ');
}
