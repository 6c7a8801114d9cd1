/** The built-in pipelines, by job kind. Adding a pipeline: write its file, add it here. */
import type { AnyPipeline } from '../pipeline.ts';
import { documentGenerate } from './document-generate.ts';
import { researchDeep } from './research-deep.ts';
import { scriptVariations } from './script-variations.ts';
import { slidesGenerate } from './slides-generate.ts';

export const BUILT_IN_PIPELINES: readonly AnyPipeline[] = [documentGenerate, researchDeep, scriptVariations, slidesGenerate];

/** A kind -> pipeline map (built fresh so callers may add their own). */
export function pipelineCatalog(extra: readonly AnyPipeline[] = []): Map<string, AnyPipeline> {
  const map = new Map<string, AnyPipeline>();
  for (const p of [...BUILT_IN_PIPELINES, ...extra]) {
    if (map.has(p.kind)) throw new Error(`two pipelines for job kind ${p.kind}`);
    map.set(p.kind, p);
  }
  return map;
}
