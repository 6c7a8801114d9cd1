/**
 * The app's HTTP client for /v1: keeps the session's tokens in memory only,
 * refreshes the access token a minute before it expires, and turns every
 * error body (`{"error":{"code","message","field"}}`) into an ApiError.
 */

export interface User {
  readonly id: string;
  readonly email: string;
}

interface Tokens {
  readonly accessToken: string;
  readonly expiresIn: number;
  readonly refreshToken: string;
}

/** A refused request, as the server explained it. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly retryAfterS?: number,
  ) {
    super(message);
  }
}

/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 60_000;
const REQUEST_TIMEOUT_MS = 15_000;

export class Api {
  #tokens: Tokens | undefined;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #user: User | undefined;
  /** Called when the session ends (sign-out, or a refresh the server refused). */
  onSignedOut: (reason: string | undefined) => void = () => {};
  /** Called with each new access token, so open sockets can use it on reconnect. */
  onToken: (token: string) => void = () => {};

  get user(): User | undefined {
    return this.#user;
  }

  /** The current access token. @throws ApiError 401 when signed out. */
  token(): string {
    if (this.#tokens === undefined) throw new ApiError(401, 'signed-out', 'You are signed out.');
    return this.#tokens.accessToken;
  }

  async signIn(mode: 'login' | 'register', email: string, password: string): Promise<User> {
    const session = await this.#send<{ user: User; tokens: Tokens }>('POST', `/v1/auth/${mode}`, { email, password }, false);
    this.#user = { id: session.user.id, email: session.user.email };
    this.#setTokens(session.tokens);
    return this.#user;
  }

  async signOut(): Promise<void> {
    try {
      if (this.#tokens !== undefined) await this.request('POST', '/v1/auth/logout', {});
    } finally {
      this.#clear();
      this.onSignedOut(undefined);
    }
  }

  /** An authenticated JSON request. @throws ApiError */
  request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.#send<T>(method, path, body, true);
  }

  #setTokens(tokens: Tokens): void {
    this.#tokens = tokens;
    clearTimeout(this.#refreshTimer);
    const inMs = Math.max(5_000, tokens.expiresIn * 1000 - REFRESH_MARGIN_MS);
    this.#refreshTimer = setTimeout(() => void this.#refresh(), inMs);
    this.onToken(tokens.accessToken);
  }

  async #refresh(): Promise<void> {
    const current = this.#tokens;
    if (current === undefined) return;
    try {
      this.#setTokens(await this.#send<Tokens>('POST', '/v1/auth/refresh', { refreshToken: current.refreshToken }, false));
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        this.#clear();
        this.onSignedOut('Your session ended. Please sign in again.');
        return;
      }
      // Offline or the server is restarting: try again shortly, the token is still valid for a while.
      this.#refreshTimer = setTimeout(() => void this.#refresh(), 10_000);
    }
  }

  #clear(): void {
    clearTimeout(this.#refreshTimer);
    this.#tokens = undefined;
    this.#user = undefined;
  }

  async #send<T>(method: string, path: string, body: unknown, authenticated: boolean): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (authenticated) headers.authorization = `Bearer ${this.token()}`;
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch {
      throw new ApiError(0, 'network', 'Loom cannot be reached: check your connection.');
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    const json: unknown = text === '' ? undefined : safeParse(text);
    if (res.ok) return json as T;
    const error = isErrorBody(json) ? json.error : { code: 'http-' + res.status, message: res.statusText };
    const retryAfter = Number(res.headers.get('retry-after'));
    throw new ApiError(res.status, error.code, error.message, error.field, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined);
  }
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isErrorBody(v: unknown): v is { error: { code: string; message: string; field?: string } } {
  if (typeof v !== 'object' || v === null || !('error' in v)) return false;
  const e = (v as { error: unknown }).error;
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' && typeof (e as { message?: unknown }).message === 'string';
}

/** What to tell a person about a failure: never a stack trace. */
export function describeError(err: unknown): string {
  if (!(err instanceof ApiError)) return 'Something went wrong. Please try again.';
  switch (err.status) {
    case 0:
      return err.message;
    case 401:
      return err.code === 'invalid-credentials' ? 'Wrong email or password.' : 'You are signed out. Please sign in again.';
    case 403:
      return `You are not allowed to do that here (${err.message}).`;
    case 404:
      return 'That no longer exists, or it was not shared with you.';
    case 409:
      return err.message.charAt(0).toUpperCase() + err.message.slice(1) + '.';
    case 413:
      return 'That is too large.';
    case 429:
      return `Too many requests: please wait ${err.retryAfterS ?? 'a few'} seconds and try again.`;
    default:
      if (err.status >= 500) return 'Loom had a problem handling that. Please try again in a moment.';
      return err.field !== undefined ? `Please check ${err.field}: ${err.message}.` : `${err.message}.`;
  }
}
