/**
 * The published JSON Schema (draft 2020-12) of a pipeline definition, served
 * at /v1/pipelines/schema.json. It says the shape; the rules it cannot say
 * (references, cycles, template reads) are in pipeline-definition-rules.ts.
 * Step variants are a `oneOf` keyed by `type` (ajv's `discriminator`, so an
 * error names the one variant that was meant).
 */

const id = { type: 'string', pattern: '^[a-z][a-z0-9-]{0,63}$' } as const;
const template = { type: 'string', maxLength: 32_768 } as const;
const positiveMs = { type: 'integer', minimum: 1, maximum: 86_400_000 } as const;
const ids = { type: 'array', items: id, maxItems: 100, uniqueItems: true } as const;

const retry = {
  type: 'object',
  additionalProperties: false,
  properties: {
    attempts: { type: 'integer', minimum: 1, maximum: 100 },
    backoffMs: { type: 'integer', minimum: 0, maximum: 3_600_000 },
    maxBackoffMs: { type: 'integer', minimum: 0, maximum: 86_400_000 },
    jitter: { enum: ['equal', 'full', 'none'] },
  },
} as const;

const onFailure = {
  oneOf: [
    { enum: ['fail', 'skip'] },
    { type: 'object', additionalProperties: false, required: ['goto'], properties: { goto: id } },
  ],
} as const;

/** Fields every step has; each variant lists them again because `additionalProperties` does not see through `allOf`. */
const common = {
  id,
  description: { type: 'string', maxLength: 2_000 },
  after: ids,
  retry: { $ref: '#/$defs/retry' },
  timeoutMs: positiveMs,
  onFailure: { $ref: '#/$defs/onFailure' },
  when: { $ref: '#/$defs/condition' },
} as const;

/** What a map sub-step may not have: it takes its id and dependencies from the map. */
const subCommon = { description: common.description, retry: common.retry, timeoutMs: common.timeoutMs, when: common.when } as const;

const fields = {
  llm: {
    required: ['prompt'],
    properties: {
      prompt: {
        type: 'object',
        additionalProperties: false,
        required: ['user'],
        properties: { system: template, user: template },
      },
      model: { type: 'string', minLength: 1, maxLength: 200 },
      maxTokens: { oneOf: [{ type: 'integer', minimum: 1, maximum: 131_072 }, { type: 'string', pattern: '^\\{\\{\\s*[A-Za-z0-9_.-]+\\s*\\}\\}$', maxLength: 500 }] },
      temperature: { type: 'number', minimum: 0, maximum: 2 },
      output: { type: 'object' },
      cite: { $ref: '#/$defs/path' },
    },
  },
  service: {
    required: ['queue'],
    properties: {
      queue: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,63}$' },
      input: {},
      heartbeatTimeoutMs: positiveMs,
      startToCloseMs: positiveMs,
    },
  },
  'document-write': {
    required: ['text'],
    properties: { docId: template, root: { type: 'string', minLength: 1, maxLength: 200, pattern: '^\\S+$' }, rootType: { type: 'string', maxLength: 200 }, text: template },
  },
  artifact: {
    required: ['name', 'body'],
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' },
      contentType: { type: 'string', minLength: 1, maxLength: 255 },
      body: {},
    },
  },
  'object-read': {
    required: ['key'],
    properties: { key: template, maxBytes: { type: 'integer', minimum: 1, maximum: 16_777_216 } },
  },
  emit: {
    required: ['event'],
    properties: { event: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,39}(\\.[a-z][a-z0-9-]{0,39}){1,4}$' }, data: {} },
  },
} as const;

type ActivityKind = keyof typeof fields;

function variant(type: string, required: readonly string[], properties: object, base: object): object {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['type', ...required],
    properties: { type: { const: type }, ...base, ...properties },
  };
}

function activityVariant(type: ActivityKind, base: object, withId: boolean): object {
  const f = fields[type];
  return variant(type, withId ? ['id', ...f.required] : f.required, f.properties, base);
}

const ACTIVITY_KINDS = Object.keys(fields) as ActivityKind[];

export const PIPELINE_DEFINITION_JSON_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://loom.invalid/v1/pipelines/schema.json',
  title: 'Loom pipeline definition',
  type: 'object',
  additionalProperties: false,
  required: ['kind', 'input', 'steps'],
  properties: {
    kind: { type: 'string', maxLength: 64, pattern: '^[a-z][a-z0-9-]*(\\.[a-z][a-z0-9-]*)+$' },
    description: { type: 'string', maxLength: 2_000 },
    input: { type: 'object' },
    defaults: {
      type: 'object',
      additionalProperties: false,
      properties: {
        model: { type: 'string', minLength: 1, maxLength: 200 },
        maxTokens: { type: 'integer', minimum: 1, maximum: 131_072 },
        temperature: { type: 'number', minimum: 0, maximum: 2 },
        retry: { $ref: '#/$defs/retry' },
        timeoutMs: positiveMs,
      },
    },
    steps: { type: 'array', minItems: 1, maxItems: 200, items: { $ref: '#/$defs/step' } },
    result: {},
  },
  $defs: {
    retry,
    onFailure,
    condition: {
      oneOf: [
        { type: 'object', additionalProperties: false, required: ['path', 'equals'], properties: { path: { $ref: '#/$defs/path' }, equals: {} } },
        { type: 'object', additionalProperties: false, required: ['path', 'exists'], properties: { path: { $ref: '#/$defs/path' }, exists: { type: 'boolean' } } },
        {
          type: 'object',
          additionalProperties: false,
          required: ['path', 'in'],
          properties: { path: { $ref: '#/$defs/path' }, in: { type: 'array', maxItems: 100 } },
        },
        { type: 'object', additionalProperties: false, required: ['not'], properties: { not: { $ref: '#/$defs/condition' } } },
        { type: 'object', additionalProperties: false, required: ['all'], properties: { all: { type: 'array', minItems: 1, maxItems: 20, items: { $ref: '#/$defs/condition' } } } },
        { type: 'object', additionalProperties: false, required: ['any'], properties: { any: { type: 'array', minItems: 1, maxItems: 20, items: { $ref: '#/$defs/condition' } } } },
      ],
    },
    path: { type: 'string', pattern: '^(input|steps|item|index|revision|failure|job)(\\.[A-Za-z0-9_-]+)*$', maxLength: 500 },
    step: {
      type: 'object',
      required: ['type'],
      discriminator: { propertyName: 'type' },
      oneOf: [
        ...ACTIVITY_KINDS.map((k) => ({ $ref: `#/$defs/${k}` })),
        { $ref: '#/$defs/approval' },
        { $ref: '#/$defs/map' },
        { $ref: '#/$defs/choice' },
        { $ref: '#/$defs/loop' },
      ],
    },
    ...Object.fromEntries(ACTIVITY_KINDS.map((k) => [k, activityVariant(k, common, true)])),
    approval: variant(
      'approval',
      ['id'],
      { revision: { type: 'object', additionalProperties: false, required: ['reenterAt'], properties: { reenterAt: id } } },
      common,
    ),
    map: variant(
      'map',
      ['id', 'over', 'step'],
      {
        over: { $ref: '#/$defs/path' },
        by: { $ref: '#/$defs/path' },
        maxParallel: { type: 'integer', minimum: 1, maximum: 100 },
        collect: {},
        step: { $ref: '#/$defs/sub-step' },
        then: { $ref: '#/$defs/sub-step' },
      },
      common,
    ),
    'sub-step': { type: 'object', required: ['type'], discriminator: { propertyName: 'type' }, oneOf: ACTIVITY_KINDS.map((k) => ({ $ref: `#/$defs/sub-${k}` })) },
    ...Object.fromEntries(ACTIVITY_KINDS.map((k) => [`sub-${k}`, activityVariant(k, subCommon, false)])),
    choice: variant(
      'choice',
      ['id', 'branches'],
      {
        branches: {
          type: 'array',
          minItems: 1,
          maxItems: 20,
          items: { type: 'object', additionalProperties: false, required: ['when', 'next'], properties: { when: { $ref: '#/$defs/condition' }, next: ids } },
        },
        default: ids,
      },
      common,
    ),
    loop: variant(
      'loop',
      ['id', 'steps', 'maxIterations'],
      {
        steps: {
          type: 'array',
          minItems: 1,
          maxItems: 50,
          items: { type: 'object', required: ['type'], discriminator: { propertyName: 'type' }, oneOf: ACTIVITY_KINDS.map((k) => ({ $ref: `#/$defs/${k}` })) },
        },
        until: { $ref: '#/$defs/condition' },
        maxIterations: { type: 'integer', minimum: 1, maximum: 20 },
      },
      common,
    ),
  },
} as const;
