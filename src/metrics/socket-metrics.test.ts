/** Frame counters: counted per frame in plain numbers, exported whole when the registry is read. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePrometheusText } from '../testing/index.ts';
import { registry } from './registry.ts';
import { socketMeter } from './socket-metrics.ts';

async function frames(name: string, endpoint: string): Promise<number> {
  const scrape = parsePrometheusText(await registry.metrics());
  const sample = scrape.samples.find((s) => s.name === name && s.labels.endpoint === endpoint);
  assert.ok(sample !== undefined, `${name}{endpoint="${endpoint}"} is exported before any frame`);
  return sample.value;
}

test('every frame counts once, across reads of the registry, per endpoint', async () => {
  const before = { rx: await frames('loom_ws_frames_received_total', 'collab'), tx: await frames('loom_ws_frames_sent_total', 'collab'), ws: await frames('loom_ws_frames_sent_total', 'ws') };
  const meter = socketMeter('collab');
  for (let i = 0; i < 3; i++) meter.received();
  for (let i = 0; i < 5; i++) meter.sent();
  assert.equal(await frames('loom_ws_frames_received_total', 'collab'), before.rx + 3);
  assert.equal(await frames('loom_ws_frames_sent_total', 'collab'), before.tx + 5);
  meter.sent();
  assert.equal(await frames('loom_ws_frames_sent_total', 'collab'), before.tx + 6, 'a second read adds only what came since');
  assert.equal(await frames('loom_ws_frames_sent_total', 'ws'), before.ws, 'the other endpoint is untouched');
});
