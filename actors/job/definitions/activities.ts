/**
 * What each activity step of a definition does, built for one instance from
 * its template context: the same inputs give the same activity, so a replay
 * rebuilds exactly what ran. An `llm` step with an `output` schema takes
 * only JSON valid against it (anything else is an invalid answer and is
 * retried), one with `cite` only text citing its sources as [n]; an `emit` step's output is the outbound event `{ type, data }`,
 * refused for good past MAX_OUTBOUND_EVENT_BYTES.
 */
import type { ValidateFunction } from 'ajv';
import { MAX_OUTBOUND_EVENT_BYTES } from '../../../protocol/outbound-events.ts';
import { compileUserSchema, hasTags } from '../../../protocol/pipeline-definition-rules.ts';
import type { JsonSchema, MapSubStep, PipelineDefaults, StepDefinition } from '../../../protocol/pipeline-definition.ts';
import type { Activity, ChatMessage } from '../pipeline.ts';
import { InvalidModelOutputError, parseTextOutput } from '../structured-output.ts';
import { evaluateCondition } from './conditions.ts';
import type { InstanceView } from './instances.ts';
import { lookupPath, renderMapping, renderTemplate, type TemplateContext } from './templates.ts';

/** Bytes an object-read step reads when it does not say. */
export const DEFAULT_OBJECT_READ_BYTES = 64 * 1024;

const validators = new WeakMap<object, ValidateFunction>();
/** Compiled templated schemas, by their rendered text; bounded, oldest dropped first. */
const renderedValidators = new Map<string, ValidateFunction>();
const MAX_RENDERED_VALIDATORS = 256;

function outputValidator(schema: JsonSchema): ValidateFunction {
  let v = validators.get(schema);
  if (v === undefined) {
    v = compileUserSchema(schema);
    validators.set(schema, v);
  }
  return v;
}

/** The validator of a schema whose strings were templates, rendered for this instance. */
function renderedValidator(schema: JsonSchema): ValidateFunction {
  const key = JSON.stringify(schema);
  let v = renderedValidators.get(key);
  if (v === undefined) {
    v = compileUserSchema(schema);
    if (renderedValidators.size >= MAX_RENDERED_VALIDATORS) renderedValidators.delete(renderedValidators.keys().next().value ?? '');
    renderedValidators.set(key, v);
  }
  return v;
}

const FENCE_OPENER = /^[a-zA-Z]*\s*$/;

/**
 * The body of an answer fenced as a code block (```json, a newline, the
 * body, a newline, ```), else the answer itself. Scanned by hand: the
 * regular expression this replaces backtracked in cubic time, and a model
 * answering "```" and 4,000 newlines held the host for 45 s.
 */
export function unfenced(text: string): string {
  const t = text.trim();
  if (!t.startsWith('```') || !t.endsWith('```')) return text;
  const opened = t.indexOf('\n');
  if (opened < 0 || !FENCE_OPENER.test(t.slice(3, opened))) return text;
  const body = t.slice(opened + 1, t.length - 3);
  const closed = body.lastIndexOf('\n');
  // Only whitespace may sit between the body's last newline and the closing fence.
  if (closed < 0 || body.slice(closed + 1).trim() !== '') return text;
  return body.slice(0, closed);
}

/** A JSON answer checked against the step's schema. @throws InvalidModelOutputError naming the first fault. */
export function parseSchemaOutput(text: string, schema: JsonSchema, what: string, templated = false): unknown {
  const raw = unfenced(text).trim();
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new InvalidModelOutputError(`${what}: the model's answer is not JSON`, { cause: err });
  }
  const validate = templated ? renderedValidator(schema) : outputValidator(schema);
  if (!validate(value)) {
    const e = validate.errors?.[0];
    throw new InvalidModelOutputError(`${what}: ${e?.instancePath || 'answer'} ${e?.message ?? 'is invalid'}`);
  }
  return value;
}

const CITATION = /\[(\d{1,3})\]/g;

/**
 * How many elements a `cite` path names: an array's length, or a whole number itself.
 * @throws Error when it names neither (a job whose data is not what its definition says).
 */
export function citableCount(value: unknown, path: string): number {
  if (Array.isArray(value)) return value.length;
  if (Number.isInteger(value) && (value as number) >= 0) return value as number;
  throw new Error(`cite: ${path} is not an array (got ${value === undefined ? 'nothing' : typeof value})`);
}

/**
 * The sources a text cites as [n], sorted and unique.
 * @throws InvalidModelOutputError when it cites none, or one past `count`.
 */
export function checkCitations(text: string, count: number, what: string): number[] {
  const cited = [...new Set([...text.matchAll(CITATION)].map((m) => Number(m[1])))].sort((a, b) => a - b);
  if (cited.length === 0) throw new InvalidModelOutputError(`${what}: cites no source; cite them as [1], [2], ...`);
  const unknown = cited.filter((n) => n < 1 || n > count);
  if (unknown.length > 0) throw new InvalidModelOutputError(`${what}: cites [${unknown.join('], [')}], but there are only ${count} sources`);
  return cited;
}

/** A Y.Text root name as a template rendered it. @throws Error when it is empty, has spaces or is too long. */
function rootName(rendered: string, what: string): string {
  if (!/^\S{1,100}$/.test(rendered)) throw new Error(`${what}: document root ${JSON.stringify(rendered.slice(0, 120))} must be 1-100 characters without spaces`);
  return rendered;
}

/** A `maxTokens` tag's value. @throws Error unless it is a whole number from 1 to 131,072. */
function tokenLimit(value: unknown, what: string): number {
  if (Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 131_072) return value as number;
  throw new Error(`${what}: maxTokens must be a whole number from 1 to 131072, got ${JSON.stringify(value) ?? 'nothing'}`);
}

/** What building one instance needs besides the step. */
export interface BuildScope {
  readonly instanceId: string;
  readonly view: InstanceView;
  readonly context: TemplateContext;
  readonly defaults: PipelineDefaults;
  /** The job's step timeout, for a service step that names no start-to-close time. */
  readonly stepTimeoutMs: number;
}

/** Characters the job's earlier document writes into the same document root put there (the writer resumes after them). */
function offsetFor(scope: BuildScope, docId: string, root: string): number {
  const self = scope.view.stateOf(scope.instanceId);
  let offset = 0;
  for (const s of scope.view.state.steps.values()) {
    if (s.id === scope.instanceId || s.activity !== 'document-write' || s.status !== 'succeeded') continue;
    if (self !== undefined && (s.finishedAt ?? Infinity) > self.startedAt) continue;
    const out = s.output as { docId?: unknown; root?: unknown; chars?: unknown } | null;
    if (out?.docId === docId && out.root === root && typeof out.chars === 'number') offset += out.chars;
  }
  return offset;
}

/**
 * The activity of an activity step (llm, service, document-write, artifact,
 * object-read, emit) or a control step (approval, choice, map, loop).
 * @throws Error when a template's result cannot be used (no target document, say).
 */
export function buildActivity(step: StepDefinition | MapSubStep, scope: BuildScope): Activity {
  const ctx = scope.context;
  const what = scope.instanceId;
  switch (step.type) {
    case 'llm': {
      const messages: ChatMessage[] = [];
      if (step.prompt.system !== undefined) messages.push({ role: 'system', content: renderTemplate(step.prompt.system, ctx) });
      messages.push({ role: 'user', content: renderTemplate(step.prompt.user, ctx) });
      const model = step.model ?? scope.defaults.model;
      const maxTokens = typeof step.maxTokens === 'string' ? tokenLimit(renderMapping(step.maxTokens, ctx), what) : (step.maxTokens ?? scope.defaults.maxTokens);
      const temperature = step.temperature ?? scope.defaults.temperature;
      const count = step.cite === undefined ? null : citableCount(lookupPath(ctx, step.cite), step.cite);
      const templated = hasTags(step.output);
      // A templated schema is rendered now (a lone tag keeps its type: "minItems": "{{input.sections}}" becomes a number).
      const schema = templated ? (renderMapping(step.output, ctx) as JsonSchema) : step.output;
      return {
        type: 'inference',
        messages,
        ...(model === undefined ? {} : { model }),
        ...(maxTokens === undefined ? {} : { maxTokens }),
        ...(temperature === undefined ? {} : { temperature }),
        ...(schema === undefined ? {} : { responseFormat: 'json' as const }),
        parse: (text) => {
          if (schema !== undefined) return parseSchemaOutput(text, schema, what, templated);
          const body = parseTextOutput(text, what);
          return count === null ? body : { text: body, cited: checkCitations(body, count, what) };
        },
      };
    }
    case 'service':
      return {
        type: 'service',
        queue: step.queue,
        input: renderMapping(step.input ?? null, ctx),
        startToCloseMs: step.startToCloseMs ?? step.timeoutMs ?? scope.defaults.timeoutMs ?? scope.stepTimeoutMs,
        heartbeatTimeoutMs: step.heartbeatTimeoutMs ?? null,
      };
    case 'document-write': {
      const docId = step.docId === undefined ? scope.view.state.created?.targetDocId ?? null : renderTemplate(step.docId, ctx);
      if (docId === null || docId === '') throw new Error(`${what}: no document to write into (the job has no target document and the step names none)`);
      const root = step.root === undefined ? 'content' : rootName(renderTemplate(step.root, ctx), what);
      const rootType = step.rootType === undefined ? '' : renderTemplate(step.rootType, ctx);
      if (rootType !== '' && rootType !== 'text' && rootType !== 'xml') throw new Error(`${what}: rootType ${JSON.stringify(rootType.slice(0, 40))} must be text, xml or nothing`);
      return { type: 'document-write', docId, root, ...(rootType === '' ? {} : { rootType }), text: renderTemplate(step.text, ctx), offset: offsetFor(scope, docId, root) };
    }
    case 'artifact': {
      const text = typeof step.body === 'string';
      const body = text ? renderTemplate(step.body as string, ctx) : JSON.stringify(renderMapping(step.body, ctx), null, 2);
      return { type: 'artifact', name: step.name, contentType: step.contentType ?? (text ? 'text/plain; charset=utf-8' : 'application/json'), body };
    }
    case 'object-read':
      return { type: 'object-read', key: renderTemplate(step.key, ctx), maxBytes: step.maxBytes ?? DEFAULT_OBJECT_READ_BYTES };
    case 'emit':
      return {
        type: 'emit',
        run: () => {
          const event = { type: step.event, data: renderMapping(step.data ?? {}, ctx) };
          const bytes = Buffer.byteLength(JSON.stringify(event), 'utf8');
          if (bytes > MAX_OUTBOUND_EVENT_BYTES) throw new Error(`${what}: event ${step.event} is ${bytes} bytes, over ${MAX_OUTBOUND_EVENT_BYTES}`);
          return event;
        },
      };
    case 'approval':
      return { type: 'approval' };
    case 'choice':
      return {
        type: 'choice',
        run: () => {
          const index = step.branches.findIndex((b) => evaluateCondition(b.when, ctx));
          const taken = index === -1 ? (step.default ?? []) : (step.branches[index]?.next ?? []);
          return { branch: index === -1 ? 'default' : index, next: [...taken] };
        },
      };
    case 'map':
      return { type: 'map' };
    case 'loop':
      return { type: 'loop' };
    default: {
      const never: never = step;
      throw new Error(`unhandled step type ${JSON.stringify(never)}`);
    }
  }
}

/** The activity type a step records. */
export function activityTypeOf(step: StepDefinition | MapSubStep): Activity['type'] {
  switch (step.type) {
    case 'llm':
      return 'inference';
    default:
      return step.type;
  }
}
