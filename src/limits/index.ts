/** Limits that hold across processes: token buckets shared by every gateway through NATS KV. */
export { createSharedRateLimiter, type SharedRateLimiterOptions } from './shared-rate-limiter.ts';
export { provisionRateLimitBucket, RATE_LIMIT_BUCKET, RATE_LIMIT_IDLE_TTL_MS } from './provision.ts';
export { QuotaExceededError, UsageQuotas, type UsageQuotaLimits, type UsageTotals } from './usage-quotas.ts';
