/**
 * `document.generate`: topic and instructions -> outline (JSON, validated)
 * -> [approval of the outline, when asked] -> sections in parallel -> one
 * composed Markdown document, saved as an artifact. With a target document
 * the text is also written into that live document as it becomes ready:
 * the title once the outline is known, then each section in order, as the
 * job's own Yjs client, so editors watch it arrive and keep typing.
 *
 * Steps: [source-1..K], outline, [approve-outline], section-1..N, [write-0..N], compose, save.
 */
import { z } from 'zod';
import { definePipeline, step, type PipelineContext, type StepSpec } from '../pipeline.ts';
import { InvalidModelOutputError, jsonInstruction, parseJsonOutput, parseTextOutput } from '../structured-output.ts';
import { sourcesPrompt, sourcesSchema, sourceStepIds, sourceSteps } from './sources.ts';

const inputSchema = z
  .object({
    topic: z.string().trim().min(1).max(2_000),
    instructions: z.string().max(8_000).default(''),
    /** How many sections the outline must have. */
    sections: z.number().int().min(1).max(20).default(5),
    audience: z.string().max(500).default('a general audience'),
    /** Y.Text root of the target document the text is written into. */
    targetRoot: z.string().min(1).max(100).regex(/^[^\s]+$/, 'must not contain spaces').default('content'),
    /** Stop after the outline until someone approves it. */
    requireApproval: z.boolean().default(false),
    maxTokensPerSection: z.number().int().min(16).max(8_192).default(1_024),
    /** Uploaded files (notes, transcripts) the outline is based on (`[{ "uploadId" }]` over HTTP). */
    sources: sourcesSchema,
  })
  .strict();
type Input = z.infer<typeof inputSchema>;

const outlineSchema = z.object({
  title: z.string().trim().min(1).max(300),
  sections: z
    .array(z.object({ heading: z.string().trim().min(1).max(300), summary: z.string().max(2_000).default('') }))
    .min(1)
    .max(20),
});
type Outline = z.infer<typeof outlineSchema>;
const textSchema = z.string();

const TASK = 'document.generate';

function outlineFor(ctx: PipelineContext<Input>): Outline {
  return ctx.output('outline', outlineSchema);
}

/** The Markdown piece each section contributes; piece 0 is the title. */
function pieces(ctx: PipelineContext<Input>, upTo: number): string[] {
  const outline = outlineFor(ctx);
  const out = [`# ${outline.title}\n\n`];
  for (let i = 1; i <= upTo; i++) {
    const section = outline.sections[i - 1];
    if (section === undefined) break;
    out.push(`## ${section.heading}\n\n${ctx.output(`section-${i}`, textSchema)}\n\n`);
  }
  return out;
}

function sectionSteps(ctx: PipelineContext<Input>, outline: Outline): StepSpec<Input>[] {
  const gate = ctx.input.requireApproval ? 'approve-outline' : 'outline';
  const out: StepSpec<Input>[] = [];
  const n = outline.sections.length;
  outline.sections.forEach((section, index) => {
    const i = index + 1;
    out.push(
      step<Input>(`section-${i}`, [gate], 'inference', (c) => ({
        type: 'inference',
        maxTokens: c.input.maxTokensPerSection,
        messages: [
          {
            role: 'system',
            content: `Task: ${TASK}/section. You write one section of a longer document for ${c.input.audience}. Write Markdown body text only: no heading, no preamble.`,
          },
          {
            role: 'user',
            content:
              `Document: ${outline.title}\nTopic: ${c.input.topic}\n${c.input.instructions ? `Instructions: ${c.input.instructions}\n` : ''}` +
              `Outline: ${outline.sections.map((s, j) => `${j + 1}. ${s.heading}`).join('; ')}\n` +
              sourcesPrompt(c, c.input.sources) +
              `Write section ${i} of ${n}: "${section.heading}". ${section.summary}`,
          },
        ],
        parse: (text) => parseTextOutput(text, `section ${i}`),
      })),
    );
  });
  const sections = outline.sections.map((_, index) => `section-${index + 1}`);
  if (ctx.targetDocId !== null) {
    const docId = ctx.targetDocId;
    // Writes go in document order, each after the previous one, so the job's
    // text reads top to bottom while sections are generated in parallel.
    out.push(
      step<Input>('write-0', [gate], 'document-write', (c) => ({ type: 'document-write', docId, root: c.input.targetRoot, text: pieces(c, 0)[0] ?? '', offset: 0 })),
    );
    for (let i = 1; i <= n; i++) {
      out.push(
        step<Input>(`write-${i}`, [`section-${i}`, `write-${i - 1}`], 'document-write', (c) => {
          const all = pieces(c, i);
          const offset = all.slice(0, i).reduce((sum, p) => sum + p.length, 0);
          return { type: 'document-write', docId, root: c.input.targetRoot, text: all[i] ?? '', offset };
        }),
      );
    }
  }
  out.push(step<Input>('compose', sections, 'tool', (c) => ({ type: 'tool', run: () => ({ markdown: pieces(c, n).join('').trimEnd() + '\n' }) })));
  out.push(
    step<Input>('save', ['compose'], 'artifact', (c) => ({
      type: 'artifact',
      name: 'document.md',
      contentType: 'text/markdown; charset=utf-8',
      body: c.output('compose', z.object({ markdown: z.string() })).markdown,
    })),
  );
  return out;
}

export const documentGenerate = definePipeline<Input>({
  kind: TASK,
  description: 'A long Markdown document: outline, sections in parallel, composed; optionally written live into a collaborative document.',
  input: inputSchema,
  steps(ctx) {
    const specs: StepSpec<Input>[] = [
      ...sourceSteps<Input>(ctx.input.sources),
      step<Input>('outline', sourceStepIds(ctx.input.sources), 'inference', (c) => ({
        type: 'inference',
        responseFormat: 'json',
        maxTokens: 2_048,
        messages: [
          { role: 'system', content: `Task: ${TASK}/outline. You plan documents. ${jsonInstruction('{"title": string, "sections": [{"heading": string, "summary": string}]}')}` },
          {
            role: 'user',
            content: `Topic: ${c.input.topic}\nAudience: ${c.input.audience}\n${c.input.instructions ? `Instructions: ${c.input.instructions}\n` : ''}${sourcesPrompt(c, c.input.sources)}Plan exactly ${c.input.sections} sections.`,
          },
        ],
        parse: (text) => {
          const outline = parseJsonOutput(text, outlineSchema, 'outline');
          if (outline.sections.length !== c.input.sections) {
            throw new InvalidModelOutputError(`outline: expected ${c.input.sections} sections, got ${outline.sections.length}`);
          }
          return outline;
        },
      })),
    ];
    if (ctx.input.requireApproval) specs.push(step<Input>('approve-outline', ['outline'], 'approval', () => ({ type: 'approval' })));
    if (ctx.has('outline')) specs.push(...sectionSteps(ctx, outlineFor(ctx)));
    return specs;
  },
  result(ctx) {
    const outline = outlineFor(ctx);
    const saved = ctx.output('save', z.unknown());
    return {
      title: outline.title,
      sections: outline.sections.map((s) => s.heading),
      markdown: ctx.output('compose', z.object({ markdown: z.string() })).markdown,
      targetDocId: ctx.targetDocId,
      artifact: saved,
    };
  },
});
