/**
 * `uniqueItems` in linear time, for JSON Schemas that come from users.
 *
 * ajv compares every pair of items with a deep equality unless the items
 * are declared scalars, so `{"type":"array","uniqueItems":true}` against a
 * 256 KiB input of 30,000 small objects costs about a minute of one core,
 * holding the gateway that checks a job's input (or the host checking a
 * model's answer). Here every item is written once in a canonical form
 * (object keys sorted, numbers as JSON writes them) and looked up in a set:
 * the same verdict as JSON Schema's equality, in time proportional to the
 * data.
 */
import type { Ajv, ErrorObject, FuncKeywordDefinition } from 'ajv';

/** One text per JSON value such that equal values (by JSON Schema) get the same text. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    return `{${Object.keys(record)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(record[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

interface UniqueCheck {
  (data: unknown): boolean;
  errors?: Partial<ErrorObject>[];
}

const unique: UniqueCheck = (data) => {
  if (!Array.isArray(data)) return true;
  const seen = new Map<string, number>();
  try {
    for (const [i, item] of data.entries()) {
      const key = canonical(item);
      const j = seen.get(key);
      if (j !== undefined) {
        unique.errors = [{ keyword: 'uniqueItems', message: `must NOT have duplicate items (items ## ${j} and ${i} are identical)`, params: { i: j, j: i } }];
        return false;
      }
      seen.set(key, i);
    }
  } catch (err) {
    // Only nesting deeper than the stack allows gets here.
    if (!(err instanceof RangeError)) throw err;
    unique.errors = [{ keyword: 'uniqueItems', message: 'must have items nested shallowly enough to compare', params: {} }];
    return false;
  }
  return true;
};

const uniqueItems: FuncKeywordDefinition = {
  keyword: 'uniqueItems',
  type: 'array',
  schemaType: 'boolean',
  errors: true,
  compile: (schema: boolean) => (schema ? unique : () => true),
};

/** Replaces ajv's own `uniqueItems` with the linear one; returns the same ajv. */
export function withLinearUniqueItems<A extends Pick<Ajv, 'removeKeyword' | 'addKeyword'>>(ajv: A): A {
  ajv.removeKeyword('uniqueItems');
  ajv.addKeyword(uniqueItems);
  return ajv;
}
