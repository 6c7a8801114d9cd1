/**
 * /v1/webhooks: a user's webhook endpoints (the signing secret is in the
 * creation and rotation responses only), test events, the delivery log and
 * replays. Every route needs the `webhooks:write` scope; another user's
 * endpoint answers 404, as if absent.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { requireScope } from '../../auth/index.ts';
import type { AuthEnv } from '../../auth/principal.ts';
import { WEBHOOK_DELIVERY_STATUSES } from '../../storage/postgres/webhooks-schema.ts';
import type { WebhookDelivery, WebhookEndpoint, WebhookService } from '../../webhooks/index.ts';
import { MAX_EVENT_PATTERNS, MAX_URL_CHARS } from '../../webhooks/index.ts';
import { createRouter, errorResponses, jsonContent, SECURITY, type Router } from '../router.ts';
import { queryInt, safeText } from '../safe-text.ts';

const TAGS = ['webhooks'];
const urlField = safeText().min(1).max(MAX_URL_CHARS).openapi({ example: 'https://hooks.example.com/loom' });
const eventsField = z
  .array(safeText().min(1).max(200))
  .min(1)
  .max(MAX_EVENT_PATTERNS)
  .openapi({ example: ['job.*', 'discovery.completed'], description: 'Event types, or `prefix.*` for every type one token below prefix' });
const descriptionField = safeText().max(500);

const createSchema = z.object({ url: urlField, events: eventsField, description: descriptionField.optional() }).strict().openapi('CreateWebhook');
const patchSchema = z
  .object({ url: urlField.optional(), events: eventsField.optional(), description: descriptionField.optional(), enabled: z.boolean().optional() })
  .strict()
  .openapi('UpdateWebhook');

const endpointSchema = z
  .object({
    id: z.string().uuid(),
    url: z.string(),
    events: z.array(z.string()),
    description: z.string().nullable(),
    enabled: z.boolean(),
    disabledReason: z.string().nullable(),
    failingSince: z.string().datetime().nullable(),
    createdAt: z.string().datetime(),
    updatedAt: z.string().datetime(),
  })
  .openapi('Webhook');
const createdSchema = z
  .object({ endpoint: endpointSchema, secret: z.string().openapi({ description: 'The signing secret (`whsec_…`): shown only here' }) })
  .openapi('CreatedWebhook');
const rotatedSchema = z
  .object({ secret: z.string().openapi({ description: 'The new secret: shown only here' }), previousSecretExpiresAt: z.string().datetime() })
  .openapi('RotatedWebhookSecret');
const attemptSchema = z.object({ at: z.string(), responseStatus: z.number().int().nullable(), latencyMs: z.number().int(), error: z.string().nullable() });
const deliverySchema = z
  .object({
    id: z.string().uuid(),
    eventId: z.string().openapi({ description: 'The `webhook-id` of every attempt' }),
    eventType: z.string(),
    status: z.enum(WEBHOOK_DELIVERY_STATUSES).openapi({ description: '`failed`: the retry schedule ran out (dead letter)' }),
    attempts: z.number().int(),
    lastResponseStatus: z.number().int().nullable(),
    lastLatencyMs: z.number().int().nullable(),
    lastError: z.string().nullable(),
    nextAttemptAt: z.string().datetime().nullable(),
    createdAt: z.string().datetime(),
    deliveredAt: z.string().datetime().nullable(),
    attemptLog: z.array(attemptSchema).openapi({ description: 'The newest attempts, oldest first' }),
  })
  .openapi('WebhookDelivery');
const idParams = z.object({ id: z.string().uuid().openapi({ param: { name: 'id', in: 'path' } }) });
const deliveryParams = idParams.extend({ deliveryId: z.string().uuid().openapi({ param: { name: 'deliveryId', in: 'path' } }) });
const deliveriesQuery = z.object({
  limit: queryInt({ min: 1, max: 200 }).default(50),
  status: z.enum(WEBHOOK_DELIVERY_STATUSES).optional(),
  before: z.string().uuid().optional().openapi({ description: 'Cursor: nextBefore of the previous page' }),
});

const iso = (d: Date | null) => d?.toISOString() ?? null;
const endpointJson = (e: WebhookEndpoint) => ({
  id: e.id,
  url: e.url,
  events: [...e.events],
  description: e.description,
  enabled: e.status === 'enabled',
  disabledReason: e.disabledReason,
  failingSince: iso(e.failingSince),
  createdAt: e.createdAt.toISOString(),
  updatedAt: e.updatedAt.toISOString(),
});
const deliveryJson = (d: WebhookDelivery) => ({
  id: d.id,
  eventId: d.eventId,
  eventType: d.eventType,
  status: d.status,
  attempts: d.attempts,
  lastResponseStatus: d.lastResponseStatus,
  lastLatencyMs: d.lastLatencyMs,
  lastError: d.lastError,
  nextAttemptAt: d.status === 'pending' ? iso(d.nextAttemptAt) : null,
  createdAt: d.createdAt.toISOString(),
  deliveredAt: iso(d.deliveredAt),
  attemptLog: [...d.attemptLog],
});

/** The /v1/webhooks router. */
export function webhooksRoutes(opts: { service: WebhookService; authenticate: MiddlewareHandler<AuthEnv> }): Router {
  const { service } = opts;
  const router = createRouter();
  const middleware = [opts.authenticate, requireScope('webhooks:write')];
  const route = <R extends Parameters<typeof createRoute>[0]>(r: R) => createRoute({ ...r, tags: TAGS, security: SECURITY, middleware });

  router.openapi(
    route({
      method: 'post',
      path: '/',
      summary: 'Subscribe an endpoint to events (the secret is returned once)',
      request: { body: { required: true, content: { 'application/json': { schema: createSchema } } } },
      responses: { 201: jsonContent(createdSchema, 'Created'), ...errorResponses(400, 401, 403, 409, 413, 429) },
    }),
    async (c) => {
      const created = await service.create(c.get('principal'), c.req.valid('json'));
      return c.json({ endpoint: endpointJson(created.endpoint), secret: created.secret }, 201);
    },
  );

  router.openapi(
    route({ method: 'get', path: '/', summary: "The caller's webhook endpoints", responses: { 200: jsonContent(z.object({ endpoints: z.array(endpointSchema) }).openapi('WebhookList'), 'Newest first'), ...errorResponses(401, 403, 429) } }),
    async (c) => c.json({ endpoints: (await service.list(c.get('principal'))).map(endpointJson) }, 200),
  );

  router.openapi(
    route({ method: 'get', path: '/{id}', summary: 'One webhook endpoint', request: { params: idParams }, responses: { 200: jsonContent(endpointSchema, 'The endpoint'), ...errorResponses(400, 401, 403, 404, 429) } }),
    async (c) => c.json(endpointJson(await service.get(c.get('principal'), c.req.valid('param').id)), 200),
  );

  router.openapi(
    route({
      method: 'patch',
      path: '/{id}',
      summary: 'Change the URL, events or description; enabled: true re-enables a disabled endpoint',
      request: { params: idParams, body: { required: true, content: { 'application/json': { schema: patchSchema } } } },
      responses: { 200: jsonContent(endpointSchema, 'The endpoint'), ...errorResponses(400, 401, 403, 404, 413, 429) },
    }),
    async (c) => c.json(endpointJson(await service.update(c.get('principal'), c.req.valid('param').id, c.req.valid('json'))), 200),
  );

  router.openapi(
    route({ method: 'delete', path: '/{id}', summary: 'Delete an endpoint and its delivery log', request: { params: idParams }, responses: { 204: { description: 'Deleted' }, ...errorResponses(400, 401, 403, 404, 429) } }),
    async (c) => {
      await service.delete(c.get('principal'), c.req.valid('param').id);
      return c.body(null, 204);
    },
  );

  router.openapi(
    route({
      method: 'post',
      path: '/{id}/rotate-secret',
      summary: 'A new signing secret; the old one keeps signing beside it for LOOM_WEBHOOK_ROTATION_OVERLAP_MS',
      request: { params: idParams },
      responses: { 200: jsonContent(rotatedSchema, 'The new secret'), ...errorResponses(400, 401, 403, 404, 429) },
    }),
    async (c) => {
      const rotated = await service.rotateSecret(c.get('principal'), c.req.valid('param').id);
      return c.json({ secret: rotated.secret, previousSecretExpiresAt: rotated.previousSecretExpiresAt.toISOString() }, 200);
    },
  );

  router.openapi(
    route({
      method: 'post',
      path: '/{id}/test',
      summary: 'Send a webhook.test event to this endpoint',
      request: { params: idParams },
      responses: { 202: jsonContent(deliverySchema, 'Queued'), ...errorResponses(400, 401, 403, 404, 429) },
    }),
    async (c) => c.json(deliveryJson(await service.sendTest(c.get('principal'), c.req.valid('param').id)), 202),
  );

  router.openapi(
    route({
      method: 'get',
      path: '/{id}/deliveries',
      summary: "The endpoint's deliveries, newest first (status=failed: the dead letters)",
      request: { params: idParams, query: deliveriesQuery },
      responses: {
        200: jsonContent(z.object({ deliveries: z.array(deliverySchema), nextBefore: z.string().uuid().nullable() }).openapi('WebhookDeliveryList'), 'One page'),
        ...errorResponses(400, 401, 403, 404, 429),
      },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const page = await service.deliveries(c.get('principal'), c.req.valid('param').id, query);
      const last = page[page.length - 1];
      return c.json({ deliveries: page.map(deliveryJson), nextBefore: page.length === query.limit && last !== undefined ? last.id : null }, 200);
    },
  );

  router.openapi(
    route({
      method: 'post',
      path: '/{id}/deliveries/{deliveryId}/replay',
      summary: 'Send a delivery again now, with the same webhook-id; its retry schedule starts over',
      request: { params: deliveryParams },
      responses: { 202: jsonContent(deliverySchema, 'Queued'), ...errorResponses(400, 401, 403, 404, 429) },
    }),
    async (c) => {
      const { id, deliveryId } = c.req.valid('param');
      return c.json(deliveryJson(await service.replay(c.get('principal'), id, deliveryId)), 202);
    },
  );
  return router;
}
