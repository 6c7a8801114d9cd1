/**
 * /v1/docs/:id/attribution and /v1/docs/:id/revert: who wrote which text
 * (people, jobs, agent sessions), and undoing one job's or agent session's
 * edits as a new version that keeps everyone else's. Checks live in
 * DocumentAttribution; this file maps HTTP to it.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { isAuthor, isRevertable, parseAuthor } from '../../../protocol/attribution.ts';
import { parseActorId } from '../../../protocol/ids.ts';
import type { AuthEnv, Principal } from '../../auth/principal.ts';
import type { DocumentAttribution } from '../../documents/document-attribution.ts';
import { createRouter, errorResponses, jsonContent, SECURITY, type Router } from '../router.ts';
import { docParams } from './doc-schemas.ts';

const authorSchema = z.string().openapi({ description: 'user:<id>, job:<id>, agent:<id>, or unknown (written without attribution)', example: 'job:job_4k2x' });
const attributionSchema = z
  .object({
    id: z.string(),
    seq: z.number().int().nonnegative().openapi({ description: 'Log sequence the attribution reflects' }),
    roots: z.record(
      z.object({
        type: z.enum(['text', 'xml']),
        spans: z.array(z.object({ text: z.string(), author: authorSchema })).openapi({ description: "The root's text in order; the texts concatenated equal the root's text" }),
      }),
    ),
  })
  .openapi('DocumentAttribution');
const revertBodySchema = z
  .object({
    origin: z
      .string()
      .max(300)
      .refine((s) => isAuthor(s) && isRevertable(parseAuthor(s)), 'must be job:<id> or agent:<id>')
      .openapi({ description: 'The job or agent session whose edits are undone', example: 'agent:ses_7h3k' }),
  })
  .strict()
  .openapi('RevertRequest');
const revertedSchema = z
  .object({
    seq: z.number().int().nonnegative().openapi({ description: 'Log sequence of the reverting update (the current one when nothing changed)' }),
    origin: z.string(),
    changed: z.boolean().openapi({ description: 'false when the origin left nothing to revert' }),
    removed: z.number().int().nonnegative().openapi({ description: "Characters (or other items) of the origin's that were removed" }),
    restored: z.number().int().nonnegative().openapi({ description: 'Characters (or other items) the origin had deleted that came back' }),
    undoSeq: z.number().int().positive().nullable().openapi({ description: 'Snapshot holding the content just before the revert: restore it to undo the revert' }),
  })
  .openapi('RevertResult');

/** The attribution routes, mounted under /v1/docs. */
export function docAttributionRoutes(deps: { attribution: DocumentAttribution; membersOnly: boolean; authenticate: MiddlewareHandler<AuthEnv> }): Router {
  const { attribution } = deps;
  const router = createRouter();
  // In `open` access mode reads need no credentials, as content reads (Config.docAccess).
  const readAuth = deps.membersOnly ? { security: SECURITY, middleware: [deps.authenticate] } : {};
  const readPrincipal = (c: { get(key: 'principal'): Principal }): Principal | null => (deps.membersOnly ? c.get('principal') : null);

  router.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/attribution',
      tags: ['docs'],
      summary: "Who wrote which text: each text root's text as spans with their authors (members)",
      ...readAuth,
      request: { params: docParams },
      responses: { 200: jsonContent(attributionSchema, 'The attributed text'), ...errorResponses(400, 401, 403, 404, 413, 429, 503) },
    }),
    async (c) => {
      const reply = await attribution.attribution(readPrincipal(c), parseActorId(c.req.valid('param').id));
      return c.json(reply, 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/revert',
      tags: ['docs'],
      summary: "Undo a job's or agent session's edits as a new version, keeping everyone else's (editors and owners)",
      security: SECURITY,
      middleware: [deps.authenticate],
      request: { params: docParams, body: { required: true, content: { 'application/json': { schema: revertBodySchema } } } },
      responses: { 200: jsonContent(revertedSchema, 'Reverted'), ...errorResponses(400, 401, 403, 404, 413, 429, 503) },
    }),
    async (c) => {
      const reverted = await attribution.revert({ principal: c.get('principal'), ip: c.get('clientIp') }, parseActorId(c.req.valid('param').id), parseAuthor(c.req.valid('json').origin));
      return c.json(reverted, 200);
    },
  );

  return router;
}
