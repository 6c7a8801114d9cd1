/**
 * The built-in pipeline kinds as the registry shows them: every kind of the
 * engine's catalog, with its definition document where it ships as one.
 */
import { BUILT_IN_DEFINITIONS, pipelineCatalog } from '../../actors/job/index.ts';
import { validatePipelineDefinition, type PipelineDefinition } from '../../protocol/pipeline-definition.ts';

/**
 * Kind -> definition (null for a built-in still written in TypeScript).
 * @throws Error when a shipped definition does not validate (a bug in the release).
 */
export function builtInPipelineDefinitions(): Map<string, PipelineDefinition | null> {
  const out = new Map<string, PipelineDefinition | null>();
  for (const kind of pipelineCatalog().keys()) out.set(kind, null);
  for (const raw of BUILT_IN_DEFINITIONS) {
    const checked = validatePipelineDefinition(raw);
    if (!checked.ok) throw new Error(`built-in pipeline definition is invalid: ${checked.errors.map((e) => `${e.path} ${e.message}`).join('; ')}`);
    out.set(checked.definition.kind, checked.definition);
  }
  return out;
}
