/**
 * The rules of a pipeline definition that its JSON Schema cannot express,
 * checked after the schema passed: unique step ids; `after`, `goto`,
 * `reenterAt` and choice `next` naming steps that exist where they may be
 * named; no cycle outside a loop; templates and conditions (`when`, choice
 * branches) reading only steps that precede the reader; `map.over`,
 * `map.by` and `llm.cite` naming the input or a preceding step; nested
 * JSON Schemas that compile. Each fault names its JSON-pointer path.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import mustache from 'mustache';
import { MAX_PIPELINE_STEPS, type Condition, type DefinitionError, type LoopStep, type MapSubStep, type PipelineDefinition, type StepDefinition } from './pipeline-definition.ts';
import { linearRegExp } from './schema-patterns.ts';
import { withLinearUniqueItems } from './unique-items.ts';

/** Where a step sits in the document. */
interface Located {
  readonly step: StepDefinition;
  readonly path: string;
  /** The loop whose group it belongs to, or null at top level. */
  readonly loop: string | null;
}

/**
 * Compiles nested JSON Schemas; strict off, since user schemas may carry
 * annotations ajv does not know. Their patterns must match in linear time
 * (schema-patterns.ts): a compile with another one throws; `uniqueItems`
 * is checked in linear time (unique-items.ts).
 */
export function schemaCompiler(): Ajv2020 {
  return withLinearUniqueItems(new Ajv2020({ allErrors: true, useDefaults: true, strict: false, code: { regExp: linearRegExp } }));
}

/** Keywords that point to another part of a schema. */
const REFERENCE_KEYWORDS: ReadonlySet<string> = new Set(['$ref', '$dynamicRef', '$recursiveRef']);

/**
 * JSON pointers (relative to `schema`) of its references. Only string
 * values count, so a property that happens to be named "$ref" is no reference.
 */
export function schemaReferences(schema: unknown, at = ''): string[] {
  if (Array.isArray(schema)) return schema.flatMap((v, i) => schemaReferences(v, `${at}/${i}`));
  if (schema === null || typeof schema !== 'object') return [];
  return Object.entries(schema).flatMap(([k, v]) => {
    const here = `${at}/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    return REFERENCE_KEYWORDS.has(k) && typeof v === 'string' ? [here] : schemaReferences(v, here);
  });
}

/**
 * Why users' schemas may not use references: a few shared definitions, each
 * an anyOf of the one before, ask for exponentially many checks of the same
 * value (25 levels of three branches: 8 x 10^11), and a recursive one
 * recurses as deep as the data, past the stack.
 */
export const SCHEMA_REFERENCE_MESSAGE = 'references ($ref, $dynamicRef) are not supported in pipeline schemas: they can make checking take exponential time; write the schema inline';

/** A user's schema with a reference. */
export class SchemaReferenceError extends Error {
  override readonly name = 'SchemaReferenceError';
}

/**
 * Compiles a user's JSON Schema (pipeline input, llm output), without references.
 * @throws SchemaReferenceError naming the first reference; ajv's error when it does not compile.
 */
export function compileUserSchema(schema: object): ValidateFunction {
  const reference = schemaReferences(schema)[0];
  if (reference !== undefined) throw new SchemaReferenceError(`${reference}: ${SCHEMA_REFERENCE_MESSAGE}`);
  return schemaCompiler().compile(schema);
}

/**
 * One fault of a job's input against its pipeline's input schema: the path
 * of the field at fault (a missing or unknown property named as the last
 * segment) and words that read after it ("is required", "unknown field").
 */
export function inputFault(e: ErrorObject): { path: string[]; message: string } {
  const path = e.instancePath.split('/').slice(1).map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
  if (e.keyword === 'required') return { path: [...path, (e.params as { missingProperty?: string }).missingProperty ?? ''], message: 'is required' };
  if (e.keyword === 'additionalProperties') return { path: [...path, (e.params as { additionalProperty?: string }).additionalProperty ?? ''], message: 'unknown field' };
  return { path, message: e.message ?? 'is invalid' };
}

/**
 * Parses without keeping what it parsed: mustache's default writer caches
 * every template it ever saw, and registration sees whatever users send.
 */
const templateParser = Object.assign(new mustache.Writer(), { templateCache: undefined });

/** Step ids a template reads as `steps.<id>...`, or a parse error. */
export function templateStepRefs(template: string): { refs: string[] } | { error: string } {
  let tokens: unknown[];
  try {
    tokens = templateParser.parse(template) as unknown[];
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
  const refs: string[] = [];
  const walk = (list: unknown[]): void => {
    for (const t of list) {
      if (!Array.isArray(t)) continue;
      const [type, name, , , children] = t as [string, string, number, number, unknown];
      if (type === 'name' || type === '&' || type === '#' || type === '^') {
        const m = /^steps\.([a-z][a-z0-9-]{0,63})(\.|$)/.exec(name);
        if (m?.[1] !== undefined) refs.push(m[1]);
      }
      if (Array.isArray(children)) walk(children);
    }
  };
  walk(tokens);
  return { refs };
}

/** Whether a value holds a Mustache tag anywhere (a templated JSON Schema is compiled when its step runs). */
export function hasTags(value: unknown): boolean {
  return value !== undefined && (JSON.stringify(value) ?? '').includes('{{');
}

/** Every template string inside a mapping, with its path. */
function templatesIn(value: unknown, path: string, out: { path: string; text: string }[]): void {
  if (typeof value === 'string') out.push({ path, text: value });
  else if (Array.isArray(value)) value.forEach((v, i) => templatesIn(v, `${path}/${i}`, out));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) templatesIn(v, `${path}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, out);
}

/** The template fields of a step (not of its nested steps). */
function stepTemplates(step: Omit<StepDefinition, 'id'>, path: string): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  const s = step as Record<string, unknown>;
  switch (step.type) {
    case 'llm':
      templatesIn(s['prompt'], `${path}/prompt`, out);
      templatesIn(s['maxTokens'], `${path}/maxTokens`, out);
      if (hasTags(s['output'])) templatesIn(s['output'], `${path}/output`, out);
      break;
    case 'map':
      templatesIn(s['collect'], `${path}/collect`, out);
      break;
    case 'service':
      templatesIn(s['input'], `${path}/input`, out);
      break;
    case 'document-write':
      templatesIn(s['docId'], `${path}/docId`, out);
      templatesIn(s['root'], `${path}/root`, out);
      templatesIn(s['rootType'], `${path}/rootType`, out);
      templatesIn(s['text'], `${path}/text`, out);
      break;
    case 'artifact':
      templatesIn(s['body'], `${path}/body`, out);
      break;
    case 'object-read':
      templatesIn(s['key'], `${path}/key`, out);
      break;
    case 'emit':
      templatesIn(s['data'], `${path}/data`, out);
      break;
    default:
      break;
  }
  return out;
}

function conditionPaths(c: Condition, path: string, out: { path: string; ref: string }[]): void {
  if ('not' in c) conditionPaths(c.not, `${path}/not`, out);
  else if ('all' in c) c.all.forEach((x, i) => conditionPaths(x, `${path}/all/${i}`, out));
  else if ('any' in c) c.any.forEach((x, i) => conditionPaths(x, `${path}/any/${i}`, out));
  else out.push({ path: `${path}/path`, ref: c.path });
}

function stepOfPath(ref: string): string | null {
  const m = /^steps\.([a-z][a-z0-9-]{0,63})(\.|$)/.exec(ref);
  return m?.[1] ?? null;
}

/** Checks everything the schema cannot; an empty list means the definition is whole. */
export function checkDefinitionRules(def: PipelineDefinition): DefinitionError[] {
  const errors: DefinitionError[] = [];
  const fail = (path: string, message: string) => errors.push({ path, message });
  const all = new Map<string, Located>();
  const top: Located[] = [];
  const add = (loc: Located) => {
    if (all.has(loc.step.id)) fail(`${loc.path}/id`, `duplicate step id "${loc.step.id}" (first at ${all.get(loc.step.id)?.path})`);
    else all.set(loc.step.id, loc);
  };
  def.steps.forEach((step, i) => {
    const loc = { step, path: `/steps/${i}`, loop: null };
    top.push(loc);
    add(loc);
    if (step.type === 'loop') step.steps.forEach((m, j) => add({ step: m, path: `/steps/${i}/steps/${j}`, loop: step.id }));
  });
  if (errors.length > 0) return errors;
  // The schema bounds the top level (200) and each loop (50), which together allow 10,000 steps: the cap counts them all.
  if (all.size > MAX_PIPELINE_STEPS) return [{ path: '/steps', message: `${all.size} steps, loop members included; at most ${MAX_PIPELINE_STEPS}` }];

  const isTop = (id: string) => all.get(id)?.loop === null;
  const gotoTargets = new Set<string>();
  // Edges between top-level steps: dependency -> dependent, choice -> branch target.
  const preds = new Map<string, Set<string>>(top.map((l) => [l.step.id, new Set<string>()]));
  for (const { step, path } of top) {
    (step.after ?? []).forEach((dep, k) => {
      if (!all.has(dep)) fail(`${path}/after/${k}`, `unknown step "${dep}"`);
      else if (!isTop(dep)) fail(`${path}/after/${k}`, `"${dep}" belongs to loop "${all.get(dep)?.loop}"; depend on the loop instead`);
      else preds.get(step.id)?.add(dep);
    });
    if (step.type === 'choice') {
      const named = [...step.branches.map((b, bi) => ({ ids: b.next, at: `${path}/branches/${bi}/next` })), { ids: step.default ?? [], at: `${path}/default` }];
      for (const { ids, at } of named) {
        ids.forEach((target, k) => {
          if (!all.has(target)) fail(`${at}/${k}`, `unknown step "${target}"`);
          else if (!isTop(target)) fail(`${at}/${k}`, `"${target}" belongs to loop "${all.get(target)?.loop}"; a branch names top-level steps`);
          else if (target === step.id) fail(`${at}/${k}`, 'a choice cannot branch to itself');
          else preds.get(target)?.add(step.id);
        });
      }
    }
  }
  for (const { step, path } of all.values()) {
    const onFailure = step.onFailure;
    if (typeof onFailure === 'object') {
      const target = onFailure.goto;
      if (!all.has(target)) fail(`${path}/onFailure/goto`, `unknown step "${target}"`);
      else if (!isTop(target)) fail(`${path}/onFailure/goto`, `"${target}" belongs to a loop; goto names a top-level step`);
      else if (target === step.id) fail(`${path}/onFailure/goto`, 'a step cannot go to itself on failure');
      else gotoTargets.add(target);
    }
  }
  if (errors.length > 0) return errors;

  // Cycles outside loops (depth-first, colouring).
  const colour = new Map<string, 'grey' | 'black'>();
  const visit = (id: string, trail: string[]): boolean => {
    if (colour.get(id) === 'black') return false;
    if (colour.get(id) === 'grey') {
      const cycle = [...trail.slice(trail.indexOf(id)), id];
      fail(`${all.get(id)?.path}/after`, `cycle outside a loop: ${cycle.join(' -> ')}; repeat work with a loop step`);
      return true;
    }
    colour.set(id, 'grey');
    for (const p of preds.get(id) ?? []) if (visit(p, [...trail, id])) return true;
    colour.set(id, 'black');
    return false;
  };
  for (const { step } of top) if (visit(step.id, [])) return errors;

  // What each top-level step may read: its ancestors, and the members of ancestor loops.
  const ancestors = new Map<string, Set<string>>();
  const ancestorsOf = (id: string): Set<string> => {
    const known = ancestors.get(id);
    if (known !== undefined) return known;
    const set = new Set<string>();
    for (const p of preds.get(id) ?? []) {
      set.add(p);
      for (const a of ancestorsOf(p)) set.add(a);
      const ps = all.get(p)?.step;
      if (ps?.type === 'loop') for (const m of ps.steps) set.add(m.id);
    }
    ancestors.set(id, set);
    return set;
  };
  for (const { step } of top) ancestorsOf(step.id);

  for (const target of gotoTargets) {
    const loc = all.get(target);
    if (loc !== undefined && (loc.step.after ?? []).length > 0) {
      fail(`${loc.path}/after`, `"${target}" is an onFailure target (a handler, run only when a step fails into it), so it cannot have "after"`);
    }
  }
  for (const { step, path } of top) {
    if (typeof step.onFailure === 'object' && ancestorsOf(step.id).has(step.onFailure.goto)) {
      fail(`${path}/onFailure/goto`, `"${step.onFailure.goto}" precedes "${step.id}": going back is a cycle; use a loop`);
    }
    if (step.type === 'approval' && step.revision !== undefined) {
      const at = step.revision.reenterAt;
      if (!all.has(at)) fail(`${path}/revision/reenterAt`, `unknown step "${at}"`);
      else if (!isTop(at) || !ancestorsOf(step.id).has(at)) fail(`${path}/revision/reenterAt`, `"${at}" must be a top-level step that precedes "${step.id}"`);
    }
  }

  /** May the step at `readerId` (in loop `loop`, or at top level) read step `ref`? */
  const visible = (readerId: string, loop: string | null, ref: string): boolean => {
    if (loop === null) return ancestorsOf(readerId).has(ref);
    const group = all.get(loop)?.step as LoopStep;
    // Inside a group every member is readable: an earlier one in this iteration, a later one (or itself) from the previous one.
    return group.steps.some((m) => m.id === ref) || ancestorsOf(loop).has(ref);
  };
  const checkRef = (readerId: string, loop: string | null, ref: string, path: string, what: string) => {
    if (!all.has(ref)) fail(path, `${what} reads unknown step "${ref}"`);
    else if (!visible(readerId, loop, ref)) fail(path, `${what} reads step "${ref}", which does not precede "${readerId}"; add it to "after"`);
  };
  const checkTemplates = (readerId: string, loop: string | null, step: Omit<StepDefinition, 'id'>, path: string) => {
    for (const t of stepTemplates(step, path)) {
      const parsed = templateStepRefs(t.text);
      if ('error' in parsed) fail(t.path, `template does not parse: ${parsed.error}`);
      else for (const ref of parsed.refs) checkRef(readerId, loop, ref, t.path, 'template');
    }
  };
  /** A condition's step references (choice branches, `when`) must precede the reader. */
  const checkCondition = (readerId: string, loop: string | null, c: Condition, path: string) => {
    const refs: { path: string; ref: string }[] = [];
    conditionPaths(c, path, refs);
    for (const r of refs) {
      const ref = stepOfPath(r.ref);
      if (ref !== null) checkRef(readerId, loop, ref, r.path, 'condition');
    }
  };
  /** A path naming an array the reader fans out over or cites: the input, or a preceding step's output. */
  const checkArrayPath = (readerId: string, loop: string | null, ref: string, path: string) => {
    const over = stepOfPath(ref);
    if (!ref.startsWith('input') && over === null) fail(path, "must name an array in the input or in a preceding step's output (steps.<id>.output...)");
    else if (over !== null) checkRef(readerId, loop, over, path, 'path');
  };
  /** An activity step's own checks, wherever it sits (top level, loop, map). */
  const checkActivity = (readerId: string, loop: string | null, step: StepDefinition | MapSubStep, path: string) => {
    checkTemplates(readerId, loop, step, path);
    if (step.when !== undefined) checkCondition(readerId, loop, step.when, `${path}/when`);
    if (step.type === 'llm' && step.output !== undefined) checkSchema(step.output, `${path}/output`);
    if (step.type === 'llm' && step.cite !== undefined) {
      if (step.output !== undefined) fail(`${path}/cite`, 'a step with cite answers in text; it cannot also have an output schema');
      else checkArrayPath(readerId, loop, step.cite, `${path}/cite`);
    }
  };
  const compiler = schemaCompiler();
  const checkSchema = (schema: unknown, path: string) => {
    const references = schemaReferences(schema);
    if (references.length > 0) {
      for (const r of references) fail(`${path}${r}`, SCHEMA_REFERENCE_MESSAGE);
      return;
    }
    if (hasTags(schema)) return; // rendered, then compiled, when the step runs
    try {
      compiler.compile(schema as object);
    } catch (err) {
      fail(path, `not a valid JSON Schema: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  checkSchema(def.input, '/input');

  for (const { step, path, loop } of all.values()) {
    checkActivity(step.id, loop, step, path);
    if (step.type === 'map') {
      checkArrayPath(step.id, loop, step.over, `${path}/over`);
      if (step.by !== undefined) checkArrayPath(step.id, loop, step.by, `${path}/by`);
      checkActivity(step.id, loop, step.step, `${path}/step`);
      if (step.then !== undefined) checkActivity(step.id, loop, step.then, `${path}/then`);
    }
    if (step.type === 'choice') step.branches.forEach((b, bi) => checkCondition(step.id, loop, b.when, `${path}/branches/${bi}/when`));
    if (step.type === 'loop' && step.until !== undefined) {
      const refs: { path: string; ref: string }[] = [];
      conditionPaths(step.until, `${path}/until`, refs);
      for (const r of refs) {
        const ref = stepOfPath(r.ref);
        if (ref === null) continue;
        if (!all.has(ref)) fail(r.path, `condition reads unknown step "${ref}"`);
        else if (!step.steps.some((m) => m.id === ref) && !ancestorsOf(step.id).has(ref)) fail(r.path, `condition reads step "${ref}", which is neither in the loop nor before it`);
      }
    }
    if (step.type === 'loop') {
      const members = new Set(step.steps.map((m) => m.id));
      step.steps.forEach((m, j) => {
        (m.after ?? []).forEach((dep, k) => {
          if (!members.has(dep)) fail(`${path}/steps/${j}/after/${k}`, `"${dep}" is not a member of loop "${step.id}"; a member depends only on members (the loop itself waits for its own "after")`);
        });
        if (typeof m.onFailure === 'object') fail(`${path}/steps/${j}/onFailure`, 'a loop member fails or is skipped; goto belongs on the loop');
      });
      const seen = new Map<string, 'grey' | 'black'>();
      const walk = (id: string): boolean => {
        if (seen.get(id) === 'black') return false;
        if (seen.get(id) === 'grey') return true;
        seen.set(id, 'grey');
        const member = step.steps.find((m) => m.id === id);
        for (const d of member?.after ?? []) if (members.has(d) && walk(d)) return true;
        seen.set(id, 'black');
        return false;
      };
      step.steps.forEach((m, j) => {
        if (walk(m.id)) fail(`${path}/steps/${j}/after`, `cycle among the members of loop "${step.id}"`);
      });
    }
  }
  if (def.result !== undefined) {
    const out: { path: string; text: string }[] = [];
    templatesIn(def.result, '/result', out);
    for (const t of out) {
      const parsed = templateStepRefs(t.text);
      if ('error' in parsed) fail(t.path, `template does not parse: ${parsed.error}`);
      else for (const ref of parsed.refs) if (!all.has(ref)) fail(t.path, `template reads unknown step "${ref}"`);
    }
  }
  return errors;
}
