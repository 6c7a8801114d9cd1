/**
 * /v1/pipelines: register versions of your own pipeline definitions (JSON
 * or YAML), read them and the built-ins, and fetch the definition JSON
 * Schema. Kinds belong to their owner: anyone else gets 404, as if the kind
 * did not exist. Schemas and route definitions: pipeline-schemas.ts.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { JSONValue } from 'hono/utils/types';
import { bodyLimit } from 'hono/body-limit';
import { AuthError } from '../../auth/index.ts';
import type { AuthEnv, Principal } from '../../auth/principal.ts';
import { InvalidInputError } from '../../errors/index.ts';
import { JOB_KIND_PATTERN } from '../../../protocol/job.ts';
import { MAX_PIPELINE_DEFINITION_BYTES, PIPELINE_DEFINITION_JSON_SCHEMA } from '../../../protocol/pipeline-definition.ts';
import { isYamlMediaType, parseDefinitionBody, PipelineError, type PipelineRecord, type PipelineService } from '../../pipelines/index.ts';
import { createRouter, type Router } from '../router.ts';
import { findUnsafeJson } from '../safe-text.ts';
import { getRouteDef, getVersionRouteDef, listRouteDef, putRouteDef, schemaRouteDef } from './pipeline-schemas.ts';

export interface PipelinesRoutesDeps {
  readonly pipelines: PipelineService;
  /** The caller (set by the auth middleware in production; tests supply their own). */
  readonly getPrincipal: (c: Context<AuthEnv>) => Principal;
  /** Runs before every route but the public schema (authentication). */
  readonly middleware?: MiddlewareHandler<AuthEnv>;
}

const JSON_MEDIA_TYPE = /^\s*application\/([\w.+-]*\+)?json\s*(;|$)/i;

/** Any body over the definition bound is refused before it is read whole, whatever its type. */
const limitDefinitionBody = bodyLimit({
  maxSize: MAX_PIPELINE_DEFINITION_BYTES,
  onError: () => {
    throw new PipelineError('definition-too-large', `a definition is at most ${MAX_PIPELINE_DEFINITION_BYTES} bytes`, { field: 'body' });
  },
});

function wire(p: PipelineRecord) {
  // A definition is JSON: it was parsed from JSON or YAML and checked by findUnsafeJson before it was stored.
  const definition = p.definition as unknown as Record<string, JSONValue>;
  return { kind: p.kind, version: p.version, builtin: p.builtin, description: p.description, createdAt: p.createdAt?.toISOString() ?? null, definition };
}

/** Opaque page cursors: the last kind of the previous page. */
function encodeKindCursor(kind: string): string {
  return Buffer.from(kind, 'utf8').toString('base64url');
}

function decodeKindCursor(raw: string): string {
  const kind = Buffer.from(raw, 'base64url').toString('utf8');
  if (!JOB_KIND_PATTERN.test(kind) || kind.length > 64) throw new InvalidInputError('cursor', 'not a cursor this API returned');
  return kind;
}

/** The definition a PUT carries: JSON (the default) or YAML, as a plain object PostgreSQL can store. */
async function readDefinition(c: Context): Promise<Record<string, unknown>> {
  const type = c.req.header('content-type');
  const yaml = isYamlMediaType(type);
  if (!yaml && type !== undefined && type.trim() !== '' && !JSON_MEDIA_TYPE.test(type)) {
    throw new PipelineError('unsupported-media-type', 'send the definition as application/json or application/yaml', { field: 'content-type' });
  }
  const definition = parseDefinitionBody(await c.req.text(), yaml);
  const unsafe = findUnsafeJson(definition);
  if (unsafe !== null) {
    const path = unsafe.path.map(String);
    throw new PipelineError('invalid-definition', `/${path.join('/')}: ${unsafe.message}`, { field: path.join('.'), problems: [{ path: `/${path.join('/')}`, message: unsafe.message }] });
  }
  return definition;
}

/** The pipelines router, to mount at /v1/pipelines. */
export function pipelinesRoutes(deps: PipelinesRoutesDeps): Router {
  const router = createRouter();

  // Public, like any published schema: registered before the authentication below.
  router.openapi(schemaRouteDef, (c) => c.json(PIPELINE_DEFINITION_JSON_SCHEMA as unknown as Record<string, JSONValue>, 200));

  if (deps.middleware !== undefined) router.use('*', deps.middleware);

  router.use('/:kind', async (c, next) => (c.req.method === 'PUT' ? limitDefinitionBody(c, next) : next()));

  router.openapi(putRouteDef, async (c) => {
    const principal = deps.getPrincipal(c);
    if (!principal.scopes.has('pipelines:write')) throw new AuthError('insufficient-scope', 'this API key lacks the pipelines:write scope');
    const { kind } = c.req.valid('param');
    const created = await deps.pipelines.register(principal.userId, kind, await readDefinition(c));
    c.header('Location', `/v1/pipelines/${encodeURIComponent(kind)}/versions/${created.version ?? ''}`);
    return c.json(wire(created), 201);
  });

  router.openapi(listRouteDef, async (c) => {
    const principal = deps.getPrincipal(c);
    const q = c.req.valid('query');
    const page = await deps.pipelines.list(principal.userId, { limit: q.limit, after: q.cursor === undefined ? undefined : decodeKindCursor(q.cursor) });
    const pipelines = page.items.map((p) => {
      const { definition: _omitted, ...summary } = wire(p);
      return summary;
    });
    return c.json({ pipelines, nextCursor: page.nextAfter === null ? null : encodeKindCursor(page.nextAfter) }, 200);
  });

  router.openapi(getRouteDef, async (c) => {
    const principal = deps.getPrincipal(c);
    return c.json(wire(await deps.pipelines.latest(principal.userId, c.req.valid('param').kind)), 200);
  });

  router.openapi(getVersionRouteDef, async (c) => {
    const principal = deps.getPrincipal(c);
    const { kind, version } = c.req.valid('param');
    return c.json(wire(await deps.pipelines.version(principal.userId, kind, version)), 200);
  });

  return router;
}
