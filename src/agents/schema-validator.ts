/**
 * Validates tool arguments against each tool's JSON Schema with ajv. A
 * schema is compiled once and kept by its text, so a service tool whose
 * announcement did not change between discoveries is not compiled again.
 * The cache is bounded: service schemas come from outside, and a service
 * that keeps changing its schema must not grow memory without end.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { JsonSchemaObject } from '../../actors/agent/tool.ts';
import { linearRegExp } from '../../protocol/schema-patterns.ts';
import { withLinearUniqueItems } from '../../protocol/unique-items.ts';

/** What a check found: nothing (`null`) or a message naming the path at fault. */
export type ArgumentProblem = string | null;

const MAX_COMPILED = 512;

export class SchemaValidator {
  // strict: false: schemas written for the OpenAI `tools` format often carry keywords ajv does not know (e.g. `examples` in odd places).
  // linearRegExp, withLinearUniqueItems: a service's schema must not let a model's arguments hold the host's event loop.
  readonly #ajv = withLinearUniqueItems(new Ajv({ allErrors: false, strict: false, validateSchema: true, code: { regExp: linearRegExp } }));
  readonly #compiled = new Map<string, { readonly validate: ValidateFunction; readonly schema: JsonSchemaObject }>();

  /**
   * Checks that a schema compiles (service announcements are checked before they become tools).
   * @throws Error with ajv's message when it does not.
   */
  prepare(schema: JsonSchemaObject): void {
    this.#validatorFor(schema);
  }

  /** Checks `args` against `schema`; returns null when they conform. */
  check(schema: JsonSchemaObject, args: unknown): ArgumentProblem {
    const validate = this.#validatorFor(schema);
    if (validate(args)) return null;
    return describe(validate.errors ?? []);
  }

  #validatorFor(schema: JsonSchemaObject): ValidateFunction {
    const key = JSON.stringify(schema);
    const hit = this.#compiled.get(key);
    if (hit !== undefined) {
      // Refresh its place: the map's order is the eviction order.
      this.#compiled.delete(key);
      this.#compiled.set(key, hit);
      return hit.validate;
    }
    const validate = this.#ajv.compile(schema);
    this.#compiled.set(key, { validate, schema });
    if (this.#compiled.size > MAX_COMPILED) {
      const [oldestKey, oldest] = this.#compiled.entries().next().value ?? [];
      if (oldestKey !== undefined && oldest !== undefined) {
        this.#compiled.delete(oldestKey);
        // ajv keeps its own cache keyed by the schema object it compiled.
        this.#ajv.removeSchema(oldest.schema);
      }
    }
    return validate;
  }
}

/** `arguments/sections/0: must be integer`, or `arguments: must have required property 'docId'`. */
function describe(errors: readonly ErrorObject[]): string {
  const first = errors[0];
  if (first === undefined) return 'arguments: do not match the schema';
  const path = `arguments${first.instancePath}`;
  const extra = first.keyword === 'additionalProperties' ? ` '${String((first.params as { additionalProperty?: unknown }).additionalProperty)}'` : '';
  return `${path}: ${first.message ?? 'is invalid'}${extra}`;
}
