import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InferenceCall } from '../effects.ts';
import { JobSimulation, taskOf, type ModelAnswer } from '../simulation.ts';
import { pipelineCatalog } from './catalog.ts';

const pipelines = pipelineCatalog();

/** A scripted model: answers each task with something valid. */
function model(call: InferenceCall): ModelAnswer {
  const user = call.messages.find((m) => m.role === 'user')?.content ?? '';
  switch (taskOf(call)) {
    case 'document.generate/outline': {
      const n = Number(/exactly (\d+) sections/.exec(user)?.[1] ?? 1);
      return JSON.stringify({ title: 'Tides', sections: Array.from({ length: n }, (_, i) => ({ heading: `Part ${i + 1}`, summary: `about ${i + 1}` })) });
    }
    case 'document.generate/section':
      return `Text of ${/Write section (\d+)/.exec(user)?.[1]}.`;
    case 'research.deep/plan':
      return '```json\n{"subQuestions": ["What?", "Why?", "How?"]}\n```';
    case 'research.deep/answer':
      return `Answer to ${/Sub-question (\d+)/.exec(user)?.[1]}.`;
    case 'research.deep/synthesis':
      return 'Tides come from the moon [1] and the sun [3].';
    case 'script.variations/variation':
      return `Variation ${/variation (\d+)/.exec(user)?.[1]}`;
    case 'script.variations/adapt':
      return `${/Target language: (\S+)/.exec(user)?.[1]}: ${user.split('\n\n')[1]}`;
    case 'slides.generate/outline': {
      const n = Number(/Exactly (\d+) slides/.exec(user)?.[1] ?? 2);
      return JSON.stringify({ title: 'Deck', slides: Array.from({ length: n }, (_, i) => ({ title: `S${i + 1}`, bullets: ['a', 'b'], layout: i === 0 ? 'title' : 'title-bullets' })) });
    }
    case 'slides.generate/notes':
      return `Notes for ${/Slide (\d+)/.exec(user)?.[1]}`;
    default:
      return { error: `unexpected task ${taskOf(call)}`, terminal: true };
  }
}

function run(kind: string, input: unknown, targetDocId: string | null = null, answer: (c: InferenceCall) => ModelAnswer = model): JobSimulation {
  const s = new JobSimulation(pipelines);
  s.start({ kind, input, targetDocId });
  s.run(answer);
  return s;
}

test('document.generate: outline, sections in parallel, composed markdown saved once', () => {
  const s = run('document.generate', { topic: 'Tides', sections: 3 });
  assert.equal(s.state.status, 'succeeded', JSON.stringify(s.state.error));
  const output = s.state.output as { markdown: string; sections: string[] };
  assert.equal(output.markdown, '# Tides\n\n## Part 1\n\nText of 1.\n\n## Part 2\n\nText of 2.\n\n## Part 3\n\nText of 3.\n');
  const ran = [...s.state.steps.values()].filter((st) => st.status === 'succeeded').map((st) => st.id);
  assert.deepEqual(ran.sort(), ['outline', 'save', 'sections', 'sections.1', 'sections.2', 'sections.3', 'sources']);
  assert.deepEqual(output.sections, ['Part 1', 'Part 2', 'Part 3']);
});

test('document.generate with a target writes the title, then each section in order, with running offsets', () => {
  const s = new JobSimulation(pipelines);
  s.start({ kind: 'document.generate', input: { topic: 'Tides', sections: 2, targetRoot: 'body', targetRootType: 'xml' }, targetDocId: 'notes/tides' });
  const seen = new Map<string, { step: string; offset: number; text: string; rootType: string | undefined }>();
  for (let i = 0; i < 100 && s.state.status === 'running'; i++) {
    for (const e of s.effects) if (e.type === 'write-document') seen.set(e.step, { step: e.step, offset: e.offset, text: e.text, rootType: e.rootType });
    const call = s.calls()[0];
    if (call !== undefined) s.answer(call, model(call));
    else s.completeLocal();
  }
  assert.equal(s.state.status, 'succeeded');
  const writes = [...seen.values()];
  assert.deepEqual(writes.map((w) => w.step), ['write-title', 'sections.1.then', 'sections.2.then']);
  assert.deepEqual(writes.map((w) => w.rootType), ['xml', 'xml', 'xml'], 'targetRootType reaches every write');
  let offset = 0;
  for (const w of writes) {
    assert.equal(w.offset, offset, `${w.step} starts where the previous write ended`);
    offset += w.text.length;
  }
  assert.equal(writes.map((w) => w.text).join('').trimEnd() + '\n', (s.state.output as { markdown: string }).markdown);
});

test('document.generate: an outline with the wrong number of sections is retried', () => {
  let outlines = 0;
  const s = run('document.generate', { topic: 'Tides', sections: 2 }, null, (call) => {
    if (taskOf(call) === 'document.generate/outline' && outlines++ === 0) return JSON.stringify({ title: 'T', sections: [{ heading: 'only one' }] });
    return model(call);
  });
  assert.equal(s.state.status, 'succeeded');
  assert.equal(s.state.steps.get('outline')!.attempt, 2);
  const failure = s.log.find((e) => e.event.type === 'step-attempt-failed')?.event;
  assert.ok(failure?.type === 'step-attempt-failed' && /\/sections must NOT have fewer than 2 items/.test(failure.error.message), JSON.stringify(failure));
});

test('document.generate with approval stops after the outline until approved', () => {
  const s = run('document.generate', { topic: 'Tides', sections: 2, requireApproval: true });
  assert.equal(s.state.status, 'waiting-approval');
  assert.deepEqual([...s.state.steps.keys()], ['sources', 'outline', 'approve-outline']);
  s.approve(true);
  s.run(model);
  assert.equal(s.state.status, 'succeeded');
});

test('research.deep: plan, parallel answers, a synthesis citing them, a report with sources', () => {
  const s = run('research.deep', { question: 'Why are there tides?' });
  assert.equal(s.state.status, 'succeeded', JSON.stringify(s.state.error));
  const out = s.state.output as { markdown: string; cited: number[]; subQuestions: string[] };
  assert.deepEqual(out.subQuestions, ['What?', 'Why?', 'How?']);
  assert.deepEqual(out.cited, [1, 3]);
  assert.match(out.markdown, /## Sources\n\n\[1\] \*\*What\?\*\*\n\nAnswer to 1\./);
});

test('research.deep: a synthesis citing nothing, or a missing finding, is retried', () => {
  const bad = ['No citations at all.', 'See [7].'];
  const s = run('research.deep', { question: 'Why?' }, null, (call) => (taskOf(call) === 'research.deep/synthesis' && bad.length > 0 ? bad.shift()! : model(call)));
  assert.equal(s.state.status, 'succeeded');
  assert.equal(s.state.steps.get('synthesis')!.attempt, 3);
});

test('script.variations fans out to variations x languages steps', () => {
  const s = run('script.variations', { script: 'Buy our boat.', variations: 3, languages: ['es', 'pt-BR'] });
  assert.equal(s.state.status, 'succeeded', JSON.stringify(s.state.error));
  const adapts = [...s.state.steps.keys()].filter((k) => k.startsWith('adaptations.'));
  assert.equal(adapts.length, 6);
  const out = s.state.output as { variations: { index: number; text: string; adaptations: Record<string, string> }[] };
  assert.equal(out.variations.length, 3);
  assert.equal(out.variations[1]!.adaptations['pt-BR'], 'pt-BR: Variation 2');
});

test('script.variations refuses repeated languages and too wide a fan-out', () => {
  const s = new JobSimulation(pipelines);
  assert.throws(() => s.start({ kind: 'script.variations', input: { script: 'x', languages: ['es', 'es'] } }), /languages: must NOT have duplicate items/);
  const many = Array.from({ length: 12 }, (_, i) => `l${String.fromCharCode(97 + i)}`);
  assert.throws(() => s.start({ kind: 'script.variations', input: { script: 'x', variations: 10, languages: many } }), /languages: must NOT have more than 6 items/);
});

test('slides.generate: a schema-checked outline, notes per slide, the deck', () => {
  const s = run('slides.generate', { topic: 'Tides', slideCount: 4 });
  assert.equal(s.state.status, 'succeeded', JSON.stringify(s.state.error));
  const deck = (s.state.output as { deck: { slides: { title: string; notes: string; layout: string }[] } }).deck;
  assert.equal(deck.slides.length, 4);
  assert.equal(deck.slides[2]!.notes, 'Notes for 3');
});

test('slides.generate: an outline with an unknown layout is an invalid answer, not a result', () => {
  let first = true;
  const s = run('slides.generate', { topic: 'Tides', slideCount: 2 }, null, (call) => {
    if (taskOf(call) === 'slides.generate/outline' && first) {
      first = false;
      return JSON.stringify({ title: 'D', slides: [{ title: 'a', bullets: [], layout: 'hologram' }, { title: 'b', bullets: [], layout: 'title' }] });
    }
    return model(call);
  });
  assert.equal(s.state.status, 'succeeded');
  const failure = s.log.find((e) => e.event.type === 'step-attempt-failed')?.event;
  assert.ok(failure?.type === 'step-attempt-failed' && failure.error.code === 'invalid-output' && /layout/.test(failure.error.message), JSON.stringify(failure));
});

test('uploaded sources are read first and quoted in the prompts; a missing one fails the job clearly', () => {
  const sources = [{ objectKey: 'uploads/u1/notes.md', filename: 'notes.md', contentType: 'text/markdown' }];
  const s = new JobSimulation(pipelines);
  s.objects.set('uploads/u1/notes.md', 'The moon is 384,400 km away.');
  s.start({ kind: 'research.deep', input: { question: 'Why tides?', sources } });
  assert.deepEqual([...s.state.steps.keys()], ['sources', 'sources.1'], 'the plan waits for its sources');
  const prompts: string[] = [];
  s.run((call) => {
    prompts.push(call.messages.find((m) => m.role === 'user')?.content ?? '');
    return model(call);
  });
  assert.equal(s.state.status, 'succeeded', JSON.stringify(s.state.error));
  assert.match(prompts[0]!, /--- notes\.md ---\nThe moon is 384,400 km away\./);

  const missing = new JobSimulation(pipelines);
  missing.start({ kind: 'document.generate', input: { topic: 'Tides', sources: [{ objectKey: 'uploads/gone/x.md' }] } });
  missing.run(model);
  assert.equal(missing.state.status, 'failed');
  assert.equal(missing.state.error?.code, 'input-missing');
  assert.match(missing.state.error!.message, /item sources\.1 failed: input object uploads\/gone\/x\.md is missing/);
});
