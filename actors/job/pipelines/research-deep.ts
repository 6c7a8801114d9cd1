/**
 * `research.deep`: a question -> a plan of sub-questions (JSON, validated)
 * -> each sub-question answered in parallel -> a synthesis that cites the
 * sub-answers as [1], [2], ... (a synthesis citing none, or citing one that
 * does not exist, is an invalid answer and is retried) -> a Markdown report
 * with its sources, saved as an artifact.
 *
 * Steps: [source-1..K], plan, answer-1..N, synthesis, report, save.
 */
import { z } from 'zod';
import { definePipeline, step, type PipelineContext, type StepSpec } from '../pipeline.ts';
import { InvalidModelOutputError, jsonInstruction, parseJsonOutput, parseTextOutput } from '../structured-output.ts';
import { sourcesPrompt, sourcesSchema, sourceStepIds, sourceSteps } from './sources.ts';

const inputSchema = z
  .object({
    question: z.string().trim().min(1).max(4_000),
    /** Upper bound on the plan's sub-questions. */
    maxSubQuestions: z.number().int().min(1).max(10).default(4),
    context: z.string().max(16_000).default(''),
    /** Uploaded files to research from (`[{ "uploadId" }]` over HTTP). */
    sources: sourcesSchema,
  })
  .strict();
type Input = z.infer<typeof inputSchema>;

const planSchema = z.object({
  subQuestions: z.array(z.string().trim().min(1).max(1_000)).min(1).max(10),
});
type Plan = z.infer<typeof planSchema>;
const textSchema = z.string();
const synthesisSchema = z.object({ text: z.string(), cited: z.array(z.number().int()) });

const TASK = 'research.deep';
const CITATION = /\[(\d{1,2})\]/g;

/** Checks the synthesis cites sub-answers, and only existing ones. @throws InvalidModelOutputError */
export function checkCitations(text: string, count: number): number[] {
  const cited = [...new Set([...text.matchAll(CITATION)].map((m) => Number(m[1])))].sort((a, b) => a - b);
  if (cited.length === 0) throw new InvalidModelOutputError('synthesis: cites no sub-answer; cite them as [1], [2], ...');
  const unknown = cited.filter((n) => n < 1 || n > count);
  if (unknown.length > 0) throw new InvalidModelOutputError(`synthesis: cites [${unknown.join('], [')}], but there are only ${count} sub-answers`);
  return cited;
}

function planOf(ctx: PipelineContext<Input>, max: number): Plan {
  const plan = ctx.output('plan', planSchema);
  return { subQuestions: plan.subQuestions.slice(0, max) };
}

function afterPlan(ctx: PipelineContext<Input>): StepSpec<Input>[] {
  const { subQuestions } = planOf(ctx, ctx.input.maxSubQuestions);
  const answers = subQuestions.map((_, i) => `answer-${i + 1}`);
  const out: StepSpec<Input>[] = subQuestions.map((q, i) =>
    step<Input>(`answer-${i + 1}`, ['plan'], 'inference', (c) => ({
      type: 'inference',
      messages: [
        { role: 'system', content: `Task: ${TASK}/answer. You answer one sub-question of a research question, concisely and factually.` },
        {
          role: 'user',
          content: `Research question: ${c.input.question}\n${c.input.context ? `Context: ${c.input.context}\n` : ''}${sourcesPrompt(c, c.input.sources)}Sub-question ${i + 1}: ${q}`,
        },
      ],
      parse: (text) => parseTextOutput(text, `answer ${i + 1}`),
    })),
  );
  out.push(
    step<Input>('synthesis', answers, 'inference', (c) => ({
      type: 'inference',
      messages: [
        {
          role: 'system',
          content: `Task: ${TASK}/synthesis. You write a structured report answering the research question from the numbered findings. Cite findings as [n].`,
        },
        {
          role: 'user',
          content:
            `Research question: ${c.input.question}\nFindings:\n` +
            subQuestions.map((q, i) => `[${i + 1}] ${q}\n${c.output(`answer-${i + 1}`, textSchema)}`).join('\n\n'),
        },
      ],
      parse: (text) => {
        const body = parseTextOutput(text, 'synthesis');
        return { text: body, cited: checkCitations(body, subQuestions.length) };
      },
    })),
  );
  out.push(
    step<Input>('report', ['synthesis'], 'tool', (c) => ({
      type: 'tool',
      run: () => {
        const synthesis = c.output('synthesis', synthesisSchema);
        const sources = subQuestions.map((q, i) => `[${i + 1}] **${q}**\n\n${c.output(`answer-${i + 1}`, textSchema)}`).join('\n\n');
        return { markdown: `# ${c.input.question}\n\n${synthesis.text}\n\n## Sources\n\n${sources}\n`, cited: synthesis.cited };
      },
    })),
  );
  out.push(
    step<Input>('save', ['report'], 'artifact', (c) => ({
      type: 'artifact',
      name: 'report.md',
      contentType: 'text/markdown; charset=utf-8',
      body: c.output('report', z.object({ markdown: z.string() })).markdown,
    })),
  );
  return out;
}

export const researchDeep = definePipeline<Input>({
  kind: TASK,
  description: 'Deep research: plan sub-questions, answer them in parallel, synthesise a report citing the answers.',
  input: inputSchema,
  steps(ctx) {
    const specs: StepSpec<Input>[] = [
      ...sourceSteps<Input>(ctx.input.sources),
      step<Input>('plan', sourceStepIds(ctx.input.sources), 'inference', (c) => ({
        type: 'inference',
        responseFormat: 'json',
        messages: [
          { role: 'system', content: `Task: ${TASK}/plan. You split research questions into sub-questions. ${jsonInstruction('{"subQuestions": [string]}')}` },
          {
            role: 'user',
            content: `Question: ${c.input.question}\n${c.input.context ? `Context: ${c.input.context}\n` : ''}${sourcesPrompt(c, c.input.sources)}At most ${c.input.maxSubQuestions} sub-questions.`,
          },
        ],
        parse: (text) => parseJsonOutput(text, planSchema, 'plan'),
      })),
    ];
    if (ctx.has('plan')) specs.push(...afterPlan(ctx));
    return specs;
  },
  result(ctx) {
    const report = ctx.output('report', z.object({ markdown: z.string(), cited: z.array(z.number()) }));
    return { question: ctx.input.question, subQuestions: planOf(ctx, ctx.input.maxSubQuestions).subQuestions, ...report, artifact: ctx.output('save', z.unknown()) };
  },
});
