/**
 * Per-user quotas, checked where users start work over HTTP: at most
 * `maxConcurrentJobs` jobs pending or running at once, and at most
 * `maxTokensPerDay` model tokens over a rolling day (jobs and agent sessions
 * created in the last 24 hours). A zero setting turns that quota off.
 * Internal services starting jobs over NATS are not users and are not held.
 */
import { ServiceError } from '../errors/index.ts';

const DAY_MS = 24 * 60 * 60_000;

/** A quota refused the request: 429 with a message saying which and how to go on. */
export class QuotaExceededError extends ServiceError {
  override readonly name: string = 'QuotaExceededError';
  constructor(message: string, retryAfterMs: number) {
    super('rate-limited', 'quota-exceeded', message, { retryAfterMs });
  }
}

/** What the quotas read (src/storage/postgres/usage-totals.ts). */
export interface UsageTotals {
  activeJobs(ownerId: string): Promise<number>;
  tokensSince(ownerId: string, since: Date): Promise<number>;
}

export interface UsageQuotaLimits {
  /** Jobs pending or running at once per user; 0: no limit. */
  readonly maxConcurrentJobs: number;
  /** Model tokens (prompt + completion) per user per rolling 24 hours; 0: no limit. */
  readonly maxTokensPerDay: number;
}

export class UsageQuotas {
  constructor(
    private readonly totals: UsageTotals,
    private readonly limits: UsageQuotaLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** @throws QuotaExceededError when `ownerId` may not start another job now. */
  async checkJobStart(ownerId: string): Promise<void> {
    const { maxConcurrentJobs } = this.limits;
    if (maxConcurrentJobs > 0) {
      const active = await this.totals.activeJobs(ownerId);
      if (active >= maxConcurrentJobs) {
        throw new QuotaExceededError(
          `you have ${active} jobs running or waiting to run, the most allowed at once (${maxConcurrentJobs}); start this one when one of them has finished, or cancel one`,
          5_000,
        );
      }
    }
    await this.checkModelTokens(ownerId);
  }

  /** @throws QuotaExceededError when `ownerId` used its model tokens for the day. */
  async checkModelTokens(ownerId: string): Promise<void> {
    const { maxTokensPerDay } = this.limits;
    if (maxTokensPerDay <= 0) return;
    const used = await this.totals.tokensSince(ownerId, new Date(this.now() - DAY_MS));
    if (used >= maxTokensPerDay) {
      throw new QuotaExceededError(
        `you used ${used} model tokens in the last 24 hours, the most allowed per day (${maxTokensPerDay}); work started more than a day ago stops counting as the day rolls on`,
        60 * 60_000,
      );
    }
  }
}
