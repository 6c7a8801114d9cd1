import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultRamp, parseArgs, UsageError } from './load-spec.ts';
import { rampRatios, type RampSummary } from './ramp.ts';

test('bench:collab runs all four servers by default; --target takes a list, both and all', () => {
  assert.deepEqual(parseArgs([]).targets, ['loom', 'hocuspocus', 'hocuspocus-x2', 'loom-x2']);
  assert.deepEqual(parseArgs(['--target', 'both']).targets, ['loom', 'hocuspocus']);
  assert.deepEqual(parseArgs(['--target', 'loom-x2,hocuspocus-x2']).targets, ['loom-x2', 'hocuspocus-x2']);
  assert.throws(() => parseArgs(['--target', 'loom,redis']), UsageError);
  assert.throws(() => parseArgs(['--target', '']), UsageError);
});

test('--ramp makes one load whose rate is the first step, with a shorter convergence wait', () => {
  const options = parseArgs(['--ramp', '--rate', '3', '--step', '5', '--target', 'loom']);
  assert.deepEqual(options.ramp, { ...defaultRamp, startRate: 3, stepS: 5 });
  assert.equal(options.loads.length, 1);
  assert.equal(options.loads[0]?.docs, 10);
  assert.equal(options.convergeTimeoutMs, 5_000);
  assert.throws(() => parseArgs(['--ramp', '--ramp-factor', '1']), UsageError);
});

test('ramp ratios set each Loom setup against each Hocuspocus setup that ran', () => {
  const summary = (server: RampSummary['server'], editsPerS: number | null): RampSummary => ({
    server,
    load: { docs: 10, clients: 5, stepS: 8, p99LimitMs: 50 },
    sustained: editsPerS === null ? null : { ratePerClient: editsPerS / 50, editsPerS, p99Ms: 10 },
    endedBy: 'p99',
    failedStep: null,
    steps: 3,
    windows: 4,
    loadavg1AtStart: 1,
  });
  assert.deepEqual(rampRatios([summary('hocuspocus-x2', 400), summary('loom', 800), summary('loom-x2', null)]), {
    'loom/hocuspocus-x2': 2,
    'loom-x2/hocuspocus-x2': null,
  });
});
