/**
 * Who is making a request: a signed-in user (JWT access token) or a service
 * holding an API key. Routes read it from the Hono context (`c.get('principal')`)
 * after the auth middleware ran; scopes limit what an API key may do (a
 * user's own tokens carry every scope).
 */
export const API_SCOPES = ['docs:read', 'docs:write', 'jobs:run', 'webhooks:write', 'pipelines:write'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

export interface Principal {
  readonly kind: 'user' | 'api-key';
  /** The user acting, or owning the API key. */
  readonly userId: string;
  /** Set for API keys. */
  readonly keyId: string | undefined;
  readonly scopes: ReadonlySet<ApiScope>;
  /** For users: the login session (refresh-token family) the access token belongs to. */
  readonly sessionId?: string | undefined;
  /** For users: when the access token expires (long-lived sockets close then). */
  readonly expiresAt?: Date | undefined;
}

/** Hono environment of authenticated routes. */
export interface AuthEnv {
  Variables: {
    principal: Principal;
    /** The client's address, set for every request by createApp (src/http/app.ts). */
    clientIp: string;
  };
}

export function hasScope(principal: Principal, scope: ApiScope): boolean {
  return principal.scopes.has(scope);
}
