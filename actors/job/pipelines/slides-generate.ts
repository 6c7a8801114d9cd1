/**
 * `slides.generate`: a topic -> a slide outline as JSON validated against a
 * schema (titles, bullets, a layout from a fixed set; the wrong number of
 * slides is invalid too, and retried) -> speaker notes per slide in
 * parallel -> the deck as JSON, saved as an artifact.
 *
 * Steps: outline, notes-1..N, deck, save.
 */
import { z } from 'zod';
import { definePipeline, step, type PipelineContext, type StepSpec } from '../pipeline.ts';
import { InvalidModelOutputError, jsonInstruction, parseJsonOutput, parseTextOutput } from '../structured-output.ts';

export const SLIDE_LAYOUTS = ['title', 'title-bullets', 'two-column', 'image-left', 'image-right', 'quote', 'section'] as const;

const inputSchema = z
  .object({
    topic: z.string().trim().min(1).max(2_000),
    slideCount: z.number().int().min(2).max(30).default(8),
    audience: z.string().max(500).default('a general audience'),
    instructions: z.string().max(8_000).default(''),
  })
  .strict();
type Input = z.infer<typeof inputSchema>;

export const slideOutlineSchema = z.object({
  title: z.string().trim().min(1).max(200),
  slides: z
    .array(
      z.object({
        title: z.string().trim().min(1).max(200),
        bullets: z.array(z.string().trim().min(1).max(300)).max(8),
        layout: z.enum(SLIDE_LAYOUTS),
      }),
    )
    .min(1)
    .max(30),
});
type SlideOutline = z.infer<typeof slideOutlineSchema>;
const textSchema = z.string();
const TASK = 'slides.generate';

function outlineOf(ctx: PipelineContext<Input>): SlideOutline {
  return ctx.output('outline', slideOutlineSchema);
}

function afterOutline(ctx: PipelineContext<Input>): StepSpec<Input>[] {
  const outline = outlineOf(ctx);
  const notes = outline.slides.map((_, i) => `notes-${i + 1}`);
  const out: StepSpec<Input>[] = outline.slides.map((slide, i) =>
    step<Input>(`notes-${i + 1}`, ['outline'], 'inference', (c) => ({
      type: 'inference',
      maxTokens: 512,
      messages: [
        { role: 'system', content: `Task: ${TASK}/notes. You write speaker notes for one slide: what to say, in 80-150 words, plain text.` },
        {
          role: 'user',
          content: `Deck: ${outline.title} (for ${c.input.audience})\nSlide ${i + 1} of ${outline.slides.length}: ${slide.title}\nBullets:\n${slide.bullets.map((b) => `- ${b}`).join('\n')}`,
        },
      ],
      parse: (text) => parseTextOutput(text, `notes for slide ${i + 1}`),
    })),
  );
  out.push(
    step<Input>('deck', notes, 'tool', (c) => ({
      type: 'tool',
      run: () => ({
        title: outline.title,
        slides: outline.slides.map((s, i) => ({ index: i + 1, ...s, notes: c.output(`notes-${i + 1}`, textSchema) })),
      }),
    })),
  );
  out.push(
    step<Input>('save', ['deck'], 'artifact', (c) => ({
      type: 'artifact',
      name: 'slides.json',
      contentType: 'application/json',
      body: JSON.stringify(c.output('deck', z.unknown()), null, 2),
    })),
  );
  return out;
}

export const slidesGenerate = definePipeline<Input>({
  kind: TASK,
  description: 'A slide deck: an outline (titles, bullets, layouts) validated against a schema, then speaker notes per slide.',
  input: inputSchema,
  steps(ctx) {
    const specs: StepSpec<Input>[] = [
      step<Input>('outline', [], 'inference', (c) => ({
        type: 'inference',
        responseFormat: 'json',
        maxTokens: 2_048,
        messages: [
          {
            role: 'system',
            content: `Task: ${TASK}/outline. You structure slide decks. Layouts: ${SLIDE_LAYOUTS.join(', ')}. ${jsonInstruction('{"title": string, "slides": [{"title": string, "bullets": [string], "layout": string}]}')}`,
          },
          {
            role: 'user',
            content: `Topic: ${c.input.topic}\nAudience: ${c.input.audience}\n${c.input.instructions ? `Instructions: ${c.input.instructions}\n` : ''}Exactly ${c.input.slideCount} slides.`,
          },
        ],
        parse: (text) => {
          const outline = parseJsonOutput(text, slideOutlineSchema, 'slide outline');
          if (outline.slides.length !== c.input.slideCount) {
            throw new InvalidModelOutputError(`slide outline: expected ${c.input.slideCount} slides, got ${outline.slides.length}`);
          }
          return outline;
        },
      })),
    ];
    if (ctx.has('outline')) specs.push(...afterOutline(ctx));
    return specs;
  },
  result(ctx) {
    return { deck: ctx.output('deck', z.unknown()), artifact: ctx.output('save', z.unknown()) };
  },
});
