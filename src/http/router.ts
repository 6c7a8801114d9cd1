/**
 * How every Loom resource router is built, so that one set of zod schemas
 * both validates requests and describes them in `/openapi.json`:
 *
 * - {@link createRouter} returns an `OpenAPIHono` whose validation failures
 *   become `400 invalid-request` errors naming the field. Build routers with
 *   it (not `new OpenAPIHono()`): zod-openapi fixes a route's validation hook
 *   when the route is registered, so the hook cannot be added at mount time.
 * - {@link errorResponses} declares the error statuses a route may answer
 *   with, all with the shared {@link errorBodySchema}.
 * - {@link SECURITY} marks a route as needing credentials in the document.
 *
 * @example
 *   const router = createRouter();
 *   router.openapi(createRoute({ method: 'get', path: '/{id}', security: SECURITY,
 *     request: { params: z.object({ id: z.string() }) },
 *     responses: { 200: jsonContent(thingSchema, 'The thing'), ...errorResponses(401, 404) } }),
 *     (c) => c.json(load(c.req.valid('param').id), 200));
 */
import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { AuthEnv } from '../auth/principal.ts';
import type { ZodError, ZodIssue, ZodTypeAny } from 'zod';
import { HttpError, type HttpErrorStatus } from './errors.ts';

/** The error body every failing Loom route returns. */
export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'invalid-request', description: 'Stable machine-readable code' }),
      message: z.string().openapi({ description: 'Human-readable explanation' }),
      field: z.string().optional().openapi({ example: 'email', description: 'The request field at fault (400s)' }),
      errors: z
        .array(z.object({ path: z.string(), message: z.string() }))
        .optional()
        .openapi({ description: 'Every fault of a document with several (a pipeline definition): JSON-pointer path and message each' }),
    }),
  })
  .openapi('Error');

const ERROR_DESCRIPTIONS: Record<HttpErrorStatus, string> = {
  400: 'Invalid request: `field` names the offending field',
  401: 'Missing, invalid or expired credentials',
  403: 'Authenticated, but not allowed (role or API key scope)',
  404: 'No such resource, or not visible to the caller',
  409: 'Conflicts with existing state',
  413: 'Too large: the request body, or the answer for one message (`reply-too-large`)',
  415: 'Unsupported media type',
  422: 'Well-formed but refused',
  429: 'Rate limited; retry after `Retry-After` seconds',
  500: 'Internal error',
  503: 'A dependency is unavailable',
};

type ErrorResponse = { description: string; content: { 'application/json': { schema: typeof errorBodySchema } } };

/** OpenAPI response entries for the given error statuses, all with {@link errorBodySchema}. */
export function errorResponses<S extends HttpErrorStatus>(...statuses: S[]): Record<S, ErrorResponse> {
  const out = {} as Record<S, ErrorResponse>;
  for (const status of statuses) {
    out[status] = { description: ERROR_DESCRIPTIONS[status], content: { 'application/json': { schema: errorBodySchema } } };
  }
  return out;
}

/** A JSON response (or request body) entry for a route definition. */
export function jsonContent<T extends ZodTypeAny>(schema: T, description: string): { description: string; content: { 'application/json': { schema: T } } } {
  return { description, content: { 'application/json': { schema } } };
}

/** Security requirement of authenticated routes: a bearer token (JWT or `loom_` API key) or `X-Api-Key`. */
export const SECURITY: Array<Record<string, string[]>> = [{ bearerAuth: [] }, { apiKeyHeader: [] }];

/** The security schemes {@link SECURITY} refers to; the app registers them once. */
export const SECURITY_SCHEMES = {
  bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT access token, or an API key starting with loom_' },
  apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-Api-Key' },
} as const;

const TARGET_NAMES: Record<string, string> = { json: 'body', form: 'body', query: 'query', param: 'path', header: 'headers', cookie: 'cookies' };

/** The dotted path of the field an issue is about; for unknown keys, the first unknown key. */
function fieldOf(issue: ZodIssue | undefined, target: string): string {
  if (issue === undefined) return TARGET_NAMES[target] ?? target;
  const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0] ?? ''] : issue.path;
  return path.length > 0 ? path.join('.') : (TARGET_NAMES[target] ?? target);
}

/**
 * zod-openapi validation hook: throws a 400 `invalid-request` HttpError naming
 * the first offending field (the app's error handler renders it).
 * @throws HttpError on every failed validation.
 */
export function validationHook(result: { target: string; success: boolean; error?: ZodError }): void {
  if (result.success || result.error === undefined) return;
  const issue = result.error.issues[0];
  const field = fieldOf(issue, result.target);
  const message = issue?.code === 'unrecognized_keys' ? `unknown field ${field}` : `${field}: ${issue?.message ?? 'invalid'}`;
  throw new HttpError(400, 'invalid-request', message, { field });
}

/**
 * What createApp mounts. Every router shares the {@link AuthEnv} environment
 * (`principal` after authMiddleware, `clientIp` always), so routers of
 * different teams mount side by side. Return the router variable itself,
 * not the value `.openapi()` returns (that one carries route types that make
 * it incompatible with this type).
 */
export type Router = OpenAPIHono<AuthEnv>;

/** A resource router whose request validation fails with Loom's 400 error body. */
export function createRouter(): Router {
  return new OpenAPIHono<AuthEnv>({ defaultHook: validationHook });
}
