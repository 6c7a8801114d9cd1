/**
 * The example flows of examples/pipelines/ (platforms 2-5): each is a valid
 * definition, and runs to the end on the pure job engine with the scripted
 * model answers and the fake services' outputs the end-to-end tests use
 * (src/testing/platform-workers/). This pins what each flow does; the HTTP
 * tests (platform-*.test.ts) show it on real processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { validatePipelineDefinition, type PipelineDefinition } from '../../protocol/pipeline-definition.ts';
import type { InferenceCall } from '../../actors/job/effects.ts';
import { JobSimulation, TEST_DEFAULTS } from '../../actors/job/simulation.ts';
import { PLATFORM_QUEUES, platformOutput, type PlatformQueue } from '../testing/platform-workers/behaviours.ts';
import { platformAnswer, platformTaskOf } from '../testing/platform-workers/platform-answers.ts';

const EXAMPLES = fileURLToPath(new URL('../../examples/pipelines/', import.meta.url));

function example(file: string): PipelineDefinition {
  return JSON.parse(readFileSync(`${EXAMPLES}${file}`, 'utf8')) as PipelineDefinition;
}

const prompt = (c: InferenceCall) => ({ system: c.messages.find((m) => m.role === 'system')?.content ?? '', user: c.messages.find((m) => m.role === 'user')?.content ?? '' });

/** Runs a job of `definition` with the platform fakes until it ends or waits for a person; returns the prompts the model saw. */
function drive(s: JobSimulation, prompts: Array<{ task: string; user: string }>, done: Array<{ queue: string; input: unknown }>): void {
  for (let round = 0; round < 1_000; round++) {
    s.run((call) => {
      const p = prompt(call);
      prompts.push({ task: platformTaskOf(p.system), user: p.user });
      return platformAnswer(p);
    });
    const task = s.tasks()[0];
    if (task === undefined) return;
    assert.ok((PLATFORM_QUEUES as readonly string[]).includes(task.task.queue), task.task.queue);
    done.push({ queue: task.task.queue, input: task.task.input });
    s.finishTask(task, { ok: true, output: platformOutput(task.task.queue as PlatformQueue, task.task.input), artifact: null });
  }
}

function start(definition: PipelineDefinition, input: unknown, targetDocId: string | null = 'doc-1'): JobSimulation {
  const s = new JobSimulation(new Map(), { ...TEST_DEFAULTS, policy: { ...TEST_DEFAULTS.policy, maxParallelSteps: 8 } });
  s.start({ kind: definition.kind, input, targetDocId, pipeline: { kind: definition.kind, version: 1, definition } });
  return s;
}

test('every example definition is valid as shipped', () => {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.json')).sort();
  assert.deepEqual(files, ['sales-discovery.json', 'script-generate.json', 'site-generate.json', 'video-ad-analysis.json']);
  for (const f of files) {
    const r = validatePipelineDefinition(JSON.parse(readFileSync(`${EXAMPLES}${f}`, 'utf8')));
    assert.ok(r.ok, `${f}: ${r.ok ? '' : JSON.stringify(r.errors)}`);
  }
});

test('sales discovery: PRD into the document, roadmap and slides checked, three events emitted', () => {
  const s = start(example('sales-discovery.json'), {
    client: 'Acme',
    transcript: [{ speaker: 'Ana', text: 'We lose orders at checkout.', confidence: 0.9 }],
    sources: [{ uploadId: 'u1', objectKey: 'uploads/u1/brief.txt', filename: 'brief.txt', contentType: 'text/plain', size: 29 }],
    notes: 'Budget is fixed.',
    slideCount: 4,
  });
  s.objects.set('uploads/u1/brief.txt', 'Checkout must take one click.');
  const prompts: Array<{ task: string; user: string }> = [];
  drive(s, prompts, []);
  assert.equal(s.state.status, 'succeeded', JSON.stringify(s.state.error));
  assert.match(prompts.find((p) => p.task === 'sales.discovery/prd')?.user ?? '', /--- brief\.txt ---\nCheckout must take one click\./, 'the uploaded document reaches the PRD prompt');
  const emitted = s.log.flatMap((e) => (e.event.type === 'step-succeeded' && s.state.steps.get(e.event.step)?.activity === 'emit' ? [(e.event.output as { type: string }).type] : []));
  assert.deepEqual(emitted.sort(), ['assets.created', 'discovery.completed', 'prd.generated']);
  const out = s.state.output as { presentation: { slides: unknown[] }; roadmap: { phases: unknown[] }; docId: string };
  assert.equal(out.presentation.slides.length, 4);
  assert.equal(out.roadmap.phases.length, 3);
  assert.equal(out.docId, 'doc-1');
});

test('site generator: a broken first build is fixed and rebuilt, a revision re-enters at the patch with the comment, the second approval completes', () => {
  const s = start(example('site-generate.json'), { business: 'Bean There', onboarding: 'A coffee cart by the station.', pages: 2 });
  const prompts: Array<{ task: string; user: string }> = [];
  const tasks: Array<{ queue: string; input: unknown }> = [];
  drive(s, prompts, tasks);
  assert.equal(s.state.status, 'waiting-approval', JSON.stringify(s.state.error));
  assert.deepEqual(tasks.map((t) => t.queue), ['repository', 'patch', 'build-and-test', 'patch', 'build-and-test', 'deploy-preview']);
  assert.match(prompts.filter((p) => p.task === 'site.generate/patch')[1]?.user ?? '', /The last build failed:\nsrc\/index.html:1: unexpected token BROKEN/);

  s.approve(false, null, 'Make the headline bigger');
  drive(s, prompts, tasks);
  assert.equal(s.state.status, 'waiting-approval');
  const revised = prompts.filter((p) => p.task === 'site.generate/patch')[2]?.user ?? '';
  assert.match(revised, /The reviewer asked for changes \(round 2\): Make the headline bigger/);
  assert.doesNotMatch(revised, /The last build failed/, 'the passing build of round 1 is not reported as a failure');
  assert.deepEqual(tasks.slice(6).map((t) => t.queue), ['patch', 'build-and-test', 'deploy-preview']);
  s.approve(true);
  drive(s, prompts, tasks);
  assert.equal(s.state.status, 'succeeded', JSON.stringify(s.state.error));
  const out = s.state.output as { url: string; repo: string; builds: number };
  assert.equal(out.repo, 'sites/bean-there');
  assert.match(out.url, /^https:\/\/bean-there\.preview\.test\/c[0-9a-f]{12}$/);
  assert.equal(out.builds, 1, 'round 2 built once');
  assert.equal(s.state.steps.get('notify')?.status, 'skipped');
});

test('site generator: three failing builds exhaust the loop and go to the notify step', () => {
  const s = start(example('site-generate.json'), { business: 'Bean There', onboarding: 'A coffee cart.', pages: 1 });
  // A model that never fixes anything: every patch stays broken.
  for (let round = 0; round < 200 && s.state.status === 'running'; round++) {
    s.run((call) => {
      const p = prompt(call);
      return platformTaskOf(p.system) === 'site.generate/patch' ? JSON.stringify({ files: [{ path: 'a', diff: 'BROKEN' }] }) : platformAnswer(p);
    });
    const task = s.tasks()[0];
    if (task !== undefined) s.finishTask(task, { ok: true, output: platformOutput(task.task.queue as PlatformQueue, task.task.input), artifact: null });
  }
  assert.equal(s.state.status, 'succeeded', 'a handler that ran ends the job with what ran');
  assert.equal(s.state.steps.get('build-loop')?.status, 'skipped');
  assert.equal(s.state.steps.has('build.3'), true);
  assert.equal(s.state.steps.has('build.4'), false);
  const notify = s.state.steps.get('notify');
  assert.equal(notify?.status, 'succeeded');
  assert.deepEqual((notify?.output as { data: { step: string } }).data.step, 'build-loop');
});

test('video ad analysis: extract audio, transcribe, scores against the schema, recommendations', () => {
  const s = start(example('video-ad-analysis.json'), { sources: [{ uploadId: 'u2', objectKey: 'uploads/u2/ad.mp4', filename: 'ad.mp4', contentType: 'video/mp4', size: 1024 }], brand: 'Bean There' }, null);
  const prompts: Array<{ task: string; user: string }> = [];
  const tasks: Array<{ queue: string; input: unknown }> = [];
  drive(s, prompts, tasks);
  assert.equal(s.state.status, 'succeeded', JSON.stringify(s.state.error));
  assert.deepEqual(tasks.map((t) => t.queue), ['extract-audio', 'transcribe']);
  assert.match(prompts[0]?.user ?? '', /\[0\] Tired of slow mornings\?/);
  const out = s.state.output as { scores: { hook: number }; recommendations: string[] };
  assert.equal(out.scores.hook, 7);
  assert.equal(out.recommendations.length, 1);
});

test('script generation: blocks in order, one variant and one TTS task per (variation, language), characters and duration kept', () => {
  const agent = { name: 'Calm narrator', persona: 'You are a calm narrator.', rules: ['No slang'], blocks: ['Hook', 'Story', 'Call to action'], voice: 'alloy' };
  const outputs = [1, 2].flatMap((variation) => ['en', 'de'].map((language) => ({ variation, language })));
  const s = start(example('script-generate.json'), { topic: 'Morning coffee', agent, outputs: [...outputs.slice(0, 3), { ...outputs[3]!, voice: 'nova' }] });
  const prompts: Array<{ task: string; user: string }> = [];
  const tasks: Array<{ queue: string; input: unknown }> = [];
  drive(s, prompts, tasks);
  assert.equal(s.state.status, 'succeeded', JSON.stringify(s.state.error));
  assert.deepEqual(prompts.filter((p) => p.task === 'script.generate/block').map((p) => /Block (\d) of 3: (.*)/.exec(p.user)?.slice(1).join(' ')), ['1 Hook', '2 Story', '3 Call to action']);
  assert.equal(tasks.length, 4);
  assert.deepEqual(tasks.map((t) => (t.input as { voice: string }).voice).sort(), ['alloy', 'alloy', 'alloy', 'nova']);
  const out = s.state.output as { outputs: Array<{ variation: number; language: string; characters: number; durationMs: number }> };
  assert.deepEqual(out.outputs.map((o) => `${o.variation}/${o.language}`), ['1/en', '1/de', '2/en', '2/de']);
  for (const o of out.outputs) {
    assert.equal(o.characters, `[${o.language}] variation ${o.variation} of the script.`.length);
    assert.equal(o.durationMs, o.characters * 60);
  }
});
