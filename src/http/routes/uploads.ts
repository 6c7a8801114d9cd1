/**
 * POST /v1/uploads and GET /v1/uploads/{id}: files for job inputs. POST
 * records the upload and answers with a presigned PUT (S3) or a signed
 * gateway URL (filesystem store) bound to the declared content type and
 * size; GET reports pending/complete/rejected and, once complete, a download
 * URL. Requires a principal with the `jobs:run` scope.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { hasScope, type AuthEnv, type Principal } from '../../auth/principal.ts';
import { ALLOWED_UPLOAD_TYPES } from '../../uploads/content-types.ts';
import { isValidFilename, type UploadService, type UploadView } from '../../uploads/upload-service.ts';
import { HttpError } from '../errors.ts';
import { createRouter, errorResponses, jsonContent, SECURITY, type Router } from '../router.ts';
import { safeText } from '../safe-text.ts';

/** What {@link uploadsRoutes} needs. */
export interface UploadsRoutesDeps {
  readonly uploads: UploadService;
  /** Requires credentials and sets `principal` (auth.middleware); absent when the app applies it. */
  readonly auth?: MiddlewareHandler<AuthEnv>;
  /** Who is calling. Default: `c.get('principal')`. Undefined means unauthenticated (401). */
  readonly getPrincipal?: (c: Context<AuthEnv>) => Principal | undefined;
}

const newUploadSchema = z
  .object({
    filename: safeText().refine(isValidFilename, '1-255 characters, no control characters or slashes').openapi({ example: 'interview.mp3' }),
    contentType: safeText().min(3).max(255).openapi({ example: 'audio/mpeg', description: `One of: ${ALLOWED_UPLOAD_TYPES.join(', ')}` }),
    size: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).openapi({ example: 4_200_000, description: 'Exact size in bytes (at most LOOM_UPLOAD_MAX_BYTES)' }),
  })
  .strict()
  .openapi('NewUpload');

const presignedSchema = z
  .object({
    url: z.string().url(),
    method: z.enum(['GET', 'PUT']),
    headers: z.record(z.string(), z.string()).openapi({ description: 'Send exactly these headers' }),
  })
  .openapi('PresignedRequest');

const createdSchema = z
  .object({ uploadId: z.string().uuid(), objectKey: z.string(), put: presignedSchema, expiresAt: z.string().datetime() })
  .openapi('CreatedUpload');

const uploadSchema = z
  .object({
    uploadId: z.string().uuid(),
    objectKey: z.string(),
    filename: z.string(),
    contentType: z.string(),
    size: z.number().int(),
    status: z.enum(['pending', 'complete', 'rejected']),
    rejection: z.string().nullable(),
    createdAt: z.string().datetime(),
    expiresAt: z.string().datetime(),
    completedAt: z.string().datetime().nullable(),
    download: z.object({ url: z.string().url(), expiresAt: z.string().datetime() }).nullable(),
  })
  .openapi('Upload');

const createUploadRoute = createRoute({
  method: 'post',
  path: '/',
  tags: ['uploads'],
  summary: 'Start an upload: get a URL to PUT the file to',
  security: SECURITY,
  request: { body: { content: { 'application/json': { schema: newUploadSchema } }, required: true } },
  responses: { 201: jsonContent(createdSchema, 'Upload recorded; PUT the file to `put.url`'), ...errorResponses(400, 401, 403, 413, 415) },
});

const getUploadRoute = createRoute({
  method: 'get',
  path: '/{id}',
  tags: ['uploads'],
  summary: 'An upload: its state and, once complete, a download URL',
  security: SECURITY,
  request: { params: z.object({ id: z.string().uuid().openapi({ param: { name: 'id', in: 'path' } }) }) },
  responses: { 200: jsonContent(uploadSchema, 'The upload'), ...errorResponses(400, 401, 403, 404) },
});

/** The uploads router, to mount at /v1/uploads. */
export function uploadsRoutes(deps: UploadsRoutesDeps): Router {
  const router = createRouter();
  if (deps.auth !== undefined) router.use('*', deps.auth);
  const principalOf = (c: Context<AuthEnv>): Principal => {
    const principal = deps.getPrincipal === undefined ? (c.get('principal') as Principal | undefined) : deps.getPrincipal(c);
    if (principal === undefined) throw new HttpError(401, 'unauthenticated', 'credentials required: Authorization: Bearer <token> or X-Api-Key');
    if (!hasScope(principal, 'jobs:run')) throw new HttpError(403, 'insufficient-scope', 'uploads need the jobs:run scope');
    return principal;
  };

  router.openapi(createUploadRoute, async (c) => {
    const created = await deps.uploads.create(principalOf(c), c.req.valid('json'));
    return c.json({ ...created, put: { ...created.put }, expiresAt: created.expiresAt.toISOString() }, 201);
  });

  router.openapi(getUploadRoute, async (c) => {
    const view = await deps.uploads.get(principalOf(c), c.req.valid('param').id);
    return c.json(toJson(view), 200);
  });

  return router;
}

function toJson(view: UploadView) {
  return {
    ...view,
    createdAt: view.createdAt.toISOString(),
    expiresAt: view.expiresAt.toISOString(),
    completedAt: view.completedAt?.toISOString() ?? null,
    download: view.download === null ? null : { url: view.download.url, expiresAt: view.download.expiresAt.toISOString() },
  };
}
