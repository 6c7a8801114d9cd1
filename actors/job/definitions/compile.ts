/**
 * Compiles a validated pipeline definition into the engine's Pipeline: its
 * steps, as a pure and monotonic function of the job's state, are the
 * instances that exist now (top-level steps in their revision round, the
 * iterations of running loops, the items of running maps), each with its
 * dependencies, retry policy, timeout, onFailure, and whether it is to be
 * skipped (a branch not taken, nothing left to wait on) or is a handler that
 * runs only when a failure goes to it. Containers (map, loop) end as their
 * `settle` says once their instances are done.
 */
import { z } from 'zod';
import { compileUserSchema, inputFault } from '../../../protocol/pipeline-definition-rules.ts';
import {
  MAX_MAP_ITEMS,
  validatePipelineDefinition,
  type LoopStep,
  type MapStep,
  type MapSubStep,
  type PipelineDefinition,
  type StepDefinition,
} from '../../../protocol/pipeline-definition.ts';
import type { AnyPipeline, ContainerSettlement, PipelineContext, StepRetryPolicy, StepSpec } from '../pipeline.ts';
import type { JobState, StepState } from '../state.ts';
import { activityTypeOf, buildActivity } from './activities.ts';
import { evaluateCondition } from './conditions.ts';
import { InstanceView } from './instances.ts';
import { shapeOf, type DefinitionShape } from './shape.ts';
import { lookupPath, renderMapping } from './templates.ts';

type Ctx = PipelineContext<unknown>;
type Spec = StepSpec<unknown>;
/** What an instance adds to its template context, fixed or read from the state when it is built. */
type Extra = Readonly<Record<string, unknown>> | ((view: InstanceView) => Readonly<Record<string, unknown>>);
/** A map's items (or why it has none), and the keys of its second level (`by`), if any. */
interface MapFanOut {
  readonly items: unknown[] | string;
  readonly keys: readonly unknown[] | null;
}
/** A container's instances that exist now, and how it stands (null: not done). */
interface Expansion {
  readonly specs: Spec[];
  readonly outcome: ContainerSettlement;
}

function isDone(s: StepState | undefined): boolean {
  return s !== undefined && (s.status === 'succeeded' || s.status === 'skipped');
}

/** The job's input checked against the definition's JSON Schema, with the defaults it declares applied (on a copy). */
function inputSchema(def: PipelineDefinition): z.ZodType<unknown, z.ZodTypeDef, unknown> {
  const validate = compileUserSchema(def.input);
  return z.unknown().transform((raw, ctx) => {
    const value: unknown = structuredClone(raw ?? null);
    if (validate(value)) return value;
    for (const e of validate.errors ?? []) ctx.addIssue({ code: 'custom', ...inputFault(e) });
    return z.NEVER;
  });
}

class Compiled {
  readonly shape: DefinitionShape;
  /**
   * Specs and container outcomes by state: both are pure functions of the
   * (immutable) state, and one decision asks for them several times (plan,
   * build, retry policy), so a map of n items is not rebuilt n times per step.
   */
  private readonly specsByState = new WeakMap<JobState, Spec[]>();
  private readonly expansions = new WeakMap<JobState, Map<string, Expansion>>();
  /** Map item specs by job (its created event) and map instance, with what they were made from. */
  private readonly itemSpecs = new WeakMap<object, Map<string, { key: unknown; byKey: unknown; specs: Spec[] }>>();
  constructor(readonly def: PipelineDefinition) {
    this.shape = shapeOf(def);
  }

  private retryOf(step: StepDefinition | MapSubStep, ctx: Ctx): StepRetryPolicy | undefined {
    const r = { ...this.def.defaults?.retry, ...step.retry };
    const policy = ctx.state.created?.policy;
    if (Object.keys(r).length === 0 || policy === undefined) return undefined;
    const retryBaseMs = r.backoffMs ?? policy.retryBaseMs;
    return { maxAttempts: r.attempts ?? policy.maxAttempts, retryBaseMs, retryMaxMs: r.maxBackoffMs ?? Math.max(policy.retryMaxMs, retryBaseMs), jitter: r.jitter ?? 'equal' };
  }

  /**
   * One instance's spec. `extra` adds to its template context (item, index,
   * a `then`'s output), worked out when the activity is built. A `when` that
   * does not hold skips it, read once its dependencies are done (in a map:
   * when the map starts).
   */
  private spec(step: StepDefinition | MapSubStep, id: string, after: string[], ctx: Ctx, reader: StepDefinition | null, extra: Extra = {}): Spec {
    const timeoutMs = step.timeoutMs ?? this.def.defaults?.timeoutMs;
    const retry = this.retryOf(step, ctx);
    const extraOf = (view: InstanceView) => (typeof extra === 'function' ? extra(view) : extra);
    let skip = false;
    // A map's instances read it at once (it sees only what precedes the map, and the item): their specs are kept while the items stay.
    const inMap = reader?.type === 'map' && step !== reader;
    if (step.when !== undefined && (inMap || after.every((d) => isDone(ctx.state.steps.get(d))))) {
      const view = new InstanceView(this.shape, ctx.state);
      skip = !evaluateCondition(step.when, view.context(ctx.input, reader, extraOf(view)));
    }
    return {
      id,
      after,
      activity: activityTypeOf(step),
      ...(retry === undefined ? {} : { retry }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(skip ? { skip: 'branch-not-taken' as const } : {}),
      build: (c) => {
        const view = new InstanceView(this.shape, c.state);
        return buildActivity(step, {
          instanceId: id,
          view,
          context: view.context(c.input, reader, extraOf(view)),
          defaults: this.def.defaults ?? {},
          stepTimeoutMs: c.state.created?.policy.stepTimeoutMs ?? 60_000,
        });
      },
    };
  }

  steps(ctx: Ctx): Spec[] {
    const known = this.specsByState.get(ctx.state);
    if (known !== undefined) return known;
    const specs = this.computeSteps(ctx);
    this.specsByState.set(ctx.state, specs);
    return specs;
  }

  /** A container's instances and outcome for this state, worked out once. */
  private expansion(step: MapStep | LoopStep, ctx: Ctx): Expansion {
    let byStep = this.expansions.get(ctx.state);
    if (byStep === undefined) {
      byStep = new Map();
      this.expansions.set(ctx.state, byStep);
    }
    let found = byStep.get(step.id);
    if (found === undefined) {
      const view = new InstanceView(this.shape, ctx.state);
      found = step.type === 'map' ? this.expandMap(step, view, ctx) : this.loopIterations(step, view, ctx);
      byStep.set(step.id, found);
    }
    return found;
  }

  private computeSteps(ctx: Ctx): Spec[] {
    const view = new InstanceView(this.shape, ctx.state);
    const out: Spec[] = [];
    for (const step of this.shape.top) {
      const id = view.topId(step.id);
      const choices = this.shape.choicesNaming.get(step.id) ?? [];
      const after = [...(step.after ?? []).map((d) => view.topId(d)), ...choices.map((c) => view.topId(c.id))];
      const notTaken = choices.some((c) => {
        const s = view.stateOf(view.topId(c.id));
        return s?.status === 'succeeded' && !((s.output as { next?: string[] } | null)?.next ?? []).includes(step.id);
      });
      const unreachable = after.length > 0 && after.every((d) => {
        const s = view.stateOf(d);
        return s?.status === 'skipped' && s.skipReason !== 'failed';
      });
      const handler = this.shape.failingInto.has(step.id) ? { reached: view.failureInto(step.id) !== null } : undefined;
      const onFailure = step.onFailure ?? 'fail';
      const own = this.spec(step, id, after, ctx, step);
      out.push({
        ...own,
        onFailure,
        ...(notTaken ? { skip: 'branch-not-taken' as const } : unreachable ? { skip: 'unreachable' as const } : own.skip === undefined ? {} : { skip: own.skip }),
        ...(handler === undefined ? {} : { handler }),
        ...(step.type === 'approval' && step.revision !== undefined ? { revision: { reenterAt: step.revision.reenterAt } } : {}),
        ...(step.type === 'map' ? { settle: (c: Ctx) => this.settleMap(step, c) } : {}),
        ...(step.type === 'loop' ? { settle: (c: Ctx) => this.settleLoop(step, c) } : {}),
      });
      if (view.stateOf(id) === undefined) continue;
      if (step.type === 'map' || step.type === 'loop') out.push(...this.expansion(step, ctx).specs);
    }
    return out;
  }

  private expandMap(step: MapStep, view: InstanceView, ctx: Ctx): Expansion {
    const { specs, fanOut } = this.mapItems(step, view, ctx);
    return { specs, outcome: this.mapOutcome(step, view, ctx, fanOut) };
  }

  /** An array a map fans out over (`over`, `by`), or why not; a whole number n stands for 1..n (N variations of a script). */
  private static arrayAt(context: Readonly<Record<string, unknown>>, path: string): unknown[] | string {
    const value = lookupPath(context, path);
    const items = Number.isInteger(value) && (value as number) >= 0 && (value as number) <= MAX_MAP_ITEMS ? Array.from({ length: value as number }, (_, i) => i + 1) : value;
    if (!Array.isArray(items)) return `${path} is not an array (got ${items === undefined ? 'nothing' : typeof items})`;
    return items;
  }

  /** The instance ids of item `i` (from 1): one, or one per key of `by`. */
  private static itemInstances(view: InstanceView, step: MapStep, i: number, keys: readonly unknown[] | null): string[] {
    const id = view.itemId(step.id, i);
    return keys === null ? [id] : keys.map((_, j) => `${id}.${j + 1}`);
  }

  /** Item `i`'s output: its step's output, or with `by` those outputs keyed by key. */
  private static itemOutput(view: InstanceView, step: MapStep, i: number, keys: readonly unknown[] | null): unknown {
    const outputOf = (id: string) => {
      const s = view.stateOf(id);
      return s?.status === 'succeeded' ? s.output : null;
    };
    const ids = Compiled.itemInstances(view, step, i, keys);
    if (keys === null) return outputOf(ids[0] ?? '');
    return Object.fromEntries(keys.map((k, j) => [typeof k === 'string' ? k : JSON.stringify(k), outputOf(ids[j] ?? '')]));
  }

  private mapItems(step: MapStep, view: InstanceView, ctx: Ctx): { specs: Spec[]; fanOut: MapFanOut } {
    const context = view.context(ctx.input, step);
    const items = Compiled.arrayAt(context, step.over);
    const keys = step.by === undefined ? null : Compiled.arrayAt(context, step.by);
    if (typeof items === 'string') return { specs: [], fanOut: { items, keys: null } };
    if (typeof keys === 'string') return { specs: [], fanOut: { items: keys, keys: null } };
    const width = items.length * (keys?.length ?? 1);
    if (width > MAX_MAP_ITEMS) return { specs: [], fanOut: { items: `${step.over}${keys === null ? '' : ` x ${step.by}`} is ${width} instances, over ${MAX_MAP_ITEMS}`, keys: null } };
    const fanOut = { items, keys };
    // The item specs depend only on the items (and the job): reuse them while the arrays are the same objects (or the same counts).
    const instance = view.topId(step.id);
    const created = ctx.state.created ?? ctx.state;
    let byInstance = this.itemSpecs.get(created);
    if (byInstance === undefined) {
      byInstance = new Map();
      this.itemSpecs.set(created, byInstance);
    }
    const cached = byInstance.get(instance);
    const overKey = lookupPath(context, step.over);
    const byKey = step.by === undefined ? null : lookupPath(context, step.by);
    if (cached !== undefined && cached.key === (Array.isArray(overKey) ? overKey : items.length) && cached.byKey === (Array.isArray(byKey) ? byKey : keys?.length ?? null)) {
      return { specs: cached.specs, fanOut };
    }
    const group = { id: instance, maxParallel: step.maxParallel ?? MAX_MAP_ITEMS };
    const specs: Spec[] = [];
    const base = { count: items.length };
    items.forEach((item, index) => {
      const i = index + 1;
      const ids = Compiled.itemInstances(view, step, i, keys);
      ids.forEach((id, j) => {
        const extra = keys === null ? { ...base, item, index: i } : { ...base, item, index: i, key: keys[j], keyIndex: j + 1, keyCount: keys.length };
        specs.push({ ...this.spec(step.step, id, [], ctx, step, extra), onFailure: 'container' as const, group, fixed: true });
      });
      if (step.then !== undefined) {
        // In item order, one at a time: item i's then waits for item i and for item i-1's then.
        const previous = i === 1 ? [] : [`${view.itemId(step.id, i - 1)}.then`];
        const extra = (v: InstanceView) => ({ ...base, item, index: i, output: Compiled.itemOutput(v, step, i, keys) });
        specs.push({ ...this.spec(step.then, `${view.itemId(step.id, i)}.then`, [...ids, ...previous], ctx, step, extra), onFailure: 'container' as const, fixed: true });
      }
    });
    byInstance.set(instance, {
      key: Array.isArray(overKey) ? overKey : items.length,
      byKey: Array.isArray(byKey) ? byKey : keys?.length ?? null,
      specs,
    });
    return { specs, fanOut };
  }

  private settleMap(step: MapStep, ctx: Ctx): ContainerSettlement {
    return this.expansion(step, ctx).outcome;
  }

  private mapOutcome(step: MapStep, view: InstanceView, ctx: Ctx, fanOut: MapFanOut): ContainerSettlement {
    const { items, keys } = fanOut;
    if (typeof items === 'string') return { ok: false, code: 'map-over-invalid', message: `map ${step.id}: ${items}` };
    const ids = items.flatMap((_, i) => [...Compiled.itemInstances(view, step, i + 1, keys), ...(step.then === undefined ? [] : [`${view.itemId(step.id, i + 1)}.then`])]);
    const states = ids.map((id) => view.stateOf(id));
    const failed = states.find((s) => s?.status === 'failed');
    if (failed !== undefined) return { ok: false, code: failed.error?.code ?? 'item-failed', message: `map ${step.id}: item ${failed.id} failed: ${failed.error?.message ?? 'unknown error'}` };
    if (!states.every(isDone)) return null;
    const outputs = items.map((_, i) => Compiled.itemOutput(view, step, i + 1, keys));
    if (step.collect === undefined) return { ok: true, output: outputs };
    const base = view.context(ctx.input, step);
    return { ok: true, output: items.map((item, i) => renderMapping(step.collect, { ...base, item, index: i + 1, count: items.length, output: outputs[i] })) };
  }

  /** The iterations that exist now, and how the loop stands after the last of them. */
  private loopIterations(step: LoopStep, view: InstanceView, ctx: Ctx): Expansion {
    const specs: Spec[] = [];
    for (let k = 1; ; k++) {
      const ids = step.steps.map((m) => view.memberId(m.id, step, k));
      step.steps.forEach((m, j) => {
        const after = (m.after ?? []).map((d) => view.memberId(d, step, k));
        specs.push({ ...this.spec(m, ids[j] ?? '', after, ctx, m), onFailure: m.onFailure === 'skip' ? 'skip' : 'container' });
      });
      const states = ids.map((id) => view.stateOf(id));
      const failed = states.find((s) => s?.status === 'failed');
      if (failed !== undefined) {
        return { specs, outcome: { ok: false, code: failed.error?.code ?? 'member-failed', message: `loop ${step.id}: ${failed.id} failed: ${failed.error?.message ?? 'unknown error'}` } };
      }
      if (!states.every(isDone)) return { specs, outcome: null };
      const outputs = Object.fromEntries(step.steps.map((m, j) => [m.id, states[j]?.status === 'succeeded' ? states[j]?.output : null]));
      const until = step.until === undefined ? false : evaluateCondition(step.until, this.iterationContext(step, view, ctx, states));
      if (until || k >= step.maxIterations) {
        if (step.until !== undefined && !until) {
          return { specs, outcome: { ok: false, code: 'loop-exhausted', message: `loop ${step.id}: its condition did not hold after ${k} iteration${k === 1 ? '' : 's'}` } };
        }
        return { specs, outcome: { ok: true, output: { iterations: k, outputs } } };
      }
    }
  }

  /** The context `until` sees after an iteration: the members' outputs of that iteration (a later one may exist already on replay). */
  private iterationContext(step: LoopStep, view: InstanceView, ctx: Ctx, states: readonly (StepState | undefined)[]): Record<string, unknown> {
    const base = view.context(ctx.input, step);
    const steps = { ...(base['steps'] as Record<string, unknown>) };
    step.steps.forEach((m, j) => {
      const s = states[j];
      steps[m.id] = { output: s?.status === 'succeeded' ? s.output : undefined, status: s?.status ?? null };
    });
    return { ...base, steps };
  }

  private settleLoop(step: LoopStep, ctx: Ctx): ContainerSettlement {
    return this.expansion(step, ctx).outcome;
  }

  result(ctx: Ctx): unknown {
    const view = new InstanceView(this.shape, ctx.state);
    if (this.def.result !== undefined) return renderMapping(this.def.result, view.context(ctx.input, null));
    const out: Record<string, unknown> = {};
    for (const s of this.shape.top) {
      const st = view.latest(s.id);
      if (st?.status === 'succeeded') out[s.id] = st.output;
    }
    return out;
  }
}

/** The engine's Pipeline for a definition that passed validatePipelineDefinition. */
export function compilePipeline(def: PipelineDefinition): AnyPipeline {
  const compiled = new Compiled(def);
  return {
    kind: def.kind,
    description: def.description ?? '',
    input: inputSchema(def),
    steps: (ctx) => compiled.steps(ctx),
    result: (ctx) => compiled.result(ctx),
  };
}

const cache = new WeakMap<object, AnyPipeline>();
/** The same, by the definition's JSON text: every job of a registered version carries its own copy of the same definition. Bounded, oldest dropped first. */
const byText = new Map<string, AnyPipeline>();
const MAX_BY_TEXT = 256;

/**
 * The compiled pipeline of a definition a job recorded, compiled once per
 * definition object (a job's created event keeps its object for the life of
 * the activation) and once per definition text while it is among the last
 * MAX_BY_TEXT used (validating and compiling its JSON Schemas with ajv cost
 * a few milliseconds of CPU per job; a version never changes).
 * @throws Error when the definition is not valid (a log not written by this engine).
 */
export function compiledPipeline(definition: object): AnyPipeline {
  const known = cache.get(definition);
  if (known !== undefined) return known;
  const text = JSON.stringify(definition);
  let pipeline = byText.get(text);
  if (pipeline === undefined) {
    const checked = validatePipelineDefinition(definition);
    if (!checked.ok) throw new Error(`recorded pipeline definition is invalid: ${checked.errors.map((e) => `${e.path} ${e.message}`).join('; ')}`);
    pipeline = compilePipeline(checked.definition);
    if (byText.size >= MAX_BY_TEXT) byText.delete(byText.keys().next().value ?? '');
  } else {
    byText.delete(text); // most recently used last
  }
  byText.set(text, pipeline);
  cache.set(definition, pipeline);
  return pipeline;
}

/** The compiled pipeline of a definition already validated and compiled (same text), or null: the check at a job's start is then done. */
export function knownPipeline(definition: object): AnyPipeline | null {
  return cache.get(definition) ?? byText.get(JSON.stringify(definition)) ?? null;
}
