/**
 * The request and response schemas of /v1/pipelines (pipelines.ts), which
 * /openapi.json publishes. A definition's own layout is the JSON Schema at
 * /v1/pipelines/schema.json (protocol/pipeline-definition.ts), checked by
 * the registry, not by these.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { JSONValue } from 'hono/utils/types';
import { JOB_KIND_PATTERN } from '../../../protocol/job.ts';
import { errorResponses, jsonContent, SECURITY } from '../router.ts';
import { PG_INT_MAX, queryInt, safeText } from '../safe-text.ts';

const TAGS = ['pipelines'];

const kindParam = safeText()
  .min(1)
  .max(64)
  .regex(JOB_KIND_PATTERN, 'must be a dotted lowercase kind such as acme.discovery')
  .openapi({ description: 'Pipeline kind', example: 'acme.discovery' });

const summarySchema = z
  .object({
    kind: z.string(),
    version: z.number().int().nullable().openapi({ description: 'From 1 per kind; null for built-ins, which change only with Loom' }),
    builtin: z.boolean(),
    description: z.string().nullable(),
    createdAt: z.string().nullable().openapi({ description: 'When this version was registered; null for built-ins' }),
  })
  .openapi('PipelineSummary');

/** Typed as JSON (what the registry stores and returns), so hono's typed responses accept it. */
const definitionSchema = z.record(z.unknown()).openapi('PipelineDefinition', {
  description: 'A pipeline definition: its JSON Schema is served at /v1/pipelines/schema.json',
  example: { kind: 'acme.summary', input: { type: 'object', required: ['text'], properties: { text: { type: 'string' } } }, steps: [{ id: 'summary', type: 'llm', prompt: { user: 'Summarise: {{input.text}}' } }] },
}) as unknown as z.ZodType<Record<string, JSONValue>>;

export const pipelineSchema = summarySchema
  .extend({ definition: definitionSchema })
  .openapi('Pipeline');

export const schemaRouteDef = createRoute({
  method: 'get',
  path: '/schema.json',
  tags: TAGS,
  summary: 'The JSON Schema (draft 2020-12) of a pipeline definition',
  responses: { 200: jsonContent(z.record(z.unknown()).openapi('PipelineDefinitionSchema') as unknown as z.ZodType<Record<string, JSONValue>>, 'The JSON Schema') },
});

export const putRouteDef = createRoute({
  method: 'put',
  path: '/{kind}',
  tags: TAGS,
  summary: 'Register a new version of one of your pipeline kinds',
  description:
    'The body is a definition as JSON, or as YAML with `Content-Type: application/yaml` (or `text/yaml`). Each call stores a new immutable version (1, 2, …); ' +
    'jobs started later run it, jobs already running keep theirs. A body without `kind` takes the path’s. ' +
    'A definition breaking a rule gets `400 invalid-definition` with `error.errors` listing every fault as `{path, message}` (JSON pointers into the definition). ' +
    'Built-in kinds cannot be registered (`409 builtin-kind`). Needs the `pipelines:write` scope.',
  security: SECURITY,
  request: {
    params: z.object({ kind: kindParam }),
    body: {
      content: {
        'application/json': { schema: definitionSchema },
        'application/yaml': { schema: z.string().openapi({ description: 'The definition as one YAML document' }) },
        'text/yaml': { schema: z.string().openapi({ description: 'The definition as one YAML document' }) },
      },
      required: false,
    },
  },
  responses: { 201: jsonContent(pipelineSchema, 'The new version'), ...errorResponses(400, 401, 403, 409, 413, 415, 429, 503) },
});

export const listRouteDef = createRoute({
  method: 'get',
  path: '/',
  tags: TAGS,
  summary: 'The built-in pipelines and yours (newest versions), by kind',
  security: SECURITY,
  request: {
    query: z.object({
      limit: queryInt({ min: 1, max: 100 }).default(50),
      cursor: safeText().min(1).max(200).optional().openapi({ description: 'nextCursor of the previous page' }),
    }),
  },
  responses: {
    200: jsonContent(z.object({ pipelines: z.array(summarySchema), nextCursor: z.string().nullable() }).openapi('PipelinePage'), 'A page of pipelines'),
    ...errorResponses(400, 401, 503),
  },
});

export const getRouteDef = createRoute({
  method: 'get',
  path: '/{kind}',
  tags: TAGS,
  summary: 'A pipeline’s newest version (a built-in, or one of yours)',
  security: SECURITY,
  request: { params: z.object({ kind: kindParam }) },
  responses: { 200: jsonContent(pipelineSchema, 'The pipeline'), ...errorResponses(400, 401, 404, 503) },
});

export const getVersionRouteDef = createRoute({
  method: 'get',
  path: '/{kind}/versions/{version}',
  tags: TAGS,
  summary: 'One registered version of one of your pipelines',
  security: SECURITY,
  request: { params: z.object({ kind: kindParam, version: queryInt({ min: 1, max: PG_INT_MAX }).openapi({ description: 'Version number, from 1', example: 1 }) }) },
  responses: { 200: jsonContent(pipelineSchema, 'That version'), ...errorResponses(400, 401, 404, 503) },
});
