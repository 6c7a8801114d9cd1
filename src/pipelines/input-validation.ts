/**
 * Checks a job's input against its pipeline's input schema with ajv, the
 * validator the definitions themselves are checked with. Compiled schemas
 * are kept per definition version (versions are immutable), a bounded few.
 * Registration compiles every schema; one stored before a rule was added
 * (patterns must match in linear time) can still fail here, and is the
 * definition's fault, not the input's.
 */
import type { ValidateFunction } from 'ajv';
import { compileUserSchema, inputFault } from '../../protocol/pipeline-definition-rules.ts';
import type { JsonSchema } from '../../protocol/pipeline-definition.ts';
import { PipelineError } from './pipeline-error.ts';

/** Compiled input schemas kept; the oldest is dropped beyond this. */
const MAX_COMPILED = 256;

export class InputValidator {
  private readonly compiled = new Map<string, ValidateFunction>();

  /**
   * Validates `input` against `schema` (cached under `key`, which must change when the schema does).
   * @throws PipelineError `invalid-input` naming the first field at fault, with every fault in `problems`;
   *   `invalid-definition` when the schema itself no longer compiles.
   */
  check(key: string, schema: JsonSchema, input: unknown): void {
    const validate = this.validator(key, schema);
    // ajv fills declared defaults in: check a copy, the engine applies them to the recorded input itself.
    if (validate(structuredClone(input))) return;
    const errors = validate.errors ?? [];
    const faults = errors.map((e) => {
      const { path, message } = inputFault(e);
      // The dotted field convention of 400 bodies: `/a/0/b` -> `input.a.0.b`.
      return { instancePath: e.instancePath, field: ['input', ...path].join('.'), message };
    });
    const problems = faults.slice(0, 20).map((f) => ({ path: `/input${f.instancePath}`, message: `${f.field} ${f.message}` }));
    const first = faults[0];
    const field = first?.field ?? 'input';
    throw new PipelineError('invalid-input', `${field}: ${first?.message ?? 'does not match the pipeline input schema'}`, { field, problems });
  }

  private validator(key: string, schema: JsonSchema): ValidateFunction {
    const hit = this.compiled.get(key);
    if (hit !== undefined) return hit;
    // One ajv per schema: ajv keeps what it compiled (and refuses a second schema with the same $id) for its life.
    let validate: ValidateFunction;
    try {
      validate = compileUserSchema(schema);
    } catch (err) {
      throw new PipelineError('invalid-definition', `the pipeline's input schema does not compile (${err instanceof Error ? err.message : String(err)}); register a corrected version`, { field: 'kind', cause: err });
    }
    if (this.compiled.size >= MAX_COMPILED) {
      const oldest = this.compiled.keys().next().value;
      if (oldest !== undefined) this.compiled.delete(oldest);
    }
    this.compiled.set(key, validate);
    return validate;
  }
}
