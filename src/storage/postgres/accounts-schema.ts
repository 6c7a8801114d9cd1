/**
 * Accounts, credentials and the audit log (issue 4). Re-exported from
 * schema.ts, which drizzle-kit reads. PostgreSQL 15 SQL only: uuids come from
 * `gen_random_uuid()` (core since PG 13), no `uuidv7()`.
 *
 * - `users`: email unique regardless of case (index on `lower(email)`; the
 *   address is stored as typed), Argon2id PHC string.
 * - `refresh_tokens`: one row per issued refresh token, only its SHA-256
 *   stored. Tokens of one login form a family; using a token marks it
 *   `rotated_at` and issues the next one in the family; presenting a rotated
 *   token again revokes the family (`revoked_at` on every row).
 * - `api_keys`: a key is `loom_<secret>`; `prefix` (the first characters)
 *   finds the row, the SHA-256 of the whole key proves it. Scopes are
 *   `API_SCOPES` names.
 * - `audit_log`: append-only security events. Actor and target ids are not
 *   foreign keys on purpose: rows outlive the users and resources they name.
 */
import { sql } from 'drizzle-orm';
import { bigint, index, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** People who sign in with email and password. */
export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    email: text('email').notNull(),
    passwordHash: text('password_hash').notNull(),
    createdAt: at('created_at').defaultNow().notNull(),
  },
  (t) => [uniqueIndex('users_email_lower_key').on(sql`lower(${t.email})`)],
);

/** Issued refresh tokens (hashes only), grouped in rotation families. */
export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** One family per login: the session id carried by its access tokens (`sid`). */
    familyId: uuid('family_id').notNull(),
    /** SHA-256 of the opaque token, hex. */
    tokenHash: text('token_hash').notNull().unique('refresh_tokens_token_hash_key'),
    createdAt: at('created_at').notNull(),
    expiresAt: at('expires_at').notNull(),
    /** Set when the token was exchanged for its successor; a second use is reuse. */
    rotatedAt: at('rotated_at'),
    revokedAt: at('revoked_at'),
  },
  (t) => [index('refresh_tokens_family_idx').on(t.familyId), index('refresh_tokens_user_idx').on(t.userId)],
);

/** API keys for services, created by a user, stored hashed. */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** `loom_` plus the first characters of the secret; shown in listings, used for lookup. */
    prefix: text('prefix').notNull().unique('api_keys_prefix_key'),
    /** SHA-256 of the whole key, hex. */
    keyHash: text('key_hash').notNull(),
    scopes: text('scopes').array().notNull(),
    createdAt: at('created_at').notNull(),
    lastUsedAt: at('last_used_at'),
    revokedAt: at('revoked_at'),
  },
  (t) => [index('api_keys_user_idx').on(t.userId)],
);

/** Security-relevant actions, newest last (`id` orders them). */
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    at: at('at').notNull(),
    /** Who acted: null for anonymous attempts (a failed login for an unknown email). */
    actorUserId: uuid('actor_user_id'),
    /** Set when the actor used an API key. */
    actorKeyId: uuid('actor_key_id'),
    action: text('action').notNull(),
    targetType: text('target_type').notNull(),
    targetId: text('target_id'),
    ip: text('ip'),
    detail: jsonb('detail').$type<Record<string, unknown>>(),
  },
  (t) => [
    index('audit_log_target_idx').on(t.targetType, t.targetId, t.id),
    // Account export and deletion find a user's own entries; the retention purge finds old ones.
    index('audit_log_actor_idx').on(t.actorUserId, t.id),
    index('audit_log_at_idx').on(t.at),
  ],
);
