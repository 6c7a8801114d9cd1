/**
 * The built-in pipelines, by job kind. Every built-in is a pipeline
 * definition (a JSON file beside this one, the format of
 * protocol/pipeline-definition.ts) compiled by the same engine as the ones
 * platforms register: one engine, not two (issue 8).
 */
import { validatePipelineDefinition } from '../../../protocol/pipeline-definition.ts';
import { compilePipeline } from '../definitions/compile.ts';
import type { AnyPipeline } from '../pipeline.ts';
import documentGenerate from './document-generate.json' with { type: 'json' };
import researchDeep from './research-deep.json' with { type: 'json' };
import scriptVariations from './script-variations.json' with { type: 'json' };
import slidesGenerate from './slides-generate.json' with { type: 'json' };

/** The definitions shipped with Loom, as JSON documents. */
export const BUILT_IN_DEFINITIONS: readonly unknown[] = [documentGenerate, researchDeep, scriptVariations, slidesGenerate];

/**
 * Compiles a shipped definition.
 * @throws Error naming every fault: a shipped definition that does not validate is a bug.
 */
function builtIn(raw: unknown): AnyPipeline {
  const checked = validatePipelineDefinition(raw);
  if (!checked.ok) throw new Error(`built-in pipeline definition is invalid: ${checked.errors.map((e) => `${e.path} ${e.message}`).join('; ')}`);
  return compilePipeline(checked.definition);
}

/** Every built-in pipeline (compiled on each call: callers build one catalog). */
export function builtInPipelines(): AnyPipeline[] {
  return BUILT_IN_DEFINITIONS.map(builtIn);
}

/** A kind -> pipeline map (built fresh so callers may add their own). */
export function pipelineCatalog(extra: readonly AnyPipeline[] = []): Map<string, AnyPipeline> {
  const map = new Map<string, AnyPipeline>();
  for (const p of [...builtInPipelines(), ...extra]) {
    if (map.has(p.kind)) throw new Error(`two pipelines for job kind ${p.kind}`);
    map.set(p.kind, p);
  }
  return map;
}
