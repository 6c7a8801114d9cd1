/**
 * Signed gateway URLs: the filesystem adapter's answer to S3 presigning.
 * A URL names the object route (`/v1/objects/<key>`) and carries its expiry
 * and, for uploads, the content type and byte limit, all bound by an
 * HMAC-SHA256 under a server secret. Changing any of them, the method or the
 * key invalidates the signature; the route (src/http/routes/objects.ts)
 * verifies it and then enforces the bound limits while streaming.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Where the gateway serves signed object URLs. */
export const OBJECTS_ROUTE_PATH = '/v1/objects';

/** What a signed URL allows. */
export interface GatewayGrant {
  readonly method: 'GET' | 'PUT';
  readonly key: string;
  /** Unix time in seconds after which the URL is refused. */
  readonly expiresAtS: number;
  /** PUT only: the Content-Type the upload must carry. */
  readonly contentType?: string;
  /** PUT only: the largest body accepted, in bytes. */
  readonly maxBytes?: number;
}

/** The query parameters of a signed URL, as they arrive (all optional until checked). */
export interface SignedQuery {
  readonly exp?: string | undefined;
  readonly ct?: string | undefined;
  readonly max?: string | undefined;
  readonly sig?: string | undefined;
}

/** Why a signed URL was refused; both map to 403. */
export type GatewayUrlErrorCode = 'invalid-signature' | 'url-expired';

/** A signed URL that does not verify or has expired. Public: says no more than that. */
export class GatewayUrlError extends Error {
  override readonly name = 'GatewayUrlError';
  readonly public = true;
  constructor(
    readonly code: GatewayUrlErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const CONTEXT = 'loom-object-url-v1';

/** Signs and verifies gateway object URLs with one secret. */
export class GatewayUrlSigner {
  /**
   * @param secret at least 32 bytes (see loadUrlSigningKey).
   * @param baseUrl the public origin clients reach the gateway at, asked at signing time (the port may be known only after listen).
   * @throws RangeError for a short secret.
   */
  constructor(
    private readonly secret: Uint8Array,
    private readonly baseUrl: () => string,
  ) {
    if (secret.byteLength < 32) throw new RangeError('the URL signing key must be at least 32 bytes');
  }

  /** The absolute signed URL for a grant. */
  url(grant: GatewayGrant): string {
    const query = new URLSearchParams({ exp: String(grant.expiresAtS) });
    if (grant.contentType !== undefined) query.set('ct', grant.contentType);
    if (grant.maxBytes !== undefined) query.set('max', String(grant.maxBytes));
    query.set('sig', this.signature(grant));
    return `${this.baseUrl().replace(/\/+$/, '')}${OBJECTS_ROUTE_PATH}/${encodeURIComponent(grant.key)}?${query.toString()}`;
  }

  /**
   * Checks a request's signature, then its expiry.
   * @returns the grant the URL was signed for.
   * @throws GatewayUrlError `invalid-signature` when anything signed was changed or is missing, `url-expired` after expiry.
   */
  verify(method: 'GET' | 'PUT', key: string, query: SignedQuery, nowMs: number = Date.now()): GatewayGrant {
    const expiresAtS = parseDecimal(query.exp);
    const maxBytes = query.max === undefined ? undefined : parseDecimal(query.max);
    if (expiresAtS === undefined || query.sig === undefined || (query.max !== undefined && maxBytes === undefined)) {
      throw new GatewayUrlError('invalid-signature', 'the URL is not a complete signed object URL');
    }
    const grant: GatewayGrant = { method, key, expiresAtS, contentType: query.ct, maxBytes };
    const expected = Buffer.from(this.signature(grant), 'utf8');
    const given = Buffer.from(query.sig, 'utf8');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new GatewayUrlError('invalid-signature', 'the URL signature does not match');
    }
    if (nowMs >= expiresAtS * 1000) throw new GatewayUrlError('url-expired', 'the signed URL has expired');
    return grant;
  }

  private signature(grant: GatewayGrant): string {
    // Fields joined by newlines, none of which may contain one: keys and
    // content types are validated to printable characters before signing.
    const fields = [CONTEXT, grant.method, grant.key, String(grant.expiresAtS), grant.contentType ?? '', grant.maxBytes === undefined ? '' : String(grant.maxBytes)];
    return createHmac('sha256', this.secret).update(fields.join('\n')).digest('base64url');
  }
}

/** A canonical non-negative decimal (no sign, no leading zeros, safe integer), else undefined. */
function parseDecimal(raw: string | undefined): number | undefined {
  if (raw === undefined || !/^(0|[1-9][0-9]{0,15})$/.test(raw)) return undefined;
  const value = Number(raw);
  return Number.isSafeInteger(value) ? value : undefined;
}
