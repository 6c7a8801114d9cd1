/**
 * `script.variations`: a master script -> N variations in parallel -> each
 * variation adapted to each target language (N x languages steps, each
 * starting as soon as its variation exists) -> one JSON bundle of every
 * variation and adaptation, saved as an artifact.
 *
 * Steps: variation-1..N, adapt-<v>-<lang> for every (v, lang), bundle, save.
 */
import { z } from 'zod';
import { definePipeline, step, type StepSpec } from '../pipeline.ts';
import { parseTextOutput } from '../structured-output.ts';

/** Most variation x language adaptations one job may fan out to. */
export const MAX_ADAPTATIONS = 60;

const language = z
  .string()
  .regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'must be a BCP 47 language tag such as es or pt-BR');

const inputSchema = z
  .object({
    script: z.string().trim().min(1).max(40_000),
    variations: z.number().int().min(1).max(10).default(3),
    languages: z.array(language).min(1).max(12),
    instructions: z.string().max(8_000).default(''),
  })
  .strict()
  .refine((i) => new Set(i.languages).size === i.languages.length, { message: 'languages must not repeat', path: ['languages'] })
  .refine((i) => i.variations * i.languages.length <= MAX_ADAPTATIONS, {
    message: `variations x languages must be at most ${MAX_ADAPTATIONS}`,
    path: ['languages'],
  });
type Input = z.infer<typeof inputSchema>;

const textSchema = z.string();
const TASK = 'script.variations';

/** Step ids use the language tag lowercased ('pt-BR' -> 'adapt-1-pt-br'). */
function adaptId(v: number, lang: string): string {
  return `adapt-${v}-${lang.toLowerCase()}`;
}

export const scriptVariations = definePipeline<Input>({
  kind: TASK,
  description: 'Script variations: N variations of a master script, each adapted to every target language.',
  input: inputSchema,
  steps(ctx) {
    const { variations, languages } = ctx.input;
    const specs: StepSpec<Input>[] = [];
    for (let v = 1; v <= variations; v++) {
      specs.push(
        step<Input>(`variation-${v}`, [], 'inference', (c) => ({
          type: 'inference',
          temperature: 0.9,
          messages: [
            { role: 'system', content: `Task: ${TASK}/variation. You rewrite video scripts: same structure and message, a fresh angle, hook and wording.` },
            {
              role: 'user',
              content: `${c.input.instructions ? `Instructions: ${c.input.instructions}\n` : ''}Write variation ${v} of ${variations} of this master script:\n\n${c.input.script}`,
            },
          ],
          parse: (text) => parseTextOutput(text, `variation ${v}`),
        })),
      );
      for (const lang of languages) {
        specs.push(
          step<Input>(adaptId(v, lang), [`variation-${v}`], 'inference', (c) => ({
            type: 'inference',
            messages: [
              { role: 'system', content: `Task: ${TASK}/adapt. You adapt scripts to a language and its culture: idioms, references, units; not a literal translation.` },
              { role: 'user', content: `Target language: ${lang}\nAdapt this script:\n\n${c.output(`variation-${v}`, textSchema)}` },
            ],
            parse: (text) => parseTextOutput(text, `adaptation ${v}/${lang}`),
          })),
        );
      }
    }
    const all = specs.map((s) => s.id);
    specs.push(
      step<Input>('bundle', all, 'tool', (c) => ({
        type: 'tool',
        run: () => ({
          variations: Array.from({ length: variations }, (_, i) => ({
            index: i + 1,
            text: c.output(`variation-${i + 1}`, textSchema),
            adaptations: Object.fromEntries(languages.map((lang) => [lang, c.output(adaptId(i + 1, lang), textSchema)])),
          })),
        }),
      })),
    );
    specs.push(
      step<Input>('save', ['bundle'], 'artifact', (c) => ({
        type: 'artifact',
        name: 'scripts.json',
        contentType: 'application/json',
        body: JSON.stringify(c.output('bundle', z.unknown()), null, 2),
      })),
    );
    return specs;
  },
  result(ctx) {
    return { ...(ctx.output('bundle', z.object({ variations: z.array(z.unknown()) }))), languages: ctx.input.languages, artifact: ctx.output('save', z.unknown()) };
  },
});
