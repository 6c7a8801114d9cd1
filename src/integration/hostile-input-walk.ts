/**
 * Builds hostile requests for every operation of an OpenAPI 3 document:
 * each path parameter, query parameter and JSON body field in turn gets
 * values a careless or hostile client sends (NUL, a lone surrogate, huge,
 * infinite, negative and fractional numbers, bad keys and deep nesting in
 * free-form objects), everything else a plausible value from its schema.
 * Each case says which field is bad and whether Loom must name it in a 400.
 */
import { randomUUID } from 'node:crypto';

/** The parts of an OpenAPI 3 schema object this walk reads. */
export interface Schema {
  readonly $ref?: string;
  readonly type?: string;
  readonly format?: string;
  readonly enum?: readonly unknown[];
  readonly example?: unknown;
  readonly default?: unknown;
  readonly minLength?: number;
  readonly minimum?: number;
  readonly minItems?: number;
  readonly items?: Schema;
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean | Schema;
  readonly allOf?: readonly Schema[];
  readonly anyOf?: readonly Schema[];
  readonly oneOf?: readonly Schema[];
  readonly nullable?: boolean;
}

interface Parameter {
  readonly name: string;
  readonly in: 'path' | 'query' | 'header' | 'cookie';
  readonly required?: boolean;
  readonly schema?: Schema;
}

export interface Operation {
  readonly parameters?: readonly Parameter[];
  readonly requestBody?: { readonly content: Readonly<Record<string, { readonly schema?: Schema }>> };
}

export interface OpenApiDocument {
  readonly paths: Readonly<Record<string, Readonly<Record<string, Operation>>>>;
  readonly components?: { readonly schemas?: Readonly<Record<string, Schema>> };
}

/** One hostile request. `body` is raw JSON text (so it can hold `1e400`) or raw bytes. */
export interface HostileCase {
  readonly label: string;
  readonly method: string;
  /** Path and query, already percent-encoded. */
  readonly url: string;
  readonly body?: { readonly contentType: string; readonly data: string | Uint8Array };
  /** The field a 400 must name, when the value is one every schema refuses. */
  readonly field?: string;
}

// Percent-encodings that URLSearchParams cannot produce: a lone surrogate is not encodable as UTF-8.
const NUL_TEXT = 'bad%00text';
const LONE_SURROGATE_TEXT = 'bad%ED%A0%80text';
const URL_VALUES: readonly string[] = [NUL_TEXT, LONE_SURROGATE_TEXT, '1e20', '1e400', '-1', '1.5', 'NaN', '', 'x'.repeat(5_000)];
/** Query values every numeric query parameter must refuse with a 400 naming it. */
const BAD_NUMBERS = new Set(['1e20', '1e400', '-1', '1.5', 'NaN']);

const INFINITY = '"__loom_infinity__"';
/** Stands for arrays nested 50,000 deep, spliced into the JSON text (JSON.stringify would overflow the stack). */
const DEEP = '"__loom_deep__"';
const DEEP_JSON = `${'['.repeat(50_000)}"leaf"${']'.repeat(50_000)}`;
const BAD_STRINGS = ['bad\u0000text', 'bad\uD800text'];

/** Walks a document: every operation, every hostile value in turn. */
export function hostileCases(doc: OpenApiDocument): HostileCase[] {
  const resolve = (s: Schema | undefined): Schema => {
    let schema = s ?? {};
    for (let i = 0; schema.$ref !== undefined && i < 10; i++) schema = doc.components?.schemas?.[schema.$ref.replace('#/components/schemas/', '')] ?? {};
    const union = schema.allOf ?? schema.anyOf ?? schema.oneOf;
    return union !== undefined && union.length > 0 ? resolve(union[0]) : schema;
  };
  const sample = (s: Schema | undefined, depth = 0): unknown => {
    const schema = resolve(s);
    if (schema.example !== undefined) return schema.example;
    if (schema.default !== undefined) return schema.default;
    if (schema.enum !== undefined && schema.enum.length > 0) return schema.enum[0];
    switch (schema.type) {
      case 'string':
        if (schema.format === 'uuid') return randomUUID();
        if (schema.format === 'email') return `walk-${randomUUID()}@example.com`;
        if (schema.format === 'date-time') return new Date().toISOString();
        return 'x'.repeat(Math.max(1, schema.minLength ?? 1));
      case 'integer':
      case 'number':
        return Math.max(1, schema.minimum ?? 1);
      case 'boolean':
        return true;
      case 'array':
        return schema.minItems !== undefined && schema.minItems > 0 && depth < 4 ? [sample(schema.items, depth + 1)] : [];
      default: {
        const out: Record<string, unknown> = {};
        for (const name of schema.required ?? []) if (depth < 4) out[name] = sample(schema.properties?.[name], depth + 1);
        return out;
      }
    }
  };

  const cases: HostileCase[] = [];
  for (const [template, operations] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      const params = op.parameters ?? [];
      // Examples of path parameters may be written URL-encoded already.
      const pathValue = (name: string, raw?: string) => raw ?? encodeURIComponent(decodeURIComponent(String(sample(params.find((p) => p.in === 'path' && p.name === name)?.schema))));
      const urlWith = (bad?: { in: 'path' | 'query'; name: string; raw: string }) => {
        const path = template.replace(/\{([^}]+)\}/g, (_, name: string) => pathValue(name, bad?.in === 'path' && bad.name === name ? bad.raw : undefined));
        const query = params
          .filter((p) => p.in === 'query' && (p.required === true || (bad?.in === 'query' && bad.name === p.name)))
          .map((p) => `${encodeURIComponent(p.name)}=${bad?.in === 'query' && bad.name === p.name ? bad.raw : encodeURIComponent(String(sample(p.schema)))}`);
        return query.length === 0 ? path : `${path}?${query.join('&')}`;
      };
      const jsonSchema = op.requestBody?.content['application/json']?.schema;
      const validBody = jsonSchema === undefined ? undefined : { contentType: 'application/json', data: JSON.stringify(sample(jsonSchema)) };
      const name = `${method.toUpperCase()} ${template}`;

      for (const p of params.filter((q) => q.in === 'path' || q.in === 'query')) {
        const numeric = ['integer', 'number'].includes(resolve(p.schema).type ?? '');
        for (const raw of URL_VALUES) {
          // A lone surrogate cannot survive percent-decoding (it is not UTF-8), so only NUL must be named in a URL.
          const named = p.in === 'query' && ((numeric && BAD_NUMBERS.has(raw)) || (!numeric && resolve(p.schema).type === 'string' && raw === NUL_TEXT));
          cases.push({
            label: `${name} ${p.in} ${p.name}=${raw.slice(0, 20)}`,
            method: method.toUpperCase(),
            url: urlWith({ in: p.in as 'path' | 'query', name: p.name, raw }),
            ...(validBody === undefined ? {} : { body: validBody }),
            ...(named ? { field: p.name } : {}),
          });
        }
      }

      if (jsonSchema !== undefined) {
        const base = sample(jsonSchema);
        for (const [field, schema] of fieldsOf(resolve, jsonSchema)) {
          for (const [value, badField] of badValues(resolve(schema), field)) {
            const body = JSON.stringify(setAt(base, field, value)).replace(INFINITY, '1e400').replace(DEEP, DEEP_JSON);
            cases.push({ label: `${name} body ${field}=${JSON.stringify(value)?.slice(0, 30)}`, method: method.toUpperCase(), url: urlWith(), body: { contentType: 'application/json', data: body }, ...(badField === undefined ? {} : { field: badField }) });
          }
        }
      }
      for (const contentType of Object.keys(op.requestBody?.content ?? {}).filter((t) => t.startsWith('text/'))) {
        for (const bytes of [Buffer.from('bad\u0000text'), Buffer.from([0x62, 0xed, 0xa0, 0x80, 0x62]), Buffer.from([0xff, 0xfe, 0x00])]) {
          cases.push({ label: `${name} ${contentType} body of ${bytes.toString('hex')}`, method: method.toUpperCase(), url: urlWith(), body: { contentType, data: bytes } });
        }
      }
    }
  }
  return cases;
}

/** Dotted paths of a body's fields (two levels), with their schemas. */
function fieldsOf(resolve: (s: Schema | undefined) => Schema, schema: Schema, prefix = '', depth = 0): Array<[string, Schema]> {
  const out: Array<[string, Schema]> = [];
  for (const [name, child] of Object.entries(resolve(schema).properties ?? {})) {
    const path = prefix === '' ? name : `${prefix}.${name}`;
    out.push([path, child]);
    if (depth < 1 && resolve(child).properties !== undefined) out.push(...fieldsOf(resolve, child, path, depth + 1));
  }
  return out;
}

/** Hostile values for a field of this schema, each with the field a 400 must name (if any). */
function badValues(schema: Schema, field: string): Array<[unknown, string | undefined]> {
  switch (schema.type) {
    case 'string':
      return BAD_STRINGS.map((s) => [s, field]);
    case 'integer':
    case 'number':
      return [[1e20, field], [JSON.parse(INFINITY), field], [-1, undefined], [1.5, undefined]];
    case 'boolean':
      return [['true', field]];
    case 'array':
      return [[BAD_STRINGS, undefined], [[JSON.parse(INFINITY)], undefined]];
    default:
      return [
        [{ nested: { list: ['fine', BAD_STRINGS[0]] } }, undefined],
        [{ ['key\u0000']: 1 }, undefined],
        [{ n: JSON.parse(INFINITY) }, undefined],
        [{ deep: JSON.parse(DEEP) }, undefined],
        ...BAD_STRINGS.map((s): [unknown, string | undefined] => [s, field]),
      ];
  }
}

function setAt(base: unknown, dotted: string, value: unknown): unknown {
  const root = structuredClone(base) as Record<string, unknown>;
  const keys = dotted.split('.');
  let at: Record<string, unknown> = root;
  for (const key of keys.slice(0, -1)) {
    const next = at[key];
    at[key] = next !== null && typeof next === 'object' ? next : {};
    at = at[key] as Record<string, unknown>;
  }
  at[keys[keys.length - 1] ?? ''] = value;
  return root;
}
