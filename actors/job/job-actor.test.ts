/**
 * The job actor's read commands (`output`, `steps`, `get`), pure: an actor over a folded state, no
 * NATS and no storage (its ports throw if touched: a read does no I/O).
 * What a reply carries is what the host sends back on the wire.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { z } from 'zod';
import type { ActorContext, CommandMessage } from '../actor.ts';
import { HEADERS } from '../../protocol/headers.ts';
import { parseActorId } from '../../protocol/ids.ts';
import type { JobEvent } from '../../protocol/job-events.ts';
import { jobOutputReplySchema, jobStepsReplySchema, jobViewSchema } from '../../protocol/job.ts';
import { decodeJson, encodeJson, type WireMessage } from '../../protocol/reply.ts';
import { JobActor, type JobActorDeps } from './job-actor.ts';
import { maxOutputBytesFor } from './output-limit.ts';
import { TEST_DEFAULTS } from './simulation.ts';
import { emptyJobState, foldJob, type JobState } from './state.ts';

const log = pino({ level: 'silent' });
const created: JobEvent = {
  type: 'job-created', v: 1, at: 1, kind: 'k.x', input: {}, owner: 'o', idempotencyKey: null, targetDocId: null, inputHash: 'h', priority: 'batch', model: 'm', policy: TEST_DEFAULTS.policy,
};
const started = (step: string): JobEvent => ({ type: 'step-started', v: 1, at: 2, step, activity: 'inference', attempt: 1, requestId: `r-${step}`, deadlineAt: 1_000 });
const succeeded = (step: string, output: unknown): JobEvent => ({ type: 'step-succeeded', v: 1, at: 3, step, attempt: 1, output, usage: null, artifact: null });

/** Ports a read must not touch: every use fails the test. */
function untouched<T extends object>(name: string): T {
  return new Proxy({} as T, {
    get: (_, key) => () => {
      throw new Error(`${name}.${String(key)} used by a read`);
    },
  });
}

function actorOver(state: JobState, maxReplyBytes?: number): JobActor {
  const ctx: ActorContext = {
    kind: 'job',
    id: parseActorId(state.id),
    log,
    signal: new AbortController().signal,
    publish: () => assert.fail('a read published an event'),
    publishLocal: () => assert.fail('a read published an event'),
    schedule: () => assert.fail('a read scheduled a timer'),
  };
  const deps: JobActorDeps = {
    log: untouched('log'),
    inference: untouched('inference'),
    services: untouched('services'),
    presence: { isLive: () => true },
    artifacts: untouched('artifacts'),
    documents: untouched('documents'),
    projection: untouched('projection'),
    clock: { now: () => 10, random: () => 0 },
    pipelines: new Map(),
    prices: {},
    defaults: TEST_DEFAULTS,
    createProjectionTimeoutMs: 1_000,
    ...(maxReplyBytes === undefined ? {} : { maxReplyBytes }),
  };
  return new JobActor(ctx, state, deps);
}

/** Sends one command and returns the reply the actor gave. */
async function send(actor: JobActor, name: string, body: unknown): Promise<WireMessage> {
  let reply: WireMessage | undefined;
  const command: CommandMessage = {
    source: 'command',
    name,
    headers: {},
    body: body === undefined ? new Uint8Array(0) : encodeJson(body),
    expectsReply: true,
    respond: (r) => {
      assert.equal(reply, undefined, 'one reply per command');
      reply = r;
    },
  };
  await actor.handle([command]);
  assert.ok(reply !== undefined, `${name} was answered`);
  return reply;
}

const errorBody = z.object({ code: z.string(), message: z.string() });
/** The error a reply carries: its Loom-Error code and its message. */
function errorOf(reply: WireMessage): { code: string | undefined; message: string } {
  return { code: reply.headers[HEADERS.error], message: decodeJson(reply.body, errorBody, 'error reply').message };
}
const outputOf = (reply: WireMessage) => {
  assert.equal(reply.headers[HEADERS.error], undefined, new TextDecoder().decode(reply.body).slice(0, 300));
  return decodeJson(reply.body, jobOutputReplySchema, 'output reply');
};

const BIG = 'b'.repeat(50_000);
const foldAll = (id: string, events: readonly JobEvent[]): JobState => foldJob(id, events.map((event, i) => ({ seq: i + 1, event })));
const finished = foldAll('job-out', [
  created,
  started('small'),
  succeeded('small', { n: 1 }),
  started('big'),
  succeeded('big', { text: BIG }),
  started('late'),
  { type: 'job-succeeded', v: 1, at: 4, output: { text: BIG, n: 2 } },
]);

test("output serves a step's output and the job's own in full, the ones the view left out included", async () => {
  const actor = actorOver(finished, 20_000);
  // The view within 20 kB leaves the big outputs out, flagged.
  const view = decodeJson((await send(actor, 'get', undefined)).body, jobViewSchema, 'view');
  assert.deepEqual([view.outputOmitted, view.steps.find((s) => s.id === 'big')?.outputOmitted], [true, true]);
  assert.deepEqual(view.steps.find((s) => s.id === 'small')?.output, { n: 1 });

  assert.deepEqual(outputOf(await send(actor, 'output', { step: 'big' })), { step: 'big', output: { text: BIG } });
  assert.deepEqual(outputOf(await send(actor, 'output', { step: 'small' })), { step: 'small', output: { n: 1 } });
  assert.deepEqual(outputOf(await send(actor, 'output', {})), { step: null, output: { text: BIG, n: 2 } });
});

test('output of a step that has not produced one yet is null', async () => {
  assert.deepEqual(outputOf(await send(actorOver(finished), 'output', { step: 'late' })), { step: 'late', output: null });
  const running = foldAll('job-run', [created, started('a')]);
  assert.deepEqual(outputOf(await send(actorOver(running), 'output', {})), { step: null, output: null });
});

test('output of an unknown step or an unknown job is not-found, naming it', async () => {
  const unknownStep = errorOf(await send(actorOver(finished), 'output', { step: 'no-such-step' }));
  assert.equal(unknownStep.code, 'not-found');
  assert.match(unknownStep.message, /job job-out has no step no-such-step/);
  const unknownJob = errorOf(await send(actorOver(emptyJobState('job-none')), 'output', { step: 'big' }));
  assert.equal(unknownJob.code, 'not-found');
  assert.match(unknownJob.message, /job job-none does not exist/);
});

test('a malformed output request is refused, naming the field', async () => {
  for (const [body, field] of [[{ step: '' }, /step/], [{ step: 7 }, /step/], [{ other: 1 }, /body|other/]] as const) {
    const refused = errorOf(await send(actorOver(finished), 'output', body));
    assert.equal(refused.code, 'malformed-message', JSON.stringify(body));
    assert.match(refused.message, field);
  }
});

test('an output at the output limit fits one reply of maxReplyBytes', async () => {
  const maxReplyBytes = 64 * 1024;
  const limit = maxOutputBytesFor(maxReplyBytes);
  // The longest step id a log event takes, and a string output of exactly `limit` bytes of JSON.
  const step = 's'.repeat(128);
  const state = foldAll('job-limit', [created, started(step), succeeded(step, 'x'.repeat(limit - 2))]);
  const reply = await send(actorOver(state, maxReplyBytes), 'output', { step });
  assert.equal(outputOf(reply).step, step);
  assert.ok(reply.body.length <= maxReplyBytes, `${reply.body.length} bytes, over ${maxReplyBytes}`);
});

/** 250 steps with 1 kB outputs, one of 50 kB (`fetch.100`); the job's view and pages must fit `maxReplyBytes`. */
const crowded = foldAll('job-many', [
  created,
  ...Array.from({ length: 250 }, (_, i) => [started(`fetch.${i + 1}`), succeeded(`fetch.${i + 1}`, i === 99 ? BIG : 'o'.repeat(1_000))]).flat(),
]);

test('steps pages every step instance in start order, each page within one reply, until nextOffset is null', async () => {
  const maxReplyBytes = 20_000;
  const actor = actorOver(crowded, maxReplyBytes);
  const seen: string[] = [];
  let offset: number | null = 0;
  let pages = 0;
  while (offset !== null) {
    const reply = await send(actor, 'steps', { offset, limit: 1_000 });
    assert.ok(reply.body.length <= maxReplyBytes, `${reply.body.length} bytes, over ${maxReplyBytes}`);
    const page = decodeJson(reply.body, jobStepsReplySchema, 'steps reply');
    assert.deepEqual([page.total, page.offset], [250, offset]);
    assert.ok(page.steps.length > 0, 'a page holds at least one step');
    for (const s of page.steps) {
      // The one output too large for any page is left out, flagged; the others are whole.
      if (s.id === 'fetch.100') assert.deepEqual([s.output, s.outputOmitted], [null, true]);
      else assert.deepEqual([s.output, s.outputOmitted], ['o'.repeat(1_000), undefined]);
    }
    seen.push(...page.steps.map((s) => s.id));
    offset = page.nextOffset;
    pages++;
  }
  assert.deepEqual(seen, Array.from({ length: 250 }, (_, i) => `fetch.${i + 1}`));
  assert.ok(pages > 10, `${pages} pages: they stop early to fit`);
  // `limit` bounds a page too, and an offset past the end is an empty last page.
  const two = decodeJson((await send(actor, 'steps', { offset: 3, limit: 2 })).body, jobStepsReplySchema, 'steps reply');
  assert.deepEqual([two.steps.map((s) => s.id), two.nextOffset], [['fetch.4', 'fetch.5'], 5]);
  const past = decodeJson((await send(actor, 'steps', { offset: 900 })).body, jobStepsReplySchema, 'steps reply');
  assert.deepEqual([past.steps, past.nextOffset], [[], null]);
});

test("get of a job whose steps alone pass one reply is summarised, counting them, and steps has them", async () => {
  const actor = actorOver(crowded, 20_000);
  const view = decodeJson((await send(actor, 'get', undefined)).body, jobViewSchema, 'view');
  assert.deepEqual([view.steps, view.stepsOmitted, view.stepCounts], [[], true, { succeeded: 250 }]);
  const all = decodeJson((await send(actorOver(crowded), 'steps', { limit: 1_000 })).body, jobStepsReplySchema, 'steps reply');
  assert.deepEqual([all.steps.length, all.nextOffset], [250, null]);
});

test('a malformed steps request is refused naming the field, and steps of an unknown job is not-found', async () => {
  for (const [body, field] of [[{ limit: 0 }, /limit/], [{ offset: -1 }, /offset/], [{ limit: 1_001 }, /limit/], [{ after: 'x' }, /after|body/]] as const) {
    const refused = errorOf(await send(actorOver(crowded), 'steps', body));
    assert.equal(refused.code, 'malformed-message', JSON.stringify(body));
    assert.match(refused.message, field);
  }
  const unknown = errorOf(await send(actorOver(emptyJobState('job-none')), 'steps', {}));
  assert.equal(unknown.code, 'not-found');
});
