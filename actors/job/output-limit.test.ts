import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeJobEvent, MAX_STEP_OUTPUT_BYTES, type JobEvent } from '../../protocol/job-events.ts';
import type { PipelineDefinition } from '../../protocol/pipeline-definition.ts';
import { encodeJson } from '../../protocol/reply.ts';
import { maxOutputBytesFor, OUTPUT_ENVELOPE_BYTES } from './output-limit.ts';
import { JobSimulation, TEST_DEFAULTS } from './simulation.ts';

test('the output limit is 1 MiB, or what one reply carries less the envelope when max_payload is smaller', () => {
  assert.equal(maxOutputBytesFor(undefined), MAX_STEP_OUTPUT_BYTES);
  assert.equal(maxOutputBytesFor(8 * 1024 * 1024 - 16 * 1024), MAX_STEP_OUTPUT_BYTES);
  // The default max_payload (1 MiB) less the host's 16 KiB for headers.
  assert.equal(maxOutputBytesFor(1024 * 1024 - 16 * 1024), 1_015_808);
  assert.equal(maxOutputBytesFor(100), 0);
});

test('the largest envelope an output travels in (its log event, its output reply) is under OUTPUT_ENVELOPE_BYTES, every character escaped', () => {
  // Control characters take six bytes each in JSON: the worst case for every free text at its bound.
  const text = (chars: number): string => '\u0001'.repeat(chars);
  const step = text(128);
  const event: JobEvent = {
    type: 'step-succeeded',
    v: 1,
    at: Number.MAX_SAFE_INTEGER,
    step,
    attempt: 100,
    output: null,
    usage: { model: text(200), promptTokens: Number.MAX_SAFE_INTEGER, completionTokens: Number.MAX_SAFE_INTEGER, timeToFirstTokenMs: Number.MAX_VALUE, durationMs: Number.MAX_VALUE, costUsd: Number.MAX_VALUE },
    artifact: { step, name: text(200), key: text(512), contentType: text(255), bytes: Number.MAX_SAFE_INTEGER },
  } as JobEvent;
  const eventEnvelope = encodeJobEvent(event).length - 'null'.length;
  const replyEnvelope = encodeJson({ step: text(200), output: null }).length - 'null'.length;
  const jobEnvelope = encodeJobEvent({ type: 'job-succeeded', v: 1, at: Number.MAX_SAFE_INTEGER, output: null }).length - 'null'.length;
  for (const [what, bytes] of Object.entries({ eventEnvelope, replyEnvelope, jobEnvelope })) assert.ok(bytes < OUTPUT_ENVELOPE_BYTES, `${what}: ${bytes} bytes`);
});

const LIMIT = 10_000;
/** A job of a registered definition whose engine holds outputs to LIMIT bytes. */
function limited(definition: Record<string, unknown>, input: unknown = {}): JobSimulation {
  const s = new JobSimulation(new Map(), { ...TEST_DEFAULTS, policy: { ...TEST_DEFAULTS.policy, maxParallelSteps: 10 } });
  s.maxOutputBytes = LIMIT;
  const kind = definition['kind'] as string;
  s.start({ kind, input, pipeline: { kind, version: 1, definition: definition as unknown as PipelineDefinition } });
  return s;
}
const anyInput = { type: 'object' };
/** A JSON string of exactly `bytes` bytes. */
const jsonOf = (bytes: number): string => 'x'.repeat(bytes - 2);

test('an llm output over the limit fails its step for good, naming the limit; one at the limit is recorded', () => {
  const over = limited({ kind: 'demo.say', input: anyInput, steps: [{ id: 'say', type: 'llm', prompt: { user: 'Say it' } }] });
  over.answer(over.calls()[0]!, jsonOf(LIMIT + 1));
  const step = over.state.steps.get('say');
  assert.deepEqual([step?.status, step?.error?.code, over.state.status], ['failed', 'output-too-large', 'failed']);
  assert.match(step?.error?.message ?? '', new RegExp(`step say: its output is ${LIMIT + 1} bytes of JSON, over ${LIMIT}, the most one output may hold`));
  assert.equal(over.calls().length, 0, 'not retried: the same answer would be refused again');

  const at = limited({ kind: 'demo.say', input: anyInput, steps: [{ id: 'say', type: 'llm', prompt: { user: 'Say it' } }] });
  at.answer(at.calls()[0]!, jsonOf(LIMIT));
  assert.equal(at.state.steps.get('say')?.status, 'succeeded');
});

test("service instances, the map collecting them and the job's result are each held to the limit", () => {
  const def = {
    kind: 'demo.fan',
    input: anyInput,
    steps: [{ id: 'fetch', type: 'map', over: 'input.n', step: { type: 'service', queue: 'fetch', input: {} } }],
    result: { all: '{{steps.fetch.output}}' },
  };
  // One instance over the limit: that instance fails for good.
  const single = limited(def, { n: 3 });
  const [first] = single.tasks();
  single.finishTask(first!, { ok: true, output: jsonOf(LIMIT + 1), artifact: null });
  assert.equal(single.state.steps.get(first!.step)?.error?.code, 'output-too-large');

  // Three instances within it, the map holding all three over it: the map fails.
  const map = limited(def, { n: 3 });
  for (const task of map.tasks()) map.finishTask(task, { ok: true, output: jsonOf(LIMIT / 2), artifact: null });
  assert.deepEqual([map.state.steps.get('fetch')?.status, map.state.steps.get('fetch')?.error?.code], ['failed', 'output-too-large']);

  // Instances and map within it, the result (the map's output wrapped) over it: the job fails with the result named.
  const result = limited(def, { n: 3 });
  const room = Math.floor((LIMIT - '["","",""]'.length) / 3);
  for (const task of result.tasks()) result.finishTask(task, { ok: true, output: 'x'.repeat(room), artifact: null });
  assert.equal(result.state.steps.get('fetch')?.status, 'succeeded');
  assert.deepEqual([result.state.status, result.state.error?.code], ['failed', 'output-too-large']);
  assert.match(result.state.error?.message ?? '', new RegExp(`the job's result is \\d+ bytes of JSON, over ${LIMIT}`));
});
