/** GET /v1/docs/:id — a document's content as JSON, or plain text for a text document. */
import { Hono } from 'hono';
import { docContentSchema } from '../../../protocol/doc.ts';
import { ProtocolError } from '../../../protocol/errors.ts';
import { parseActorId } from '../../../protocol/ids.ts';
import { decodeJson } from '../../../protocol/reply.ts';
import type { ActorClient } from '../../placement/actor-client.ts';

export function docsRoutes(deps: { client: ActorClient }): Hono {
  const app = new Hono();
  app.get('/:id', async (c) => {
    const id = parseActorId(c.req.param('id'));
    const reply = await deps.client.request('doc', id, 'content', new Uint8Array(0));
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
  return app;
}
