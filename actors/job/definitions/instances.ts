/**
 * Step instances: the ids a definition's steps run under, and what a
 * template sees of them. A top-level step runs as its id, or `<id>.r<n>` in
 * revision round n when a revision re-entered at it or before it; a loop
 * member runs as `<member><round>.<iteration>`, a map item as
 * `<map instance>.<index>`. Ids keep to characters request ids and object
 * keys accept. `steps.<id>` in a template is the latest instance of that
 * step that succeeded (in the current round): inside a loop, an earlier
 * member of the same iteration, or a later one's previous iteration.
 */
import type { LoopStep, StepDefinition } from '../../../protocol/pipeline-definition.ts';
import type { JobState, StepState } from '../state.ts';
import type { DefinitionShape } from './shape.ts';
import type { TemplateContext } from './templates.ts';

export class InstanceView {
  constructor(
    readonly shape: DefinitionShape,
    readonly state: JobState,
  ) {}

  /** The revision round a top-level step runs in now (1: never revised). */
  round(base: string): number {
    let round = 1;
    for (const r of this.state.revisions) if (this.shape.downstream.get(r.reenterAt)?.has(base) === true) round = Math.max(round, r.round);
    return round;
  }

  private suffix(base: string): string {
    const round = this.round(base);
    return round > 1 ? `.r${round}` : '';
  }

  /** Instance id of a top-level step. */
  topId(base: string): string {
    return `${base}${this.suffix(base)}`;
  }

  /** Instance id of a loop member in iteration `k` (from 1). */
  memberId(member: string, loop: LoopStep, k: number): string {
    return `${member}${this.suffix(loop.id)}.${k}`;
  }

  /** Instance id of a map's item `i` (from 1). */
  itemId(map: string, i: number): string {
    return `${this.topId(map)}.${i}`;
  }

  stateOf(id: string): StepState | undefined {
    return this.state.steps.get(id);
  }

  /** The latest instance of a step (top-level or loop member), succeeded or not. */
  latest(base: string): StepState | undefined {
    const loop = this.shape.loopOf.get(base);
    if (loop === undefined) return this.stateOf(this.topId(base));
    let best: StepState | undefined;
    for (let k = loop.maxIterations; k >= 1; k--) {
      const s = this.stateOf(this.memberId(base, loop, k));
      if (s === undefined) continue;
      if (s.status === 'succeeded') return s;
      best ??= s;
    }
    return best;
  }

  /** The latest succeeded output of a step, for templates. */
  private latestOutput(base: string): unknown {
    const loop = this.shape.loopOf.get(base);
    if (loop === undefined) {
      const s = this.stateOf(this.topId(base));
      return s?.status === 'succeeded' ? s.output : undefined;
    }
    for (let k = loop.maxIterations; k >= 1; k--) {
      const s = this.stateOf(this.memberId(base, loop, k));
      if (s?.status === 'succeeded') return s.output;
    }
    return undefined;
  }

  /** The step a handler was reached from (the latest diverted step failing into it), with its error. */
  failureInto(handler: string): { step: string; error: unknown } | null {
    for (const from of this.shape.failingInto.get(handler) ?? []) {
      const s = this.stateOf(this.topId(from.id));
      if (s?.status === 'skipped' && s.skipReason === 'diverted') return { step: from.id, error: s.error };
    }
    return null;
  }

  /** The template context of a step; `extra` adds item/index/count inside a map. */
  context(input: unknown, reader: StepDefinition | null, extra: Readonly<Record<string, unknown>> = {}): TemplateContext {
    const steps: Record<string, { output: unknown; status: string | null }> = {};
    const add = (id: string) => {
      steps[id] = { output: this.latestOutput(id), status: this.latest(id)?.status ?? null };
    };
    for (const s of this.shape.top) {
      add(s.id);
      if (s.type === 'loop') for (const m of s.steps) add(m.id);
    }
    const revision = this.state.revisions.at(-1);
    const created = this.state.created;
    return {
      input,
      steps,
      revision: revision === undefined ? null : { comment: revision.comment, by: revision.by, round: revision.round, step: revision.step },
      failure: reader === null ? null : this.failureInto(reader.id),
      job: { id: this.state.id, kind: created?.kind ?? null, targetDocId: created?.targetDocId ?? null, model: created?.model ?? null },
      ...extra,
    };
  }
}
