/**
 * The static shape of a validated definition, worked out once per
 * definition: where each step sits, which choices name it, which steps fail
 * into it, and what a revision re-entering at a step runs again (the step
 * and every step after it).
 */
import type { ChoiceStep, LoopStep, PipelineDefinition, StepDefinition } from '../../../protocol/pipeline-definition.ts';

export interface DefinitionShape {
  readonly def: PipelineDefinition;
  /** Top-level steps in definition order. */
  readonly top: readonly StepDefinition[];
  /** Loop member id -> its loop. */
  readonly loopOf: ReadonlyMap<string, LoopStep>;
  /** Top-level id -> the choices whose branches name it. */
  readonly choicesNaming: ReadonlyMap<string, readonly ChoiceStep[]>;
  /** Handler id -> the top-level steps whose onFailure goes to it. */
  readonly failingInto: ReadonlyMap<string, readonly StepDefinition[]>;
  /** Top-level id -> that step and every top-level step after it. */
  readonly downstream: ReadonlyMap<string, ReadonlySet<string>>;
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

export function shapeOf(def: PipelineDefinition): DefinitionShape {
  const loopOf = new Map<string, LoopStep>();
  const choicesNaming = new Map<string, ChoiceStep[]>();
  const failingInto = new Map<string, StepDefinition[]>();
  const successors = new Map<string, string[]>();
  for (const step of def.steps) {
    if (step.type === 'loop') for (const m of step.steps) loopOf.set(m.id, step);
    for (const dep of step.after ?? []) pushTo(successors, dep, step.id);
    if (step.type === 'choice') {
      const targets = new Set([...step.branches.flatMap((b) => b.next), ...(step.default ?? [])]);
      for (const t of targets) {
        pushTo(choicesNaming, t, step);
        pushTo(successors, step.id, t);
      }
    }
    if (typeof step.onFailure === 'object') pushTo(failingInto, step.onFailure.goto, step);
  }
  const downstream = new Map<string, Set<string>>();
  const reach = (id: string): Set<string> => {
    const known = downstream.get(id);
    if (known !== undefined) return known;
    const set = new Set<string>([id]);
    downstream.set(id, set);
    for (const next of successors.get(id) ?? []) for (const x of reach(next)) set.add(x);
    return set;
  };
  for (const step of def.steps) reach(step.id);
  return { def, top: def.steps, loopOf, choicesNaming, failingInto, downstream };
}
