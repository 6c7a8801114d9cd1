import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stepOverheadsMs, turnSegmentsMs, TurnLedger } from './turn-ledger.ts';

/** A turn of 3 steps: tool steps 1 and 2 (two parallel calls in step 2), then the answer. */
function sampleTurn() {
  const turn = new TurnLedger().open('s1', 1, 1_000, true);
  turn.models.push({ step: 1, startedAt: 1_010, endedAt: 1_060 }, { step: 2, startedAt: 1_080, endedAt: 1_130 }, { step: 3, startedAt: 1_150, endedAt: 1_200 });
  turn.tools.push({ step: 1, startedAt: 1_065, endedAt: 1_066 }, { step: 2, startedAt: 1_135, endedAt: 1_137 }, { step: 2, startedAt: 1_136, endedAt: 1_140 });
  turn.endedAt = 1_207;
  turn.status = 'completed';
  return turn;
}

test('step overheads add up to the turn time less model time and the slowest tool call of each step', () => {
  const turn = sampleTurn();
  const overheads = stepOverheadsMs(turn, 3);
  // step 1: 1000 -> 1080 less model 50, tool 1; step 2: 1080 -> 1150 less 50 and the slower call (4); step 3: 1150 -> 1207 less 50.
  assert.deepEqual(overheads, [29, 16, 7]);
  assert.equal((overheads ?? []).reduce((a, b) => a + b, 0), 207 - 150 - 1 - 4);
});

test('a turn with a missing model call or end has no overheads', () => {
  const turn = sampleTurn();
  turn.models.pop();
  assert.equal(stepOverheadsMs(turn, 3), null);
  const unfinished = sampleTurn();
  unfinished.endedAt = undefined;
  assert.equal(stepOverheadsMs(unfinished, 3), null);
});

test('segments say where the overhead went: dispatch to each model call, model answer to tool, answer to client', () => {
  assert.deepEqual(turnSegmentsMs(sampleTurn(), 3), { dispatch: [10, 14, 10], toTool: [5, 5], toClient: 7 });
});
