/**
 * PUT and GET /v1/objects/{key}: the gateway side of the filesystem store's
 * "presigned" URLs. No credentials: the URL's HMAC signature (see
 * GatewayUrlSigner) is the authorisation. A PUT is checked in this order:
 * signature and expiry (403), Content-Type against the signed one (415),
 * declared Content-Length against the signed limit (413), then the body is
 * streamed into the store, which stops at the limit (413, nothing stored).
 * A PUT to an upload's key goes through the UploadReceiver: the URL works
 * once (409 `upload-closed` after that), and the stored file is checked
 * before the answer (422 `upload-rejected`, nothing kept).
 * Mounted at OBJECTS_ROUTE_PATH only when the store is the filesystem one.
 */
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { createRoute, z } from '@hono/zod-openapi';
import { InvalidObjectKeyError, ObjectTooLargeError, parseObjectKey, type ObjectBody, type PutResult } from '../../../actors/ports/index.ts';
import { GatewayUrlError, type GatewayUrlSigner, type ObjectStore, type SignedQuery } from '../../storage/objects/index.ts';
import { HttpError } from '../errors.ts';
import { createRouter, errorResponses, jsonContent, type Router } from '../router.ts';
import { safeText } from '../safe-text.ts';

/** Where PUTs to upload keys go instead of straight into the store (UploadService.receive). */
export interface UploadReceiver {
  /**
   * Stores an upload's body once and checks it; null when the key names no upload.
   * @throws UploadError when the URL was used already or the file is refused.
   */
  receive(objectKey: string, body: ObjectBody, contentType: string): Promise<PutResult | null>;
}

/** What {@link objectsRoutes} needs. */
export interface ObjectsRoutesDeps {
  readonly store: ObjectStore;
  readonly signer: GatewayUrlSigner;
  /** Makes upload URLs single-use and checks what they receive; without it a signed PUT may be repeated. */
  readonly uploads?: UploadReceiver | undefined;
}

const keyParams = z.object({
  key: safeText().min(1).openapi({ param: { name: 'key', in: 'path' }, description: 'The object key, URL-encoded as one path segment', example: 'uploads%2F0b7c%2Fnotes.md' }),
});
const signedQuery = z.object({
  exp: safeText().optional().openapi({ description: 'Expiry, unix seconds (signed)' }),
  ct: safeText().optional().openapi({ description: 'PUT: the Content-Type the upload must carry (signed)' }),
  max: safeText().optional().openapi({ description: 'PUT: the largest body accepted, bytes (signed)' }),
  sig: safeText().optional().openapi({ description: 'HMAC-SHA256 signature, base64url' }),
});
const storedSchema = z.object({ key: z.string(), size: z.number().int(), etag: z.string() }).openapi('StoredObject');
const binary = z.string().openapi({ type: 'string', format: 'binary' });

const putRoute = createRoute({
  method: 'put',
  path: '/{key}',
  tags: ['objects'],
  summary: 'Upload an object through a signed gateway URL (filesystem store)',
  description: 'The URL comes from POST /v1/uploads and takes one PUT. Send the body with the Content-Type it names; the file is checked (size, type, magic bytes) before the answer.',
  request: { params: keyParams, query: signedQuery, body: { content: { '*/*': { schema: binary } }, required: true } },
  responses: { 200: jsonContent(storedSchema, 'Stored (for an upload: stored and checked, the upload is complete)'), ...errorResponses(400, 403, 409, 413, 415, 422) },
});

const getRoute = createRoute({
  method: 'get',
  path: '/{key}',
  tags: ['objects'],
  summary: 'Download an object through a signed gateway URL (filesystem store)',
  request: { params: keyParams, query: signedQuery },
  responses: {
    200: { description: 'The object; Content-Type as stored', content: { 'application/octet-stream': { schema: binary } } },
    ...errorResponses(400, 403, 404),
  },
});

/** The signed object routes, to mount at OBJECTS_ROUTE_PATH. */
export function objectsRoutes(deps: ObjectsRoutesDeps): Router {
  const router = createRouter();

  router.openapi(putRoute, async (c) => {
    const key = checkedKey(c.req.valid('param').key);
    const grant = verified(deps.signer, 'PUT', key, c.req.valid('query'));
    const contentType = grant.contentType ?? '';
    const sent = c.req.header('content-type') ?? '';
    if (mediaType(sent) !== mediaType(contentType)) {
      throw new HttpError(415, 'unsupported-media-type', `this URL takes Content-Type ${contentType}, not ${sent === '' ? 'none' : sent}`);
    }
    const maxBytes = grant.maxBytes ?? 0;
    const declared = Number(c.req.header('content-length') ?? '0');
    if (declared > maxBytes) throw new HttpError(413, 'too-large', `this URL takes at most ${maxBytes} bytes`);
    const raw = c.req.raw.body;
    const body = raw === null ? new Uint8Array(0) : Readable.fromWeb(raw as NodeReadableStream<Uint8Array>);
    try {
      const stored = (await deps.uploads?.receive(key, body, contentType)) ?? (await deps.store.put(key, body, { contentType, maxBytes }));
      c.header('ETag', `"${stored.etag}"`);
      return c.json({ key: stored.key, size: stored.size, etag: stored.etag }, 200);
    } catch (err) {
      if (err instanceof ObjectTooLargeError) throw new HttpError(413, 'too-large', `this URL takes at most ${maxBytes} bytes`, { cause: err });
      throw err;
    }
  });

  router.openapi(getRoute, async (c) => {
    const key = checkedKey(c.req.valid('param').key);
    verified(deps.signer, 'GET', key, c.req.valid('query'));
    const read = await deps.store.get(key);
    if (read === null) throw new HttpError(404, 'not-found', `no object ${key}`);
    const headers = {
      'Content-Type': read.info.contentType,
      'Content-Length': String(read.info.size),
      ETag: `"${read.info.etag}"`,
      'Last-Modified': read.info.lastModified.toUTCString(),
      'Cache-Control': 'private, no-store',
      'X-Content-Type-Options': 'nosniff',
      // Served from the API's own origin: nothing in a stored file may run as a page.
      'Content-Security-Policy': "default-src 'none'; sandbox",
    };
    return new Response(Readable.toWeb(read.body) as unknown as ReadableStream<Uint8Array>, { status: 200, headers });
  });

  return router;
}

function checkedKey(raw: string): string {
  try {
    return parseObjectKey(raw);
  } catch (err) {
    if (err instanceof InvalidObjectKeyError) throw new HttpError(400, err.code, err.message, { field: 'key', cause: err });
    throw err;
  }
}

function verified(signer: GatewayUrlSigner, method: 'GET' | 'PUT', key: string, query: SignedQuery) {
  try {
    return signer.verify(method, key, query);
  } catch (err) {
    if (err instanceof GatewayUrlError) throw new HttpError(403, err.code, err.message, { cause: err });
    throw err;
  }
}

/** `type/subtype`, lowercased, without parameters. */
function mediaType(value: string): string {
  return (value.split(';')[0] ?? '').trim().toLowerCase();
}
