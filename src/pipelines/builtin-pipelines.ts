/**
 * The built-in pipeline kinds as the registry shows them: every built-in
 * ships as a definition document (actors/job/pipelines/*.json).
 */
import { BUILT_IN_DEFINITIONS } from '../../actors/job/index.ts';
import { validatePipelineDefinition, type PipelineDefinition } from '../../protocol/pipeline-definition.ts';

/**
 * Kind -> definition.
 * @throws Error when a shipped definition does not validate (a bug in the release).
 */
export function builtInPipelineDefinitions(): Map<string, PipelineDefinition> {
  const out = new Map<string, PipelineDefinition>();
  for (const raw of BUILT_IN_DEFINITIONS) {
    const checked = validatePipelineDefinition(raw);
    if (!checked.ok) throw new Error(`built-in pipeline definition is invalid: ${checked.errors.map((e) => `${e.path} ${e.message}`).join('; ')}`);
    out.set(checked.definition.kind, checked.definition);
  }
  return out;
}
