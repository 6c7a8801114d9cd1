/**
 * Checks a job's input against its pipeline's input schema with ajv, the
 * validator the definitions themselves are checked with. Compiled schemas
 * are kept per definition version (versions are immutable), a bounded few.
 * A schema that does not compile cannot reach here: registration compiles it.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import { schemaCompiler } from '../../protocol/pipeline-definition-rules.ts';
import type { JsonSchema } from '../../protocol/pipeline-definition.ts';
import { PipelineError } from './pipeline-error.ts';

/** Compiled input schemas kept; the oldest is dropped beyond this. */
const MAX_COMPILED = 256;

/** `/a/0/b` -> `input.a.0.b`, the dotted field convention of 400 bodies. */
function fieldOf(e: ErrorObject): string {
  const missing = e.keyword === 'required' ? (e.params as { missingProperty?: string }).missingProperty : undefined;
  const extra = e.keyword === 'additionalProperties' ? (e.params as { additionalProperty?: string }).additionalProperty : undefined;
  const parts = e.instancePath.split('/').slice(1).map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
  const leaf = missing ?? extra;
  return ['input', ...parts, ...(leaf === undefined ? [] : [leaf])].join('.');
}

/** ajv's words, except where the field is already named: a missing one "is required", not "must have required property 'x'". */
export function messageOf(e: ErrorObject): string {
  if (e.keyword === 'required') return 'is required';
  if (e.keyword === 'additionalProperties') return 'is not a known field';
  return e.message ?? 'is invalid';
}

export class InputValidator {
  private readonly compiled = new Map<string, ValidateFunction>();

  /**
   * Validates `input` against `schema` (cached under `key`, which must change when the schema does).
   * @throws PipelineError `invalid-input` naming the first field at fault, with every fault in `problems`.
   */
  check(key: string, schema: JsonSchema, input: unknown): void {
    const validate = this.validator(key, schema);
    // ajv fills declared defaults in: check a copy, the engine applies them to the recorded input itself.
    if (validate(structuredClone(input))) return;
    const errors = validate.errors ?? [];
    const problems = errors.slice(0, 20).map((e) => ({ path: `/input${e.instancePath}`, message: `${fieldOf(e)} ${messageOf(e)}` }));
    const first = errors[0];
    const field = first === undefined ? 'input' : fieldOf(first);
    throw new PipelineError('invalid-input', `${field}: ${first === undefined ? 'does not match the pipeline input schema' : messageOf(first)}`, { field, problems });
  }

  private validator(key: string, schema: JsonSchema): ValidateFunction {
    const hit = this.compiled.get(key);
    if (hit !== undefined) return hit;
    // One ajv per schema: ajv keeps what it compiled (and refuses a second schema with the same $id) for its life.
    const validate = schemaCompiler().compile(schema);
    if (this.compiled.size >= MAX_COMPILED) {
      const oldest = this.compiled.keys().next().value;
      if (oldest !== undefined) this.compiled.delete(oldest);
    }
    this.compiled.set(key, validate);
    return validate;
  }
}
