/**
 * Runs the ObjectStore contract against FsObjectStore in a temp dir, with its
 * gateway routes on a real node server, plus what only this adapter
 * promises: atomic create-if-absent under concurrent writers, no temp files
 * left behind, readers never seeing a torn overwrite, and a signing key that
 * is generated once and kept.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startObjectGateway, type ObjectGatewayHandle } from '../../testing/index.ts';
import { objectStoreContract } from '../../testing/object-store.contract.ts';
import { loadUrlSigningKey, SIGNING_KEY_FILE } from './signing-key.ts';

objectStoreContract('FsObjectStore', async () => {
  const gw = await startObjectGateway();
  return { store: gw.store, withClock: gw.withClock, close: gw.dispose };
});

describe('FsObjectStore beyond the contract', () => {
  let gw: ObjectGatewayHandle | undefined;
  const g = (): ObjectGatewayHandle => {
    if (!gw) throw new Error('gateway did not start');
    return gw;
  };
  before(async () => {
    gw = await startObjectGateway();
  });
  after(async () => {
    await gw?.dispose();
  });

  it('lets exactly one of many concurrent putIfAbsent writers win, and keeps its bytes', async () => {
    const key = 'jobs/j1/compose/document.md';
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => g().store.putIfAbsent(key, Buffer.from(`writer ${i}`), { contentType: 'text/markdown' })),
    );
    const winners = results.filter((r) => !r.existing);
    assert.equal(winners.length, 1);
    const read = await g().store.get(key);
    assert.ok(read);
    const text = Buffer.concat(await read.body.toArray()).toString('utf8');
    assert.equal(text, `writer ${results.indexOf(winners[0]!)}`);
    for (const r of results) assert.equal(r.etag, winners[0]!.etag);
    assert.deepEqual(await filesIn(path.join(g().dataDir, 'objects/jobs/j1/compose')), ['document.md~meta.json', expectBlob(await sidecarBlob(key))].sort());
  });

  it('leaves one sidecar and one blob per object after overwrites and refused writes', async () => {
    const key = 'a/b/c.txt';
    for (let i = 0; i < 5; i++) await g().store.put(key, Buffer.from(`v${i}`), { contentType: 'text/plain' });
    await assert.rejects(g().store.put(key, Buffer.alloc(50), { contentType: 'text/plain', maxBytes: 10 }));
    assert.deepEqual(await filesIn(path.join(g().dataDir, 'objects/a/b')), ['c.txt~meta.json', expectBlob(await sidecarBlob(key))].sort());
  });

  it('never shows a reader a mix of two versions while they overwrite each other', async () => {
    const key = 'race/obj';
    const versions = ['A', 'B'].map((c) => Buffer.alloc(256 * 1024, c));
    await g().store.put(key, versions[0]!, { contentType: 'text/plain' });
    const writes = Promise.all(Array.from({ length: 20 }, (_, i) => g().store.put(key, versions[i % 2]!, { contentType: 'text/plain' })));
    for (let i = 0; i < 20; i++) {
      const read = await g().store.get(key);
      assert.ok(read);
      const bytes = Buffer.concat(await read.body.toArray());
      assert.ok(bytes.equals(versions[0]!) || bytes.equals(versions[1]!), 'a torn read');
      assert.equal(read.info.size, bytes.length);
    }
    await writes;
  });

  it('removes emptied folders on deletePrefix', async () => {
    await g().store.put('docs/d1/one', Buffer.from('1'), { contentType: 'text/plain' });
    await g().store.put('docs/d1/deep/two', Buffer.from('2'), { contentType: 'text/plain' });
    assert.equal(await g().store.deletePrefix('docs/d1/'), 2);
    assert.equal((await readdir(path.join(g().dataDir, 'objects/docs'))).includes('d1'), false);
  });

  async function sidecarBlob(key: string): Promise<string> {
    const meta = JSON.parse(await readFile(path.join(g().dataDir, 'objects', `${key}~meta.json`), 'utf8')) as { blob: string };
    return meta.blob;
  }
});

describe('URL signing key', () => {
  it('is generated once under the data folder and reused, unless one is configured', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'loom-key-'));
    try {
      const [a, b] = await Promise.all([loadUrlSigningKey({ configured: undefined, dataDir: dir }), loadUrlSigningKey({ configured: undefined, dataDir: dir })]);
      assert.equal(a.byteLength, 32);
      assert.deepEqual(a, b);
      assert.deepEqual(await loadUrlSigningKey({ configured: undefined, dataDir: dir }), a);
      assert.deepEqual(await readdir(dir), [SIGNING_KEY_FILE]);
      const configured = await loadUrlSigningKey({ configured: 'k'.repeat(40), dataDir: dir });
      assert.deepEqual(Buffer.from(configured).toString(), 'k'.repeat(40));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

function expectBlob(name: string): string {
  assert.match(name, /~[0-9a-f]{32}\.blob$/);
  return name;
}

async function filesIn(dir: string): Promise<string[]> {
  return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
}
