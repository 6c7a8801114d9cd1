/**
 * User accounts: registration and password login. Emails are compared
 * without regard to case (PostgreSQL `lower()` on both sides, backed by the
 * unique index on `lower(email)`) and stored as typed. Both outcomes of a
 * login are audited; a failed one says nothing about whether the email
 * exists, and takes as long either way (see PasswordHasher.verify).
 */
import { eq, sql } from 'drizzle-orm';
import type { Logger } from '../log.ts';
import { isUniqueViolation, users, type LoomDatabase } from '../storage/index.ts';
import type { AuditLog } from './audit-log.ts';
import { AccountError, AuthError } from './auth-error.ts';
import type { PasswordHasher } from './password-hasher.ts';
import type { TokenPair, TokenService } from './token-service.ts';

/** A user as shown to themselves. */
export interface UserRecord {
  readonly id: string;
  readonly email: string;
  readonly createdAt: Date;
}

/** Where a request came from, for the audit log. */
export interface RequestContext {
  readonly ip?: string | undefined;
}

/** Registers users and signs them in. */
export class AccountService {
  readonly #db: LoomDatabase;
  readonly #hasher: PasswordHasher;
  readonly #tokens: TokenService;
  readonly #audit: AuditLog;
  readonly #log: Logger;

  constructor(opts: { db: LoomDatabase; hasher: PasswordHasher; tokens: TokenService; audit: AuditLog; log: Logger }) {
    this.#db = opts.db;
    this.#hasher = opts.hasher;
    this.#tokens = opts.tokens;
    this.#audit = opts.audit;
    this.#log = opts.log;
  }

  /**
   * Creates an account and signs it in.
   * @throws AccountError `email-taken` (field `email`) when the address is in use, in any case.
   */
  async register(input: { email: string; password: string }, ctx: RequestContext = {}): Promise<{ user: UserRecord; tokens: TokenPair }> {
    const email = input.email.trim();
    const passwordHash = await this.#hasher.hash(input.password);
    let user: UserRecord | undefined;
    try {
      [user] = await this.#db.insert(users).values({ email, passwordHash }).returning({ id: users.id, email: users.email, createdAt: users.createdAt });
    } catch (err) {
      if (isUniqueViolation(err, 'users_email_lower_key')) {
        throw new AccountError('email-taken', 'an account with this email already exists', { field: 'email', cause: err });
      }
      throw err;
    }
    if (user === undefined) throw new Error('insert into users returned no row');
    await this.#audit.record({ action: 'auth.register', actor: { userId: user.id }, targetType: 'user', targetId: user.id, ip: ctx.ip });
    this.#log.info({ userId: user.id }, 'user registered');
    return { user, tokens: await this.#tokens.startSession(user.id) };
  }

  /**
   * Checks email and password and starts a session.
   * @throws AuthError (unauthenticated) `invalid-credentials` (never saying which part was wrong).
   */
  async login(input: { email: string; password: string }, ctx: RequestContext = {}): Promise<{ user: UserRecord; tokens: TokenPair }> {
    const [row] = await this.#db
      .select()
      .from(users)
      .where(eq(sql`lower(${users.email})`, sql`lower(${input.email.trim()})`))
      .limit(1);
    const ok = await this.#hasher.verify(row?.passwordHash ?? null, input.password);
    if (row === undefined || !ok) {
      await this.#audit.record({
        action: 'auth.login-failed',
        actor: row === undefined ? null : { userId: row.id },
        targetType: 'user',
        targetId: row?.id ?? null,
        ip: ctx.ip,
        detail: { reason: row === undefined ? 'unknown-email' : 'wrong-password' },
      });
      throw new AuthError('invalid-credentials', 'email or password is wrong');
    }
    const user: UserRecord = { id: row.id, email: row.email, createdAt: row.createdAt };
    const tokens = await this.#tokens.startSession(user.id);
    await this.#audit.record({ action: 'auth.login', actor: { userId: user.id }, targetType: 'user', targetId: user.id, ip: ctx.ip, detail: { sessionId: tokens.sessionId } });
    return { user, tokens };
  }

  /** A user by email (compared case-insensitively, as at registration), or null. */
  async findByEmail(email: string): Promise<UserRecord | null> {
    const [row] = await this.#db
      .select({ id: users.id, email: users.email, createdAt: users.createdAt })
      .from(users)
      .where(eq(sql`lower(${users.email})`, sql`lower(${email.trim()})`))
      .limit(1);
    return row ?? null;
  }

  /** A user by id, or null. */
  async getUser(id: string): Promise<UserRecord | null> {
    const [row] = await this.#db.select({ id: users.id, email: users.email, createdAt: users.createdAt }).from(users).where(eq(users.id, id)).limit(1);
    return row ?? null;
  }
}
