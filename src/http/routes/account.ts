/**
 * /v1/account: what a person can do about the data Loom holds on them
 * (src/privacy/). `GET /export` streams a JSON archive of everything about
 * the caller; `DELETE /` deletes the account after the password confirms
 * it. Both need a signed-in user (an API key gets 403 `user-required`): a
 * leaked service key must not be able to read or erase a whole account.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { requireUser } from '../../auth/middleware.ts';
import { MAX_PASSWORD_CHARS } from '../../auth/password-hasher.ts';
import type { AuthEnv } from '../../auth/principal.ts';
import type { AccountDeletion, AccountExport } from '../../privacy/index.ts';
import { EXPORT_FORMAT, EXPORT_VERSION } from '../../privacy/index.ts';
import { createRouter, errorResponses, jsonContent, SECURITY, type Router } from '../router.ts';
import { safeText } from '../safe-text.ts';

export interface AccountRoutesDeps {
  /** Requires credentials and sets `principal` (auth.middleware). */
  readonly authenticate: MiddlewareHandler<AuthEnv>;
  readonly exporter: AccountExport;
  readonly deletion: AccountDeletion;
}

const archiveSchema = z
  .object({
    format: z.literal(EXPORT_FORMAT),
    version: z.literal(EXPORT_VERSION),
    exportedAt: z.string().datetime(),
    account: z.object({ id: z.string().uuid(), email: z.string(), createdAt: z.string().datetime() }),
    sessions: z.array(z.object({}).passthrough()).openapi({ description: 'Login sessions: started, last refreshed, expiry, revocation (no tokens)' }),
    apiKeys: z.array(z.object({}).passthrough()).openapi({ description: 'API key metadata (never the secret)' }),
    documents: z.array(z.object({}).passthrough()).openapi({ description: 'Every membership with its role; owned documents add `members` and `content`' }),
    uploads: z.array(z.object({}).passthrough()),
    jobs: z.array(z.object({}).passthrough()).openapi({ description: 'Job views: input, steps, output, artifacts, usage' }),
    agentSessions: z.array(z.object({}).passthrough()).openapi({ description: 'Agent session views with their transcripts' }),
    audit: z.array(z.object({}).passthrough()).openapi({ description: 'Audit entries by the user or about their account' }),
  })
  .openapi('AccountExport');

const deleteSchema = z
  .object({ password: safeText().min(1).max(MAX_PASSWORD_CHARS).openapi({ format: 'password', description: "The account's password, again" }) })
  .strict()
  .openapi('DeleteAccount');

const reportSchema = z
  .object({
    documentsDeleted: z.array(z.string()).openapi({ description: 'Owned documents no other owner or editor could take over' }),
    documentsTransferred: z.array(z.object({ id: z.string(), to: z.string() })).openapi({ description: 'Owned documents handed to another owner or editor' }),
    membershipsRemoved: z.number().int(),
    jobsRemoved: z.number().int().openapi({ description: 'Jobs purged with their inputs, outputs, logs and artifacts' }),
    agentSessionsRemoved: z.number().int().openapi({ description: 'Agent sessions purged with their transcripts' }),
    uploadsRemoved: z.number().int(),
    apiKeysRevoked: z.number().int(),
    auditEntriesAnonymised: z.number().int(),
  })
  .openapi('AccountDeletion');

/** The /v1/account router. */
export function accountRoutes(deps: AccountRoutesDeps): Router {
  const router = createRouter();
  const middleware = [deps.authenticate, requireUser()];

  router.openapi(
    createRoute({
      method: 'get',
      path: '/export',
      tags: ['account'],
      summary: 'Everything Loom holds about the caller, as one JSON archive (streamed)',
      description:
        'Signed-in users only (not API keys). Rate limited per user (`LOOM_RATE_EXPORT_*`), one at a time. ' +
        'If something fails after the first bytes, the stream is cut: an archive that does not parse is incomplete.',
      security: SECURITY,
      middleware,
      responses: { 200: jsonContent(archiveSchema, 'The archive'), ...errorResponses(401, 403, 404, 409, 429) },
    }),
    async (c) => {
      const principal = c.get('principal');
      const chunks = await deps.exporter.open(principal, c.get('clientIp'));
      const encoder = new TextEncoder();
      const body = new ReadableStream<Uint8Array>(
        {
          // Pulled one chunk at a time: a slow client slows the export instead of filling memory.
          async pull(controller) {
            const next = await chunks.next();
            if (next.done === true) controller.close();
            else controller.enqueue(encoder.encode(next.value));
          },
          async cancel() {
            await chunks.return(undefined);
          },
        },
        { highWaterMark: 1 },
      );
      const headers = {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Disposition': `attachment; filename="loom-account-${principal.userId}.json"`,
        'Cache-Control': 'no-store',
      };
      // A streamed body: zod-openapi types JSON responses as c.json() results, which cannot stream.
      return new Response(body, { status: 200, headers }) as never;
    },
  );

  router.openapi(
    createRoute({
      method: 'delete',
      path: '/',
      tags: ['account'],
      summary: 'Delete the caller\'s account, after confirming the password',
      description:
        'Sessions and API keys are revoked; each owned document goes to its longest-standing other owner, else its longest-standing editor, ' +
        'else is deleted; other memberships are removed; jobs, agent sessions and uploads are purged; audit entries stay, naming the person by a pseudonym; ' +
        'the email can register again. 503 `deletion-incomplete`: repeat the request to finish.',
      security: SECURITY,
      middleware,
      request: { body: { required: true, content: { 'application/json': { schema: deleteSchema } } } },
      responses: { 200: jsonContent(reportSchema, 'Deleted'), ...errorResponses(400, 401, 403, 404, 429, 503) },
    }),
    async (c) => {
      const report = await deps.deletion.delete(c.get('principal'), c.req.valid('json').password, c.get('clientIp'));
      return c.json(report, 200);
    },
  );
  return router;
}
