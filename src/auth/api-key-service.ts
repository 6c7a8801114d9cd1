/**
 * API keys for services. A key is `loom_` + 256 random bits (base64url),
 * shown once at creation; the database keeps its SHA-256 (enough for a
 * secret with that much entropy) and a prefix (`loom_` + 12 characters) by
 * which a presented key finds its row. Every authentication reads the row,
 * so a revoked key stops working at once in every process: there is no cache.
 * `last_used_at` is written at most once a minute per key.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { and, count, desc, eq, isNull, lt, or } from 'drizzle-orm';
import type { CredentialRevoked } from '../../protocol/revocation.ts';
import { apiKeys, isUniqueViolation, type LoomDatabase } from '../storage/index.ts';
import { ServiceError } from '../errors/index.ts';
import { AuthError } from './auth-error.ts';
import { API_SCOPES, type ApiScope, type Principal } from './principal.ts';
import { sha256 } from './token-service.ts';

/** Every API key starts with this. */
export const API_KEY_PREFIX = 'loom_';
const PREFIX_CHARS = API_KEY_PREFIX.length + 12;
const KEY_CHARS = API_KEY_PREFIX.length + 43;
const LAST_USED_GRANULARITY_MS = 60_000;
/** Ids are uuids; anything else cannot match and must not reach a uuid column (PostgreSQL would reject the query). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A key as listed to its owner: never the secret. */
export interface ApiKeyRecord {
  readonly id: string;
  readonly name: string;
  /** First characters of the key, to recognise it. */
  readonly prefix: string;
  readonly scopes: readonly ApiScope[];
  readonly createdAt: Date;
  readonly lastUsedAt: Date | null;
  readonly revokedAt: Date | null;
}

/** Thrown by {@link ApiKeyService.create} when the user has too many live keys. */
export class ApiKeyLimitError extends ServiceError {
  override readonly name = 'ApiKeyLimitError';
  constructor(readonly limit: number) {
    super('conflict', 'api-key-limit', `at most ${limit} active API keys per user; revoke one first`);
  }
}

/** Creates, lists, revokes and authenticates API keys. */
export class ApiKeyService {
  readonly #db: LoomDatabase;
  readonly #now: () => number;
  readonly #maxActivePerUser: number;
  readonly #onRevoked: ((notice: CredentialRevoked) => void) | undefined;

  /** @param opts.onRevoked told after a key was revoked, so sockets it opened can be closed. */
  constructor(opts: { db: LoomDatabase; now?: () => number; maxActivePerUser?: number; onRevoked?: ((notice: CredentialRevoked) => void) | undefined }) {
    this.#db = opts.db;
    this.#onRevoked = opts.onRevoked;
    this.#now = opts.now ?? Date.now;
    this.#maxActivePerUser = opts.maxActivePerUser ?? 50;
  }

  /**
   * Creates a key for a user. The returned `key` is the only time the secret exists outside the caller.
   * @throws ApiKeyLimitError past the per-user limit of active keys.
   */
  async create(userId: string, input: { name: string; scopes: readonly ApiScope[] }): Promise<{ key: string; record: ApiKeyRecord }> {
    const [active] = await this.#db
      .select({ n: count() })
      .from(apiKeys)
      .where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)));
    if ((active?.n ?? 0) >= this.#maxActivePerUser) throw new ApiKeyLimitError(this.#maxActivePerUser);
    const scopes = API_SCOPES.filter((s) => input.scopes.includes(s));
    // A prefix collision (72 random bits) is astronomically unlikely; one retry covers it.
    for (let attempt = 1; ; attempt++) {
      const key = `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
      try {
        const [row] = await this.#db
          .insert(apiKeys)
          .values({ userId, name: input.name, prefix: key.slice(0, PREFIX_CHARS), keyHash: sha256(key), scopes, createdAt: new Date(this.#now()) })
          .returning();
        if (row === undefined) throw new Error('insert returned no row');
        return { key, record: toRecord(row) };
      } catch (err) {
        if (attempt >= 2 || !isUniqueViolation(err, 'api_keys_prefix_key')) throw err;
      }
    }
  }

  /** A user's keys, newest first, revoked ones included. */
  async list(userId: string): Promise<ApiKeyRecord[]> {
    const rows = await this.#db.select().from(apiKeys).where(eq(apiKeys.userId, userId)).orderBy(desc(apiKeys.createdAt), desc(apiKeys.id));
    return rows.map(toRecord);
  }

  /** The owner of a key (revoked or not), or null when there is no such key. */
  async ownerOf(keyId: string): Promise<string | null> {
    if (!UUID.test(keyId)) return null;
    const [row] = await this.#db.select({ userId: apiKeys.userId }).from(apiKeys).where(eq(apiKeys.id, keyId)).limit(1);
    return row?.userId ?? null;
  }

  /**
   * Revokes one of the user's keys; effective immediately everywhere.
   * @returns false when the user has no such key (or it was already revoked).
   */
  async revoke(userId: string, keyId: string): Promise<boolean> {
    if (!UUID.test(keyId)) return false;
    const rows = await this.#db
      .update(apiKeys)
      .set({ revokedAt: new Date(this.#now()) })
      .where(and(eq(apiKeys.id, keyId), eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))
      .returning({ id: apiKeys.id });
    if (rows.length > 0) this.#onRevoked?.({ kind: 'api-key', userId, keyId });
    return rows.length > 0;
  }

  /** Whether a key no longer works: revoked, or gone. */
  async isRevoked(keyId: string): Promise<boolean> {
    if (!UUID.test(keyId)) return true;
    const [row] = await this.#db.select({ revokedAt: apiKeys.revokedAt }).from(apiKeys).where(eq(apiKeys.id, keyId)).limit(1);
    return row === undefined || row.revokedAt !== null;
  }

  /**
   * The principal a presented key stands for.
   * @throws AuthError (unauthenticated) `invalid-api-key` for malformed, unknown or revoked keys.
   */
  async authenticate(key: string): Promise<Principal> {
    if (!key.startsWith(API_KEY_PREFIX) || key.length !== KEY_CHARS) throw new AuthError('invalid-api-key', 'malformed API key');
    const [row] = await this.#db.select().from(apiKeys).where(eq(apiKeys.prefix, key.slice(0, PREFIX_CHARS))).limit(1);
    if (row === undefined || !sameHash(row.keyHash, sha256(key))) throw new AuthError('invalid-api-key', 'unknown API key');
    if (row.revokedAt !== null) throw new AuthError('invalid-api-key', 'API key revoked');
    const now = new Date(this.#now());
    if (row.lastUsedAt === null || now.getTime() - row.lastUsedAt.getTime() >= LAST_USED_GRANULARITY_MS) {
      const stale = new Date(now.getTime() - LAST_USED_GRANULARITY_MS);
      await this.#db
        .update(apiKeys)
        .set({ lastUsedAt: now })
        .where(and(eq(apiKeys.id, row.id), or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, stale))));
    }
    return { kind: 'api-key', userId: row.userId, keyId: row.id, scopes: new Set(toScopes(row.scopes)) };
  }
}

function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

function toScopes(stored: readonly string[]): ApiScope[] {
  return API_SCOPES.filter((s) => stored.includes(s));
}

function toRecord(row: typeof apiKeys.$inferSelect): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes: toScopes(row.scopes),
    createdAt: row.createdAt,
    lastUsedAt: row.lastUsedAt,
    revokedAt: row.revokedAt,
  };
}
