/**
 * A pipeline with one service step, for the service-activity tests: until
 * pipeline definitions as data run service steps, this drives the engine
 * through the TypeScript pipeline API. The step's input tells the test
 * worker (activity-worker.ts) how to behave.
 */
import { z } from 'zod';
import { definePipeline, step, type AnyPipeline } from '../../actors/job/pipeline.ts';

export const SERVICE_TEST_KIND = 'test.service';
export const SERVICE_TEST_QUEUE = 'test-work';

/** What the test worker does with a task. */
export const WORKER_BEHAVIOURS = ['echo', 'fail-first-attempt', 'fail-terminal', 'slow', 'hang', 'gated'] as const;

/** Where a test opens the gate of a `gated` task (any message): the worker finishes it then, e.g. while no actors host runs. */
export function gateSubject(taskId: string): string {
  return `test.gate.${taskId}`;
}

const input = z
  .object({
    behave: z.enum(WORKER_BEHAVIOURS),
    value: z.string().max(200).default(''),
    /** How long `slow` works. */
    ms: z.number().int().min(0).max(120_000).default(0),
    queue: z.string().default(SERVICE_TEST_QUEUE),
    startToCloseMs: z.number().int().min(1).default(60_000),
    heartbeatTimeoutMs: z.number().int().min(1).nullable().default(null),
  })
  .strict();
type Input = z.infer<typeof input>;

export const serviceTestPipeline: AnyPipeline = definePipeline<Input>({
  kind: SERVICE_TEST_KIND,
  description: 'One service task, then a tool that reads its output.',
  input,
  steps: () => [
    step<Input>('work', [], 'service', (ctx) => ({
      type: 'service',
      queue: ctx.input.queue,
      input: { behave: ctx.input.behave, value: ctx.input.value, ms: ctx.input.ms },
      startToCloseMs: ctx.input.startToCloseMs,
      heartbeatTimeoutMs: ctx.input.heartbeatTimeoutMs,
    })),
    step<Input>('after', ['work'], 'tool', (ctx) => ({ type: 'tool', run: () => ({ saw: ctx.output('work', z.unknown()) }) })),
  ],
  result: (ctx) => ctx.output('after', z.unknown()),
});

export const MODEL_TEST_KIND = 'test.model';

/** One model call, for waiting-for-worker on a model nobody serves. */
export const modelTestPipeline: AnyPipeline = definePipeline<{ question: string }>({
  kind: MODEL_TEST_KIND,
  description: 'One model call.',
  input: z.object({ question: z.string().max(200) }).strict(),
  steps: () => [
    step<{ question: string }>('ask', [], 'inference', (ctx) => ({ type: 'inference', messages: [{ role: 'user', content: ctx.input.question }], parse: (text) => text })),
  ],
  result: (ctx) => ctx.output('ask', z.string()),
});
