/**
 * The web app's bundle as the gateway builds it: the page, script and
 * stylesheet, one copy of Yjs (two copies break shared types between the
 * provider and the editor), and the stock y-websocket provider.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRootLogger } from '../log.ts';
import { buildWebBundle } from './web-bundle.ts';

test('the web app builds into a page, a script and a stylesheet, with one copy of Yjs', async () => {
  const { assets, inputs } = await buildWebBundle(createRootLogger({ level: 'silent', instanceId: 'web-bundle-test' }));
  assert.deepEqual([...assets.keys()].sort(), ['/', '/app.css', '/app.js']);
  assert.match(new TextDecoder().decode(assets.get('/')?.body), /<script type="module" src="\/app.js">/);
  assert.ok((assets.get('/app.js')?.body.byteLength ?? 0) > 10_000, 'the script holds the bundled libraries');
  const yjsCopies = inputs.filter((i) => /node_modules\/yjs\/dist\/yjs\.mjs$/.test(i) || /node_modules\/.+\/node_modules\/yjs\//.test(i));
  assert.deepEqual(yjsCopies, ['../node_modules/yjs/dist/yjs.mjs']);
  assert.ok(inputs.includes('../node_modules/y-websocket/src/y-websocket.js'), 'the stock y-websocket provider');
  assert.ok(inputs.some((i) => i.startsWith('src/editor/')), "the app's own editor modules");
});
