/**
 * The Hono app: probes for every role, and the document read API for the
 * gateway role. Talks to actors only over NATS through the ActorClient.
 */
import { Hono } from 'hono';
import { decodeJson } from '../../protocol/reply.ts';
import { docContentSchema } from '../../protocol/doc.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { parseActorId } from '../../protocol/ids.ts';
import type { Logger } from '../log.ts';
import type { ActorClient } from '../placement/actor-client.ts';
import { errorResponse } from './errors.ts';

export interface AppDeps {
  readonly log: Logger;
  /** Present in the gateway role. */
  readonly client: ActorClient | undefined;
  /** Each check throws (or rejects) when its dependency is not ready. */
  readonly readinessChecks: ReadonlyArray<{ readonly name: string; check(): Promise<void> }>;
}

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  let nextReq = 0;

  app.use('*', async (c, next) => {
    const reqId = c.req.header('x-request-id')?.slice(0, 64) ?? `r${++nextReq}`;
    c.header('x-request-id', reqId);
    await next();
    deps.log.debug({ reqId, method: c.req.method, path: c.req.path, status: c.res.status }, 'http request');
  });

  app.onError((err, c) => errorResponse(c, err, deps.log));
  app.notFound((c) => c.json({ error: { code: 'not-found', message: `no route for ${c.req.method} ${c.req.path}` } }, 404));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/readyz', async (c) => {
    const failures: Record<string, string> = {};
    await Promise.all(
      deps.readinessChecks.map(async ({ name, check }) => {
        try {
          await check();
        } catch (err) {
          failures[name] = err instanceof Error ? err.message : String(err);
        }
      }),
    );
    const ready = Object.keys(failures).length === 0;
    return c.json({ status: ready ? 'ready' : 'not-ready', failures }, ready ? 200 : 503);
  });

  const client = deps.client;
  if (client !== undefined) {
    app.get('/v1/docs/:id', async (c) => {
      const id = parseActorId(c.req.param('id'));
      const reply = await client.request('doc', id, 'content', new Uint8Array(0));
      const content = decodeJson(reply.body, docContentSchema, 'content reply');
      if (content.seq === 0 && Object.keys(content.roots).length === 0) {
        throw new ProtocolError('not-found', `document ${id} has no content`);
      }
      const wantsText = c.req.query('format') === 'text' || (c.req.header('accept') ?? '').startsWith('text/plain');
      if (wantsText) {
        if (content.text === null) throw new ProtocolError('malformed-message', `document ${id} is not a text document; ask for JSON`);
        return c.text(content.text);
      }
      return c.json(content);
    });
  }
  return app;
}
